"""k-means clusters of scaled RFM, labelled from their centroids.

The measures are days since the last purchase, repeat purchase days and spend per
purchase day, each log1p-transformed (all three are heavy-tailed) and standardised.
Clusters are numbered by value, best first (centroid of frequency plus monetary minus
days since the last purchase, in standard units), and named from where the centroid
sits against the population: recent / lapsing / lapsed, frequent / occasional / one-off,
high / mid / low spend. The fit is seeded, sees the rows in a canonical order, and the
numbering comes from the centroids, not from k-means' own order: the same customers give
the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from model.customers.rfm import Rfm

SILHOUETTE_SAMPLE = 10_000


@dataclass(frozen=True)
class Clusters:
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    centroids: tuple[tuple[float, ...], ...]  # in standard units, best first
    labels: tuple[str, ...]

    @classmethod
    def fit(cls, rfm: Rfm, k: int, seed: int = 0) -> Clusters:
        raw = measures(rfm)
        if len(raw) < k:
            raise ValueError(f"{k} clusters need at least {k} customers, not {len(raw)}")
        mean, scale = raw.mean(axis=0), raw.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        z = (raw - mean) / scale
        z = z[np.lexsort(z.T[::-1])]  # rows in a canonical order: k-means' start depends on it
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
        centres = km.cluster_centers_[np.argsort(-_value(km.cluster_centers_), kind="stable")]
        labels = tuple(f"{i + 1}: {_describe(c)}" for i, c in enumerate(centres))
        return cls(tuple(mean), tuple(scale), tuple(tuple(map(float, c)) for c in centres), labels)

    def assign(self, rfm: Rfm) -> np.ndarray:
        """The index (into `labels`) of each customer's nearest centroid."""
        z = (measures(rfm) - np.asarray(self.mean)) / np.asarray(self.scale)
        d = ((z[:, None, :] - np.asarray(self.centroids)[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(d.argmin(axis=1))

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": list(self.mean),
            "scale": list(self.scale),
            "centroids": [list(c) for c in self.centroids],
            "labels": list(self.labels),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Clusters:
        centroids = tuple(tuple(float(v) for v in c) for c in data["centroids"])
        made = cls(
            tuple(map(float, data["mean"])),
            tuple(map(float, data["scale"])),
            centroids,
            tuple(map(str, data["labels"])),
        )
        if not (
            len(made.mean) == len(made.scale) == 3
            and len(centroids) == len(made.labels)
            and centroids
            and all(len(c) == 3 for c in centroids)
        ):
            raise ValueError("clusters need 3 means and scales and one 3-vector per label")
        return made


def measures(rfm: Rfm) -> np.ndarray:
    """The clustered measures, log1p-transformed, one row per customer."""
    raw = np.column_stack([rfm.days_since_last, rfm.frequency, rfm.monetary])
    return np.log1p(np.maximum(raw.astype(float), 0))


def silhouettes(rfm: Rfm, ks: range, seed: int = 0) -> dict[int, float]:
    """Mean silhouette of each k on a sample: how k was chosen, shown by `customers fit`."""
    rng = np.random.default_rng(seed)
    sample = rfm.take(rng.permutation(len(rfm))[:SILHOUETTE_SAMPLE])
    out = {}
    for k in ks:
        clusters = Clusters.fit(sample, k, seed)
        z = (measures(sample) - np.asarray(clusters.mean)) / np.asarray(clusters.scale)
        out[k] = float(silhouette_score(z, clusters.assign(sample), random_state=seed))
    return out


def _value(centres: np.ndarray) -> np.ndarray:
    return np.asarray(centres[:, 1] + centres[:, 2] - centres[:, 0])


def _describe(centre: Any) -> str:
    since, freq, spend = centre
    recency = "recent" if since < -0.5 else "lapsed" if since > 0.5 else "lapsing"
    frequency = "frequent" if freq > 0.5 else "one-off" if freq < -0.5 else "occasional"
    money = "high spend" if spend > 0.5 else "low spend" if spend < -0.5 else "mid spend"
    return f"{recency}, {frequency}, {money}"
