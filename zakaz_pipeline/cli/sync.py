"""``zakaz sync``: check the settings and the API, run the sync job here, print the summary.

A refused token or a wrong API path is known in about a second, from one request, before a
run is created (a refused start is then recorded as a failed sync); the run itself executes in this process (``runtime/runs.py``) and what the
warehouse then holds is printed (``warehouse/summary.py``). ``--dry-run`` runs the sync's
API steps with an IO manager that counts instead of writing (``runtime/dry_run.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zakaz_pipeline.cli.preflight import check_reachable, check_token
from zakaz_pipeline.errors import root_error
from zakaz_pipeline.settings import ConfigError, Settings, debug_enabled
from zakaz_pipeline.warehouse.connection import open_client, parse_target

if TYPE_CHECKING:
    from dagster import JobExecutionResult

    from zakaz_pipeline.runtime.dry_run import DryRunCounts

log = logging.getLogger("zakaz")

STOPPED = "the run stopped before its steps finished (interrupted by Ctrl-C or a kill); it is marked failed"
FAILED_RUN_HINT = "the run's whole log: Dagster UI → Runs → {run_id}, or run again with --debug"


def sync_command(args: argparse.Namespace) -> int:
    """Bad settings, an unreachable endpoint or a refused API exit 2 before anything is
    fetched or written; a refused start is still recorded in ``meta_job_runs``."""
    settings = Settings.from_env()
    first, last = _sales_days(args.first, args.last, settings)
    check_reachable(settings)
    try:
        orders = check_token(settings)
    except ConfigError as exc:
        if not args.dry_run:
            from zakaz_pipeline.runtime.runs import record_refused_start

            record_refused_start(settings, first, last, str(exc))
        raise
    if orders is not None:
        log.info(
            "the account has %s orders in all, paid or not; syncing sales days %s … %s", f"{orders:,}", first, last
        )
    if args.dry_run:
        return dry_run(settings, first, last)
    outcome = run_sync(settings, first, last)
    print(outcome.table())
    return 0 if outcome.success else 1


def _sales_days(first: dt.date | None, last: dt.date | None, settings: Settings) -> tuple[dt.date, dt.date]:
    """``--from`` / ``--to`` defaulted (history start, today) and checked against the partitions."""
    first = first or settings.history_start
    last = last or dt.datetime.now(settings.tz).date()
    if first > last:
        raise ConfigError(f"--from {first} is after --to {last}")
    if first < settings.history_start:
        raise ConfigError(
            f"--from {first} is before QTICKETS_HISTORY_START={settings.history_start}, the first sales day"
        )
    return first, last


@dataclass
class SyncOutcome:
    success: bool
    run_id: str
    first: dt.date
    last: dt.date
    error: str = ""
    summary: dict[str, object] = field(default_factory=dict)

    def table(self) -> str:
        head = (
            f"run {self.run_id}: {'SUCCESS' if self.success else 'FAILURE'} for sales days {self.first} … {self.last}"
        )
        if not self.success:
            return f"{head}\n{self.error}\n{FAILED_RUN_HINT.format(run_id=self.run_id)}"
        width = max(len(label) for label in self.summary)
        return "\n".join([head, *(f"  {label:<{width}}  {value}" for label, value in self.summary.items())])


def run_sync(settings: Settings, first: dt.date, last: dt.date) -> SyncOutcome:
    """One run of the sync job over ``first``..``last`` (one API scan for the range)."""
    from zakaz_pipeline.cli.console import RunConsole, console_logging
    from zakaz_pipeline.defs.jobs import RANGE_START_TAG, SYNC_JOB, partition_range_tags
    from zakaz_pipeline.runtime.instance import open_instance
    from zakaz_pipeline.runtime.runs import execute_here, fail_runs_left_behind, record_in_warehouse
    from zakaz_pipeline.warehouse.summary import org_summary

    tags = partition_range_tags(first, last)
    console = RunConsole()
    target = parse_target(settings.clickhouse_url, settings.clickhouse_database)
    # The warehouse is held for the whole command, so the embedded engine starts once
    # rather than for the run, its record and the summary in turn.
    with open_client(target), open_instance() as instance:
        fail_runs_left_behind(instance, settings)
        try:
            result = execute_here(
                instance, SYNC_JOB, tags=tags, run_config=console_logging(debug_enabled()), listener=console
            )
        finally:
            console.close()
        record_in_warehouse(instance, result.run_id, settings)
        summary = org_summary(target, settings.org) if result.success else {}
    outcome = SyncOutcome(result.success, result.run_id, dt.date.fromisoformat(tags[RANGE_START_TAG]), last)
    if result.success:
        outcome.summary = summary
    else:
        outcome.error = _failure_text(result, interrupted=console.interrupted)
    return outcome


def _failure_text(result: JobExecutionResult, *, interrupted: bool) -> str:
    """The root cause of the first failed step, or why there is none (a stopped run)."""
    from zakaz_pipeline.cli.console import error_line

    failures = result.get_step_failure_events()
    error = failures[0].step_failure_data.error if failures else None
    return STOPPED if interrupted or not error else error_line(root_error(error).message)


def dry_run(settings: Settings, first: dt.date, last: dt.date) -> int:
    """The sync's API steps over ``first``..``last``, counted with nothing written: the
    table of counts (exit 0), or the failed step's cause (exit 1)."""
    from zakaz_pipeline.cli.console import console_logging, error_line
    from zakaz_pipeline.runtime.dry_run import dry_run as count_sync

    outcome = count_sync(settings, first, last, run_config=console_logging(debug_enabled()))
    if outcome.counts is None:
        print(f"dry run: FAILURE\n{error_line(outcome.error)}")
        return 1
    print(dry_run_table(outcome.counts))
    return 0


def dry_run_table(counts: DryRunCounts) -> str:
    return "dry run, nothing written:\n" + "\n".join(f"  {name:<14} {value}" for name, value in vars(counts).items())
