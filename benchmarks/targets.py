"""The performance targets from the issue and the table that marks each MET or MISSED."""

from __future__ import annotations

from typing import Any

from benchmarks.results import ScaleResult

TARGETS = {
    "sync_vs_floor": 1.5,  # full-history sync ≤ 1.5 × raw-fetch floor (at 1×)
    "sync_vs_floor_10x": 2.0,  # zero latency, 10×: full-history sync ≤ 2 × the raw-fetch floor
    "dlt_vs_sync": 5.0,  # ≥ 5 × faster than dlt
    "rss_mb": 500.0,  # peak RSS ≤ 500 MB
    "rss_growth": 1.10,  # within 10 % between 1× and 10×
    "dlt_rss_vs_sync": 10.0,  # ≥ 10 × less memory than dlt
    "tick_s": 10.0,  # one 15-minute tick ≤ 10 s
    "view_p95_ms": 50.0,  # DataLens view p95 ≤ 50 ms at 10×
    "pace_sync_vs_floor": 0.5,  # API pace: full-history sync ≤ 0.5 × the sequential floor
    "pace_in_flight": 4,  # … with at most 4 requests in flight (QTICKETS_MAX_IN_FLIGHT's default)
    "pace_dlt_vs_sync": 3.0,  # … ≥ 3 × faster than the dlt peer at the same pace
    "pace_tick_s": 5.0,  # … a 15-minute tick ≤ 5 s for the whole command
    "tick_rss_mb": 400.0,  # a tick's peak RSS ≤ 400 MB
    # Filters refused (the real record's dialect): a tick's /orders requests do not grow with
    # history: with the full history, at most this many times those with a quarter of it.
    "refused_tick_orders_growth": 1.25,
}
HEADER = ["figure", "median", "min–max", "target", "status"]


def status(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**MET**" if ok else "**MISSED**")


def target_rows(results: list[ScaleResult], view_rows: list[dict[str, Any]], view_scale: int | None) -> list[list[str]]:
    """figure | measured | min–max | target | status"""
    rows: list[list[str]] = []
    for r in results:
        rows += _sync_rows(r)
    rows += _growth_rows(results)
    rows += _tick_rows(results)
    rows += _view_rows(view_rows, view_scale)
    rows += _peer_rows(results)
    return rows


def _sync_rows(r: ScaleResult) -> list[list[str]]:
    """One scale's floor, full sync, their ratio and the sync's peak memory."""
    rows: list[list[str]] = []
    floor, sync = r.fig("floor_s"), r.fig("sync_s")
    if floor:
        rows.append([f"raw-fetch floor ({r.scale}×), s", f"{floor.median:.1f}", floor.spread(), "—", "reference"])
        rate = r.fig("floor_rate")
        rows.append(
            [f"raw-fetch floor ({r.scale}×), orders/s", f"{rate.median:,.0f}", rate.spread("{:,.0f}"), "—", "—"]
        )
    if sync:
        rows.append([f"full-history sync ({r.scale}×), s", f"{sync.median:.1f}", sync.spread(), "—", "—"])
    if floor and sync:
        ratio = sync.median / floor.median
        limit = TARGETS["sync_vs_floor_10x" if r.scale >= 10 else "sync_vs_floor"]
        rows.append([f"sync / floor ({r.scale}×)", f"{ratio:.2f}", "—", f"≤ {limit}", status(ratio <= limit)])
    if sync:
        rows += memory_rows(f"sync ({r.scale}×)", r, "sync", TARGETS["rss_mb"])
    return rows


def memory_rows(label: str, r: ScaleResult, what: str, limit: float) -> list[list[str]]:
    """Peak RSS against its target, and the anonymous share of it (the rest is file-backed:
    chDB's ~390 MB library and other code, mapped rather than allocated)."""
    rss, anon = r.fig(f"{what}_rss"), r.fig(f"{what}_anon")
    assert rss is not None and anon is not None
    return [
        [f"{label} peak RSS, MB", f"{rss.median:.0f}", rss.spread("{:.0f}"), f"≤ {limit:.0f}",
         status(rss.median <= limit)],
        [f"{label} peak anonymous memory, MB", f"{anon.median:.0f}", anon.spread("{:.0f}"), "—", "info"],
    ]  # fmt: skip


def _growth_rows(results: list[ScaleResult]) -> list[list[str]]:
    """Peak memory at 10× over 1×: history must not make the sync heavier."""
    by_scale = {r.scale: r for r in results}
    one, ten = by_scale.get(1), by_scale.get(10)
    target = f"≤ {TARGETS['rss_growth']:.2f}"
    if one and ten and one.sync and ten.sync:
        growth = ten.fig("sync_rss").median / one.fig("sync_rss").median
        return [["sync RSS 10× / 1×", f"{growth:.2f}", "—", target, status(growth <= TARGETS["rss_growth"])]]
    return [["sync RSS 10× / 1×", "—", "—", target, status(None)]]


def _tick_rows(results: list[ScaleResult]) -> list[list[str]]:
    """The tick is judged at 1× (or the first scale); other scales' ticks are for information."""
    if not results:
        return []
    base = next((r for r in results if r.scale == 1), None) or results[0]
    rows: list[list[str]] = []
    tick = base.fig("tick_s")
    if tick:
        rows.append(
            [f"15-minute tick ({base.scale}×), s", f"{tick.median:.1f}", tick.spread(), f"≤ {TARGETS['tick_s']:.0f}",
             status(tick.median <= TARGETS["tick_s"])]
        )  # fmt: skip
        rows += memory_rows(f"15-minute tick ({base.scale}×)", base, "tick", TARGETS["tick_rss_mb"])
    for r in results:
        if r is not base and r.fig("tick_s"):
            t = r.fig("tick_s")
            rows.append([f"15-minute tick ({r.scale}×), s", f"{t.median:.1f}", t.spread(), "—", "info"])
    return rows


def _view_rows(view_rows: list[dict[str, Any]], view_scale: int | None) -> list[list[str]]:
    """The slowest DataLens query's p95; the target applies at 10× only."""
    if not view_rows:
        return []
    worst = max(view_rows, key=lambda v: v["p95_ms"])
    verdict = status(worst["p95_ms"] <= TARGETS["view_p95_ms"]) if view_scale == 10 else "not at 10×: " + status(None)
    target = f"≤ {TARGETS['view_p95_ms']:.0f} at 10×"
    return [[f"view p95, worst query ({view_scale}×), ms", f"{worst['p95_ms']:.1f}", "—", target, verdict]]


def pace_rows(r: ScaleResult) -> list[list[str]]:
    """The "API pace" targets: sync against the sequential floor, requests in flight, tick, dlt."""
    label = f"API pace ({r.pace.latency_ms:g} ms, {r.pace.max_per_page} a page)"
    rows: list[list[str]] = []
    floor, sync, tick, peer = r.fig("floor_s"), r.fig("sync_s"), r.fig("tick_s"), r.fig("peer_s")
    if floor:
        rows.append([f"{label}: sequential floor, s", f"{floor.median:.1f}", floor.spread(), "—", "reference"])
    if sync:
        rows.append([f"{label}: full-history sync, s", f"{sync.median:.1f}", sync.spread(), "—", "—"])
    rows += _pace_target_rows(label, r)
    if tick:
        rows += memory_rows(f"{label}: 15-minute tick", r, "tick", TARGETS["tick_rss_mb"])
    if sync:
        rows += memory_rows(f"{label}: full-history sync", r, "sync", TARGETS["rss_mb"])
    if peer and sync:
        speed = peer.median / sync.median
        rows.append([f"{label}: dlt / sync time", f"{speed:.2f}", "—", f"≥ {TARGETS['pace_dlt_vs_sync']:.0f}",
                     status(speed >= TARGETS["pace_dlt_vs_sync"])])  # fmt: skip
    elif sync:
        rows.append([f"{label}: dlt / sync time", "—", "—", f"≥ {TARGETS['pace_dlt_vs_sync']:.0f}",
                     f"not measured: {r.peer_note or 'skipped (--skip-peer)'}"])  # fmt: skip
    return rows


def _pace_target_rows(label: str, r: ScaleResult) -> list[list[str]]:
    """At API pace, whatever the dialect: the sync against its sequential floor, the most
    requests in flight, and the tick's time."""
    rows: list[list[str]] = []
    floor, sync, tick = r.fig("floor_s"), r.fig("sync_s"), r.fig("tick_s")
    if floor and sync:
        ratio = sync.median / floor.median
        rows.append([f"{label}: sync / sequential floor", f"{ratio:.2f}", "—", f"≤ {TARGETS['pace_sync_vs_floor']}",
                     status(ratio <= TARGETS["pace_sync_vs_floor"])])  # fmt: skip
    if "sync" in r.peak_in_flight:
        most = max(r.peak_in_flight.get("sync", 0), r.peak_in_flight.get("tick", 0))
        rows.append([f"{label}: most requests in flight (sync, tick)", str(most), "—",
                     f"≤ {TARGETS['pace_in_flight']}", status(most <= TARGETS["pace_in_flight"])])  # fmt: skip
    if tick:
        rows.append([f"{label}: 15-minute tick, s", f"{tick.median:.1f}", tick.spread(),
                     f"≤ {TARGETS['pace_tick_s']:.0f}", status(tick.median <= TARGETS["pace_tick_s"])])  # fmt: skip
    return rows


def _peer_rows(results: list[ScaleResult]) -> list[list[str]]:
    """dlt's time and memory, and how many times ours beat them."""
    peer = next((r for r in results if r.peer), None)
    if not peer:
        note = next((r.peer_note for r in results if r.peer_note), "skipped (--skip-peer)")
        return [
            ["dlt / sync time", "—", "—", f"≥ {TARGETS['dlt_vs_sync']:.0f}", f"not measured: {note}"],
            ["dlt RSS / sync RSS", "—", "—", f"≥ {TARGETS['dlt_rss_vs_sync']:.0f}", "not measured"],
        ]
    dlt, sync = peer.fig("peer_s"), peer.fig("sync_s")
    dlt_rss, sync_rss = peer.fig("peer_rss"), peer.fig("sync_rss")
    speed, memory = dlt.median / sync.median, dlt_rss.median / sync_rss.median
    return [
        [f"dlt peer ({peer.scale}×), s", f"{dlt.median:.1f}", dlt.spread(), "—", "—"],
        [f"dlt peer peak RSS ({peer.scale}×), MB", f"{dlt_rss.median:.0f}", dlt_rss.spread("{:.0f}"), "—", "—"],
        [f"dlt / sync time ({peer.scale}×)", f"{speed:.2f}", "—", f"≥ {TARGETS['dlt_vs_sync']:.0f}",
         status(speed >= TARGETS["dlt_vs_sync"])],
        [f"dlt RSS / sync RSS ({peer.scale}×)", f"{memory:.2f}", "—", f"≥ {TARGETS['dlt_rss_vs_sync']:.0f}",
         status(memory >= TARGETS["dlt_rss_vs_sync"])],
    ]  # fmt: skip


def refused_label(r: ScaleResult) -> str:
    return f"API pace, filters refused ({r.pace.latency_ms:g} ms, real paging, tariffs)"


def refused_rows(r: ScaleResult) -> list[list[str]]:
    """The real record's dialect: the full sync against the scan's sequential floor, requests
    in flight, and a tick's requests, bounded whatever the history (``r.variant``'s shorter one)."""
    label, runs = refused_label(r), len(r.tick) or 1
    rows: list[list[str]] = []
    floor, sync, tick = r.fig("floor_s"), r.fig("sync_s"), r.fig("tick_s")
    if floor:
        requests = r.per_run("floor", len(r.floor))["all"]
        rows.append([f"{label}: sequential floor (page scan, {requests:,.0f} requests), s", f"{floor.median:.1f}",
                     floor.spread(), "—", "reference"])  # fmt: skip
    if sync:
        requests = r.per_run("sync", len(r.sync))["all"]
        rows.append([f"{label}: full-history sync (probes first; {requests:,.0f} requests), s", f"{sync.median:.1f}",
                     sync.spread(), "—", "—"])  # fmt: skip
    rows += _pace_target_rows(label, r)
    if tick:
        rows += _tick_request_rows(label, r, runs)
        rows += memory_rows(f"{label}: 15-minute tick", r, "tick", TARGETS["tick_rss_mb"])
    if sync:
        rows += memory_rows(f"{label}: full-history sync", r, "sync", TARGETS["rss_mb"])
    return rows


def tick_requests(r: ScaleResult) -> str:
    """A tick's requests, in all and by kind: ``98 (orders 36, events 23, seats 39)``."""
    per = r.per_run("tick", len(r.tick) or 1)
    kinds = ", ".join(f"{kind} {per[kind]:.0f}" for kind in ("orders", "events", "seats", "other") if per.get(kind))
    return f"{per['all']:.0f} ({kinds})"


def _tick_request_rows(label: str, r: ScaleResult, runs: int) -> list[list[str]]:
    """A tick's requests at the full history and at the shorter one: its /orders requests must
    not grow with the history (the events pages follow the account's events, the seats the
    shows on sale)."""
    limit, v, days = TARGETS["refused_tick_orders_growth"], r.variant, r.dataset["history_days"]
    rows = [[f"{label}: 15-minute tick, requests ({days} days of history)", tick_requests(r), "—", "—", "info"]]
    if v is None or not v.tick:
        rows.append([f"{label}: a tick's /orders requests, full / shorter history", "—", "—", f"≤ {limit}",
                     status(None)])  # fmt: skip
        return rows
    short_days = v.dataset["history_days"]
    full, short = r.per_run("tick", runs).get("orders", 0), v.per_run("tick", len(v.tick)).get("orders", 0)
    growth = full / short if short else float("inf")
    rows.append([f"{label}: 15-minute tick, requests ({short_days} days of history)", tick_requests(v), "—", "—",
                 "info"])  # fmt: skip
    rows.append([f"{label}: a tick's /orders requests, {days} / {short_days} days of history",
                 f"{growth:.2f} ({full:.0f} / {short:.0f})", "—", f"≤ {limit}", status(growth <= limit)])  # fmt: skip
    return rows
