"""The webhooks' side of monitoring in the warehouse: heartbeats of the receiver's queue
(``meta_webhooks``, read by ``v_qtickets_freshness``) and the newest sale polling found,
which the silence alert compares with the newest webhook.

The queue itself is SQLite beside the receiver (``zakaz_pipeline/webhooks/queue.py``); this
module gets its figures as plain values, so the warehouse knows no webhook code and the
queue no ClickHouse.
"""

from __future__ import annotations

import datetime as dt

from clickhouse_connect.driver.client import Client

from zakaz_pipeline.columns import Columns
from zakaz_pipeline.warehouse.writes import append_rows

HEARTBEAT_TABLE = "meta_webhooks"


def _utc_naive(moment: dt.datetime) -> dt.datetime:
    """``DateTime64(3, 'UTC')`` columns take naive UTC on both engines (chDB and a server)."""
    if moment.tzinfo is None:
        raise ValueError("heartbeat times must be timezone-aware")
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def record_webhook_heartbeat(
    client: Client,
    org: str,
    last_received_at: dt.datetime | None,
    received_count: int,
    bad_signatures: int,
    *,
    recorded_at: dt.datetime | None = None,
) -> None:
    """One heartbeat row: the newest accepted delivery (None: the queue holds none), the
    deliveries the queue keeps, and the signature refusals of the last hour."""
    moment = recorded_at or dt.datetime.now(dt.UTC)
    row: Columns = {
        "org": [org],
        "recorded_at": [_utc_naive(moment)],
        "last_received_at": [None if last_received_at is None else _utc_naive(last_received_at)],
        "received_count": [received_count],
        "bad_signatures": [bad_signatures],
    }
    append_rows(client, HEARTBEAT_TABLE, [row])


def newest_polled_sale(client: Client, org: str) -> dt.datetime | None:
    """The newest paid sale polling brought in (UTC), read from the newest sales day only, as
    the freshness view does; None before the first sync."""
    rows = client.query(
        "SELECT max(sale_ts), count() FROM stg_qtickets_api_orders_raw "
        "WHERE org = %(org)s AND sales_date = (SELECT max(sales_date) FROM stg_qtickets_api_orders_raw "
        "WHERE org = %(org)s)",
        parameters={"org": org},
    ).result_rows
    newest, count = rows[0]
    if not count:
        return None
    return newest.replace(tzinfo=dt.UTC) if newest.tzinfo is None else newest.astimezone(dt.UTC)
