"""``zakaz sync``: check the settings and the API, run the sync job here, print the summary.

A refused token or a wrong API path ends the command in about a second, before Dagster
loads; the run itself executes in this process (``cli/instance.py``) and what the
warehouse then holds is printed. ``--dry-run`` fetches and transforms with no warehouse
at all.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zakaz_pipeline.cli.preflight import check_reachable, check_token
from zakaz_pipeline.columns import row_count
from zakaz_pipeline.errors import first_line, root_error
from zakaz_pipeline.qtickets.client import QticketsClient
from zakaz_pipeline.qtickets.findings import Findings
from zakaz_pipeline.qtickets.paid_orders import PaidOrders
from zakaz_pipeline.qtickets.probe import probe
from zakaz_pipeline.qtickets.rows import event_columns, show_inventory, shows_on_sale, ticket_columns
from zakaz_pipeline.settings import ConfigError, Settings, debug_enabled
from zakaz_pipeline.warehouse.connection import open_client, parse_target

if TYPE_CHECKING:
    from dagster import JobExecutionResult

log = logging.getLogger("zakaz")

SUMMARY_SQL = """
SELECT
    (SELECT count() FROM dim_events WHERE org = %(org)s),
    (SELECT count() FROM dim_shows WHERE org = %(org)s),
    (SELECT sum(orders) FROM fact_qtickets_sales_daily WHERE org = %(org)s),
    (SELECT sum(tickets_sold) FROM fact_qtickets_sales_daily WHERE org = %(org)s),
    (SELECT sum(gross_revenue) FROM fact_qtickets_sales_daily WHERE org = %(org)s),
    (SELECT sum(refunded_amount) FROM fact_qtickets_sales_daily WHERE org = %(org)s),
    (SELECT sum(revenue) FROM fact_qtickets_sales_daily WHERE org = %(org)s),
    (SELECT count() FROM fact_qtickets_inventory_latest WHERE org = %(org)s AND on_sale),
    (SELECT sum(tickets_left) FROM fact_qtickets_inventory_latest WHERE org = %(org)s AND on_sale)
"""
SYNC_JOB = "qtickets_sync"
# Tables of the warehouse contract that no asset writes; every other table and view is an
# asset of the sync job (a test holds them equal).
NOT_ASSETS = ("meta_job_runs", "meta_webhooks", "zakaz_schema_history")
STOPPED = "the run stopped before its steps finished (interrupted by Ctrl-C or a kill); it is marked failed"
FAILED_RUN_HINT = "the run's whole log: Dagster UI → Runs → {run_id}, or run again with --debug"
SUMMARY_LABELS = (
    "events", "shows", "orders sold", "tickets sold", "gross revenue", "refunded",
    "revenue", "shows on sale", "tickets left",
)  # fmt: skip


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
            record_refused_start(settings, first, last, str(exc))
        raise
    if orders is not None:
        log.info(
            "the account has %s orders in all, paid or not; syncing sales days %s … %s", f"{orders:,}", first, last
        )
    if args.dry_run:
        print(dry_run(settings, first, last).table())
        return 0
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


def sales_window(first: dt.date, last: dt.date, settings: Settings) -> tuple[dt.datetime, dt.datetime]:
    """``[first 00:00, the day after last 00:00)`` in the reporting time zone."""
    tz = settings.tz
    return dt.datetime.combine(first, dt.time(), tz), dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)


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
    from zakaz_pipeline.cli.instance import execute_here, fail_runs_left_behind, open_instance, record_in_warehouse
    from zakaz_pipeline.defs.jobs import RANGE_START_TAG, partition_range_tags

    tags = partition_range_tags(first, last)
    console = RunConsole()
    # The warehouse is held for the whole command, so the embedded engine starts once
    # rather than for the run, its record and the summary in turn.
    with open_client(parse_target(settings.clickhouse_url, settings.clickhouse_database)), open_instance() as instance:
        fail_runs_left_behind(instance, settings)
        try:
            result = execute_here(
                instance, SYNC_JOB, tags=tags, run_config=console_logging(debug_enabled()), listener=console
            )
        finally:
            console.close()
        record_in_warehouse(instance, result.run_id, settings)
        summary = warehouse_summary(settings) if result.success else {}
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


def warehouse_summary(settings: Settings) -> dict[str, object]:
    target = parse_target(settings.clickhouse_url, settings.clickhouse_database)
    with open_client(target) as client:
        row = client.query(SUMMARY_SQL, parameters={"org": settings.org}).result_rows[0]
    return dict(zip(SUMMARY_LABELS, row, strict=True))


def sync_assets() -> list[str]:
    """The sync job's assets, without loading Dagster: what a refused start records, so
    the freshness view sees the failure."""
    from zakaz_pipeline.warehouse.contract import schema_contract

    return sorted(name for name in schema_contract() if name not in NOT_ASSETS)


def record_refused_start(settings: Settings, first: dt.date, last: dt.date, message: str) -> None:
    """A sync the API refused in the preflight never became a Dagster run (it ends before
    Dagster loads, in about a second); it is still a failed sync for BI and the freshness
    view, so it gets its own ``meta_job_runs`` row."""
    from zakaz_pipeline.warehouse.schema import ensure_schema, view_definer
    from zakaz_pipeline.warehouse.writes import append_rows

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    row = {
        "org": settings.org,
        "run_id": str(uuid.uuid4()),
        "job": SYNC_JOB,
        "status": "FAILURE",
        "started_at": now,
        "finished_at": now,
        "partitions": first.isoformat() if first == last else f"{first}…{last}",
        "assets": sync_assets(),
        "rows_written": 0,
        "message": first_line(message),
    }
    target = parse_target(settings.clickhouse_url, settings.clickhouse_database)
    with open_client(target) as client:
        ensure_schema(client, settings.clickhouse_cluster, settings.timezone, view_definer(target.embedded))
        append_rows(client, "meta_job_runs", [{name: [value] for name, value in row.items()}])


@dataclass(frozen=True)
class DryRunCounts:
    events: int
    shows: int
    orders: int
    ticket_rows: int
    shows_on_sale: int
    tickets_left: int

    def table(self) -> str:
        return "dry run, nothing written:\n" + "\n".join(f"  {name:<14} {value}" for name, value in vars(self).items())


def dry_run(settings: Settings, first: dt.date, last: dt.date) -> DryRunCounts:
    """The fetch and transform of a sync over ``first``..``last``, counted, with no warehouse
    at all; orders fetched as a run would, by the recorded findings (probed, not recorded,
    when there are none)."""
    tz = settings.tz
    start, end = sales_window(first, last, settings)
    with QticketsClient(
        base_url=settings.base_url,
        token=settings.token,
        read_timeout=settings.read_timeout,
        max_in_flight=settings.max_in_flight,
    ) as client:
        events = [event for page in client.iter_events() for event in page]
        event_rows, show_rows = event_columns(events, org=settings.org)
        orders = tickets = 0
        fetch = PaidOrders(client, _findings(settings, client), strategy=settings.orders_strategy, tz=tz)
        with contextlib.closing(fetch.pages(start, end)) as pages:
            for page in pages:
                orders += len(page)
                tickets += row_count(ticket_columns(page, org=settings.org, tz=tz, pii_key=settings.pii_key.encode()))
        on_sale = shows_on_sale(event_rows, show_rows, dt.datetime.now(dt.UTC))
        left = sum(show_inventory(seats)[1] for seats in client.seats_of([show_id for _, show_id in on_sale]))
    return DryRunCounts(row_count(event_rows), row_count(show_rows), orders, tickets, len(on_sale), left)


def _findings(settings: Settings, client: QticketsClient) -> Findings:
    from zakaz_pipeline.cli.instance import open_instance
    from zakaz_pipeline.defs.api_findings import latest_findings

    return latest_findings(open_instance(), settings.org) or probe(client).findings
