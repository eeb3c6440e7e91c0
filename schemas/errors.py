"""The one exception base of the project.

Every error the project raises derives from `ScorerError`; third-party errors
(confluent-kafka, aiokafka, fastavro, torch, pydantic) are converted to one of its
subclasses where they enter, with the original kept as the cause. `reason` is a short,
stable name: the `error_class` of a dead letter, the `reason` of an HTTP error answer.
It lives in schemas/ because those reasons are part of the wire contract, and schemas/
is the package every other one may import.
"""

from __future__ import annotations


class ScorerError(Exception):
    """Something the project cannot do, said so that the reader knows what to do next."""

    reason = "error"
