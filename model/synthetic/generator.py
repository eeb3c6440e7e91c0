"""Station data with a known truth, deterministic by seed.

The process, in the order it draws (all from one numpy Generator seeded by the caller):

1. **Stations.** City: Wuhan 45%, Yichang 20%, Enshi 15%, Xiangyang 12%, Jingzhou 8%.
   Type: supermarket 35%, chess room 20%, restaurant 20%, clubhouse 15%, other 10%.
   Opening hours by type (supermarket 8-21, restaurant 10-22, chess room 9-23,
   clubhouse 12-24, other 8-20), with more customers at lunch and in the evening.
2. **Users.** A home station (its city is the user's home city, its type the user's usual
   station type); a latent taste over the six lottery products, Dirichlet(0.6, ...)
   tilted towards Two-color Ball; a visit rate, Gamma(1.2, 1.5) purchase days a month;
   a tenure, uniform 0-18 months; a member card (60%) and a face-library entry (80%).
3. **Sessions.** 22% are walk-ins with no history (new users). The others are a user
   drawn uniformly, at the home station 85% of the time. Their history as of the
   session: purchase days ~ Poisson(rate x tenure) (zero days is a new user too); orders
   ~ Multinomial(days x (1 + Poisson(0.4)), taste); the frequently bought type is the
   product with most orders. The hour follows the station's opening profile.
4. **Faces.** Age ~ Normal(46, 13) in 18-85; gender male 62%; beauty ~ Normal(58 - 0.15
   (age - 46), 11) in 0-100; expression none/smile/laugh 55/33/12% (laugh twice as
   likely in clubhouses and after 18:00); emotion mostly neutral or happy, happier in the
   evening. Face-API confidences are drawn in their documented ranges.
5. **The class** ~ Categorical(truth.posterior(features)): see model/synthetic/truth.py.
6. **Orders.** A session of a buying class gets an order of that product (Other: Qilecai,
   Shilitaohua or other by the user's taste), 20 s to 4 min after the session starts, of
   a plausible amount.
7. **Identity on the wire** (for the station simulator): members give their user id at
   the counter; others with a face-library entry are matched by face at a score >= 80 nine
   times in ten, otherwise the search misses (score below 80 or no candidate).

8. **Customer lifetimes** (`customer_orders`, for the customer analytics: a process of
   its own, with the parameters of BTYD_TRUTH known). A customer's first purchase falls
   uniformly in the first `acquisition_days`; while active they buy as a Poisson process
   of rate lambda ~ Gamma(r, rate alpha) a day; after each repeat purchase they drop out
   for good with chance p ~ Beta(a, b) (the BG/NBD process); each purchase spends
   z ~ Gamma(p, rate nu) fen, nu ~ Gamma(q, rate gamma) per customer (Gamma-Gamma). One
   order per purchase, at the station of a uniformly drawn home station. Purchase times
   are continuous: two purchases on one local day (about 1.5% of purchases with these
   parameters) count as one purchase day in the RFM, which is all a model can see.

Offline, the features are those the scorer sees when identity and the face are known;
the live simulator adds late, missing and duplicated faces on top.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.mlp.features import (
    CLASSES,
    EMOTIONS,
    EXPRESSIONS,
    LOTTERY_TYPES,
    STATION_TYPES,
    Imputation,
    encode,
)
from model.synthetic import truth

CITIES = ("Wuhan", "Yichang", "Enshi", "Xiangyang", "Jingzhou")
CITY_SHARES = (0.45, 0.20, 0.15, 0.12, 0.08)
STATION_TYPE_SHARES = (0.15, 0.20, 0.35, 0.20, 0.10)  # in STATION_TYPES order
OPENING_HOURS = {
    "clubhouse": (12, 24),
    "chess_room": (9, 23),
    "supermarket": (8, 21),
    "restaurant": (10, 22),
    "other": (8, 20),
}
HOURLY_PROFILE = np.array(
    [1, 1, 1, 1, 1, 1, 2, 3, 4, 6, 8, 9, 9, 7, 5, 5, 6, 8, 9, 9, 8, 6, 4, 2], dtype=float
)
EMOTION_SHARES = (0.04, 0.02, 0.02, 0.28, 0.07, 0.05, 0.42, 0.04, 0.03, 0.03)  # EMOTIONS order
TASTE_PRIOR = (1.2, 0.6, 0.6, 0.6, 0.6, 0.6)  # LOTTERY_TYPES order
WALK_IN_SHARE = 0.22
HOME_STATION_SHARE = 0.85
START_MS = 1_719_792_000_000  # 2024-07-01 00:00 UTC
DAY_MS = 86_400_000
# A neutral stand-in for imputation: the generator's faces and histories are complete,
# and the truth ignores the history columns of a new user, so its value never matters.
_NO_IMPUTATION = Imputation(50.0, "none", "neutral", 0.0, "OTHER")


@dataclass(frozen=True)
class World:
    """The stations and users that sessions are drawn from."""

    stations: pd.DataFrame  # station_id, city, station_type, opens, closes
    users: pd.DataFrame  # user_id, home_station, rate, tenure, is_member, in_face_library
    tastes: np.ndarray  # (n_users, 6) over LOTTERY_TYPES


def make_world(rng: np.random.Generator, n_stations: int = 200, n_users: int = 20_000) -> World:
    """Draw stations and users (steps 1 and 2 of the process)."""
    types = rng.choice(STATION_TYPES, size=n_stations, p=STATION_TYPE_SHARES)
    stations = pd.DataFrame(
        {
            "station_id": [f"st-{i:05d}" for i in range(n_stations)],
            "city": rng.choice(CITIES, size=n_stations, p=CITY_SHARES),
            "station_type": types,
            "opens": [OPENING_HOURS[t][0] for t in types],
            "closes": [OPENING_HOURS[t][1] for t in types],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": [f"u-{i:07d}" for i in range(n_users)],
            "home_station": rng.integers(0, n_stations, size=n_users),
            "rate": rng.gamma(1.2, 1.5, size=n_users),
            "tenure": rng.uniform(0, 18, size=n_users),
            "is_member": rng.random(n_users) < 0.6,
            "in_face_library": rng.random(n_users) < 0.8,
        }
    )
    tastes = rng.dirichlet(TASTE_PRIOR, size=n_users)
    return World(stations, users, tastes)


def sample_sessions(world: World, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw n labelled sessions (steps 3 to 7), one row each, in time order."""
    who = _draw_customers(world, n, rng)
    frame = pd.concat([who, _draw_history(world, who, rng)], axis=1)
    frame = pd.concat([frame, _draw_time(world, frame, rng)], axis=1)
    frame = pd.concat([frame, _draw_face(frame, rng)], axis=1)
    frame = draw_outcomes(world, frame, rng)
    frame = frame.sort_values("started_at", kind="stable").reset_index(drop=True)
    frame.insert(0, "session_id", [f"sess-{i:09d}" for i in range(n)])
    return frame


OUTCOME_COLUMNS = (
    "label",
    "class_name",
    "order_type",
    "order_amount",
    "order_at",
    "user_id",
    "counter_user_id",
    "matched_user_id",
    "match_score",
)


def draw_outcomes(world: World, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Steps 5 to 7 for sessions whose features are set: the class, the order, the
    identity on the wire. The station simulator calls it again after it has put in the
    live clock and the history it has really published."""
    frame = frame.drop(columns=[c for c in OUTCOME_COLUMNS if c in frame.columns])
    p = truth.posterior(encode(frame, _NO_IMPUTATION).x)
    frame["label"] = _draw_categorical(p, rng)
    frame["class_name"] = np.asarray(CLASSES)[frame["label"]]
    return pd.concat([frame, _draw_order(world, frame, rng), _draw_identity(frame, rng)], axis=1)


def _draw_customers(world: World, n: int, rng: np.random.Generator) -> pd.DataFrame:
    walk_in = rng.random(n) < WALK_IN_SHARE
    user = rng.integers(0, len(world.users), size=n)
    home = world.users["home_station"].to_numpy()[user]
    elsewhere = rng.integers(0, len(world.stations), size=n)
    at_home = rng.random(n) < HOME_STATION_SHARE
    station = np.where(walk_in | ~at_home, elsewhere, home)
    st = world.stations
    return pd.DataFrame(
        {
            "user_index": np.where(walk_in, -1, user),
            "station_id": st["station_id"].to_numpy()[station],
            "station_city": st["city"].to_numpy()[station],
            "station_station_type": st["station_type"].to_numpy()[station],
            "station_index": station,
            "home_city": np.where(walk_in, None, st["city"].to_numpy()[home]),
            "home_station_type": np.where(walk_in, None, st["station_type"].to_numpy()[home]),
        }
    )


def _draw_history(world: World, who: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    user = who["user_index"].to_numpy()
    known = user >= 0
    safe = np.where(known, user, 0)
    users = world.users
    mean_days = users["rate"].to_numpy()[safe] * users["tenure"].to_numpy()[safe]
    days = np.where(known, rng.poisson(mean_days), 0)
    orders = days * (1 + rng.poisson(0.4, size=len(user)))
    counts = rng.multinomial(orders, world.tastes[safe])
    frequent = np.asarray(LOTTERY_TYPES, dtype=object)[counts.argmax(axis=1)]
    is_new = days == 0
    return pd.DataFrame(
        {
            "is_new_user": is_new,
            "total_purchase_days": np.where(is_new, np.nan, days.astype(float)),
            "frequent_type": np.where(is_new, None, frequent),
            "city": np.where(is_new, who["station_city"], who["home_city"]),
            "station_type": np.where(is_new, who["station_station_type"], who["home_station_type"]),
        }
    )


def _draw_time(world: World, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    station = frame["station_index"].to_numpy()
    opens = world.stations["opens"].to_numpy()[station]
    closes = world.stations["closes"].to_numpy()[station]
    hours = np.arange(24)
    open_mask = (hours[None, :] >= opens[:, None]) & (hours[None, :] < closes[:, None])
    weights = open_mask * HOURLY_PROFILE[None, :]
    hour = _draw_categorical(weights / weights.sum(axis=1, keepdims=True), rng)
    day = rng.integers(0, 31, size=len(frame))
    within = rng.integers(0, 3_600_000, size=len(frame))
    utc_hour = (hour - 8) % 24  # Hubei is UTC+8
    started_at = START_MS + day * DAY_MS + utc_hour * 3_600_000 + within
    return pd.DataFrame({"hour": hour, "started_at": started_at.astype(np.int64)})


def _draw_face(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(frame)
    age = np.clip(np.rint(rng.normal(46, 13, n)), 18, 85).astype(int)
    beauty = np.clip(rng.normal(58 - 0.15 * (age - 46), 11, n), 0, 100).round(2)
    lively = (frame["station_station_type"].to_numpy() == "clubhouse") | (frame["hour"] >= 18)
    laugh_p = np.where(lively, 0.24, 0.12)
    expr_p = np.stack([0.67 - laugh_p, np.full(n, 0.33), laugh_p], axis=1)
    emo_p = np.tile(EMOTION_SHARES, (n, 1))
    evening = frame["hour"].to_numpy() >= 18
    emo_p[evening, EMOTIONS.index("happy")] += 0.10
    emo_p /= emo_p.sum(axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "beauty": beauty,
            "expression": np.asarray(EXPRESSIONS, dtype=object)[_draw_categorical(expr_p, rng)],
            "emotion": np.asarray(EMOTIONS, dtype=object)[_draw_categorical(emo_p, rng)],
            "age": age,
            "gender": np.where(rng.random(n) < 0.62, "male", "female"),
            "face_probability": rng.uniform(0.9, 1.0, n).round(4),
            "expression_probability": rng.uniform(0.5, 1.0, n).round(4),
            "emotion_probability": rng.uniform(0.4, 1.0, n).round(4),
            "gender_probability": rng.uniform(0.8, 1.0, n).round(4),
        }
    )


_PRICE_FEN = {
    "TWO_COLOR_BALL": 200,
    "TEN_TIMES_GOOD_LUCK": 1000,
    "WELFARE_3D": 200,
    "QILECAI": 200,
    "SHILITAOHUA": 500,
    "OTHER": 500,
}
_OTHER_PRODUCTS = [LOTTERY_TYPES.index(t) for t in ("QILECAI", "SHILITAOHUA", "OTHER")]


def _draw_order(world: World, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(frame)
    label = frame["class_name"].to_numpy()
    user = frame["user_index"].to_numpy()
    taste = world.tastes[np.where(user >= 0, user, 0)][:, _OTHER_PRODUCTS]
    taste = np.where((user >= 0)[:, None], taste, 1.0)
    other = np.asarray(LOTTERY_TYPES, dtype=object)[_OTHER_PRODUCTS][
        _draw_categorical(taste / taste.sum(axis=1, keepdims=True), rng)
    ]
    buying = label != "NO_BUY"
    product = _where_else_none(buying, np.where(label == "OTHER", other, label))
    units = 1 + rng.poisson(1.5, n)
    price = np.array([_PRICE_FEN.get(p, 0) if p else 0 for p in product])
    delay = rng.integers(20_000, 240_000, size=n)
    return pd.DataFrame(
        {
            "order_type": product,
            "order_amount": np.where(buying, price * units, 0),
            "order_at": np.where(buying, frame["started_at"] + delay, 0),
        }
    )


def _where_else_none(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values where mask holds, None elsewhere (an object array)."""
    out = np.full(len(mask), None, dtype=object)
    out[mask] = np.asarray(values, dtype=object)[mask]
    return out


def _draw_identity(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(frame)
    user = frame["user_index"].to_numpy()
    known = user >= 0
    user_ids = np.array([f"u-{u:07d}" if u >= 0 else None for u in user], dtype=object)
    member = known & (rng.random(n) < 0.6)
    matched = known & ~member & (rng.random(n) < 0.8 * 0.9)
    score = np.where(matched, rng.uniform(80, 100, n), rng.uniform(0, 79.9, n)).round(2)
    has_candidate = matched | (rng.random(n) < 0.3)
    return pd.DataFrame(
        {
            "user_id": user_ids,
            "counter_user_id": _where_else_none(member, user_ids),
            "matched_user_id": _where_else_none(matched, user_ids),
            "match_score": np.where(has_candidate, score, np.nan),
        }
    )


def _draw_categorical(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a probability matrix (vectorised inverse CDF)."""
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(p))[:, None] * cdf[:, -1:]
    return np.minimum((u > cdf).sum(axis=1), p.shape[1] - 1)


def generate(n: int, seed: int, n_stations: int = 200, n_users: int = 20_000) -> pd.DataFrame:
    """A labelled data set of n sessions: the same seed gives the same frame."""
    rng = np.random.default_rng(seed)
    world = make_world(rng, n_stations, n_users)
    return sample_sessions(world, n, rng)


def fingerprint(frame: pd.DataFrame) -> str:
    """A short hash of a data set's features and labels, recorded in the artifact."""
    digest = hashlib.sha256()
    x = encode(frame, _NO_IMPUTATION).x
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(frame["label"].to_numpy(np.int64).tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class BtydTruth:
    """The parameters of step 8, in days and fen."""

    r: float = 0.9
    alpha: float = 30.0
    a: float = 0.8
    b: float = 4.0
    p: float = 4.0
    q: float = 3.0
    gamma: float = 400.0


BTYD_TRUTH = BtydTruth()


def customer_orders(
    n_customers: int,
    seed: int,
    *,
    days: float = 18 * 365.25 / 12,
    acquisition_days: int = 180,
    n_stations: int = 200,
    truth: BtydTruth = BTYD_TRUTH,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Step 8: (orders, customers, stations) over `days` from START_MS, deterministic by seed.

    orders: order_id, user_id, station_id, lottery_type, amount (fen), placed_at_ms, in
    time order. customers: user_id, rate (lambda a day), dropout (p), spend_rate (nu),
    active_until_ms (when they dropped out; None while active at the end)."""
    rng = np.random.default_rng(seed)
    world = make_world(rng, n_stations, n_customers)
    lam = rng.gamma(truth.r, 1 / truth.alpha, n_customers)
    drop = rng.beta(truth.a, truth.b, n_customers)
    nu = rng.gamma(truth.q, 1 / truth.gamma, n_customers)
    first = rng.uniform(0, acquisition_days, n_customers)
    who, when, dropped_at = _purchase_times(lam, drop, first, float(days), rng)
    spend = np.maximum(1, np.rint(rng.gamma(truth.p, 1 / nu[who]))).astype(np.int64)
    product = _draw_categorical(world.tastes[who], rng)
    order = np.argsort(when, kind="stable")
    who, when, spend, product = who[order], when[order], spend[order], product[order]
    users = world.users["user_id"].to_numpy()
    home = world.users["home_station"].to_numpy()
    orders = pd.DataFrame(
        {
            "order_id": [f"ord-{i:010d}" for i in range(len(who))],
            "user_id": users[who],
            "station_id": world.stations["station_id"].to_numpy()[home[who]],
            "lottery_type": np.asarray(LOTTERY_TYPES, dtype=object)[product],
            "amount": spend,
            "placed_at_ms": START_MS + np.rint(when * DAY_MS).astype(np.int64),
        }
    )
    until = np.where(np.isfinite(dropped_at), START_MS + dropped_at * DAY_MS, np.nan)
    customers = pd.DataFrame(
        {"user_id": users, "rate": lam, "dropout": drop, "spend_rate": nu, "active_until_ms": until}
    )
    return orders, customers, world.stations


def _purchase_times(
    lam: np.ndarray, drop: np.ndarray, first: np.ndarray, end: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every purchase (customer index, day) before `end`, and when each customer dropped
    out (inf while active): vectorised over the customers still buying."""
    who, when = [np.arange(len(lam))], [first]
    dropped_at = np.full(len(lam), np.inf)
    buying, last = np.arange(len(lam)), first.copy()
    while len(buying):
        nxt = last + rng.exponential(1 / lam[buying])
        within = nxt < end
        buying, nxt = buying[within], nxt[within]
        who.append(buying)
        when.append(nxt)
        leaves = rng.random(len(buying)) < drop[buying]
        dropped_at[buying[leaves]] = nxt[leaves]
        buying, last = buying[~leaves], nxt[~leaves]
    return np.concatenate(who), np.concatenate(when), dropped_at
