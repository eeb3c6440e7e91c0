"""The topics of the product: names, keys, value schemas, configs and what each is for.

docs/reference/topics.md is made from this catalogue (`python -m infra.dev.reference`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class TopicSpec:
    """One topic: what its key is, which schema its values follow, how it is configured."""

    name: str
    key: str
    value_schema: str
    co_partitioned: bool = True
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


SESSIONS = TopicSpec(
    "station.sessions",
    "session_id",
    "SessionStarted",
    purpose="A customer's session starts at a counter (from the counter app).",
)
FACES = TopicSpec(
    "station.faces",
    "session_id",
    "FaceDetected",
    purpose="The face-API result for a session's customer (from the camera).",
)
ORDERS = TopicSpec(
    "station.orders",
    "user_id, or session_id when anonymous",
    "OrderPlaced",
    purpose="An order placed at a counter; feeds the purchase histories and conversions.",
)
REGISTRY = TopicSpec(
    "station.registry",
    "station_id",
    "Station",
    co_partitioned=False,
    config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
    purpose="Each station's city and kind of place; every worker reads all of it.",
)
RECOMMENDATIONS = TopicSpec(
    "scoring.recommendations",
    "session_id",
    "Recommendation",
    purpose="One recommendation per session, for the counter screens and marketing.",
)
DEAD_LETTERS = TopicSpec(
    "scoring.dead-letters",
    "original key",
    "DeadLetter",
    purpose="Every input that could not be processed, its bytes and the reason.",
)
CONVERSIONS = TopicSpec(
    "scoring.conversions",
    "session_id",
    "Conversion",
    purpose="Whether a recommendation became an order of its top pick, of another type, or none.",
)
CUSTOMER_PROFILES = TopicSpec(
    "customer.profiles",
    "user_id",
    "CustomerProfile",
    config={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
    purpose="Each customer's latest profile, for marketing: compacted, never expired by time.",
)
MODELS = TopicSpec(
    "scoring.models",
    "role: live, shadow or canary",
    "ModelAnnouncement",
    co_partitioned=False,
    config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
    purpose="The model version serving in each role, followed by every worker.",
)
SHADOW = TopicSpec(
    "scoring.shadow",
    "session_id",
    "Recommendation (of the shadow version)",
    purpose="What a shadow version scored; never shown to a clerk.",
)
FEATURES = TopicSpec(
    "scoring.features",
    "session_id",
    "ServedFeatures",
    purpose="The feature log: what the model was given for a sampled share of sessions, "
    "the next version's training data once joined with the conversions.",
)

# Internal topics of the scorer (JSON values of its own, not for other consumers).
SESSION_ORDERS = TopicSpec(
    "scoring.session-orders",
    "session_id",
    "OrderPlaced (re-keyed)",
    purpose="Internal: orders re-keyed by session for conversion tracking.",
)
SCORING_REQUESTS = TopicSpec(
    "scoring.requests",
    "user_id, or session_id for a new user",
    "ScoringRequest (JSON)",
    purpose="Internal: joined sessions sent to the worker holding the customer's history.",
)
RECOMMENDATIONS_TO_TRACK = TopicSpec(
    "scoring.recommendations-to-track",
    "session_id",
    "Recommendation",
    purpose="Internal: recommendations for the worker tracking their session's conversion "
    "(the others are handed over in memory).",
)

ALL: tuple[TopicSpec, ...] = (
    SESSIONS,
    FACES,
    ORDERS,
    REGISTRY,
    RECOMMENDATIONS,
    DEAD_LETTERS,
    CONVERSIONS,
    CUSTOMER_PROFILES,
    MODELS,
    SHADOW,
    FEATURES,
    SCORING_REQUESTS,
    SESSION_ORDERS,
    RECOMMENDATIONS_TO_TRACK,
)


def named(spec: TopicSpec, prefix: str) -> str:
    """The topic's name on the cluster: SCORER_TOPIC_PREFIX then the catalogue name."""
    return prefix + spec.name


def prefixed(prefix: str, specs: tuple[TopicSpec, ...] = ALL) -> list[TopicSpec]:
    """The catalogue with every name prefixed, as ensure_topics creates them."""
    return [replace(spec, name=named(spec, prefix)) for spec in specs]
