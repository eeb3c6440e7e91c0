"""The seed model's 18 features, encoded for the MLP: the one implementation anywhere.

Training, batch scoring, HTTP scoring and the stream all encode through
`encode_columns`: the raw inputs of a batch of sessions as one array per column of
`RAW_COLUMNS` (missing face or history as None/NaN), to the float32 matrix the network
reads plus which rows had imputed inputs. Training and CSV scoring hold a pandas
*session frame* and call `encode(frame)`, which hands its columns over; the stream and
HTTP hold records and call `columns_from_records`, so no frame is built per batch (a
frame cost about 1.9 ms for one session, most of its scoring time).

The 18 features of the seed model (docs/concepts/model.md) and how each is encoded (31 columns in
all):

| feature | raw input | encoding |
|---|---|---|
| Beauty | face beauty 0-100 | one-hot bins [0,40) [40,55) [55,70) [70,100] |
| Laugh | face expression | 1 when the expression is laugh |
| Neutral Emotion | face emotion | 1 when the emotion is neutral |
| Positive Emotion | face emotion | 1 when the emotion is happy or surprise |
| Session Time | hour in Hubei (UTC+8) | bins [0,9) [9,12) [12,14) [14,18) [18,21) [21,24) |
| Yichang, Enshi, Wuhan | home city | one-hot; any other city is all zeros |
| Ten Times Good Luck, Qilecai, Shilitaohua, Other | most bought type | one-hot (1) |
| Total Purchase Days | days with an order | one-hot bins 0, 1-2, 3-5, 6-10, 11-20, 21+ |
| New User | no purchase history | 1 for a customer without history |
| Clubhouse, Chess Room, Supermarket, Restaurant | usual station type | one-hot (2) |

(1) Two-color Ball and Welfare 3D count as Other, as in the seed.
(2) A station of type "other" is all zeros.

Imputation: a session without a face gets the training data's mean beauty and most
common expression and emotion; a new user gets the training mean of purchase days and
the most common frequent type (the seed's rule), flagged in the output. A new user's
city and station type are those of the station of the session, which are known.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from schemas.errors import ScorerError

CLASSES: tuple[str, ...] = (
    "NO_BUY",
    "TWO_COLOR_BALL",
    "TEN_TIMES_GOOD_LUCK",
    "WELFARE_3D",
    "OTHER",
)
CLASS_LABELS: dict[str, str] = {
    "NO_BUY": "No Buy",
    "TWO_COLOR_BALL": "Two-color Ball",
    "TEN_TIMES_GOOD_LUCK": "Ten Times Good Luck",
    "WELFARE_3D": "Welfare Lottery 3D",
    "OTHER": "Other Lottery Type",
}
#: The model classes an order can fall in: the lottery types the seed names; Qilecai,
#: Shilitaohua and the rest are Other.
PURCHASE_CLASSES = ("TWO_COLOR_BALL", "TEN_TIMES_GOOD_LUCK", "WELFARE_3D")


def purchase_class(lottery_type: str) -> str:
    """The model class (CLASSES) an order of this lottery type falls in."""
    return lottery_type if lottery_type in PURCHASE_CLASSES else "OTHER"


LOTTERY_TYPES = (
    "TWO_COLOR_BALL",
    "TEN_TIMES_GOOD_LUCK",
    "WELFARE_3D",
    "QILECAI",
    "SHILITAOHUA",
    "OTHER",
)
EXPRESSIONS = ("none", "smile", "laugh")
EMOTIONS = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
    "pouty",
    "grimace",
    "none",
)
STATION_TYPES = ("clubhouse", "chess_room", "supermarket", "restaurant", "other")
HUBEI_UTC_OFFSET_H = 8

BEAUTY_EDGES = (40.0, 55.0, 70.0)
HOUR_EDGES = (9, 12, 14, 18, 21)
PURCHASE_DAY_EDGES = (1, 3, 6, 11, 21)
FEATURE_CITIES = ("Yichang", "Enshi", "Wuhan")
FREQUENT_TYPES = ("TEN_TIMES_GOOD_LUCK", "QILECAI", "SHILITAOHUA", "OTHER")
FEATURE_STATION_TYPES = ("clubhouse", "chess_room", "supermarket", "restaurant")

RAW_COLUMNS: dict[str, str] = {
    "beauty": "face beauty 0-100; empty when no face",
    "expression": f"face expression, one of {', '.join(EXPRESSIONS)}; empty when no face",
    "emotion": f"face emotion, one of {', '.join(EMOTIONS)}; empty when no face",
    "hour": "hour of day of the session in Hubei, 0-23",
    "city": "the user's home city (a new user's: the station's)",
    "station_type": f"one of {', '.join(STATION_TYPES)} (usual, or the station's)",
    "is_new_user": "true when the customer has no purchase history",
    "total_purchase_days": "distinct days with an order; empty for a new user",
    "frequent_type": f"most bought type, one of {', '.join(LOTTERY_TYPES)}; empty for new",
}


class FeatureError(ScorerError, ValueError):
    """A session frame cannot be encoded; the message names the row and the column."""

    reason = "bad_features"

    def __init__(self, detail: str, row: int | None = None, column: str | None = None) -> None:
        where = f"row {row}, column {column!r}: " if row is not None else ""
        super().__init__(where + detail)
        self.detail = detail
        self.row = row
        self.column = column


def _names(prefix: str, labels: Sequence[str]) -> list[str]:
    return [f"{prefix}={label}" for label in labels]


def _bin_labels(edges: Sequence[float], low: float, high: float) -> list[str]:
    bounds = [low, *edges, high]
    return [f"[{a:g},{b:g})" for a, b in itertools.pairwise(bounds)]


FEATURE_NAMES: tuple[str, ...] = tuple(
    [
        *_names("beauty", _bin_labels(BEAUTY_EDGES, 0, 101)),
        "laugh",
        "neutral_emotion",
        "positive_emotion",
        *_names("hour", _bin_labels(HOUR_EDGES, 0, 24)),
        *_names("city", FEATURE_CITIES),
        *_names("frequent_type", FREQUENT_TYPES),
        *_names("purchase_days", _bin_labels(PURCHASE_DAY_EDGES, 0, float("inf"))),
        "new_user",
        *_names("station_type", FEATURE_STATION_TYPES),
    ]
)
N_FEATURES = len(FEATURE_NAMES)


def feature_spec() -> dict[str, Any]:
    """What the encoding is, stored in the artifact so a mismatch is caught at load time."""
    return {
        "names": list(FEATURE_NAMES),
        "beauty_edges": list(BEAUTY_EDGES),
        "hour_edges": list(HOUR_EDGES),
        "purchase_day_edges": list(PURCHASE_DAY_EDGES),
        "cities": list(FEATURE_CITIES),
        "frequent_types": list(FREQUENT_TYPES),
        "station_types": list(FEATURE_STATION_TYPES),
        "hour_utc_offset": HUBEI_UTC_OFFSET_H,
    }


@dataclass(frozen=True)
class Imputation:
    """Training-data statistics that stand in for a missing face or history."""

    beauty: float
    expression: str
    emotion: str
    total_purchase_days: float
    frequent_type: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Imputation:
        """Means and modes of a training frame (faces present, returning users only)."""
        face = frame[frame["beauty"].notna()]
        known = frame[~frame["is_new_user"].astype(bool)]
        return cls(
            beauty=float(face["beauty"].mean()),
            expression=str(face["expression"].mode().iloc[0]),
            emotion=str(face["emotion"].mode().iloc[0]),
            total_purchase_days=float(known["total_purchase_days"].mean()),
            frequent_type=str(known["frequent_type"].mode().iloc[0]),
        )


@dataclass(frozen=True)
class Encoded:
    """The network's input and which rows had inputs imputed."""

    x: np.ndarray  # float32, (n, N_FEATURES)
    imputed_face: np.ndarray  # bool, (n,)
    imputed_history: np.ndarray  # bool, (n,)


def local_hour(epoch_ms: np.ndarray | int) -> np.ndarray:
    """Hour of day in Hubei (China has one time zone and no daylight saving)."""
    return (np.asarray(epoch_ms, dtype=np.int64) // 3_600_000 + HUBEI_UTC_OFFSET_H) % 24


#: A session batch as columns: each of RAW_COLUMNS as a 1-d array, one entry per session
#: (strings and flags as objects; numbers as floats, or objects with None for missing).
Columns = Mapping[str, np.ndarray]
_NUMERIC = ("beauty", "hour", "total_purchase_days")


def frame_from_records(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A session frame from dicts with the RAW_COLUMNS keys (missing keys are empty)."""
    return pd.DataFrame.from_records(list(records), columns=list(RAW_COLUMNS))


def columns_from_records(records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Columns from dicts with the RAW_COLUMNS keys (missing keys are empty): what the
    stream and HTTP scoring encode, with no frame built per batch."""
    columns = {}
    for name in RAW_COLUMNS:
        column = np.empty(len(records), dtype=object)
        column[:] = [r.get(name) for r in records]
        columns[name] = column
    return columns


def columns_of(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns of a session frame; FeatureError names a missing one."""
    missing = [c for c in RAW_COLUMNS if c not in frame.columns]
    if missing:
        raise FeatureError(f"missing column(s): {', '.join(missing)}")
    return {c: _column(frame[c], numeric=c in _NUMERIC) for c in RAW_COLUMNS}


def _column(series: pd.Series, numeric: bool) -> np.ndarray:
    if numeric and pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.to_numpy(dtype=object)


def encode(frame: pd.DataFrame, imputation: Imputation) -> Encoded:
    """Encode a session frame (training, batch scoring); see encode_columns."""
    return encode_columns(columns_of(frame), imputation)


def encode_columns(columns: Columns, imputation: Imputation) -> Encoded:
    """Encode a session batch; FeatureError names the first bad row and column."""
    beauty, has_face = _floats(columns["beauty"])
    hour, _ = _floats(columns["hour"])
    days, _ = _floats(columns["total_purchase_days"])
    _validate(columns, beauty, has_face, hour, days)
    n = len(beauty)
    no_face = ~has_face
    new_user = columns["is_new_user"].astype(bool)
    beauty = np.where(no_face, imputation.beauty, beauty)
    expression = np.where(no_face, imputation.expression, columns["expression"])
    emotion = np.where(no_face, imputation.emotion, columns["emotion"])
    days = np.where(new_user, imputation.total_purchase_days, days)
    frequent = np.where(new_user, imputation.frequent_type, columns["frequent_type"])
    frequent = np.where(_among(frequent, FREQUENT_TYPES), frequent, "OTHER")

    blocks = [
        _one_hot_bins(beauty, BEAUTY_EDGES),
        (expression == "laugh")[:, None],
        (emotion == "neutral")[:, None],
        _among(emotion, ("happy", "surprise"))[:, None],
        _one_hot_bins(hour, HOUR_EDGES),
        _one_hot(columns["city"], FEATURE_CITIES),
        _one_hot(frequent, FREQUENT_TYPES),
        _one_hot_bins(days, PURCHASE_DAY_EDGES),
        new_user[:, None],
        _one_hot(columns["station_type"], FEATURE_STATION_TYPES),
    ]
    x = (
        np.concatenate([b.astype(np.float32) for b in blocks], axis=1)
        if n
        else np.zeros((0, N_FEATURES), np.float32)
    )
    return Encoded(x=x, imputed_face=no_face, imputed_history=new_user)


def _one_hot_bins(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    return index[:, None] == np.arange(len(edges) + 1)[None, :]


def _one_hot(values: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    return values[:, None] == np.asarray(labels, dtype=object)[None, :]


def _among(values: np.ndarray, labels: Sequence[object]) -> np.ndarray:
    """Which values equal one of `labels`: set membership (any mix of None, strings and
    numbers), or == per label when a value cannot be hashed."""
    wanted = frozenset(labels)
    try:
        return np.fromiter(map(wanted.__contains__, values), dtype=bool, count=len(values))
    except TypeError:
        found = np.zeros(len(values), dtype=bool)
        for label in labels:
            found |= values == label
        return found


def _floats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values as floats (NaN where not a number), and where a value was given at all."""
    if values.dtype.kind in "fiu":
        floats = values.astype(np.float64)
        return floats, ~np.isnan(floats)
    given = None
    with contextlib.suppress(TypeError, ValueError):  # all numbers (or numeric strings)
        floats = values.astype(np.float64)
        given = ~np.isnan(floats)
    if given is not None and given.all():
        return floats, given
    given = np.array([v is not None and v == v for v in values], dtype=bool)  # NaN != NaN
    floats = np.full(len(values), np.nan)
    for i in np.flatnonzero(given):
        with contextlib.suppress(TypeError, ValueError):  # else NaN: the checks refuse it
            floats[i] = float(values[i])
    return floats, given


def _validate(
    columns: Columns, beauty: np.ndarray, has_face: np.ndarray, hour: np.ndarray, days: np.ndarray
) -> None:
    """Refuse a value outside its domain, naming the first bad row of the first column
    (in RAW_COLUMNS' order of checks) that has one."""
    is_new = columns["is_new_user"]
    known = is_new == False  # noqa: E712 (elementwise, on objects)
    city = columns["city"]
    checks: list[tuple[str, np.ndarray, str]] = [
        ("is_new_user", ~_among(is_new, (True, False)), "must be true or false"),
        ("beauty", has_face & ~((beauty >= 0) & (beauty <= 100)), "must be 0-100"),
        (
            "expression",
            has_face & ~_among(columns["expression"], EXPRESSIONS),
            f"must be one of {', '.join(EXPRESSIONS)} when beauty is given",
        ),
        (
            "emotion",
            has_face & ~_among(columns["emotion"], EMOTIONS),
            f"must be one of {', '.join(EMOTIONS)} when beauty is given",
        ),
        (
            "hour",
            ~((hour >= 0) & (hour <= 23) & (hour == np.floor(hour))),
            "must be a whole hour 0-23",
        ),
        (
            "city",
            ~np.array([isinstance(v, str) and v != "" for v in city], dtype=bool),
            "must be given",
        ),
        (
            "station_type",
            ~_among(columns["station_type"], STATION_TYPES),
            f"must be one of {', '.join(STATION_TYPES)}",
        ),
        ("total_purchase_days", known & ~(days >= 0), "must be a number >= 0 for a returning user"),
        (
            "frequent_type",
            known & ~_among(columns["frequent_type"], LOTTERY_TYPES),
            f"must be one of {', '.join(LOTTERY_TYPES)} for a returning user",
        ),
    ]
    for column, bad, rule in checks:
        if bad.any():
            row = int(bad.argmax())
            raise FeatureError(f"{columns[column][row]!r} {rule}", row=row, column=column)


# The 31 columns as 10 inputs, the groups drift, explanations and propensity share: each
# one-hot group (beauty, hour, city, frequent type, purchase days, station type) is one
# categorical input, each single column (laugh, emotions, new user) a 0/1 input.
@dataclass(frozen=True)
class Input:
    """One input of the model as drift and explanations see it."""

    name: str
    columns: tuple[int, ...]  # its encoded columns; one column means a 0/1 input

    @property
    def categories(self) -> int:
        return len(self.columns) + 1  # its columns, then none of them (0 for a 0/1 input)


def _inputs() -> tuple[Input, ...]:
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(FEATURE_NAMES):
        groups.setdefault(name.split("=", 1)[0], []).append(i)
    return tuple(Input(name, tuple(columns)) for name, columns in groups.items())


INPUTS = _inputs()
