"""The inference microbenchmark: per-event cost of the model at batch sizes 1 to 512, for
the forward pass alone and for features plus forward pass as the scorer runs them
(`score_rows`: the sessions' raw inputs as columns, encoded, one forward pass, ranked)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from model.mlp.features import columns_from_records, encode_columns
from model.mlp.predictor import Predictor
from schemas.codec import Codec
from streams.clock import to_ms
from streams.rules import score_sessions as scoring
from tests.bench.workload import Workload

BATCHES = (1, 8, 64, 512)


def _rows(load: Workload, n: int) -> list[dict[str, Any]]:
    codec = Codec()
    stations = {k: codec.decode(v, "Station") for k, v in load.stations}
    rows = []
    for _, value in load.sessions[:n]:
        s = codec.decode(value, "SessionStarted")
        station = stations[s["station_id"]]
        rows.append(scoring.session_row(to_ms(s["started_at"]), s["face"], station, None))
    return rows


def _per_event_us(fn: Any, batch: int, budget_s: float = 1.5) -> float:
    fn()  # warm up
    calls, began = 0, time.perf_counter()
    while time.perf_counter() - began < budget_s:
        fn()
        calls += 1
    return (time.perf_counter() - began) / (calls * batch) * 1e6


def run(model_dir: Path, load: Workload, budget_s: float = 1.5) -> dict[str, Any]:
    torch.set_num_threads(1)  # as the worker runs it (streams/worker.py)
    predictor = Predictor.from_artifact(model_dir)
    rows = _rows(load, max(BATCHES))
    net = predictor.artifact.network
    out: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "batches": {}}
    for b in BATCHES:
        part = rows[:b]
        columns = columns_from_records(part)
        x = torch.from_numpy(encode_columns(columns, predictor.artifact.imputation).x)

        def forward(x: torch.Tensor = x) -> None:
            with torch.inference_mode():
                torch.softmax(net(x), dim=1)

        def features_and_forward(part: list[dict[str, Any]] = part) -> None:
            scoring.score_rows(predictor, part)

        out["batches"][str(b)] = {
            "forward_us_per_event": _per_event_us(forward, b, budget_s),
            "features_forward_us_per_event": _per_event_us(features_and_forward, b, budget_s),
        }
    return out
