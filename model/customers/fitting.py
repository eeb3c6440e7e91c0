"""What the customer models share to fit: distinct rows with their counts, and a
maximum-likelihood search over log-parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize

from schemas.errors import ScorerError


class FitError(ScorerError):
    """A model could not be fitted to the data it was given; says why."""

    reason = "fit_error"


def distinct(*columns: Any) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of the columns and how often each occurs: a likelihood over a
    million customers costs what their distinct summaries cost."""
    stacked = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    if stacked.size == 0:
        return stacked, np.zeros(0)
    rows, counts = np.unique(stacked, axis=0, return_counts=True)
    return rows, counts.astype(float)


def maximise(loss: Any, start: np.ndarray, what: str, gradient: bool = False) -> Any:
    """Minimise a negative log-likelihood over log-parameters (L-BFGS-B, tight tolerances;
    Nelder-Mead takes over when it stops without converging). With `gradient`, `loss`
    returns (value, gradient)."""
    with np.errstate(all="ignore"):
        found = optimize.minimize(
            loss,
            start,
            method="L-BFGS-B",
            jac=gradient,
            options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 2000},
        )
        if not found.success:
            value = (lambda theta: loss(theta)[0]) if gradient else loss
            found = optimize.minimize(
                value,
                found.x,
                method="Nelder-Mead",
                options={"xatol": 1e-8, "fatol": 1e-9, "maxiter": 4000},
            )
    if not np.isfinite(found.fun) or not np.isfinite(found.x).all():
        raise FitError(f"the {what} likelihood has no finite maximum on this data")
    return found
