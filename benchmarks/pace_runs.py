"""The "API pace" section: the 1× dataset behind a simulator that answers like a remote API
(``--pace-latency-ms`` per request, at most ``--pace-max-per-page`` items a page), so the
figures are what a seller waits for rather than our CPU.

Measured, each ``--runs`` times: the sequential floor (the requests a correct full sync
needs — the sync's own payment windows, events, seats — one at a time, JSON parsed), the
full-history ``zakaz sync`` and the 15-minute tick (as in the zero-latency section), the dlt
peer at the same pace, and the most requests the simulator held at once during each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.environment import TOKEN, python_json, say, tick_dates
from benchmarks.peer_runs import bench_peer
from benchmarks.profiles import profile_run
from benchmarks.results import ScaleResult
from benchmarks.simulator_process import Pace, Simulator
from benchmarks.sync_runs import bench_floor, bench_sync, bench_tick
from benchmarks.targets import TARGETS


def bench_pace(args: argparse.Namespace, work: Path) -> ScaleResult:
    pace = Pace(args.pace_latency_ms, args.pace_max_per_page)
    logs = work / "logs" / "pace"
    say(f"[pace] generating {args.orders:,} orders behind {pace.latency_ms:g} ms a request, {pace.max_per_page} a page")
    simulator = Simulator(args.orders, args.events, args.seed, args.history_days, logs / "simulator.log", pace)
    try:
        result = ScaleResult(1, simulator.info, pace=pace)
        base = ["--base-url", simulator.base_url, "--token", TOKEN, "--max-in-flight", "1"]
        first = result.dataset["first_sale_day"]
        for i in range(args.runs):
            result.floor.append(
                python_json(["-m", "benchmarks.fetch", "floor", *base, "--from", first], logs, f"floor-{i}")
            )
            say(f"[pace] sequential floor run {i + 1}: {result.floor[-1]['seconds']:.1f} s")
        served(result, simulator, "floor")
        run_dir = bench_sync(result, args, simulator.base_url, work / "pace", logs)
        served(result, simulator, "sync")
        bench_tick(result, args, simulator.base_url, run_dir, logs)
        served(result, simulator, "tick")
        result.process_floor = bench_floor("benchmarks.process_floor", result, args, simulator.base_url, run_dir, logs)
        result.dagster_floor = bench_floor("benchmarks.dagster_floor", result, args, simulator.base_url, run_dir, logs)
        tick = result.fig("tick_s")
        if tick and tick.median > TARGETS["pace_tick_s"] and not args.no_profile:
            profile_run(result, "tick at API pace", tick_dates(), simulator.base_url, run_dir, logs)
            simulator.traffic()  # the profiled tick's requests are nobody's figure
        if not args.skip_peer:
            bench_peer(result, args, simulator.base_url, work / "pace", logs)
            served(result, simulator, "dlt peer")
        result.simulator_rss_mb = simulator.rss_mb()
    finally:
        simulator.stop()
    say(f"[pace] most requests in flight: {result.peak_in_flight}")
    return result


def served(result: ScaleResult, simulator: Simulator, what: str) -> None:
    """The simulator's traffic since the last figure, as ``what``'s."""
    traffic = simulator.traffic()
    result.peak_in_flight[what] = traffic.peak_in_flight
    result.requests[what] = traffic.requests
    result.kinds[what] = traffic.kinds
