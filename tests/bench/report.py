"""The benchmark's figures as ratios, goals and a Markdown report (and the docs' table)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from tests.bench import workload

PAGE_START = "<!-- bench:start -->"
PAGE_END = "<!-- bench:end -->"


def ratios(contenders: dict[str, Any]) -> dict[str, float]:
    """Each contender's throughput against the ceiling, and the scorer's against the rest."""
    eps = {name: c["throughput_eps"] for name, c in contenders.items()}
    out = {}
    if "ceiling" in eps:
        out.update(
            {f"{name}/ceiling": v / eps["ceiling"] for name, v in eps.items() if name != "ceiling"}
        )
    if "scorer" in eps:
        out.update(
            {
                f"scorer/{name}": eps["scorer"] / v
                for name, v in eps.items()
                if name not in ("scorer", "ceiling")
            }
        )
    return out


def goals(results: dict[str, Any]) -> dict[str, Any]:
    """The hot-path goals, each with the figure it was judged on; None when not measured."""
    c = results["contenders"]
    r = results.get("ratios", {})
    scorer, quix = c.get("scorer"), c.get("quix")
    at_1000 = scorer["latency_ms"].get("1000", {}) if scorer else {}
    soak = results.get("memory_soak")
    p99 = at_1000.get("p99") if at_1000.get("held") else None
    memory = None
    if soak is not None:
        memory = {
            "value": soak["slope_mb_per_min"],
            "met": abs(soak["slope_mb_per_min"]) <= 5,
            "over_s": soak["seconds"],
        }
    held = None if scorer is None else scorer.get("held_eps") or 0
    held_vs_quix = None
    if scorer is not None and quix is not None and quix.get("held_eps"):
        held_vs_quix = held / quix["held_eps"] if held else 0.0
    return {
        "drain_at_least_5000": _judge(scorer and scorer["throughput_eps"], lambda v: v >= 5000),
        "drain_at_least_twice_faust_passthrough": _judge(
            r.get("scorer/faust_passthrough"), lambda v: v >= 2
        ),
        "held_at_least_2000": _judge(held, lambda v: v >= 2000),
        "p99_at_1000_under_50ms": _judge(p99, lambda v: v < 50),
        "drain_at_least_quix": _judge(r.get("scorer/quix"), lambda v: v >= 1),
        "held_at_least_quix": _judge(held_vs_quix, lambda v: v >= 1),
        "p99_at_most_quix_where_both_hold": _judge(
            _worst_p99_ratio(scorer, quix), lambda v: v <= 1
        ),
        "back_under_100ms_within_30s_of_overload": _recovery(scorer),
        "two_workers_at_least_1_6x_one": _judge(
            scorer
            and scorer.get("two_workers_eps")
            and scorer["two_workers_eps"] / scorer["throughput_eps"],
            lambda v: v >= 1.6,
        ),
        "memory_flat_within_5_mb_per_min": memory,
        "stream_p99_with_a_score_burst_at_most_2x": _judge(
            scorer and (scorer["latency_ms"].get("http_burst") or {}).get("p99_ratio"),
            lambda v: v <= 2,
        ),
    }


def engine_bound(contenders: dict[str, Any]) -> str | None:
    """The p99 at each rate of Faust reading the scorer's topics and doing no work, beside
    the scorer's and the Quix peer's: the tail the engine alone has."""
    wide = contenders.get("faust_passthrough_wide")
    if not wide:
        return None
    parts = []
    for rate, mine in _held_rates(wide).items():
        others = [
            f"the {said}'s {_p99(contenders, name, rate)}"
            for name, said in (("scorer", "scorer"), ("quix", "Quix peer"))
            if name in contenders
        ]
        parts.append(
            f"{mine['p99']:.1f} ms at {rate}/s" + (f" ({', '.join(others)})" if others else "")
        )
    if not parts:
        return None
    return (
        "Faust reading the scorer's seven topics and doing no work (the wide passthrough) "
        f"has a p99 of {'; '.join(parts)}."
    )


def _p99(contenders: dict[str, Any], name: str, rate: str) -> str:
    entry = contenders[name]["latency_ms"].get(rate)
    if not isinstance(entry, dict) or "p99" not in entry:
        return "not offered"
    return f"{entry['p99']:.1f}" + ("" if entry["held"] else ", not held")


def _recovery(scorer: dict[str, Any] | None) -> dict[str, Any] | None:
    """Judged when the overload ran; never back under 100 ms counts as not met."""
    ran = scorer and scorer["latency_ms"].get("recovery")
    if not ran:
        return None
    value = ran["recovery_s"]
    return {
        "value": float("inf") if value is None else value,
        "met": value is not None and value <= 30,
    }


def _worst_p99_ratio(scorer: dict[str, Any] | None, peer: dict[str, Any] | None) -> float | None:
    """The largest scorer/peer p99 ratio over the offered rates both held."""
    if not scorer or not peer:
        return None
    worst = None
    theirs = _held_rates(peer)
    for rate, mine in _held_rates(scorer).items():
        if rate in theirs:
            ratio = mine["p99"] / max(theirs[rate]["p99"], 1e-9)
            worst = ratio if worst is None else max(worst, ratio)
    return worst


def _held_rates(contender: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The contender's latency at each fixed rate offered (200, 1000, 5000) that it held."""
    return {
        rate: entry
        for rate, entry in contender["latency_ms"].items()
        if rate.isdigit() and isinstance(entry, dict) and entry.get("held")
    }


def _bundled(per_message: float | None) -> str:
    return "." if per_message is None else f", {per_message:.1f} to a message on average."


def _cores(cores: dict[str, float]) -> str:
    broker = "" if math.isnan(cores["broker"]) else f", the broker {cores['broker']:.2f}"
    return f"the worker(s) {cores['contender']:.2f}{broker}, the host in all {cores['host']:.2f}"


def _judge(value: float | None, test: Any) -> dict[str, Any] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return {"value": value, "met": bool(test(value))}


def _lat(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "–"
    if "skipped" in entry:
        return "not offered"
    text = f"{entry['p50']:.0f} / {entry['p95']:.0f} / {entry['p99']:.0f}"
    return text if entry["held"] else f"{text} (not held)"


def table(results: dict[str, Any]) -> str:
    c = results["contenders"]
    ceiling = c.get("ceiling", {}).get("throughput_eps")
    lines = [
        "| contender | events/s | × ceiling | p50 / p95 / p99 ms at 200/s | at 1000/s | at 5000/s "
        "| highest rate held: p99 ms | CPU s per 1k | peak RSS MB |",
        "|---|---:|---:|---|---|---|---|---:|---:|",
    ]
    for e in c.values():
        lat = e["latency_ms"]
        best = lat.get("highest_held")
        best_text = "all three"
        if best:
            best_text = (
                f"{best['offered']}/s: {best['p99']:.0f}"
                if best["held"]
                else f"none, down to {best['offered']}/s"
            )
        share = f"{e['throughput_eps'] / ceiling:.2f}" if ceiling else "–"
        lines.append(
            f"| {e['title']} | {e['throughput_eps']:,.0f} | {share} | {_lat(lat.get('200'))} "
            f"| {_lat(lat.get('1000'))} | {_lat(lat.get('5000'))} | {best_text} "
            f"| {e['cpu_s_per_1k']:.3g} | {e['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        f"# Benchmark ({results['mode']} run, {results['date']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python "
        f"{m['python']}, torch {m['torch']} ({m['torch_threads']} threads), Kafka "
        f"{m['kafka']} on the same machine. Input: {results['input_sessions']:,} sessions "
        f"with faces, pre-produced to {workload.PARTITIONS} partitions.",
        "",
        table(results),
        "",
    ]
    out += ["Ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in results["ratios"].items()), ""]
    bound = engine_bound(results["contenders"])
    if bound:
        out += [bound, ""]
    out += ["## Goals", ""]
    for name, g in results["goals"].items():
        verdict = "not measured" if g is None else ("met" if g["met"] else "NOT met")
        value = "" if g is None else f" ({g['value']:.3g})"
        out.append(f"- {name}: {verdict}{value}")
    soak = results.get("memory_soak")
    if soak:
        out += [
            "",
            f"Scorer memory at {soak['rate_eps']}/s over {soak['seconds']:.0f} s "
            f"(conversion and dedup windows {soak['conversion_window_s']} s; judged after "
            "4× that): "
            f"{soak['rss_mb_first']:.0f} → {soak['rss_mb_last']:.0f} MB, slope "
            f"{soak['slope_mb_per_min']:+.2f} MB/min.",
        ]
    scorer = results["contenders"].get("scorer", {})
    rec = scorer.get("latency_ms", {}).get("recovery")
    if rec:
        last = rec["windows"][-1]["from_s"] + 5 if rec["windows"] else 0
        back = (
            f"back under 100 ms p99 (5 s windows) {rec['recovery_s']} s after it"
            if rec["recovery_s"] is not None
            else f"not back under 100 ms p99 within {last} s"
        )
        out += [
            "",
            f"Scorer overload: {rec['overload_eps']}/s for {rec['overload_s']:.0f} s, "
            f"then {rec['after_eps']}/s: {back}.",
        ]
    burst = scorer.get("latency_ms", {}).get("http_burst")
    if burst:
        http = burst["http"]
        out += [
            "",
            f"POST /score burst: {http['requests']:,} requests, {http['in_flight']} in "
            f"flight, in {http['seconds']} s (answers {http['statuses']}), while the "
            f"stream is offered {burst['rate']}/s: its p99 {burst['alone']['p99']:.1f} ms "
            f"alone, {burst['with_burst']['p99']:.1f} ms with the burst.",
        ]
    if scorer.get("two_workers_eps"):
        out += [
            "",
            f"Two scorer workers drain {scorer['two_workers_eps']:,.0f} sessions/s "
            f"({scorer['two_workers_eps'] / scorer['throughput_eps']:.2f}× one, "
            f"{scorer['two_workers']['cpu_s_per_1k']:.3g} CPU s per 1k).",
        ]
        one, two = scorer.get("cores"), scorer["two_workers"].get("cores")
        if one and two:
            out += [
                f"Cores busy while draining (of {two['of']}): one worker "
                f"{_cores(one)}; two workers {_cores(two)}."
            ]
        share = scorer["two_workers"].get("via_requests_share")
        if share is not None:
            out += [
                f"With two, {share:.0%} of the sessions were sent on through "
                "scoring.requests to the worker holding their customer's history"
                + _bundled(scorer["two_workers"].get("requests_per_message"))
            ]
        apart = scorer.get("two_apart")
        if apart:
            eps = apart["throughput_eps"]
            busy = f"; cores busy: {_cores(apart['cores'])}" if apart.get("cores") else ""
            out += [
                f"Two scorers apart (each the only worker of its group, on a copy of the "
                f"input of its own, side by side) drain {eps:,.0f} sessions/s together "
                f"({eps / scorer['throughput_eps']:.2f}× one, "
                f"{apart['cpu_s_per_1k']:.3g} CPU s per 1k{busy}): what this host gives "
                f"two scorers beside its broker. Two of one group drain "
                f"{scorer['two_workers_eps'] / eps:.2f}× that."
            ]
    hops = scorer.get("hops_ms")
    if hops:
        out += [
            "",
            f"## Scorer latency by hop at {hops['at_eps']}/s (ms)",
            "",
            "| hop | p50 | p99 |",
            "|---|---:|---:|",
        ]
        out += [
            f"| {hop} | {v['p50']:.1f} | {v['p99']:.1f} |"
            for hop, v in hops.items()
            if isinstance(v, dict)
        ]
        share = hops.get("via_requests_share")
        if share is not None:
            out += [
                "",
                f"Sent on through scoring.requests (the customer's history held by "
                f"another worker): {share:.1%} of sessions; the others were joined and "
                f"scored by one consumer.",
            ]
    sb = results.get("state_bytes")
    if sb:
        mem = sb["memory_bytes_per_recommended_session"]
        disk = sb["disk_bytes_per_customer_history_json"]
        out += [
            "",
            "## State per session and per customer (bytes)",
            "",
            f"In memory per recommended session: {mem['dedup_keys_join_and_scorer']:.0f} "
            f"(the join's and the scorer's keys, SCORER_DEDUP_WINDOW_S), "
            f"{mem['conversion_waiting']:.0f} (waiting for its order, the conversion "
            f"window), {mem['conversion_published_key']:.0f} (its outcome's key, the "
            "window and the dedup window). On disk per customer (user history, JSON): "
            + ", ".join(f"{v} after {k} orders" for k, v in disk.items())
            + ".",
        ]
    out += [
        "",
        "## Inference per event (µs)",
        "",
        "| batch | forward | features + forward |",
        "|---:|---:|---:|",
    ]
    for b, v in results["inference"]["batches"].items():
        out.append(
            f"| {b} | {v['forward_us_per_event']:.1f} | {v['features_forward_us_per_event']:.1f} |"
        )
    prof = results["contenders"].get("scorer", {}).get("profile")
    if prof and "own" in prof:
        out += [
            "",
            f"## Scorer profile (py-spy, {prof['samples']} samples while draining)",
            "",
            "| own time (any code) | % | including callees (project code) | % |",
            "|---|---:|---|---:|",
        ]
        for (f1, s1), (f2, s2) in zip(prof["own"], prof["inclusive"], strict=False):
            out.append(f"| `{f1}` | {s1} | `{f2}` | {s2} |")
    return "\n".join(out) + "\n"


def update_page(page: Path, results: dict[str, Any]) -> None:
    """Replace the table between the bench markers of the benchmarks page."""
    text = page.read_text()
    m = results["machine"]
    block = (
        f"{PAGE_START}\n{results['mode'].capitalize()} run of {results['date']} on "
        f"{m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB), Kafka {m['kafka']} "
        f"local:\n\n{table(results)}\n{PAGE_END}"
    )
    pattern = re.compile(re.escape(PAGE_START) + ".*?" + re.escape(PAGE_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{page} has no {PAGE_START} … {PAGE_END} block")
    page.write_text(pattern.sub(lambda _: block, text))


def main(argv: list[str] | None = None) -> int:
    """Render results.md (and with --page the benchmarks page's table) again from results.json."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--page", type=Path)
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    args.results.with_suffix(".md").write_text(markdown(results))
    if args.page:
        update_page(args.page, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
