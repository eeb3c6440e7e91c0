"""The topics of the product (DESIGN section 3): names, keys, value schemas and configs."""

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


SESSIONS = TopicSpec("station.sessions", "session_id", "SessionStarted")
FACES = TopicSpec("station.faces", "session_id", "FaceDetected")
ORDERS = TopicSpec("station.orders", "user_id, or session_id when anonymous", "OrderPlaced")
REGISTRY = TopicSpec(
    "station.registry",
    "station_id",
    "Station",
    co_partitioned=False,
    config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
)
RECOMMENDATIONS = TopicSpec("scoring.recommendations", "session_id", "Recommendation")
DEAD_LETTERS = TopicSpec("scoring.dead-letters", "original key", "DeadLetter")
CONVERSIONS = TopicSpec("scoring.conversions", "session_id", "Conversion")
# The latest profile per customer, for marketing: compacted, never expired by time.
CUSTOMER_PROFILES = TopicSpec(
    "customer.profiles",
    "user_id",
    "CustomerProfile",
    config={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
)
# The model version serving in each role (key: live, shadow, canary), followed by every
# worker (DESIGN section 12); what a shadow scored, never shown to a clerk.
MODELS = TopicSpec(
    "scoring.models",
    "role: live, shadow or canary",
    "ModelAnnouncement",
    co_partitioned=False,
    config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
)
SHADOW = TopicSpec("scoring.shadow", "session_id", "Recommendation (of the shadow version)")
# The feature log: what the model was given for a sampled share of sessions, the training
# data of the next version once joined with the conversions.
FEATURES = TopicSpec("scoring.features", "session_id", "ServedFeatures")

# Internal topics of the scorer (JSON values of its own, not for other consumers).
SESSION_ORDERS = TopicSpec("scoring.session-orders", "session_id", "OrderPlaced (re-keyed)")
SCORING_REQUESTS = TopicSpec(
    "scoring.requests", "user_id, or session_id for a new user", "ScoringRequest (JSON)"
)
# A recommendation scored by a worker that does not track its session's conversion, for
# the one that does (the others are handed over in memory).
RECOMMENDATIONS_TO_TRACK = TopicSpec(
    "scoring.recommendations-to-track", "session_id", "Recommendation"
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
