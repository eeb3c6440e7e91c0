"""Next month's profitability class, judged against the ceiling the journeys' truth sets.

On the journeys of model/outlook/journeys.py, each customer's class every month
(model/outlook/profitability.py), split by customer (a fifth held out). For every held
out customer and month from the first full window to the one before the last, four
predictions of next month's class:

- **persistence**: next month's class is this month's (its probabilities: this month's
  class with the share of customers the training months kept, the rest shared evenly);
- **logistic**: multinomial logistic regression on lagged features (this window's RFM,
  this and last month's class, the last three months' purchase days and spend);
- **sequence**: the GRU of model/outlook/sequence.py over the whole series so far;
- **bayes**: what the generator's truth gives: with this month's hidden state, drive,
  activity and spend level known, next month is drawn BAYES_DRAWS times from the process
  itself and classed by next month's clusters. No model that sees only the orders can do
  better on average, so its accuracy is the ceiling the others are held to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss, precision_recall_fscore_support

from model.outlook import journeys, profitability, sequence
from model.outlook.profitability import CLASSES, WINDOW, WindowClasses

BAYES_DRAWS = 400
HELD_OUT = 0.2


def inputs(
    days: np.ndarray, spend: np.ndarray, labels: np.ndarray, fitted: list[WindowClasses]
) -> tuple[np.ndarray, np.ndarray]:
    """The sequence model's inputs (customers, months, 8) and targets (customers, months):
    next month's class, -1 where it is not known."""
    n, m = days.shape
    x = np.zeros((n, m, 8), dtype=np.float32)
    x[:, :, 0], x[:, :, 1] = np.log1p(days), np.log1p(spend)
    y = np.full((n, m), -1, dtype=np.int64)
    for i, clusters in enumerate(fitted):
        t = i + WINDOW - 1
        rfm = profitability.window_rfm(days, spend, t, WINDOW)
        x[:, t, 2:5] = (np.log1p(rfm) - clusters.mean) / clusters.scale
        x[np.arange(n), t, 5 + labels[:, i]] = 1.0
        if i + 1 < labels.shape[1]:
            y[:, t] = labels[:, i + 1]
    return x, y


def _lagged(x: np.ndarray, t: int) -> np.ndarray:
    """The logistic model's features at month t, from the sequence inputs."""
    back = [x[:, max(t - k, 0), :2] for k in range(3)]
    return np.hstack([x[:, t, 2:8], x[:, t - 1, 5:8], *back])


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    p = np.clip(p, 1e-6, 1)
    p = p / p.sum(axis=1, keepdims=True)
    guess = p.argmax(axis=1)
    prec, rec, f1, support = precision_recall_fscore_support(
        y, guess, labels=[0, 1, 2], zero_division=0
    )
    return {
        "accuracy": float((guess == y).mean()),
        "macro_f1": float(f1_score(y, guess, labels=[0, 1, 2], average="macro")),
        "log_loss": float(log_loss(y, p, labels=[0, 1, 2])),
        "per_class": {
            c: {
                "precision": float(prec[k]),
                "recall": float(rec[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
            }
            for k, c in enumerate(CLASSES)
        },
    }


def bayes(
    drawn: journeys.Journeys,
    days: np.ndarray,
    spend: np.ndarray,
    fitted: list[WindowClasses],
    customers: np.ndarray,
    t: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """P(next month's class) for `customers` at month t, from the generator's truth."""
    c = drawn.customers.iloc[customers]
    state = drawn.months["state"].to_numpy().reshape(days.shape)[customers, t]
    k, n = BAYES_DRAWS, len(customers)
    nxt = journeys.next_state(c["z"].to_numpy(), state)
    cum = np.cumsum(nxt, axis=1)
    s = (rng.random((n, k))[:, :, None] > cum[:, None, :]).sum(axis=2).clip(max=2)
    lam = c["activity"].to_numpy()[:, None] * journeys.DAYS_BY_STATE[s]
    d = np.minimum(journeys.MAX_DAYS, rng.poisson(lam)).astype(float)
    scale = c["spend_level"].to_numpy()[:, None] * journeys.SPEND_BY_STATE[s] / 4.0
    z = np.where(d > 0, rng.gamma(np.maximum(4.0 * d, 1e-9), scale), 0.0)
    known_d = days[customers, t - WINDOW + 2 : t + 1]
    known_s = spend[customers, t - WINDOW + 2 : t + 1]
    window_d = np.concatenate([np.repeat(known_d[:, None, :], k, 1), d[:, :, None]], axis=2)
    window_s = np.concatenate([np.repeat(known_s[:, None, :], k, 1), z[:, :, None]], axis=2)
    rfm = profitability.window_rfm(
        window_d.reshape(n * k, WINDOW), window_s.reshape(n * k, WINDOW), WINDOW - 1, WINDOW
    )
    classed = fitted[t + 1 - (WINDOW - 1)].assign(rfm).reshape(n, k)
    counts = np.stack([(classed == j).sum(axis=1) for j in range(len(CLASSES))], axis=1)
    return (counts + 0.5) / (k + 1.5)


@dataclass(frozen=True)
class Prepared:
    """One journey's monthly grids, classes and sequence inputs, split by customer."""

    drawn: journeys.Journeys
    days: np.ndarray
    spend: np.ndarray
    labels: np.ndarray
    fitted: list[WindowClasses]
    x: np.ndarray
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray

    @property
    def months(self) -> range:
        """The months with a class and a next month's class to predict."""
        return range(WINDOW - 1, self.days.shape[1] - 1)

    def truth(self) -> np.ndarray:
        return np.concatenate([self.y[self.test, t] for t in self.months])


def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) customer rows: a fifth held out, the same for every model."""
    order = np.random.default_rng(seed).permutation(n)
    cut = int(n * HELD_OUT)
    return order[cut:], np.sort(order[:cut])


def prepare(drawn: journeys.Journeys, seed: int) -> Prepared:
    days, spend = profitability.grids(drawn.months)
    labels, fitted = profitability.classes_over_time(days, spend, seed=seed)
    x, y = inputs(days, spend, labels, fitted)
    train, test = split(len(x), seed)
    return Prepared(drawn, days, spend, labels, fitted, x, y, train, test)


def fit_sequence(
    data: Prepared, seed: int, epochs: int = 30, progress: bool = True
) -> sequence.Trained:
    return sequence.fit(
        data.x[data.train], data.y[data.train], seed, epochs=epochs, progress=progress
    )


def persistence(data: Prepared) -> np.ndarray:
    """Next month's class is this month's, with the share the training months kept."""
    labels, train = data.labels, data.train
    kept = np.mean(
        [(labels[train, i + 1] == labels[train, i]).mean() for i in range(labels.shape[1] - 1)]
    )
    now = np.concatenate([labels[data.test, t - WINDOW + 1] for t in data.months])
    p = np.full((len(now), len(CLASSES)), (1 - kept) / 2)
    p[np.arange(len(now)), now] = kept
    return p


def logistic(data: Prepared) -> np.ndarray:
    """Multinomial logistic regression on the lagged features, fitted on the training rows."""
    lr_x = np.vstack([_lagged(data.x[data.train], t) for t in data.months])
    lr_y = np.concatenate([data.y[data.train, t] for t in data.months])
    fitted = LogisticRegression(max_iter=2000).fit(lr_x, lr_y)
    return np.asarray(
        fitted.predict_proba(np.vstack([_lagged(data.x[data.test], t) for t in data.months]))
    )


def judge(data: Prepared, network: sequence.NextClassGRU, seed: int) -> dict[str, Any]:
    """The four predictions' metrics on the held out customers' months."""
    truth = data.truth()
    seq_all = sequence.predict_proba(network, data.x[data.test])
    seq_p = np.concatenate([seq_all[:, t] for t in data.months])
    rng = np.random.default_rng(seed + 1)
    bayes_p = np.concatenate(
        [
            bayes(data.drawn, data.days, data.spend, data.fitted, data.test, t, rng)
            for t in data.months
        ]
    )
    return {
        "n_customers": len(data.x),
        "months": int(data.days.shape[1]),
        "window_months": WINDOW,
        "held_out_customers": len(data.test),
        "examples": len(truth),
        "sequence": metrics(truth, seq_p),
        "persistence": metrics(truth, persistence(data)),
        "logistic": metrics(truth, logistic(data)),
        "bayes": metrics(truth, bayes_p),
    }


def evaluate(
    drawn: journeys.Journeys, seed: int, progress: bool = True, epochs: int = 30
) -> dict[str, Any]:
    """Prepare, fit the sequence model on the training customers and judge all four."""
    data = prepare(drawn, seed)
    trained = fit_sequence(data, seed, epochs, progress)
    report = judge(data, trained.network, seed)
    report["sequence"]["epochs"] = trained.epochs
    return report
