"""`make simulate`: stations publishing live events, as the counter apps and cameras would.

Built on model/synthetic/generator.py and speaking only the wire format (confluent-kafka producer,
Avro single-object encoding, murmur2 partitioning). In order:

1. the station registry;
2. the users' past orders (`--history-days` back), so that returning customers have a
   purchase history when the live sessions begin;
3. live sessions at `--rate` per second for `--duration` seconds: each session's class is
   drawn from the true posterior of the features the scorer will see (the live hour and
   the history published so far); its face comes embedded, as its own event after a short
   delay, late (after the scorer's face wait), twice, or not at all, in the given shares;
   a session that buys is followed by its order after a delay; a share of all events is
   malformed on purpose.

It prints what it sent as JSON on its last line (and to `--summary`), which the demo and
the tests read to count against what the scorer published. That summary is only printed
for events that reached the cluster: before the first one it checks that the cluster
answers (naming why not: no broker, a wrong password, an untrusted certificate) and has
the topics, and an event librdkafka gives up on (after DELIVERY_TIMEOUT_S) ends the run
with exit code 1 and how many did not get there.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from confluent_kafka import KafkaError, Message, Producer

from infra.kafka.admin import admin_client, check_reachable, consumer_lag
from infra.kafka.client import producer_config
from infra.kafka.cluster import BrokerError, bootstrap_servers
from infra.kafka.settings import kafka_settings
from model.customers import history
from model.mlp.features import LOTTERY_TYPES, STATION_TYPES, local_hour
from model.synthetic import generator
from schemas import topics
from schemas.codec import Codec
from schemas.errors import ScorerError

#: How long librdkafka retries an event before it counts as not delivered: a broker away
#: for less is ridden out, as a station's producer would.
DELIVERY_TIMEOUT_S = 60.0


class NotDelivered(ScorerError):
    """Events the simulator produced did not all reach the cluster: what it would report
    as sent is not what the scorer can see."""

    reason = "not_delivered"


@dataclass
class Options:
    stations: int = 20
    users: int = 2_000
    rate: float = 50.0
    duration: float = 60.0
    seed: int = 1
    history_days: int = 365
    embedded_faces: float = 0.2
    late_faces: float = 0.05
    missing_faces: float = 0.05
    duplicate_faces: float = 0.02
    duplicate_sessions: float = 0.01
    malformed: float = 0.01
    face_delay_ms: tuple[int, int] = (100, 800)
    late_delay_ms: tuple[int, int] = (2_500, 5_000)
    order_delay_s: tuple[float, float] = (20.0, 240.0)
    #: Every station of this type instead of the generator's mix (a shift of the inputs,
    #: for the drift alarm); None keeps the mix the model was trained on.
    station_type: str | None = None


@dataclass
class Sent:
    """What the simulator published, for counting against the scorer's output."""

    stations: int = 0
    history_orders: int = 0
    sessions: int = 0
    session_ids: list[str] = field(default_factory=list)
    faces: int = 0
    orders: int = 0
    order_ids: list[str] = field(default_factory=list)
    malformed: int = 0
    duplicates: int = 0
    buying_sessions: int = 0
    orders_per_user: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if not isinstance(v, list | dict)}
        out["distinct_sessions"] = len(set(self.session_ids))
        return out


class Simulator:
    """Publishes a world's registry, history and live sessions to Kafka."""

    def __init__(
        self, bootstrap: str, options: Options, delivery_timeout_s: float = DELIVERY_TIMEOUT_S
    ) -> None:
        self.o = options
        self.rng = np.random.default_rng(options.seed)
        self.pick = random.Random(options.seed)
        self.world = generator.make_world(self.rng, options.stations, options.users)
        if options.station_type is not None:
            self.world.stations["station_type"] = options.station_type
        self.codec = Codec()
        self.bootstrap = bootstrap
        self.producer = Producer(
            producer_config(
                bootstrap,
                **{
                    "linger.ms": 2,
                    "message.timeout.ms": int(delivery_timeout_s * 1000),
                    "on_delivery": self._on_delivery,
                },
            )
        )
        self.delivery_timeout_s = delivery_timeout_s
        self.failed = 0  # events librdkafka gave up on
        self.first_failure = ""
        self.histories: dict[str, dict[str, Any]] = {}
        prefix = kafka_settings().scorer_topic_prefix
        self.registry_topic = topics.named(topics.REGISTRY, prefix)
        self.orders_topic = topics.named(topics.ORDERS, prefix)
        self.sessions_topic = topics.named(topics.SESSIONS, prefix)
        self.faces_topic = topics.named(topics.FACES, prefix)
        self.sent = Sent()
        st = self.world.stations
        self._stations: dict[str, tuple[str, str]] = {
            str(s): (str(c), str(t))
            for s, c, t in zip(st["station_id"], st["city"], st["station_type"], strict=True)
        }
        self._user_ids = [str(u) for u in self.world.users["user_id"]]
        # (due ms, sequence, topic, key, value); an order is planned as a dict instead.
        self._queue: list[tuple[int, int, str, str, bytes | dict[str, Any]]] = []
        self._seq = 0
        #: Each live session as the scorer should see it, and its class (`--truth`).
        self.truth: list[dict[str, Any]] = []

    def run(self, wait_for_group: str | None = None) -> Sent:
        """Publish everything; NotDelivered (or BrokerError, before the first event) when
        what it sent did not all reach the cluster."""
        self.check_cluster()
        self.publish_registry()
        self.publish_history()
        if wait_for_group:
            self.wait_until_consumed(wait_for_group)
        self.publish_live()
        self.flush()
        return self.sent

    def check_cluster(self) -> None:
        """BrokerError naming the cause (no broker, wrong password, untrusted certificate)
        or the missing topics, before anything is produced."""
        names = check_reachable(admin_client(self.bootstrap), self.bootstrap)
        wanted = (self.registry_topic, self.orders_topic, self.sessions_topic, self.faces_topic)
        missing = [name for name in wanted if name not in names]
        if missing:
            raise BrokerError(
                f"the cluster at {self.bootstrap} has no topic {', '.join(missing)}: "
                "create the product's topics with `make topics`"
            )

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed += 1
            self.first_failure = self.first_failure or f"{message.topic()}: {error.str()}"

    def flush(self) -> None:
        """Wait until every event produced is delivered or given up on; NotDelivered when
        any was given up on."""
        left = self.producer.flush(self.delivery_timeout_s + 10)
        self._check_delivered(left)

    def _check_delivered(self, left: int = 0) -> None:
        if self.failed or left:
            first = self.first_failure or "still queued"
            raise NotDelivered(
                f"{self.failed + left} events did not reach the cluster at "
                f"{self.bootstrap} (the first: {first}); the summary would not "
                "be what the scorer saw"
            )

    def _produce(self, topic: str, key: str, value: bytes) -> None:
        self._check_delivered()  # stop at the first event given up on
        while True:
            try:
                self.producer.produce(topic, key=key.encode(), value=value)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def publish_registry(self) -> None:
        for station_id, (city, station_type) in self._stations.items():
            record = {"station_id": station_id, "city": city, "station_type": station_type}
            self._produce(self.registry_topic, station_id, self.codec.encode("Station", record))
        self.flush()
        self.sent.stations = len(self.world.stations)

    def publish_history(self) -> None:
        """Past orders of every user, at the home station, over the last history_days."""
        now = int(time.time() * 1000)
        users = self.world.users
        months = np.minimum(users["tenure"].to_numpy(), self.o.history_days / 30)
        days = self.rng.poisson(users["rate"].to_numpy() * months)
        homes = users["home_station"].to_numpy()
        station_ids = list(self._stations)
        for u, n_days in enumerate(days):
            if n_days == 0:
                continue
            user_id, home = self._user_ids[u], station_ids[int(homes[u])]
            types = self.rng.choice(LOTTERY_TYPES, size=int(n_days), p=self.world.tastes[u])
            # Oldest first, as a station's back office uploads them: the scorer refuses an
            # order placed long before the user's latest one (model/customers/history.py).
            back = np.sort(self.rng.integers(1, self.o.history_days + 1, size=int(n_days)))[::-1]
            for i, (kind, day) in enumerate(zip(types, back, strict=True)):
                order = {
                    "order_id": f"hist-{user_id}-{i}",
                    "session_id": None,
                    "user_id": user_id,
                    "station_id": home,
                    "lottery_type": str(kind),
                    "amount": 200 * (1 + i % 5),
                    "placed_at": now - int(day) * history.DAY_MS,
                }
                self._send_order(order, *self._stations[home])
                self.sent.history_orders += 1
        self.flush()

    def wait_until_consumed(self, group: str, timeout: float = 300) -> None:
        """Hold the live sessions until the scorer has recorded the published history."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(consumer_lag(self.bootstrap, group, self.orders_topic).values()) == 0:
                return
            time.sleep(0.5)
        raise ScorerError(
            f"group {group} did not consume {self.orders_topic} in {timeout:g} s: "
            "is its worker running?"
        )

    def _send_order(self, order: dict[str, Any], city: str, station_type: str) -> None:
        user = order["user_id"]
        if user:
            self.sent.orders_per_user[user] = self.sent.orders_per_user.get(user, 0) + 1
            tracked = {**order, "placed_at_ms": order["placed_at"]}
            self.histories[user], _ = history.add_order(
                self.histories.get(user), tracked, city, station_type
            )
        key = user or order["session_id"]
        self._produce(self.orders_topic, key, self.codec.encode("OrderPlaced", order))

    def publish_live(self) -> None:
        total = int(self.o.rate * self.o.duration)
        began = time.monotonic()
        start_ms = int(time.time() * 1000)
        chunk = max(1, int(self.o.rate))
        made = 0
        while made < total or self._queue:
            if made < total and time.monotonic() - began >= made / self.o.rate - 1.0:
                n = min(chunk, total - made)
                frame = self._live_sessions(n, made, start_ms)
                for row in frame.to_dict("records"):
                    self._plan_session({str(k): v for k, v in row.items()})
                made += n
            self._drain(start_ms, began)
            time.sleep(0.002)

    def _live_sessions(self, n: int, offset: int, start_ms: int) -> pd.DataFrame:
        frame = generator.sample_sessions(self.world, n, self.rng)
        frame["started_at"] = start_ms + ((offset + np.arange(n)) / self.o.rate * 1000).astype(
            np.int64
        )
        frame["hour"] = local_hour(frame["started_at"].to_numpy())
        self._use_published_history(frame)
        frame = generator.draw_outcomes(self.world, frame, self.rng)
        frame["session_id"] = [f"live-{self.o.seed}-{offset + i:08d}" for i in range(n)]
        return frame

    def _use_published_history(self, frame: pd.DataFrame) -> None:
        """Replace the sampled history with what the scorer can know from the topics."""
        names = ("is_new_user", "total_purchase_days", "frequent_type", "city", "station_type")
        columns: dict[str, list[Any]] = {name: [] for name in names}
        rows = zip(
            frame["user_index"], frame["station_city"], frame["station_station_type"], strict=True
        )
        for u, city, station_type in rows:
            known = self.histories.get(self._user_ids[int(u)]) if u >= 0 else None
            s = history.summary(known)
            values = (
                (True, np.nan, None, city, station_type)
                if s is None
                else (
                    False,
                    s["total_purchase_days"],
                    s["frequent_type"],
                    s["home_city"],
                    s["usual_station_type"],
                )
            )
            for name, value in zip(names, values, strict=True):
                columns[name].append(value)
        for name in names:
            frame[name] = columns[name]

    def _at(self, due_ms: int, topic: str, key: str, value: bytes | dict[str, Any]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (due_ms, self._seq, topic, key, value))

    def _plan_session(self, row: dict[str, Any]) -> None:
        o, pick = self.o, self.pick
        face = face_record(row)
        embedded = pick.random() < o.embedded_faces
        session = {
            "session_id": row["session_id"],
            "station_id": row["station_id"],
            "started_at": int(row["started_at"]),
            "user_id": row["counter_user_id"],
            "face": face if embedded else None,
        }
        value = self.codec.encode("SessionStarted", session)
        self._at(session["started_at"], self.sessions_topic, row["session_id"], value)
        self.sent.session_ids.append(row["session_id"])
        if pick.random() < o.duplicate_sessions:
            self._at(session["started_at"] + 50, self.sessions_topic, row["session_id"], value)
            self.sent.duplicates += 1
        sent_face = embedded or self._plan_face(row, face)
        seen = row["counter_user_id"] or (
            row["matched_user_id"] if sent_face and not embedded else None
        )
        self.truth.append(self._seen(row, face if sent_face else None, seen))
        if row["order_type"] is not None:
            self._plan_order(row)
        if pick.random() < o.malformed:
            self._at(
                session["started_at"],
                self.sessions_topic,
                row["session_id"] + "-bad",
                _malformed(pick, value),
            )
            self.sent.malformed += 1

    def _seen(
        self, row: dict[str, Any], face: dict[str, Any] | None, user_id: str | None
    ) -> dict[str, Any]:
        """The session as the scorer should see it (model.mlp.features.RAW_COLUMNS), with the
        class it fell in: the customer it can resolve (the counter's id, else the face
        event's match; the generator's matches score 80 and over, the default
        SCORER_MATCH_THRESHOLD) with the history published so far."""
        station_id = row["station_id"]
        city, station_type = self._stations[station_id]
        s = history.summary(self.histories.get(user_id)) if user_id else None
        return {
            "session_id": row["session_id"],
            "station_id": station_id,
            "user_id": user_id,
            "beauty": None if face is None else face["beauty"],
            "expression": None if face is None else face["expression"]["type"],
            "emotion": None if face is None else face["emotion"]["type"],
            "hour": int(local_hour(int(row["started_at"]))),
            "is_new_user": s is None,
            "city": city if s is None else s["home_city"],
            "station_type": station_type if s is None else s["usual_station_type"],
            "total_purchase_days": None if s is None else s["total_purchase_days"],
            "frequent_type": None if s is None else s["frequent_type"],
            "class": row["class_name"],
        }

    def _plan_face(self, row: dict[str, Any], face: dict[str, Any]) -> bool:
        """Plan the face event, unless it goes missing; whether it is sent."""
        o, pick = self.o, self.pick
        roll = pick.random()
        if roll < o.missing_faces:
            return False
        late = roll < o.missing_faces + o.late_faces
        low, high = o.late_delay_ms if late else o.face_delay_ms
        detected = int(row["started_at"]) + pick.randint(low, high)
        matched = row["matched_user_id"]
        record = {
            "session_id": row["session_id"],
            "station_id": row["station_id"],
            "detected_at": detected,
            "face": face,
            "matched_user_id": matched,
            "match_score": None if np.isnan(row["match_score"]) else row["match_score"],
        }
        if record["match_score"] is None:
            record["matched_user_id"] = None
        elif matched is None:  # a search that found only a weak candidate
            record["matched_user_id"] = f"u-{pick.randrange(len(self.world.users)):07d}"
        value = self.codec.encode("FaceDetected", record)
        self._at(detected, self.faces_topic, row["session_id"], value)
        if pick.random() < o.duplicate_faces:
            self._at(detected + 30, self.faces_topic, row["session_id"], value)
            self.sent.duplicates += 1
        return True

    def _plan_order(self, row: dict[str, Any]) -> None:
        low, high = self.o.order_delay_s
        placed = int(row["started_at"]) + int(self.pick.uniform(low, high) * 1000)
        order_id = f"ord-{row['session_id']}"
        order = {
            "order_id": order_id,
            "session_id": row["session_id"],
            "user_id": row["user_id"],
            "station_id": row["station_id"],
            "lottery_type": row["order_type"],
            "amount": int(row["order_amount"]),
            "placed_at": placed,
        }
        self._at(placed, self.orders_topic, order_id, order)
        self.sent.buying_sessions += 1

    def _drain(self, start_ms: int, began: float) -> None:
        now = start_ms + int((time.monotonic() - began) * 1000)
        while self._queue and self._queue[0][0] <= now:
            _, _, topic, key, value = heapq.heappop(self._queue)
            if isinstance(value, dict):  # an order: it joins the history when it is sent
                self._send_order(value, *self._stations[value["station_id"]])
                self.sent.orders += 1
                self.sent.order_ids.append(value["order_id"])
                continue
            self._produce(topic, key, value)
            if topic == self.sessions_topic and not key.endswith("-bad"):
                self.sent.sessions += 1
            elif topic == self.faces_topic:
                self.sent.faces += 1


def face_record(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The face-API answer (FaceDetected.face) of a generated session row."""
    return {
        "face_token": f"ft-{row['session_id']}",
        "face_probability": row["face_probability"],
        "age": int(row["age"]),
        "beauty": float(row["beauty"]),
        "expression": {"type": row["expression"], "probability": row["expression_probability"]},
        "emotion": {"type": row["emotion"], "probability": row["emotion_probability"]},
        "gender": {"type": row["gender"], "probability": row["gender_probability"]},
    }


def _malformed(pick: random.Random, good: bytes) -> bytes:
    """One of the ways a broken producer gets it wrong."""
    kind = pick.randrange(4)
    if kind == 0:
        return b"\x00garbage-" + bytes(pick.randrange(256) for _ in range(8))
    if kind == 1:
        return good[: len(good) // 2]  # truncated
    if kind == 2:
        return b"\xc3\x01" + b"\xee" * 8 + good[10:]  # unknown fingerprint
    return good[:-1] + b"\x7f\x7f\x7f"  # a body that does not end where it should


#: The most days of past orders the simulator publishes: the scorer's default plausible
#: window (SCORER_MAX_EVENT_AGE_DAYS) is 730 days.
MOST_HISTORY_DAYS = 700


def parse_args(argv: list[str] | None) -> tuple[Options, Path | None, str | None, Path | None]:
    def share(text: str) -> float:
        value = float(text)
        if not 0 <= value <= 1:
            raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
        return value

    def history_days(text: str) -> int:
        value = int(text)
        if not 1 <= value <= MOST_HISTORY_DAYS:
            raise argparse.ArgumentTypeError(
                f"{text} is not 1 to {MOST_HISTORY_DAYS} days: the scorer refuses orders older "
                "than SCORER_MAX_EVENT_AGE_DAYS (730 by default)"
            )
        return value

    def positive(text: str) -> float:
        value = float(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be positive")
        return value

    p = argparse.ArgumentParser(
        prog="python -m stations.simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stations", type=int, default=20)
    p.add_argument("--users", type=int, default=2_000)
    p.add_argument("--rate", type=positive, default=50.0, help="sessions per second")
    p.add_argument("--duration", type=positive, default=60.0, help="seconds of live sessions")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--history-days",
        type=history_days,
        default=365,
        help=f"days of past orders, 1 to {MOST_HISTORY_DAYS}",
    )
    p.add_argument("--embedded-faces", type=share, default=0.2)
    p.add_argument("--late-faces", type=share, default=0.05)
    p.add_argument("--missing-faces", type=share, default=0.05)
    p.add_argument("--duplicate-faces", type=share, default=0.02)
    p.add_argument("--duplicate-sessions", type=share, default=0.01)
    p.add_argument("--malformed", type=share, default=0.01)
    p.add_argument(
        "--order-delay",
        type=positive,
        nargs=2,
        default=(20.0, 240.0),
        metavar=("MIN_S", "MAX_S"),
        help="seconds from session to order",
    )
    p.add_argument(
        "--station-type",
        choices=STATION_TYPES,
        help="make every station of this type: a shift of the inputs' mix "
        "(default: the generator's mix)",
    )
    p.add_argument("--summary", type=Path, help="also write the summary JSON here")
    p.add_argument(
        "--truth",
        type=Path,
        help="write each live session as the scorer should see it (the raw inputs "
        "of the 18 features) and its class to this CSV, which `python -m model "
        "train --from-file` reads; a late face counts as arrived",
    )
    p.add_argument(
        "--wait-for-group",
        metavar="GROUP",
        help="start the live sessions once GROUP has consumed the history orders",
    )
    a = p.parse_args(argv)
    if a.stations < 1 or a.users < 1:
        p.error("--stations and --users must be at least 1")
    options = Options(
        stations=a.stations,
        users=a.users,
        rate=a.rate,
        duration=a.duration,
        seed=a.seed,
        history_days=a.history_days,
        embedded_faces=a.embedded_faces,
        late_faces=a.late_faces,
        missing_faces=a.missing_faces,
        duplicate_faces=a.duplicate_faces,
        duplicate_sessions=a.duplicate_sessions,
        malformed=a.malformed,
        order_delay_s=tuple(a.order_delay),
        station_type=a.station_type,
    )
    return options, a.summary, a.wait_for_group, a.truth


def main(argv: list[str] | None = None) -> int:
    options, summary_path, wait_for_group, truth_path = parse_args(argv)
    try:
        bootstrap = bootstrap_servers()
        simulator = Simulator(bootstrap, options)
        sent = simulator.run(wait_for_group)
    except ScorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if truth_path:
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(simulator.truth).to_csv(truth_path, index=False)
    summary = json.dumps(sent.as_dict())
    if summary_path:
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(
            json.dumps(
                {
                    **sent.as_dict(),
                    "session_ids": sent.session_ids,
                    "order_ids": sent.order_ids,
                    "orders_per_user": sent.orders_per_user,
                }
            )
        )
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
