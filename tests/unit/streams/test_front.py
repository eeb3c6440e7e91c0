"""What the web front hands on between a client and the worker."""

from __future__ import annotations

from multidict import CIMultiDict

from streams.web.front import _end_to_end


def test_headers_of_one_hop_stay_and_every_cookie_is_handed_on() -> None:
    answer = CIMultiDict([("Content-Type", "application/json"), ("Connection", "close"),
                          ("Transfer-Encoding", "chunked"), ("Content-Length", "9"),
                          ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                          ("Retry-After", "1")])  # fmt: skip
    handed = _end_to_end(answer)
    assert handed.getall("Set-Cookie") == ["a=1", "b=2"]
    assert dict(handed) == {"Content-Type": "application/json", "Set-Cookie": "a=1",
                            "Retry-After": "1"}  # fmt: skip
