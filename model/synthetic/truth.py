"""The ground truth: P(class | the 18 observed features), exactly.

The generator draws every session's class from `posterior(x)`, where x is the encoded
feature vector of model/mlp/features.py. Because the class depends on nothing else, this
posterior is the Bayes-optimal prediction: no model that sees the 18 features can do
better on average, and `bayes_scores` measures that ceiling on any labelled set.

The logits are a sum of effects, in log-odds against the other classes:

- a base rate per class, No Buy the most common;
- new users lean to No Buy and to the impulse scratch card (Ten Times Good Luck);
- the more purchase days, the less No Buy and the more Two-color Ball (returning users);
- the frequently bought type pulls towards its own class (returning users);
- hour x station type: supermarket mornings sell scratch cards, restaurant meal times
  Welfare 3D, chess-room afternoons and clubhouse evenings Two-color Ball;
- emotion x history: a happy regular of scratch cards buys one again, a calm long-time
  customer plays Two-color Ball; a laugh means an impulse buy, more so for a new user;
- smaller effects of beauty, night hours and city.

A new user's history columns hold imputed values; every history effect is gated by
"not a new user", so the truth never depends on imputation.
"""

from __future__ import annotations

import numpy as np

from model.mlp.features import CLASSES, FEATURE_NAMES

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
_K = len(CLASSES)


def _col(x: np.ndarray, name: str) -> np.ndarray:
    return x[:, _INDEX[name]]


def _effect(**per_class: float) -> np.ndarray:
    """A row of logit shifts, by class name; classes not named get 0."""
    row = np.zeros(_K)
    for name, value in per_class.items():
        row[CLASSES.index(name)] = value
    return row


BASE = _effect(
    NO_BUY=1.9, TWO_COLOR_BALL=0.0, TEN_TIMES_GOOD_LUCK=-0.3, WELFARE_3D=-0.4, OTHER=-0.9
)
MAIN_EFFECTS: dict[str, np.ndarray] = {
    "new_user": _effect(
        NO_BUY=0.8, TWO_COLOR_BALL=-0.6, TEN_TIMES_GOOD_LUCK=0.5, WELFARE_3D=-0.4, OTHER=-0.3
    ),
    "laugh": _effect(NO_BUY=-0.2, TEN_TIMES_GOOD_LUCK=0.6),
    "neutral_emotion": _effect(NO_BUY=0.2),
    "positive_emotion": _effect(NO_BUY=-0.4, TEN_TIMES_GOOD_LUCK=0.3),
    "beauty=[0,40)": _effect(NO_BUY=0.2),
    "beauty=[70,101)": _effect(TEN_TIMES_GOOD_LUCK=0.2, OTHER=0.3),
    "hour=[0,9)": _effect(NO_BUY=0.4),
    "hour=[21,24)": _effect(NO_BUY=0.3),
    "city=Wuhan": _effect(TWO_COLOR_BALL=0.4),
    "city=Enshi": _effect(WELFARE_3D=0.5),
    "city=Yichang": _effect(TEN_TIMES_GOOD_LUCK=0.2, OTHER=0.3),
}
HISTORY_EFFECTS: dict[str, np.ndarray] = {
    "purchase_days=[0,1)": _effect(NO_BUY=0.9, TWO_COLOR_BALL=-0.4),
    "purchase_days=[1,3)": _effect(NO_BUY=0.4, TWO_COLOR_BALL=-0.2),
    "purchase_days=[6,11)": _effect(NO_BUY=-0.5, TWO_COLOR_BALL=0.2),
    "purchase_days=[11,21)": _effect(NO_BUY=-0.9, TWO_COLOR_BALL=0.4),
    "purchase_days=[21,inf)": _effect(NO_BUY=-1.3, TWO_COLOR_BALL=0.6),
    "frequent_type=TEN_TIMES_GOOD_LUCK": _effect(TEN_TIMES_GOOD_LUCK=1.4),
    "frequent_type=QILECAI": _effect(TWO_COLOR_BALL=0.3, OTHER=1.2),
    "frequent_type=SHILITAOHUA": _effect(TEN_TIMES_GOOD_LUCK=0.3, OTHER=1.0),
    "frequent_type=OTHER": _effect(TWO_COLOR_BALL=0.9, WELFARE_3D=0.8),
}
INTERACTIONS: list[tuple[tuple[str, ...], np.ndarray]] = [
    (("station_type=supermarket", "hour=[9,12)"), _effect(TEN_TIMES_GOOD_LUCK=0.9)),
    (("station_type=restaurant", "hour=[12,14)"), _effect(NO_BUY=0.3, WELFARE_3D=0.9)),
    (("station_type=restaurant", "hour=[18,21)"), _effect(NO_BUY=0.3, WELFARE_3D=0.9)),
    (("station_type=chess_room", "hour=[14,18)"), _effect(TWO_COLOR_BALL=0.8, WELFARE_3D=0.4)),
    (("station_type=clubhouse", "hour=[18,21)"), _effect(NO_BUY=-0.5, TWO_COLOR_BALL=1.0)),
    (("station_type=clubhouse", "hour=[21,24)"), _effect(NO_BUY=-0.5, TWO_COLOR_BALL=1.0)),
    (("laugh", "new_user"), _effect(TEN_TIMES_GOOD_LUCK=0.5)),
]
HISTORY_INTERACTIONS: list[tuple[tuple[str, ...], np.ndarray]] = [
    (("positive_emotion", "frequent_type=TEN_TIMES_GOOD_LUCK"), _effect(TEN_TIMES_GOOD_LUCK=0.8)),
    (("neutral_emotion", "purchase_days=[11,21)"), _effect(TWO_COLOR_BALL=0.6)),
    (("neutral_emotion", "purchase_days=[21,inf)"), _effect(TWO_COLOR_BALL=0.6)),
]


def logits(x: np.ndarray) -> np.ndarray:
    """True logits (n, 5) of encoded sessions (n, 31)."""
    x = np.asarray(x, dtype=np.float64)
    returning = 1.0 - _col(x, "new_user")
    out = np.broadcast_to(BASE, (len(x), _K)).copy()
    for name, row in MAIN_EFFECTS.items():
        out += _col(x, name)[:, None] * row
    for name, row in HISTORY_EFFECTS.items():
        out += (returning * _col(x, name))[:, None] * row
    for names, row in INTERACTIONS:
        out += np.prod([_col(x, n) for n in names], axis=0)[:, None] * row
    for names, row in HISTORY_INTERACTIONS:
        both = np.prod([_col(x, n) for n in names], axis=0)
        out += (returning * both)[:, None] * row
    return out


def posterior(x: np.ndarray) -> np.ndarray:
    """P(class | features), rows summing to 1, columns in CLASSES order."""
    z = logits(x)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def bayes_scores(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The Bayes-optimal classifier on a labelled set: realised and expected accuracy,
    and log loss (the expected log loss is the conditional entropy of the class)."""
    p = posterior(x)
    n = len(y)
    picked = p.argmax(axis=1)
    eps = 1e-15
    return {
        "accuracy": float((picked == y).mean()),
        "expected_accuracy": float(p.max(axis=1).mean()),
        "log_loss": float(-np.log(np.clip(p[np.arange(n), y], eps, 1)).mean()),
        "expected_log_loss": float(-(p * np.log(np.clip(p, eps, 1))).sum(axis=1).mean()),
    }
