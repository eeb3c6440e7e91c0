"""POST /score beside the stream: a burst of scoring requests against a running worker.

`python -m tests.bench.http_burst URL STATIONS_FILE` sends BURST requests, IN_FLIGHT at a
time, from a process of its own (so that it does not slow the bench's producer), and
prints what the worker answered as JSON. The bench offers the stream the same rate alone
and then with this burst running, and compares the two p99s (docs/development/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

from schemas.examples import FACE

BURST, IN_FLIGHT = 2_000, 50


def bodies(stations: list[str], n: int = BURST) -> list[bytes]:
    """Valid sessions at known stations, one in ten naming a station nobody registered."""
    out = []
    for i in range(n):
        station = f"st-unknown-{i}" if i % 10 == 9 else stations[i % len(stations)]
        face = {**FACE, "face_token": f"ft-{i}", "age": 20 + i % 50}
        out.append(
            json.dumps(
                {"station_id": station, "user_id": f"u-{i % 5000:07d}", "face": face}
            ).encode()
        )
    return out


def fire(url: str, payloads: list[bytes]) -> dict[str, object]:
    return asyncio.run(_fire(url, payloads))


async def _fire(url: str, payloads: list[bytes]) -> dict[str, object]:
    """IN_FLIGHT requests at a time from one event loop, each on a connection of its own
    (as many clients would), not from IN_FLIGHT threads: on this machine the client's
    own CPU is the stream's too, and 50 threads contending for one interpreter lock cost
    several times what the requests do."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)

    async def post(client: aiohttp.ClientSession, body: bytes) -> int:
        async with gate:
            try:
                async with client.post(
                    url + "/score", data=body, headers={"Content-Type": "application/json"}
                ) as answer:
                    await answer.read()
                    return answer.status
            except (aiohttp.ClientError, TimeoutError):
                return 0

    began = time.monotonic()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        statuses = Counter(await asyncio.gather(*(post(client, b) for b in payloads)))
    span = time.monotonic() - began
    return {
        "requests": len(payloads),
        "in_flight": IN_FLIGHT,
        "seconds": round(span, 2),
        "requests_per_s": round(len(payloads) / span, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def main(argv: list[str]) -> int:
    url, stations_file = argv
    stations = Path(stations_file).read_text().split()
    print(json.dumps(fire(url, bodies(stations))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
