"""The true posterior is a proper distribution and ignores imputed history."""

from __future__ import annotations

import numpy as np

from model.mlp.features import Imputation, encode
from model.synthetic import generator, truth


def test_posterior_rows_are_distributions() -> None:
    frame = generator.generate(2_000, seed=3)
    p = truth.posterior(encode(frame, Imputation.from_frame(frame)).x)
    assert p.shape == (2_000, 5)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert (p > 0).all()


def test_truth_of_new_users_does_not_depend_on_imputation() -> None:
    frame = generator.generate(2_000, seed=4)
    a = Imputation(50.0, "none", "neutral", 1.0, "QILECAI")
    b = Imputation(50.0, "none", "neutral", 40.0, "TEN_TIMES_GOOD_LUCK")
    xa, xb = encode(frame, a).x, encode(frame, b).x
    new = frame["is_new_user"].to_numpy()
    assert new.any()
    assert not np.array_equal(xa[new], xb[new])  # the imputed columns do differ ...
    np.testing.assert_allclose(truth.posterior(xa), truth.posterior(xb))  # ... the truth not


def test_bayes_scores_of_a_perfectly_known_label() -> None:
    frame = generator.generate(5_000, seed=5)
    x = encode(frame, Imputation.from_frame(frame)).x
    best = truth.posterior(x).argmax(axis=1)
    scores = truth.bayes_scores(x, best)
    assert scores["accuracy"] == 1.0
    assert scores["expected_accuracy"] < 1.0
