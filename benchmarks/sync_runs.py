"""The full-history sync and the 15-minute tick: ``zakaz sync`` as a subprocess, measured
by ``measure.run``, each run broken down afterwards from its own Dagster event log."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from benchmarks import measure
from benchmarks.environment import CLI_MODULE, REPO, say, sync_env, tick_dates
from benchmarks.results import ScaleResult


def bench_sync(result: ScaleResult, args: argparse.Namespace, base_url: str, work: Path, logs: Path) -> Path:
    """``--runs`` full syncs from the first sale day, each on a fresh warehouse and DAGSTER_HOME.

    Returns the last run's directory, whose warehouse the ticks and the views then use."""
    first = result.dataset["first_sale_day"]
    run_dir = None
    for i in range(args.runs):
        if run_dir is not None and not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        run_dir = work / f"x{result.scale}" / f"sync-{i}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        measured = measure.run(
            [sys.executable, "-m", CLI_MODULE, "sync", "--from", first],
            env=sync_env(base_url, run_dir, first), cwd=run_dir, log_dir=logs, name=f"sync-{i}",
        ).check(f"zakaz sync ({result.scale}×, run {i + 1})")  # fmt: skip
        result.sync.append(measured)
        say(f"[{result.scale}×] sync run {i + 1}: {measured.seconds:.1f} s, peak RSS {measured.rss_mb:.0f} MB")
    assert run_dir is not None
    result.sync_summary = summary_table(result.sync[-1].stdout)
    result.sync_breakdown = run_breakdown(run_dir / "dagster_home")
    result.warehouse = run_dir / "warehouse"
    return run_dir


def bench_tick(result: ScaleResult, args: argparse.Namespace, base_url: str, run_dir: Path, logs: Path) -> None:
    """``--runs`` ticks (yesterday and today) on the warehouse the last full sync filled."""
    first = result.dataset["first_sale_day"]
    for i in range(args.runs):
        measured = measure.run(
            [sys.executable, "-m", CLI_MODULE, "sync", *tick_dates()],
            env=sync_env(base_url, run_dir, first), cwd=run_dir, log_dir=logs, name=f"tick-{i}",
        ).check(f"zakaz sync tick ({result.scale}×, run {i + 1})")  # fmt: skip
        result.tick.append(measured)
        say(f"[{result.scale}×] tick run {i + 1}: {measured.seconds:.1f} s")
    result.tick_breakdown = run_breakdown(run_dir / "dagster_home")


FLOORS = {
    "benchmarks.process_floor": "a sync process that runs nothing",
    "benchmarks.dagster_floor": "the sync graph emptied, run as a tick",
}


def bench_floor(
    module: str, result: ScaleResult, args: argparse.Namespace, base_url: str, run_dir: Path, logs: Path
) -> list[measure.Measured]:
    """``--runs`` processes of ``module`` (one of ``FLOORS``) on the tick's warehouse and instance."""
    what, measured = FLOORS[module], []
    for i in range(args.runs):
        measured.append(
            measure.run(
                [sys.executable, "-m", module], env=sync_env(base_url, run_dir, result.dataset["first_sale_day"]),
                cwd=REPO, log_dir=logs, name=f"{module.rsplit('.', 1)[-1]}-{i}",
            ).check(f"{what} ({result.scale}×, run {i + 1})")
        )  # fmt: skip
        say(f"[{result.scale}×] {what}, run {i + 1}: {measured[-1].seconds:.1f} s")
    return measured


def summary_table(stdout: str) -> dict[str, str]:
    """The sync's closing summary (indented ``label  value`` lines) as a mapping."""
    rows = (line.strip().rsplit(None, 1) for line in stdout.splitlines() if line.startswith("  "))
    return {label.strip(): value for label, value in rows}


def run_breakdown(dagster_home: Path) -> dict[str, Any]:
    """Where the newest run's time went, from its own event log: steps, and the
    planned/materialized events Dagster records per partition."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        entries = instance.all_logs(run.run_id)
    kinds, steps, run_start, run_end = _tally(entries)
    first = entries[0].timestamp if entries else 0.0
    return {
        "events": len(entries),
        "planned": kinds.get("ASSET_MATERIALIZATION_PLANNED", 0),
        "materializations": kinds.get("ASSET_MATERIALIZATION", 0),
        "before_run_start_s": (run_start - first) if run_start else None,
        "run_s": (run_end - run_start) if run_start and run_end else None,
        "log_span_s": (entries[-1].timestamp - first) if entries else None,
        "steps": {key: end - start for key, (start, end) in sorted(steps.items(), key=lambda kv: kv[1][0])},
    }


def _tally(entries: list[Any]) -> tuple[dict[str, int], dict[str, list[float]], float | None, float | None]:
    """Events per type, each step's [start, end], and the run's start and end timestamps."""
    from dagster import DagsterEventType

    kinds: dict[str, int] = {}
    steps: dict[str, list[float]] = {}
    run_start = run_end = None
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        kinds[event.event_type_value] = kinds.get(event.event_type_value, 0) + 1
        if event.event_type == DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif event.event_type in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            run_end = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_START and entry.step_key:
            steps.setdefault(entry.step_key, [entry.timestamp, entry.timestamp])
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE) and entry.step_key:
            steps.setdefault(entry.step_key, [entry.timestamp, entry.timestamp])[1] = entry.timestamp
    return kinds, steps, run_start, run_end
