"""The customer model: every fitted piece of the customer analytics in one artifact, and
the profile it gives a customer.

`fit` takes the RFM of a population (model/customers/rfm.py) and fits BG/NBD, Gamma-Gamma,
the RFM quintiles and the k-means clusters; `save` writes them to `customers.json` in a
folder, with a version (creation date and content hash); `load` checks every number and
refuses, with the reason, a file that is incomplete, corrupt or from another format.
`profile_columns` applies it to any number of customers at once: the offline commands
call it on the whole population, the stream on one customer per order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.customers import bgnbd, clv, gamma_gamma
from model.customers.clusters import Clusters
from model.customers.history import DAY_MS
from model.customers.rfm import Rfm
from model.customers.segments import Quintiles, segments
from model.mlp.artifact import ArtifactError, json_sha256

FORMAT = 1
FILE = "customers.json"
HORIZON_DAYS = 30  # "expected purchases next month"


@dataclass(frozen=True)
class CustomerModel:
    purchases: bgnbd.BgNbd
    spend: gamma_gamma.GammaGamma
    quintiles: Quintiles
    clusters: Clusters
    months: int = 12
    monthly_discount: float = 0.01
    version: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # data, sizes, silhouettes, ...

    def params(self) -> dict[str, Any]:
        return {
            "bgnbd": self.purchases.as_dict(),
            "gamma_gamma": self.spend.as_dict(),
            "quintiles": self.quintiles.as_dict(),
            "clusters": self.clusters.as_dict(),
            "months": self.months,
            "monthly_discount": self.monthly_discount,
        }


def fit(
    rfm: Rfm, k: int = 6, months: int = 12, monthly_discount: float = 0.01, seed: int = 0
) -> CustomerModel:
    """Every piece of the customer model, fitted on one population."""
    purchases = bgnbd.fit(rfm.frequency, rfm.recency_days, rfm.age_days)
    spend = gamma_gamma.fit(rfm.purchase_days, rfm.monetary)
    return CustomerModel(
        purchases, spend, Quintiles.fit(rfm), Clusters.fit(rfm, k, seed), months, monthly_discount
    )


def profile_columns(model: CustomerModel, rfm: Rfm) -> dict[str, np.ndarray]:
    """Each customer's RFM, scores, segment, cluster, P(alive), expected purchases in the
    next 30 days, expected spend per purchase and CLV (fen), one array per figure."""
    x, t_x, T = rfm.frequency, rfm.recency_days, rfm.age_days
    n, zbar = rfm.purchase_days, rfm.monetary
    r, f, m = model.quintiles.scores(rfm)
    alive = bgnbd.p_alive(model.purchases, x, t_x, T)
    # the next 30 days and every month's end in one pass over the hypergeometric term
    ends = np.vstack([[[HORIZON_DAYS]], clv.horizons(model.months)])
    ahead = bgnbd.expected_purchases(model.purchases, ends, x, t_x, T, alive)
    spend = gamma_gamma.expected_spend(model.spend, n, zbar)
    return {
        "recency_days": t_x,
        "frequency": x,
        "monetary_fen": zbar,
        "age_days": T,
        "days_since_last": rfm.days_since_last,
        "r_score": r,
        "f_score": f,
        "m_score": m,
        "segment": segments(r, f),
        "cluster": np.asarray(model.clusters.labels, dtype=object)[model.clusters.assign(rfm)],
        "p_alive": alive,
        "expected_purchases_30d": ahead[0],
        "expected_spend_fen": spend,
        "clv_fen": clv.discounted(ahead[1:], spend, model.monthly_discount),
    }


def alive_over_time(
    model: CustomerModel,
    first_ms: int,
    purchase_days: int,
    recent_ms: list[int],
    until_ms: int,
    points: int = 80,
) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) at `points` times from the oldest of the recent purchases to `until_ms`:
    (times in ms, probabilities). `recent_ms` are the times of the latest purchases (each
    local day once, oldest first) out of `purchase_days` in all; before each time only the
    purchases up to it count, so the curve jumps up at a purchase and decays between."""
    recent = np.asarray(sorted(recent_ms), dtype=np.int64)
    start = int(recent[0]) if len(recent) else first_ms
    times = np.linspace(start, max(until_ms, start + 1), points).astype(np.int64)
    made = np.searchsorted(recent, times, side="right")  # recent purchases up to each time
    earlier = purchase_days - len(recent)  # purchase days before the recent ones
    last = np.where(made > 0, recent[np.maximum(made - 1, 0)], first_ms)
    x = np.maximum(earlier + made - 1, 0)
    alive = bgnbd.p_alive(
        model.purchases, x, (last - first_ms) / DAY_MS, (times - first_ms) / DAY_MS
    )
    return times, alive


def save(folder: Path, model: CustomerModel, created_at: str) -> str:
    """Write the artifact; returns its version."""
    params = model.params()
    digest = json_sha256(params)
    version = f"cust-{created_at[:10].replace('-', '')}-{digest[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "version": version,
        "created_at": created_at,
        "params_sha256": digest,
        "params": params,
        "facts": model.facts,
    }
    (folder / FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return version


def load(folder: Path | str) -> CustomerModel:
    """Load and check the artifact; ArtifactError says what is wrong."""
    path = Path(folder) / FILE
    if not path.is_file():
        raise ArtifactError(f"{path} is missing: fit one with `python -m model customers fit`")
    try:
        meta = json.loads(path.read_text())
        if meta.get("format") != FORMAT:
            raise ArtifactError(f"{path}: format {meta.get('format')!r} is not {FORMAT}")
        params = meta["params"]
        digest = json_sha256(params)
        if digest != meta["params_sha256"]:
            raise ArtifactError(f"{path} is corrupt: its parameters do not match their SHA-256")
        return _from_params(params, str(meta["version"]), meta.get("facts", {}))
    except ArtifactError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSON errors are ValueError
        raise ArtifactError(f"{path} is not a customer model: {type(exc).__name__}: {exc}") from exc


def _from_params(params: dict[str, Any], version: str, facts: dict[str, Any]) -> CustomerModel:
    purchases = bgnbd.BgNbd(**{k: float(v) for k, v in params["bgnbd"].items()})
    spend = gamma_gamma.GammaGamma(**{k: float(v) for k, v in params["gamma_gamma"].items()})
    positive = [purchases.r, purchases.alpha, purchases.a, purchases.b, spend.p, spend.gamma]
    if not all(math.isfinite(v) and v > 0 for v in positive) or not spend.q > 1:
        raise ValueError("model parameters must be positive and finite, and q above 1")
    months, discount = int(params["months"]), float(params["monthly_discount"])
    if not (1 <= months <= 120 and 0 <= discount < 1):
        raise ValueError(f"months {months} (1-120) or monthly_discount {discount} (0-1) is off")
    return CustomerModel(
        purchases,
        spend,
        Quintiles.from_dict(params["quintiles"]),
        Clusters.from_dict(params["clusters"]),
        months,
        discount,
        version,
        dict(facts),
    )
