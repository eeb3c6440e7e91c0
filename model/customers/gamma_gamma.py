"""Gamma-Gamma (Fader & Hardie, note 025): what a customer spends per purchase.

Each purchase's spend ~ Gamma(p, nu), with nu ~ Gamma(q, gamma) across customers; a
customer is summarised by n purchases of mean spend zbar. Vectorised over customers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special

from model.customers.fitting import FitError, distinct, maximise


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def population_mean(self) -> float:
        """Mean spend per purchase of a customer nothing is known of (needs q > 1)."""
        return self.p * self.gamma / (self.q - 1)


def log_likelihood(m: GammaGamma, n: Any, zbar: Any) -> np.ndarray:
    """Each customer's log-likelihood of their mean spend zbar over n purchases."""
    n, zbar = np.asarray(n, dtype=float), np.asarray(zbar, dtype=float)
    pn = m.p * n
    ll = special.gammaln(pn + m.q) - special.gammaln(pn) - special.gammaln(m.q)
    ll = ll + m.q * np.log(m.gamma) + (pn - 1) * np.log(zbar) + pn * np.log(n)
    return np.asarray(ll - (pn + m.q) * np.log(m.gamma + n * zbar))


def fit(n: Any, zbar: Any) -> GammaGamma:
    """Maximum-likelihood parameters from customers with n >= 1 purchases, zbar > 0."""
    rows, weights = distinct(n, zbar)
    if len(rows) == 0 or not np.isfinite(rows).all():
        raise FitError("Gamma-Gamma needs customers with finite purchases and spend")
    n_, z_ = rows.T
    if (n_ < 1).any() or (z_ <= 0).any():
        raise FitError("Gamma-Gamma needs customers with at least one purchase of positive spend")

    def loss(theta: np.ndarray) -> float:
        return -float(weights @ log_likelihood(GammaGamma(*np.exp(theta)), n_, z_))

    start = np.log([1.0, 2.0, float(np.average(z_, weights=weights))])
    found = maximise(loss, start, "Gamma-Gamma")
    p, q, gamma = (float(v) for v in np.exp(found.x))
    return GammaGamma(p, q, gamma, -float(found.fun))


def expected_spend(m: GammaGamma, n: Any, zbar: Any) -> np.ndarray:
    """E[spend per purchase | n, zbar] (note 025, equation 5); the population mean for a
    customer with no purchase."""
    n, zbar = np.asarray(n, dtype=float), np.asarray(zbar, dtype=float)
    own = (m.gamma + n * zbar) * m.p / (m.p * n + m.q - 1)  # q > 1: never zero
    return np.asarray(np.where(n > 0, own, m.population_mean))
