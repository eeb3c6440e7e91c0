"""From a customer's history summary to their profile: the CustomerProfile record that
record_orders publishes, and the segment and value a Recommendation carries.

Both apply the customer model of model/customers/customer_model.py to summaries of
model/customers/history.py, as of an event time: the offline commands apply the same
model to the same RFM, so a profile on Kafka and one computed offline agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from model.customers import customer_model
from model.customers.rfm import from_summaries
from model.outlook import live as outlook_live
from model.outlook.artifact import OutlookModel


def profile_records(
    users: Sequence[str],
    summaries: Sequence[dict[str, Any]],
    model: customer_model.CustomerModel,
    as_of_ms: Sequence[int],
    outlook: OutlookModel | None = None,
) -> list[dict[str, Any]]:
    """The CustomerProfile record (schemas/customer_profile.v2.avsc) of each customer, as
    of their time (never before their last purchase), in one vectorised pass; the
    outlook's fields from `outlook`, null without one."""
    rfm = from_summaries(summaries, as_of_ms)
    columns = customer_model.profile_columns(model, rfm)
    ahead = (
        outlook_live.predict(outlook, summaries, [int(t) for t in rfm.now_ms])
        if outlook is not None
        else None
    )
    out = []
    for i, (user, summary) in enumerate(zip(users, summaries, strict=True)):
        record: dict[str, Any] = {
            "user_id": user,
            "orders": int(summary["orders"]),
            "spend_fen": int(summary["spend_fen"]),
            "first_purchase": int(summary["first_purchase_ms"]),
            "last_purchase": int(summary["last_purchase_ms"]),
            "segment": str(columns["segment"][i]),
            "cluster": str(columns["cluster"][i]),
            "model_version": model.version,
            "updated_at": int(rfm.now_ms[i]),
        }
        record.update({name: int(columns[name][i]) for name in _WHOLE})
        record.update({name: float(columns[name][i]) for name in _REAL})
        record.update(ahead[i] if ahead is not None else dict.fromkeys(outlook_live.FIELDS))
        out.append(record)
    return out


_WHOLE = ("frequency", "r_score", "f_score", "m_score")
_REAL = (
    "recency_days",
    "monetary_fen",
    "age_days",
    "days_since_last",
    "p_alive",
    "expected_purchases_30d",
    "expected_spend_fen",
    "clv_fen",
)


def segments_and_values(
    summaries: Sequence[dict[str, Any] | None],
    as_of_ms: Sequence[int],
    model: customer_model.CustomerModel,
) -> list[tuple[str | None, float | None]]:
    """(segment, CLV in fen) of each customer as of their time, in one vectorised pass;
    (None, None) for a customer without history."""
    known = [i for i, s in enumerate(summaries) if s is not None]
    out: list[tuple[str | None, float | None]] = [(None, None)] * len(summaries)
    if not known:
        return out
    rfm = from_summaries([summaries[i] for i in known], [as_of_ms[i] for i in known])  # type: ignore[misc]
    columns = customer_model.profile_columns(model, rfm)
    for j, i in enumerate(known):
        clv = float(columns["clv_fen"][j])
        out[i] = (str(columns["segment"][j]), clv if math.isfinite(clv) else None)
    return out
