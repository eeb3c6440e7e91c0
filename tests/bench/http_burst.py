"""POST /score beside the stream: a burst of scoring requests against a running worker.

`python -m tests.bench.http_burst URL STATIONS_FILE` sends BURST requests, IN_FLIGHT at a
time, from its own process (so that its threads do not slow the bench's producer), and
prints what the worker answered as JSON. The bench offers the stream the same rate alone
and then with this burst running, and compares the two p99s (README, Performance).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from schemas.examples import FACE

BURST, IN_FLIGHT = 2_000, 50


def bodies(stations: list[str], n: int = BURST) -> list[bytes]:
    """Valid sessions at known stations, one in ten naming a station nobody registered."""
    out = []
    for i in range(n):
        station = f"st-unknown-{i}" if i % 10 == 9 else stations[i % len(stations)]
        face = {**FACE, "face_token": f"ft-{i}", "age": 20 + i % 50}
        out.append(json.dumps({"station_id": station, "user_id": f"u-{i % 5000:07d}",
                               "face": face}).encode())  # fmt: skip
    return out


def fire(url: str, payloads: list[bytes]) -> dict[str, object]:
    def post(body: bytes) -> int:
        req = urllib.request.Request(url + "/score", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    began = time.monotonic()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        statuses = Counter(pool.map(post, payloads))
    span = time.monotonic() - began
    return {"requests": len(payloads), "in_flight": IN_FLIGHT, "seconds": round(span, 2),
            "requests_per_s": round(len(payloads) / span, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}  # fmt: skip


def main(argv: list[str]) -> int:
    url, stations_file = argv
    stations = Path(stations_file).read_text().split()
    print(json.dumps(fire(url, bodies(stations))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
