"""Small server-rendered SVG charts for the profile page: no JavaScript, no library."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

WIDTH, HEIGHT, PAD = 640, 180, 36


def _x(t: float, t0: float, t1: float) -> float:
    return PAD + (WIDTH - 2 * PAD) * ((t - t0) / (t1 - t0) if t1 > t0 else 0.5)


def _date(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def line(times_ms: Sequence[float], values: Sequence[float], now_ms: float, label: str) -> str:
    """A 0-to-1 line over time (P(alive)), with a marker at `now_ms`."""
    t0, t1 = float(times_ms[0]), float(times_ms[-1])
    y = [HEIGHT - PAD - (HEIGHT - 2 * PAD) * float(v) for v in values]
    path = " ".join(
        f"{_x(float(t), t0, t1):.1f},{yy:.1f}" for t, yy in zip(times_ms, y, strict=True)
    )
    now = _x(now_ms, t0, t1)
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'class="axis"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" class="axis"/>'
        f'<text x="4" y="{PAD + 4}">1.0</text><text x="4" y="{HEIGHT - PAD}">0.0</text>'
        f'<polyline points="{path}" class="series"/>'
        f'<line x1="{now:.1f}" y1="{PAD}" x2="{now:.1f}" y2="{HEIGHT - PAD}" class="now"/>'
        f'<text x="{now + 3:.1f}" y="{PAD + 10}">now</text>'
        f'<text x="{PAD}" y="{HEIGHT - 8}">{_date(t0)}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" text-anchor="end">{_date(t1)}</text></svg>'
    )


def timeline(orders: Sequence[dict], now_ms: float, label: str) -> str:
    """The recent orders on a time axis, each a dot sized by its amount."""
    if not orders:
        return ""
    t0 = float(min(o["placed_at_ms"] for o in orders))
    t1 = max(float(now_ms), t0 + 1)
    biggest = max(o["amount"] for o in orders) or 1
    dots = "".join(
        f'<circle cx="{_x(o["placed_at_ms"], t0, t1):.1f}" cy="{HEIGHT / 2:.1f}" '
        f'r="{4 + 10 * (o["amount"] / biggest) ** 0.5:.1f}" class="order">'
        f"<title>{_date(o['placed_at_ms'])} {escape(o['lottery_type'])} "
        f"¥{o['amount'] / 100:.2f}</title></circle>"
        for o in orders
    )
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">'
        f'<line x1="{PAD}" y1="{HEIGHT / 2}" x2="{WIDTH - PAD}" y2="{HEIGHT / 2}" class="axis"/>'
        f"{dots}"
        f'<text x="{PAD}" y="{HEIGHT - 8}">{_date(t0)}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" text-anchor="end">{_date(t1)} (now)</text></svg>'
    )
