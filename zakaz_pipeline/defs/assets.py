"""The asset graph: API → raw tables → facts → the DataLens views.

Raw assets hand rows to the ClickHouse IO manager (streamed for orders); facts hand it a
``SelectInto`` so they are computed inside ClickHouse. Every daily-partitioned asset has
``BackfillPolicy.single_run()``: a backfill of any range is one run, and the orders asset
reads the API once for the whole range by payment time.
"""

import contextlib
import datetime as dt
import functools
import gc
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Backoff,
    BetaWarning,
    Failure,
    Jitter,
    MaterializeResult,
    Output,
    RetryPolicy,
    TableColumn,
    TableSchema,
    asset,
    multi_asset,
)

from zakaz_pipeline.config import env_float
from zakaz_pipeline.defs.partitions import TIMEZONE, daily_partitions
from zakaz_pipeline.defs.progress import Progress, Throttle
from zakaz_pipeline.defs.resources import PiiResource, QticketsResource
from zakaz_pipeline.qtickets.client import QticketsAuthError, QticketsClient, QticketsRequestError
from zakaz_pipeline.qtickets.rows import (
    INVENTORY_COLUMNS,
    Columns,
    empty_columns,
    event_columns,
    row_count,
    show_inventory,
    ticket_columns,
)
from zakaz_pipeline.qtickets.rules import show_is_on_sale
from zakaz_pipeline.warehouse import models
from zakaz_pipeline.warehouse.contract import schema_contract
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline.warehouse.writes import Batches, SelectInto

# A step that failed on something retrying may heal (the API's retries exhausted, the
# warehouse restarting) runs again after 10 s, 20 s, 40 s (full jitter).
API_RETRY = RetryPolicy(
    max_retries=3,
    delay=env_float(os.environ, "ZAKAZ_STEP_RETRY_DELAY", 10.0),
    backoff=Backoff.EXPONENTIAL,
    jitter=Jitter.FULL,
)
# Smaller inserts hold less memory and were not slower (1× sync, peak anonymous memory:
# 50k rows 486 MB, 10k 426 MB, 5k 350 MB, 2k 332 MB); chDB splits every insert by day anyway.
ROWS_PER_INSERT = 5_000
DAILY = {"partition_expr": "sales_date"}
# Daily partitions, a table partitioned by month: each write replaces the whole months of its days.
DAILY_IN_MONTHLY_TABLE = {"partition_expr": "sales_date", "table_partition": "month"}
ROW_COUNT = "dagster/row_count"


def table(name: str, **metadata: Any) -> dict[str, Any]:
    """Definition metadata of the asset stored as ``name``: how the IO manager writes it
    (``metadata``), and its columns from the schema contract, which the catalog shows."""
    columns = [TableColumn(column, kind) for column, kind in schema_contract()[name].items()]
    return {**metadata, "dagster/column_schema": TableSchema(columns=columns)}


SALES_FACT_POOL = "zakaz_sales_fact"
# BackfillPolicy.single_run() is what makes a backfill one run (one API scan); Dagster
# marks the parameter beta, and every process loading the code would warn about it.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`", category=BetaWarning)


@contextlib.contextmanager
def qtickets_api(qtickets: QticketsResource) -> Iterator[QticketsClient]:
    """A refused token or request will not heal on retry: fail the step at once, without retries."""
    try:
        with qtickets.get_client() as client:
            yield client
    except (QticketsAuthError, QticketsRequestError) as exc:
        raise Failure(str(exc), allow_retries=False) from None


@multi_asset(
    outs={
        "dim_events": AssetOut(
            description="Events with their city (name, id, time zone) and active/deleted flags.",
            metadata=table("dim_events", write_mode="replace"),
            group_name="qtickets",
            kinds={"python", "clickhouse"},
        ),
        "dim_shows": AssetOut(
            description="Shows of every event: dates, sale window, price range, flags.",
            metadata=table("dim_shows", write_mode="replace"),
            group_name="qtickets",
            kinds={"python", "clickhouse"},
        ),
    },
    retry_policy=API_RETRY,
)
def qtickets_events(context: AssetExecutionContext, qtickets: QticketsResource) -> Iterator[Output]:
    """One scan of GET /events feeds both dimensions."""
    with qtickets_api(qtickets) as client:
        events = [event for page in client.iter_events() for event in page]
    event_rows, show_rows = event_columns(events, org=qtickets.org)
    context.log.info("fetched %d events with %d shows", row_count(event_rows), row_count(show_rows))
    yield Output(event_rows, output_name="dim_events", metadata={"events": row_count(event_rows)})
    yield Output(show_rows, output_name="dim_shows", metadata={"shows": row_count(show_rows)})


@asset(
    description="One row per ticket (basket) of every paid order, by sales day; no personal data.",
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    metadata=table("stg_qtickets_api_orders_raw", **DAILY),
    group_name="qtickets",
    kinds={"python", "clickhouse"},
    retry_policy=API_RETRY,
)
def stg_qtickets_api_orders_raw(
    context: AssetExecutionContext, qtickets: QticketsResource, pii: PiiResource
) -> Batches:
    window = context.partition_time_window
    key = pii.key_bytes()
    context.log.info("fetching orders paid in [%s, %s)", window.start.isoformat(), window.end.isoformat())
    return Batches(lambda: _ticket_batches(context, qtickets, key, window.start, window.end))


def _ticket_batches(
    context: AssetExecutionContext, qtickets: QticketsResource, pii_key: bytes, start: dt.datetime, end: dt.datetime
) -> Iterator[Columns]:
    """Pages of orders become ticket rows, gathered into large inserts; memory stays
    bounded by one batch whatever the range. Progress (orders fetched of the API's
    ``paging.total``, sales days reached) is logged after the first page, then every
    ``progress.EVERY_SECONDS`` and once at the end: the CLI renders these lines."""
    tz = ZoneInfo(TIMEZONE)
    orders = tickets = pending = 0
    batch: list[Columns] = []
    days: set[dt.date] = set()
    expected: int | None = None
    throttle, logged = Throttle(), None

    def count(_: int, total: int | None) -> None:
        nonlocal expected
        expected = total

    def report(final: bool = False) -> None:
        nonlocal logged
        progress = Progress(orders, expected, len(days), (end.date() - start.date()).days)
        if progress != logged and (final or throttle.due()):
            context.log.info(progress.message())
            logged = progress

    with qtickets_api(qtickets) as client:
        pages = client.iter_paid_orders(start, end, on_page=count)
        flatten = functools.partial(ticket_columns, org=qtickets.org, tz=tz, pii_key=pii_key)
        for page_orders, part in _flattened(pages, flatten):
            orders += page_orders
            days.update(part["sales_date"])
            report()
            batch.append(part)
            pending += row_count(part)
            if pending >= ROWS_PER_INSERT:
                tickets += pending
                yield _merge(batch)
                batch, pending = [], 0
    if batch:
        tickets += pending
        yield _merge(batch)
    report(final=True)
    context.log.info("fetched %d paid orders, %d tickets", orders, tickets)


def _flattened(
    pages: Iterator[list[dict[str, Any]]], flatten: Callable[[list[dict[str, Any]]], Columns]
) -> Iterator[tuple[int, Columns]]:
    """Each page is parsed and flattened with Python's cyclic collector paused.

    A page is ~1 M acyclic objects that live for a moment; with the collector on, the
    allocations trigger collections that rescan Dagster's whole heap: measured, parsing
    took 5× longer inside a sync than alone (py-spy: 6.9 s of a 1× sync in orjson.loads).
    Only the page's own lifetime is covered, so nothing cyclic piles up meanwhile.
    """
    while True:
        with _collector_paused():
            page = next(pages, None)
            if page is None:
                return
            flat = len(page), flatten(page)
            del page
        yield flat


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _merge(parts: list[Columns]) -> Columns:
    merged = {name: [] for name in parts[0]}
    for part in parts:
        for name, values in part.items():
            merged[name].extend(values)
    return merged


@asset(
    description="Seat inventory snapshot of every show on sale (append-only).",
    metadata=table("stg_qtickets_api_inventory_raw", write_mode="append"),
    group_name="qtickets",
    kinds={"python", "clickhouse"},
    retry_policy=API_RETRY,
)
def stg_qtickets_api_inventory_raw(
    context: AssetExecutionContext, qtickets: QticketsResource, dim_events: Columns, dim_shows: Columns
) -> Columns:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    on_sale = _shows_on_sale(dim_events, dim_shows, now)
    out = empty_columns(INVENTORY_COLUMNS)
    with qtickets_api(qtickets) as client:
        for event_id, show_id in on_sale:
            total, left = show_inventory(client.show_seats(show_id))
            for name, value in zip(INVENTORY_COLUMNS, (qtickets.org, now, event_id, show_id, total, left), strict=True):
                out[name].append(value)
    context.log.info("snapshot of %d shows on sale", len(on_sale))
    return out


def _shows_on_sale(dim_events: Columns, dim_shows: Columns, now: dt.datetime) -> list[tuple[int, int]]:
    events = {row["event_id"]: row for row in _rows(dim_events)}
    return [
        (show["event_id"], show["show_id"])
        for show in _rows(dim_shows)
        if show["event_id"] in events and show_is_on_sale(events[show["event_id"]], show, now)
    ]


def _rows(columns: Columns) -> Iterator[dict[str, Any]]:
    names = list(columns)
    for values in zip(*columns.values(), strict=True):
        yield dict(zip(names, values, strict=True))


@asset(
    description="Daily sales per sales day, event and city: orders, tickets, gross, refunds, revenue.",
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    metadata=table("fact_qtickets_sales_daily", **DAILY_IN_MONTHLY_TABLE),
    # A write recomputes whole months from raw: two runs with days of one month must take
    # turns, or the later swap could keep the other run's day as it was before its raw swap.
    pool=SALES_FACT_POOL,
    deps=[stg_qtickets_api_orders_raw, AssetKey("dim_events")],
    group_name="facts",
    kinds={"clickhouse"},
)
def fact_qtickets_sales_daily() -> SelectInto:
    return models.sales_daily()


@asset(
    description="The newest inventory snapshot of every show, with event name and city.",
    metadata=table("fact_qtickets_inventory_latest", write_mode="replace"),
    deps=[stg_qtickets_api_inventory_raw, AssetKey("dim_events"), AssetKey("dim_shows")],
    group_name="facts",
    kinds={"clickhouse"},
)
def fact_qtickets_inventory_latest() -> SelectInto:
    return models.inventory_latest()


meta_job_runs = AssetSpec(
    "meta_job_runs",
    description="One row per Dagster run (job, status, times, days, rows, first error line); "
    "written by the run-status sensor and the zakaz CLI.",
    metadata=table("meta_job_runs"),
    group_name="monitoring",
    kinds={"clickhouse"},
)


def _view_asset(name: str, description: str, deps: list[Any]) -> AssetsDefinition:
    """A DataLens view: its DDL is a schema migration; materializing it records what it now shows."""

    @asset(name=name, description=description, deps=deps, metadata=table(name), group_name="bi", kinds={"clickhouse"})
    def _view(warehouse: ClickHouseResource) -> MaterializeResult:
        with warehouse.get_client() as client:
            rows = client.query(f"SELECT count() FROM {name}").result_rows[0][0]
        return MaterializeResult(metadata={ROW_COUNT: int(rows)})

    return _view


v_qtickets_sales_dashboard = _view_asset(
    "v_qtickets_sales_dashboard",
    "DataLens: daily sales with event, city and the event's current inventory.",
    [fact_qtickets_sales_daily, fact_qtickets_inventory_latest],
)
v_sales_14d = _view_asset(
    "v_sales_14d", "DataLens: the dashboard's daily sales of the last 14 days.", [v_qtickets_sales_dashboard]
)
v_sales_latest = _view_asset(
    "v_sales_latest",
    "DataLens: per event, sales today, yesterday, 7 days and all time, with tickets left.",
    [fact_qtickets_sales_daily, fact_qtickets_inventory_latest],
)
v_qtickets_freshness = _view_asset(
    "v_qtickets_freshness",
    "DataLens: per source table, the age of its newest data and its last run's status.",
    [stg_qtickets_api_orders_raw, stg_qtickets_api_inventory_raw, AssetKey("dim_events"), meta_job_runs],
)
v_inventory_history = _view_asset(
    "v_inventory_history",
    "DataLens: every inventory snapshot of every show, with the seats taken since the previous snapshot.",
    [stg_qtickets_api_inventory_raw, AssetKey("dim_events"), AssetKey("dim_shows")],
)
v_show_sell_through = _view_asset(
    "v_show_sell_through",
    "DataLens: per show on sale, capacity, sold, % sold, sold in 1 / 7 days, days to the show, projected sell-out.",
    [v_inventory_history],
)
