"""The worker's Prometheus metrics, served at /metrics (docs/reference/metrics.md).

Names start with `scorer_`, are in base units and carry only bounded labels: topic names,
lottery types, station types, cities, outcomes and reasons, never a user, face or session
id. Every worker exposes its own; Prometheus sums them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10)

EVENTS = Counter(
    "scorer_events_consumed_total", "Events read, per source topic", ["topic"], registry=REGISTRY
)
RECOMMENDATIONS = Counter(
    "scorer_recommendations_total", "Recommendations published", ["top_pick"], registry=REGISTRY
)
SESSIONS_SCORED = Counter(
    "scorer_sessions_scored_total",
    "Sessions scored, new users apart",
    ["new_user"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "scorer_latency_seconds",
    "From the last input of a session (its event time) to publishing its recommendation",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
HOP = Histogram(
    "scorer_hop_seconds",
    "Each hop of a session through the worker: received (station's send to the "
    "join), requested (the join's send to scoring, only for a session whose "
    "customer's history another worker holds), scored (read by the join or by "
    "scoring to its forward pass done), published (to its recommendation produced)",
    ["hop"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
HOP_RECEIVED, HOP_REQUESTED, HOP_SCORED, HOP_PUBLISHED = (
    HOP.labels(hop=hop) for hop in ("received", "requested", "scored", "published")
)
INFERENCE = Histogram(
    "scorer_inference_seconds",
    "One forward pass of a batch",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25),
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "scorer_batch_size",
    "Sessions per scoring batch",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
    registry=REGISTRY,
)
FACE_JOIN = Counter(
    "scorer_face_join_total",
    "Face join outcomes: embedded, joined, timed_out, late, duplicate, orphan_face",
    ["outcome"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "scorer_dead_letters_total",
    "Events sent to the dead-letter topic",
    ["reason", "topic"],
    registry=REGISTRY,
)
ORDERS = Counter(
    "scorer_orders_total",
    "Orders seen by record_orders: recorded, redelivered (counted before), anonymous",
    ["result"],
    registry=REGISTRY,
)
CONVERSIONS = Counter(
    "scorer_conversions_total",
    "Recommendation outcomes: converted_top_pick, converted_other, no_purchase",
    ["outcome", "top_pick", "station_type", "city"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "scorer_consumer_lag",
    "Messages not yet processed, per partition this worker owns",
    ["topic", "partition"],
    registry=REGISTRY,
)
CONSUMER_REWINDS = Counter(
    "scorer_consumer_rewinds_total",
    "Partitions sought back to their "
    "committed offset, never acked while later ones were "
    "(streams/kafka/offsets.py)",
    ["topic"],
    registry=REGISTRY,
)
MODEL_INFO = Gauge(
    "scorer_model_info",
    "The model versions this worker serves (value 1), per role: live, shadow, canary",
    ["version", "role"],
    registry=REGISTRY,
)
MODEL_LOAD_FAILURES = Counter(
    "scorer_model_load_failures_total",
    "Announced model versions "
    "refused (missing, corrupt, mismatched): the current one goes "
    "on serving",
    ["role"],
    registry=REGISTRY,
)
SCORED_BY = Counter(
    "scorer_scored_by_model_total",
    "Sessions scored per model version and "
    "role (live and canary: served; shadow: scored beside them)",
    ["model_version", "role"],
    registry=REGISTRY,
)
SHADOW_AGREEMENT = Counter(
    "scorer_shadow_agreement_total",
    "Shadow-scored sessions whose top pick is (agree=true) or is not the served one",
    ["agree"],
    registry=REGISTRY,
)
OUTCOME_LOG_LOSS = Summary(
    "scorer_outcome_log_loss",
    "Log loss of the served probabilities "
    "of each decided session against its outcome (the class of its "
    "first order, or No Buy), per model version",
    ["model_version"],
    registry=REGISTRY,
)
SHADOW_LOG_LOSS = Summary(
    "scorer_shadow_log_loss",
    "Log loss against the outcome of the "
    "sessions a shadow scored too: of the served model "
    "(scored_as=served) and of the shadow, on the same sessions",
    ["scored_as"],
    registry=REGISTRY,
)
FEATURES_LOGGED = Counter(
    "scorer_features_logged_total",
    "Scored sessions whose served inputs went to the feature log (scoring.features)",
    registry=REGISTRY,
)
FEATURE_PSI = Gauge(
    "scorer_feature_psi",
    "Population stability index of each input of the "
    "sessions served in SCORER_DRIFT_WINDOW_S (session time: a day) against "
    "the live model's training data",
    ["feature"],
    registry=REGISTRY,
)
DRIFT_SESSIONS = Gauge(
    "scorer_drift_window_sessions",
    "Sessions in the window the PSI is computed over",
    registry=REGISTRY,
)
CONVERSIONS_BY_MODEL = Counter(
    "scorer_conversions_by_model_total",
    "Recommendation outcomes per model version that scored them",
    ["model_version", "outcome"],
    registry=REGISTRY,
)
CUSTOMER_MODEL_INFO = Gauge(
    "scorer_customer_model_info",
    "The customer model this worker applies (value 1)",
    ["version"],
    registry=REGISTRY,
)
PROGRAMMING_ERRORS = Counter(
    "scorer_programming_errors_total",
    "Errors in the scorer's own code (not in its input), each of which stopped the worker",
    ["agent"],
    registry=REGISTRY,
)
READ_BACK_SKIPPED = Counter(
    "scorer_read_back_skipped_total",
    "Records read back on an assignment that do not decode (each went to the dead letters "
    "when first read) and were passed over in the rebuild",
    ["topic"],
    registry=REGISTRY,
)
PROFILE_ERRORS = Counter(
    "scorer_customer_profile_errors_total",
    "Customer profiles not published: a figure outside its schema's range",
    registry=REGISTRY,
)
PROFILES = Counter(
    "scorer_customer_profiles_total",
    "Customer profiles published to customer.profiles, per segment",
    ["segment"],
    registry=REGISTRY,
)
STATE = Gauge(
    "scorer_state_entries",
    "Entries this worker holds, per kind of state: sessions "
    "and faces waiting for their other half, recommendations waiting for their "
    "order, shadow results, and the keys kept to drop repeats (each expires: "
    "docs/development/benchmarks.md, State)",
    ["state"],
    registry=REGISTRY,
)
