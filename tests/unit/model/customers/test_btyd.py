"""BG/NBD and Gamma-Gamma against the published CDNOW fits, and their closed forms
against arbitrary-precision arithmetic (mpmath) where the hypergeometric term is hard."""

from __future__ import annotations

import mpmath
import numpy as np
import pandas as pd
import pytest

from model.customers import bgnbd, cdnow, clv, gamma_gamma
from model.customers.fitting import FitError

PUBLISHED = cdnow.PUBLISHED


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    return cdnow.summary()


def test_bgnbd_fits_cdnow_as_published(cdnow_summary: pd.DataFrame) -> None:
    d = cdnow_summary
    m = bgnbd.fit(d["x"], d["t_x"], d["T"])
    for name in ("r", "alpha", "a", "b"):
        assert getattr(m, name) == pytest.approx(PUBLISHED["bgnbd"][name], abs=0.01), name
    assert m.log_likelihood == pytest.approx(PUBLISHED["bgnbd"]["log_likelihood"], abs=0.5)
    expected = bgnbd.expected_purchases(m, 39, 2, 30.43, 38.86)
    assert float(expected) == pytest.approx(PUBLISHED["expected_purchases"], abs=0.005)


def test_gamma_gamma_fits_cdnow_as_published(cdnow_summary: pd.DataFrame) -> None:
    d = cdnow_summary[cdnow_summary["x"] > 0]
    m = gamma_gamma.fit(d["x"], d["zbar"])
    for name in ("p", "q", "gamma"):
        assert getattr(m, name) == pytest.approx(PUBLISHED["gamma_gamma"][name], abs=0.01), name


M = bgnbd.BgNbd(r=0.9, alpha=30.0, a=0.8, b=4.0)


def _expected_mp(m: bgnbd.BgNbd, t: float, x: int, t_x: float, T: float) -> float:
    r, al, a, b = (mpmath.mpf(v) for v in (m.r, m.alpha, m.a, m.b))
    hyp = mpmath.hyp2f1(r + x, b + x, a + b + x - 1, t / (al + T + t))
    ahead = 1 - ((al + T) / (al + T + t)) ** (r + x) * hyp
    odds = a / (b + x - 1) * ((al + T) / (al + t_x)) ** (r + x) if x > 0 else 0
    return float((a + b + x - 1) / (a - 1) * ahead / (1 + odds))


@pytest.mark.parametrize(
    ("t", "x", "t_x", "T"),
    [
        (30, 0, 0, 1),
        (30, 0, 0, 500),
        (365, 0, 0, 0.5),
        (30, 1, 2, 400),
        (365, 3, 100, 101),
        (30, 40, 500, 510),
        (365, 120, 530, 540),
        (365, 5, 10, 540),
        (30, 400, 500, 510),
        (365, 1500, 1990, 2000),
        (365, 300, 1, 2),
    ],
)
def test_expected_purchases_agrees_with_mpmath(t: float, x: int, t_x: float, T: float) -> None:
    ours = float(bgnbd.expected_purchases(M, t, x, t_x, T))
    assert ours == pytest.approx(_expected_mp(M, t, x, t_x, T), rel=1e-8)


def test_every_figure_is_finite_for_any_history_even_a_daily_buyers() -> None:
    # The textbook form of equation 10 overflows from a few hundred repeat purchases on.
    x = np.arange(0, 20_000, 13, dtype=float)
    for T in (0.5, 30.0, 700.0, 20_000.0):
        ahead = bgnbd.expected_purchases(M, 365, x, np.minimum(x, T), np.maximum(x, T))
        assert np.isfinite(ahead).all() and (ahead >= 0).all(), T


def test_p_alive_is_one_without_repeat_purchases_and_falls_with_silence() -> None:
    assert float(bgnbd.p_alive(M, 0, 0, 300)) == 1.0
    alive = bgnbd.p_alive(M, [5, 5, 5], [100, 100, 100], [100, 200, 400])
    assert 0 < alive[2] < alive[1] < alive[0] < 1


def test_the_log_likelihood_matches_a_direct_sum_of_its_two_terms() -> None:
    # FHL 2005 eq. 3 integrated: a customer's likelihood in closed form, by mpmath.
    x, t_x, T = 3, 50.0, 120.0
    r, al, a, b = (mpmath.mpf(v) for v in (M.r, M.alpha, M.a, M.b))
    beta = mpmath.beta
    a1 = mpmath.gamma(r + x) * al**r / mpmath.gamma(r)
    direct = a1 * (
        beta(a, b + x) / beta(a, b) / (al + T) ** (r + x)
        + beta(a + 1, b + x - 1) / beta(a, b) / (al + t_x) ** (r + x)
    )
    assert float(bgnbd.log_likelihood(M, x, t_x, T)) == pytest.approx(float(mpmath.log(direct)))


def test_expected_spend_shrinks_a_customer_towards_the_population() -> None:
    m = gamma_gamma.GammaGamma(p=4.0, q=3.0, gamma=400.0)
    assert float(gamma_gamma.expected_spend(m, 0, 0)) == pytest.approx(800.0)
    few, many = gamma_gamma.expected_spend(m, [1, 50], [2000.0, 2000.0])
    assert 800 < few < many < 2000


def test_clv_is_the_discounted_sum_of_monthly_purchases_times_spend() -> None:
    spend = gamma_gamma.GammaGamma(p=4.0, q=3.0, gamma=400.0)
    x, t_x, T, n, zbar = 4, 90.0, 120.0, 5, 900.0
    month = clv.DAYS_PER_MONTH
    cumulative = [float(bgnbd.expected_purchases(M, month * k, x, t_x, T)) for k in range(13)]
    by_hand = sum((cumulative[k] - cumulative[k - 1]) / 1.01**k for k in range(1, 13))
    by_hand *= float(gamma_gamma.expected_spend(spend, n, zbar))
    assert float(clv.clv(M, spend, [x], [t_x], [T], [n], [zbar])[0]) == pytest.approx(by_hand)
    undiscounted = clv.clv(M, spend, [x], [t_x], [T], [n], [zbar], monthly_discount=0.0)
    assert undiscounted[0] > by_hand


def test_fits_refuse_data_they_cannot_use() -> None:
    with pytest.raises(FitError, match="repeat purchases"):
        bgnbd.fit([0, 0], [0, 0], [10, 20])
    with pytest.raises(FitError, match="t_x <= T"):
        bgnbd.fit([1], [30], [10])
    with pytest.raises(FitError, match="positive spend"):
        gamma_gamma.fit([1, 2], [100.0, 0.0])


def test_a_fit_weighs_repeated_customers_as_the_maximum_likelihood_does(
    cdnow_summary: pd.DataFrame,
) -> None:
    # Fits run over distinct summaries with their counts: CDNOW three times over has the
    # same maximum, and three times its log-likelihood.
    d = cdnow_summary
    once = bgnbd.fit(d["x"], d["t_x"], d["T"])
    thrice = bgnbd.fit(*(np.tile(d[c].to_numpy(), 3) for c in ("x", "t_x", "T")))
    for name in ("r", "alpha", "a", "b"):
        assert getattr(thrice, name) == pytest.approx(getattr(once, name), rel=1e-3), name
    assert thrice.log_likelihood == pytest.approx(3 * once.log_likelihood, rel=1e-6)


def test_the_analytic_gradient_agrees_with_finite_differences(cdnow_summary: pd.DataFrame) -> None:
    x, t_x, T = (cdnow_summary[c].to_numpy(float) for c in ("x", "t_x", "T"))
    at = [0.3, 5.0, 0.7, 2.0]
    _, grad = bgnbd.log_likelihood_and_gradient(bgnbd.BgNbd(*at), x, t_x, T)
    for i in range(4):
        step = 1e-6 * at[i]
        up, down = list(at), list(at)
        up[i] += step
        down[i] -= step
        ll_up = bgnbd.log_likelihood(bgnbd.BgNbd(*up), x, t_x, T).sum()
        ll_down = bgnbd.log_likelihood(bgnbd.BgNbd(*down), x, t_x, T).sum()
        assert grad[i].sum() == pytest.approx((ll_up - ll_down) / (2 * step), rel=1e-5), i
