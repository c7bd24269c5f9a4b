"""The "API pace, filters refused" section: the 1× dataset behind a simulator that speaks the
dialect the real record shows (``python -m benchmarks.simulator --api-filters refused
--real-paging --tariffs`` at ``--pace-latency-ms``), so the figures are those of a sync that
cannot filter ``/orders`` and reads it by page number (``qtickets/paid_orders.py``, scan).

Measured, each ``--runs`` times: the sequential floor of the requests a correct scan needs
(``benchmarks.fetch floor --strategy scan --max-in-flight 1``; once more at the sync's limit
of 4 in flight, what fetching alone takes there), the full-history ``zakaz
sync`` on a fresh DAGSTER_HOME (so it probes the API first, and the probe's requests are the
sync's), the 15-minute tick on its warehouse with the findings the sync recorded, and the
requests each made (by kind) and held at once; once, ``zakaz probe --no-record``, to tell the
probe's share. Then the same pace and dialect with a shorter history at the same daily rate
(``--refused-variant-days``, default a quarter): one full sync, ``--runs`` ticks, so the
tick's requests are seen not to grow with history.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import measure
from benchmarks.environment import CLI_MODULE, ORG, TOKEN, python_json, say, sync_env
from benchmarks.machine import machine
from benchmarks.pace_runs import served
from benchmarks.report import REFUSED_TITLE, refused_section
from benchmarks.results import ScaleResult
from benchmarks.simulator_process import Pace, Simulator
from benchmarks.splice import TARGETS_TITLE, splice_note, splice_rows, splice_section
from benchmarks.sync_runs import bench_sync, bench_tick
from benchmarks.tables import markdown_table
from benchmarks.targets import HEADER, TARGETS, refused_rows

EVENTS_AHEAD = 60  # days of events after the history (simulator/generator.py, _plan_event)


def refused_pace(args: argparse.Namespace) -> Pace:
    """What the real record shows: date and id filters on /orders answered 503, 50 orders and
    10 events a page whatever ``perPage`` asks, seats once per tariff."""
    return Pace(args.pace_latency_ms, None, api_filters="refused", real_paging=True, tariffs=True)


def bench_refused(args: argparse.Namespace, work: Path) -> ScaleResult:
    pace = refused_pace(args)
    logs = work / "logs" / "refused"
    say(f"[refused] generating {args.orders:,} orders behind {pace.latency_ms:g} ms a request, filters refused …")
    simulator = Simulator(args.orders, args.events, args.seed, args.history_days, logs / "simulator.log", pace)
    try:
        result = ScaleResult(1, simulator.info, pace=pace)
        first = result.dataset["first_sale_day"]
        floor = ["-m", "benchmarks.fetch", "floor", "--base-url", simulator.base_url, "--token", TOKEN]
        floor += ["--strategy", "scan", "--from", first, "--max-in-flight"]
        for i in range(args.runs):
            result.floor.append(python_json([*floor, "1"], logs, f"floor-{i}"))
            say(f"[refused] sequential floor (scan) run {i + 1}: {result.floor[-1]['seconds']:.1f} s")
        served(result, simulator, "floor")
        limit = str(TARGETS["pace_in_flight"])
        result.floor_at_limit = python_json([*floor, limit], logs, "floor-at-limit")
        say(f"[refused] the same requests {limit} at a time: {result.floor_at_limit['seconds']:.1f} s")
        served(result, simulator, f"floor, {limit} at a time")
        _sync_and_tick(result, args, simulator, work / "refused", logs)
        result.probe.append(_probe(simulator.base_url, first, work / "refused" / "probe", logs))
        served(result, simulator, "probe")
        result.simulator_rss_mb = simulator.rss_mb()
    finally:
        simulator.stop()
    say(f"[refused] most requests in flight: {result.peak_in_flight}; requests: {result.requests}")
    result.variant = bench_variant(args, work, pace)
    return result


def bench_variant(args: argparse.Namespace, work: Path, pace: Pace) -> ScaleResult:
    """The same pace and dialect over ``--refused-variant-days`` of history at the 1× daily rate
    of orders and events (the generator spreads events over the history and ``EVENTS_AHEAD``
    days after it, so as many shows are on sale now): one full sync, then ``--runs`` ticks."""
    days = args.refused_variant_days
    orders = max(1, round(args.orders * days / args.history_days))
    events = max(1, round(args.events * (days + EVENTS_AHEAD) / (args.history_days + EVENTS_AHEAD)))
    logs = work / "logs" / "refused-variant"
    say(f"[refused, {days} days] generating {orders:,} orders, {events} events over {days} days …")
    simulator = Simulator(orders, events, args.seed, days, logs / "simulator.log", pace)
    try:
        result = ScaleResult(1, simulator.info, pace=pace)
        once = argparse.Namespace(**{**vars(args), "runs": 1})
        _sync_and_tick(result, once, simulator, work / "refused-variant", logs, ticks=args.runs)
        result.simulator_rss_mb = simulator.rss_mb()
    finally:
        simulator.stop()
    return result


def _sync_and_tick(
    result: ScaleResult, args: argparse.Namespace, simulator: Simulator, work: Path, logs: Path, ticks: int = 0
) -> None:
    """``args.runs`` full syncs (fresh instance: each probes first), then ``ticks`` (default
    ``args.runs``) ticks on the last one's warehouse with the findings it recorded."""
    run_dir = bench_sync(result, args, simulator.base_url, work, logs)
    served(result, simulator, "sync")
    result.findings = recorded_findings(run_dir / "dagster_home")
    tick_args = argparse.Namespace(**{**vars(args), "runs": ticks or args.runs})
    bench_tick(result, tick_args, simulator.base_url, run_dir, logs)
    served(result, simulator, "tick")


def _probe(base_url: str, first: str, run_dir: Path, logs: Path) -> measure.Measured:
    """``zakaz probe --no-record``: what the probe a fresh sync makes first costs by itself."""
    run_dir.mkdir(parents=True, exist_ok=True)
    measured = measure.run(
        [sys.executable, "-m", CLI_MODULE, "probe", "--no-record"],
        env=sync_env(base_url, run_dir, first), cwd=run_dir, log_dir=logs, name="probe",
    ).check("zakaz probe")  # fmt: skip
    say(f"[refused] zakaz probe: {measured.seconds:.1f} s")
    return measured


def recorded_findings(dagster_home: Path) -> dict[str, Any]:
    """The findings the sync recorded in its instance (the probe's, then what its fetch learned)."""
    from dagster import DagsterInstance

    from zakaz_pipeline.defs.api_findings import latest_findings

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        findings = latest_findings(instance, ORG)
    return asdict(findings) | {"orders_strategy": findings.orders_strategy()} if findings is not None else {}


REFUSED_ROWS = "API pace, filters refused"  # how every row of the section's starts


def write_refused(results: Path, result: ScaleResult, command: str) -> None:
    """Put the section and its target rows into ``results`` in place of their previous version,
    with a line under the header naming the command; every other figure stays as it was."""
    info = machine()
    when = f"on {info['date']} at commit {info['commit']}"
    note = f"Written by `{command}` {when}, alone: the other sections are an earlier run's."
    existing = results.read_text(encoding="utf-8") if results.exists() else f"# zakaz benchmarks\n\n{TARGETS_TITLE}\n"
    text = splice_section(existing, REFUSED_TITLE, refused_section(result, note), after="## API pace:")
    rows = markdown_table(HEADER, refused_rows(result)).split("\n")[2:]
    text = splice_rows(text, REFUSED_ROWS, rows, after="API pace (")
    header = (
        f"The rows “{REFUSED_ROWS} …” and the section “{REFUSED_TITLE[3:]}” were written by `{command}` {when}, "
        "measured alone and put into this file; every other figure is the run's named above."
    )
    results.write_text(splice_note(text, f"The rows “{REFUSED_ROWS}", header), encoding="utf-8")
