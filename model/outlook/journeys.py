"""Customer journeys with a known truth: a hidden state that moves month to month, and a
latent loyalty (issue: customer outlook). Deterministic by seed, vectorised over customers.

The process, in the order it draws (one numpy Generator seeded by the caller):

1. **Customers.** Each has a taste vector u ~ Normal(0, I_4) over the 120 purchase cells
   (6 lottery types x 5 station types x 4 hour bands; each cell has a fixed factor v_c,
   Normal(0, I_4) / 2 drawn from seed 0, so every journey shares them), and a
   drive z ~ Normal(0, 1). Activity level a ~ Gamma(4, 1/4) (mean 1) scales their
   purchase days; spend level m ~ LogNormal(0, 0.4) scales their spend.
2. **Loyalty.** The true loyalty is L = 50 + 12 z + 8 (w . u) with w a fixed unit vector
   of the cell space: part of it shows in how a customer moves between states (z), part
   only in what and where they buy (u). The loyalty on record, what a model is trained
   and judged on, is y = L + e, e ~ Normal(0, LOYALTY_NOISE_SD): no model can reach an
   RMSE below LOYALTY_NOISE_SD on y (the noise floor).
3. **States.** ENGAGED, DRIFTING, DORMANT. The first month's state is drawn from
   INITIAL. From month t to t+1 the state moves by the row of TRANSITIONS of the current
   state, tilted by z: each row's probabilities are multiplied by exp(TILT z (1, 0, -1))
   and normalised (loyal customers stay engaged and leave dormancy more often). So the
   true next-state distribution of every customer and month is `next_state(z, state)`.
4. **Months.** Purchase days ~ Poisson(a x DAYS_BY_STATE[state]), at most 28; each day
   one order of a cell drawn from softmax(v . u) (the same taste every month) and an
   amount ~ Gamma(4, m x SPEND_BY_STATE[state] / 4) yuan, at least 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.mlp.features import LOTTERY_TYPES, STATION_TYPES

STATES = ("ENGAGED", "DRIFTING", "DORMANT")
INITIAL = np.array([0.45, 0.35, 0.20])
TRANSITIONS = np.array(
    [
        [0.78, 0.17, 0.05],
        [0.25, 0.50, 0.25],
        [0.06, 0.14, 0.80],
    ]
)
TILT = 0.6
DAYS_BY_STATE = np.array([6.0, 2.0, 0.15])
SPEND_BY_STATE = np.array([40.0, 25.0, 15.0])  # mean yuan per purchase day, at m = 1
HOUR_BANDS = ("morning", "midday", "afternoon", "evening")
#: The local hour each band after the first begins at (morning: before 11).
HOUR_BAND_STARTS = (11, 14, 18)
CELLS = [(lt, st, hb) for lt in LOTTERY_TYPES for st in STATION_TYPES for hb in HOUR_BANDS]
FACTORS = 4
LOYALTY_NOISE_SD = 4.0
MAX_DAYS = 28


@dataclass(frozen=True)
class Journeys:
    """customers: one row each (customer_id, z, activity, spend_level, loyalty_true,
    loyalty); months: one row per customer and month (customer_id, month, state,
    purchase_days, spend); orders: one row per purchase day (customer_id, month,
    lottery_type, station_type, hour_band, amount)."""

    customers: pd.DataFrame
    months: pd.DataFrame
    orders: pd.DataFrame
    taste: np.ndarray  # (customers, FACTORS): u


def hour_band(local_hour: int) -> str:
    """The band of a local hour of day: morning before 11 (the few orders after midnight
    too), midday to 14, afternoon to 18, evening from 18."""
    return HOUR_BANDS[sum(local_hour >= start for start in HOUR_BAND_STARTS)]


def cell_factors() -> np.ndarray:
    """v_c of every cell: the same for every journey (seed 0)."""
    return np.random.default_rng(0).normal(0, 1, (len(CELLS), FACTORS)) / 2


def loyalty_direction() -> np.ndarray:
    """w, the unit vector of taste space that loyalty leans on (seed 1)."""
    w = np.random.default_rng(1).normal(0, 1, FACTORS)
    return w / np.linalg.norm(w)


def next_state(z: np.ndarray | float, state: np.ndarray | int) -> np.ndarray:
    """The true distribution of next month's state (rows: customers; columns: STATES)."""
    z, state = np.atleast_1d(z).astype(float), np.atleast_1d(state)
    tilted = TRANSITIONS[state] * np.exp(TILT * z[:, None] * np.array([1.0, 0.0, -1.0]))
    return tilted / tilted.sum(axis=1, keepdims=True)


def generate(n_customers: int, months: int, seed: int) -> Journeys:
    if n_customers < 1 or months < 2:
        raise ValueError("journeys need at least one customer and two months")
    rng = np.random.default_rng(seed)
    u = rng.normal(0, 1, (n_customers, FACTORS))
    z = rng.normal(0, 1, n_customers)
    activity = rng.gamma(4.0, 0.25, n_customers)
    level = rng.lognormal(0.0, 0.4, n_customers)
    truth = 50 + 12 * z + 8 * (u @ loyalty_direction())
    observed = truth + rng.normal(0, LOYALTY_NOISE_SD, n_customers)
    states = np.empty((n_customers, months), dtype=np.int64)
    states[:, 0] = _draw(np.broadcast_to(INITIAL, (n_customers, 3)), rng)
    for t in range(1, months):
        states[:, t] = _draw(next_state(z, states[:, t - 1]), rng)
    days = np.minimum(MAX_DAYS, rng.poisson(activity[:, None] * DAYS_BY_STATE[states]))
    who = np.repeat(np.repeat(np.arange(n_customers), months), days.ravel())
    month = np.repeat(np.tile(np.arange(months), n_customers), days.ravel())
    cell = _draw_cells(u, who, rng)
    mean = level[who] * SPEND_BY_STATE[states[who, month]]
    amount = np.maximum(2.0, np.round(rng.gamma(4.0, mean / 4.0), 1))
    cells = np.asarray(CELLS, dtype=object)
    orders = pd.DataFrame(
        {
            "customer_id": who,
            "month": month,
            "lottery_type": cells[cell, 0],
            "station_type": cells[cell, 1],
            "hour_band": cells[cell, 2],
            "amount": amount,
        }
    )
    spend = np.zeros((n_customers, months))
    np.add.at(spend, (who, month), amount)
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(n_customers),
            "z": z,
            "activity": activity,
            "spend_level": level,
            "loyalty_true": truth,
            "loyalty": observed,
        }
    )
    grid = pd.DataFrame(
        {
            "customer_id": np.repeat(np.arange(n_customers), months),
            "month": np.tile(np.arange(months), n_customers),
            "state": states.ravel(),
            "purchase_days": days.ravel(),
            "spend": spend.ravel(),
        }
    )
    return Journeys(customers, grid, orders, u)


def cell_probabilities(u: np.ndarray) -> np.ndarray:
    """softmax(v . u): each customer's chance of each cell on a purchase day."""
    logits = u @ cell_factors().T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def _draw_cells(u: np.ndarray, who: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cell for each order of customer `who`, without a row of 120 per order: the
    customers' cumulative rows laid end to end, customer i's shifted by i."""
    cum = np.cumsum(cell_probabilities(u), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(len(u))[:, None]).ravel()
    at = np.searchsorted(flat, who + rng.random(len(who)) * (1 - 1e-12), side="right")
    return at - who * len(CELLS)


def _draw(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of `p` (rows sum to 1)."""
    cum = np.cumsum(p, axis=1)
    return np.minimum((rng.random(len(p))[:, None] > cum).sum(axis=1), p.shape[1] - 1)
