"""BG/NBD (Fader, Hardie & Lee 2005): how many purchases a customer will make, and the
chance they are still active.

While active, a customer buys as a Poisson process of rate lambda ~ Gamma(r, alpha);
after each purchase they drop out with chance p ~ Beta(a, b). A customer is summarised
by x (repeat purchases), t_x (time of the last purchase since the first) and T (time
since the first purchase), all in one time unit (days here, weeks for CDNOW). Every
function is vectorised over customers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special

from model.customers.fitting import FitError, distinct, maximise


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def log_likelihood(m: BgNbd, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """Each customer's log-likelihood (FHL 2005, equation 6)."""
    x, t_x, T = _floats(x, t_x, T)
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b)
    a2 = a2 - special.gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x)
    return np.asarray(a1 + a2 + np.where(repeat, np.logaddexp(a3, np.where(repeat, a4, 0)), a3))


def fit(x: Any, t_x: Any, T: Any) -> BgNbd:
    """Maximum-likelihood parameters for customers (x, t_x, T), with the likelihood's
    analytic gradient: a million customers in about five times fewer passes than finite
    differences take."""
    rows, weights = distinct(x, t_x, T)
    _check(rows)
    x_, t_, T_ = rows.T

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = log_likelihood_and_gradient(BgNbd(*np.exp(theta)), x_, t_, T_)
        return -float(weights @ ll), -(grad @ weights) * np.exp(theta)  # d/d log-parameter

    start = np.log([1.0, max(float(np.average(T_, weights=weights)), 1e-3), 1.0, 1.0])
    found = maximise(loss, start, "BG/NBD", gradient=True)
    r, alpha, a, b = (float(v) for v in np.exp(found.x))
    return BgNbd(r, alpha, a, b, -float(found.fun))


def log_likelihood_and_gradient(
    m: BgNbd, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's log-likelihood and its gradient in (r, alpha, a, b), shape (4, n)."""
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    ll = log_likelihood(m, x, t_x, T)
    repeat = x > 0
    a3 = -(r + x) * np.log(alpha + T)
    b_x1 = np.where(repeat, b + x - 1, 1.0)
    a4 = np.log(a) - np.log(b_x1) - (r + x) * np.log(alpha + t_x)
    a12 = ll - np.where(repeat, np.logaddexp(a3, a4), a3)  # A1 + A2
    w3 = np.exp(a3 - (ll - a12))  # the shares of the two terms in the likelihood
    w4 = np.where(repeat, 1.0 - w3, 0.0)
    psi = special.digamma
    d_r = psi(r + x) - psi(r) + np.log(alpha) - w3 * np.log(alpha + T) - w4 * np.log(alpha + t_x)
    d_alpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + t_x)
    d_a = psi(a + b) - psi(a + b + x) + w4 / a
    d_b = psi(a + b) + psi(b + x) - psi(b) - psi(a + b + x) - w4 / b_x1
    return ll, np.vstack([d_r, d_alpha, d_a, d_b])


def p_alive(m: BgNbd, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """P(still active at T | x, t_x, T) (FHL 2005, equation 13)."""
    x, t_x, T = _floats(x, t_x, T)
    repeat = x > 0
    # x = 0 has no odds term; b + x - 1 is kept positive there so that nothing warns
    log_odds = np.log(m.a / np.where(repeat, m.b + x - 1, 1.0))
    log_odds = log_odds + (m.r + x) * np.log((m.alpha + T) / (m.alpha + t_x))
    return np.asarray(np.where(repeat, 1.0 / (1.0 + np.exp(np.minimum(log_odds, 700))), 1.0))


def expected_purchases(
    m: BgNbd, t: Any, x: Any, t_x: Any, T: Any, alive: np.ndarray | None = None
) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, equation 10), broadcast over t
    and the customers; `alive` is p_alive(m, x, t_x, T) when the caller has it already."""
    t, x, T = _floats(t, x, T)
    if alive is None:
        alive = p_alive(m, x, t_x, T)
    # Equation 10 has ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z): a vanishing
    # power times a hypergeometric term that overflows for a few hundred repeat purchases.
    # Euler's transformation, 2F1(p, q; c; z) = (1-z)^(c-p-q) 2F1(c-p, c-q; c; z), turns it
    # into ((alpha+T)/(alpha+T+t))^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), near 1 for any x.
    z = t / (m.alpha + T + t)
    hyp = special.hyp2f1(m.a + m.b - 1 - m.r, m.a - 1, m.a + m.b + x - 1, z)
    ahead = 1 - np.exp((m.a - 1) * np.log1p(-z)) * hyp
    return np.asarray((m.a + m.b + x - 1) / (m.a - 1) * ahead * alive)


def _floats(*columns: Any) -> list[np.ndarray]:
    return [np.asarray(c, dtype=float) for c in columns]


def _check(rows: np.ndarray) -> None:
    if len(rows) == 0:
        raise FitError("BG/NBD needs at least one customer")
    if not np.isfinite(rows).all():
        raise FitError("BG/NBD summaries must be finite numbers")
    x, t_x, T = rows.T
    if (x < 0).any() or (t_x < 0).any() or (t_x > T + 1e-9).any():
        raise FitError("BG/NBD summaries need x >= 0 and 0 <= t_x <= T")
    if not (x > 0).any():
        raise FitError("BG/NBD needs some customers with repeat purchases")
