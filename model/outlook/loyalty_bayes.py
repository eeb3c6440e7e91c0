"""The best loyalty estimate any model can make from the orders: the generator's posterior.

Loyalty is L = 50 + 12 z + 8 (w . u) (model/outlook/journeys.py). What a customer's
orders say about z and about u comes apart: the purchase days and spend of each month
depend on z (through the hidden states), the activity a and the spend level m; which cell
each order is depends on u alone. So E[L | orders] = 50 + 12 E[z | months] + 8 w . E[u |
cells], and Var(L | orders) = 144 Var(z | months) + 64 Var(w . u | cells).

- **z**: the hidden-state chain's forward algorithm run for every point of a grid over
  (z, a, m), each weighted by its prior; states summed out month by month. The days of a
  month are Poisson(a x DAYS_BY_STATE[s]) capped at MAX_DAYS; the spend of d > 0 days is
  taken as Gamma(4 d, m x SPEND_BY_STATE[s] / 4) (the generator also rounds each amount
  to 0.1 yuan and floors it at 2; both are ignored).
- **u**: the Laplace approximation of its posterior (Newton's method to the mode; the
  covariance from the Hessian there) under the softmax choice of cells.

The RMSE of E[L | orders] against the loyalty on record is the noise floor the loyalty
models are judged against: the noise's LOYALTY_NOISE_SD and what the orders cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats
from tqdm import tqdm

from model.outlook import journeys

Z_GRID = np.linspace(-3.6, 3.6, 25)
A_GRID = np.exp(np.linspace(np.log(0.05), np.log(4.5), 32))
M_GRID = np.exp(np.linspace(-1.6, 1.6, 24))
RESCALE_EVERY = 3  # months between rescalings of the forward variables (no underflow)
NEWTON_STEPS = 30
MAX_STEP = 1.0  # Newton's steps are cut to this length: from u = 0 a full one can overshoot


@dataclass(frozen=True)
class Posterior:
    """Per customer: E[L | orders] and Var(L | orders)."""

    mean: np.ndarray
    variance: np.ndarray

    def expected_rmse(self) -> float:
        """The RMSE E[L | orders] is expected to reach on the loyalty on record."""
        return float(np.sqrt(journeys.LOYALTY_NOISE_SD**2 + self.variance.mean()))


def _log_weights(grid: np.ndarray, log_pdf: np.ndarray) -> np.ndarray:
    """Log prior mass of each grid point (trapezoid widths), normalised."""
    width = np.gradient(grid)
    w = log_pdf + np.log(width)
    return w - special.logsumexp(w)


def _emissions(days: np.ndarray, spend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(days | a, s): (customers, A, 3) and p(spend | days, m, s): (customers, M, 3) for
    one month, each scaled by its largest value per customer (the posterior ignores it)."""
    rate = A_GRID[:, None] * journeys.DAYS_BY_STATE[None, :]
    d = days[:, None, None]
    log_days = d * np.log(rate) - rate - special.gammaln(d + 1)
    capped = d >= journeys.MAX_DAYS
    if capped.any():  # the generator caps days: the last count holds the whole tail
        log_days = np.where(capped, stats.poisson.logsf(d - 1, rate), log_days)
    scale = M_GRID[:, None] * journeys.SPEND_BY_STATE[None, :] / 4.0
    shape = np.maximum(4.0 * d, 1.0)
    x = np.maximum(spend, 1e-9)[:, None, None]
    log_spend = (shape - 1) * np.log(x) - x / scale - shape * np.log(scale) - special.gammaln(shape)
    log_spend = np.where(d > 0, log_spend, 0.0)
    return _scaled(log_days), _scaled(log_spend)


def _scaled(log_values: np.ndarray) -> np.ndarray:
    return np.exp(log_values - log_values.max(axis=(1, 2), keepdims=True))


def _move(alpha: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """One month's state move for every z: alpha (3, Z, rows) by moves (Z, 3, 3), written
    out state by state on contiguous rows (a batched product of 3 x 3 matrices is slower)."""
    out = np.empty_like(alpha)
    for j in range(3):
        out[j] = alpha[0] * moves[:, 0, j, None]
        out[j] += alpha[1] * moves[:, 1, j, None]
        out[j] += alpha[2] * moves[:, 2, j, None]
    return out


def drive_posterior(days: np.ndarray, spend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[z | months] and Var(z | months); days and spend are (customers, months)."""
    tilt = np.exp(journeys.TILT * Z_GRID[:, None] * np.array([1.0, 0.0, -1.0]))
    moves = journeys.TRANSITIONS[None] * tilt[:, None, :]
    moves /= moves.sum(axis=2, keepdims=True)  # (Z, from, to)
    n, nz, na, nm = len(days), len(Z_GRID), len(A_GRID), len(M_GRID)
    prior_z = _log_weights(Z_GRID, stats.norm.logpdf(Z_GRID))
    prior_a = _log_weights(A_GRID, stats.gamma.logpdf(A_GRID, 4.0, scale=0.25))
    prior_m = _log_weights(M_GRID, stats.lognorm.logpdf(M_GRID, 0.4))
    log_prior = prior_z[:, None, None] + prior_a[None, :, None] + prior_m[None, None, :]
    log_like = np.zeros((nz, n, na, nm))
    # alpha: (3 states, Z, customers x A x M)
    alpha = np.broadcast_to(journeys.INITIAL[:, None, None], (3, nz, n * na * nm)).copy()
    months = days.shape[1]
    for t in range(months):
        if t > 0:
            alpha = _move(alpha, moves)
        by_days, by_spend = _emissions(days[:, t], spend[:, t])
        e = by_days[:, :, None, :] * by_spend[:, None, :, :]  # (customers, A, M, 3)
        alpha *= np.moveaxis(e, 3, 0).reshape(3, 1, n * na * nm)
        if t % RESCALE_EVERY == RESCALE_EVERY - 1 or t == months - 1:
            total = np.maximum(alpha.sum(axis=0), 1e-300)
            log_like += np.log(total).reshape(nz, n, na, nm)
            alpha /= total
    joint = log_like.transpose(1, 0, 2, 3) + log_prior[None]
    joint -= joint.max(axis=(1, 2, 3), keepdims=True)
    pz = np.exp(joint).sum(axis=(2, 3))
    pz /= pz.sum(axis=1, keepdims=True)
    mean = pz @ Z_GRID
    return mean, pz @ Z_GRID**2 - mean**2


def taste_posterior(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[w . u | cells] and Var(w . u | cells), Laplace; counts is (customers, cells)."""
    v, w = journeys.cell_factors(), journeys.loyalty_direction()
    total = counts.sum(axis=1)
    u = np.zeros((len(counts), journeys.FACTORS))
    eye = np.eye(journeys.FACTORS)
    for _ in range(NEWTON_STEPS):
        p = special.softmax(u @ v.T, axis=1)
        grad = counts @ v - total[:, None] * (p @ v) - u
        spread = np.einsum("nc,ci,cj->nij", p, v, v) - np.einsum("ni,nj->nij", p @ v, p @ v)
        precision = total[:, None, None] * spread + eye
        step = np.linalg.solve(precision, grad[:, :, None])[:, :, 0]
        size = np.linalg.norm(step, axis=1, keepdims=True)
        u = u + step * np.minimum(1.0, MAX_STEP / np.maximum(size, 1e-12))
    covariance = np.linalg.inv(precision)
    return u @ w, np.einsum("i,nij,j->n", w, covariance, w)


def posterior(
    days: np.ndarray, spend: np.ndarray, counts: np.ndarray, chunk: int = 32, progress: bool = False
) -> Posterior:
    """E[L | orders] and Var(L | orders) for every customer (rows of the three arrays)."""
    z_mean, z_var = np.empty(len(days)), np.empty(len(days))
    starts = range(0, len(days), chunk)
    for start in tqdm(starts, desc="loyalty's noise floor", unit="chunk", disable=not progress):
        rows = slice(start, start + chunk)
        z_mean[rows], z_var[rows] = drive_posterior(days[rows], spend[rows])
    wu_mean, wu_var = taste_posterior(counts)
    return Posterior(50 + 12 * z_mean + 8 * wu_mean, 144 * z_var + 64 * wu_var)
