"""The job every contender but the ceiling does per session, written once.

Decode the SessionStarted, find its station, build the features of a customer with no
history, run the model, and encode the Recommendation: the same functions the scorer uses
(streams/rules/score_sessions.py, model/mlp/predictor.py), so a difference between contenders is the
framework and the batching, not the work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

from model.mlp.predictor import Predictor
from schemas import topics
from schemas.codec import Codec
from streams.clock import to_ms
from streams.kafka.registry import StationRegistry
from streams.records import ScoringRequest
from streams.rules import score_sessions as scoring


class Job:
    """A model, a codec and the station registry, ready to score sessions."""

    def __init__(self, bootstrap: str, prefix: str, model_dir: Path) -> None:
        torch.set_num_threads(1)  # as the scorer's worker runs the model (streams/worker.py)
        self.predictor = Predictor.from_artifact(model_dir)
        self.codec = Codec()
        self.registry = StationRegistry(
            bootstrap, self.codec, topics.named(topics.REGISTRY, prefix)
        )
        self.registry.start()
        if not self.registry.wait_loaded(60):
            raise RuntimeError("the station registry did not load in 60 s")

    def score(self, values: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
        """(key, Recommendation) per session, from one forward pass over all of them."""
        sessions = [self.codec.decode(value, "SessionStarted") for value in values]
        rows = []
        for s in sessions:
            station = self.registry.get(s["station_id"])
            if station is None:
                raise ValueError(f"unknown station {s['station_id']}")
            rows.append(scoring.session_row(to_ms(s["started_at"]), s["face"], station, None))
        ranked = scoring.score_rows(self.predictor, rows)
        now = int(time.time() * 1000)
        out = []
        for s, r in zip(sessions, ranked, strict=True):
            started = to_ms(s["started_at"])
            request = ScoringRequest(
                s["session_id"],
                s["station_id"],
                started,
                s["user_id"],
                s["face"],
                "embedded",
                started,
            )
            record = scoring.recommendation(request, r, self.predictor.version, now)
            out.append((s["session_id"].encode(), self.codec.encode("Recommendation", record)))
        return out
