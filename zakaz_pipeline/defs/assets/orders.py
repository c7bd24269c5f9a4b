"""``stg_qtickets_api_orders_raw``: one row per ticket of every paid order, by sales day.

Pages of orders are flattened and streamed to the IO manager in bounded batches; the
asset has ``BackfillPolicy.single_run()``, so a backfill of any range is one run that
reads the API once for the whole range. How it reads is the API's findings'
(``api_findings.py``; a run with none probes first): by payment time, cut into windows
scanned side by side, where the API honours that filter; otherwise by page number from
the orders created a payment lag before the range (``qtickets/paid_orders.py``). What a
fetch finds out about the API is recorded for the next runs, never a failed run.
"""

import contextlib
import datetime as dt
import functools
import gc
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    RetryPolicy,
    asset,
)

from zakaz_pipeline.columns import Columns, row_count
from zakaz_pipeline.defs.api_findings import QTICKETS_API, findings_for_run, record_learned
from zakaz_pipeline.defs.assets.common import DAILY, qtickets_api, table
from zakaz_pipeline.defs.jobs import CREATED_FROM_TAG
from zakaz_pipeline.defs.progress import Progress, Throttle
from zakaz_pipeline.defs.resources import PiiResource, QticketsResource
from zakaz_pipeline.qtickets.paid_orders import PaidOrders
from zakaz_pipeline.qtickets.rows import ticket_columns
from zakaz_pipeline.qtickets.rules import parse_ts
from zakaz_pipeline.warehouse.writes import Batches

# Rows handed to the writer at a time: a few pages' worth of Python values, which the
# writer turns into compact Arrow columns at once and gathers into large inserts.
ROWS_PER_BATCH = 2_000


def orders_asset(partitions: DailyPartitionsDefinition, retry: RetryPolicy) -> AssetsDefinition:
    tz = ZoneInfo(partitions.timezone)

    @asset(
        description="One row per ticket (basket) of every paid order, by sales day; no personal data.",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        metadata=table("stg_qtickets_api_orders_raw", **DAILY),
        group_name="qtickets",
        kinds={"python", "clickhouse"},
        retry_policy=retry,
        deps=[QTICKETS_API],
    )
    def stg_qtickets_api_orders_raw(
        context: AssetExecutionContext, qtickets: QticketsResource, pii: PiiResource
    ) -> Batches:
        window = context.partition_time_window
        key = pii.key_bytes()
        context.log.info("fetching orders paid in [%s, %s)", window.start.isoformat(), window.end.isoformat())
        return Batches(lambda: _ticket_batches(context, qtickets, key, tz, window.start, window.end))

    return stg_qtickets_api_orders_raw


def _ticket_batches(
    context: AssetExecutionContext,
    qtickets: QticketsResource,
    pii_key: bytes,
    tz: ZoneInfo,
    start: dt.datetime,
    end: dt.datetime,
) -> Iterator[Columns]:
    """Pages of orders become ticket rows, handed on a few pages at a time; memory stays
    bounded by one batch (and the writer's insert) whatever the range. Progress (orders fetched of the API's
    ``paging.total``, sales days reached) is logged after the first page, then every
    ``progress.EVERY_SECONDS`` and once at the end: the CLI renders these lines."""
    orders = tickets = pending = 0
    batch: list[Columns] = []
    days: set[dt.date] = set()
    throttle = Throttle()
    logged: Progress | None = None

    def report(read: int, expected: int | None, final: bool = False) -> None:
        nonlocal logged
        progress = Progress(read, expected, len(days), (end.date() - start.date()).days)
        if progress != logged and (final or throttle.due()):
            context.log.info(progress.message())
            logged = progress

    with qtickets_api(qtickets) as client:
        findings = findings_for_run(context, client, qtickets.org)
        fetch = PaidOrders(client, findings, strategy=qtickets.orders_strategy, tz=tz)
        pages = fetch.pages(
            start, end, created_from=parse_ts(context.run.tags.get(CREATED_FROM_TAG)), on_progress=report
        )
        flatten = functools.partial(ticket_columns, org=qtickets.org, tz=tz, pii_key=pii_key)
        # Closed whatever happens here: an error's traceback would keep an open scan alive.
        with contextlib.closing(pages):
            for page_orders, part in _flattened(pages, flatten):
                orders += page_orders
                days.update(part["sales_date"])
                batch.append(part)
                pending += row_count(part)
                if pending >= ROWS_PER_BATCH:
                    tickets += pending
                    yield _merge(batch)
                    batch, pending = [], 0
    if batch:
        tickets += pending
        yield _merge(batch)
    report(fetch.report.orders_read, fetch.report.orders_read, final=True)
    context.log.info("fetched %d paid orders, %d tickets (%s)", orders, tickets, fetch.report.summary())
    if (learned := fetch.report.learned(findings)) is not None:
        record_learned(context, learned, qtickets.org, fetch.report.summary())


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
    merged: Columns = {name: [] for name in parts[0]}
    for part in parts:
        for name, values in part.items():
            merged[name].extend(values)
    return merged
