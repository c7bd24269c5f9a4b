"""``zakaz sync --dry-run``: the fetch and transform of a sync, with no warehouse at all."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from zakaz_pipeline.config import Settings
from zakaz_pipeline.qtickets.client import QticketsClient
from zakaz_pipeline.qtickets.rows import event_columns, row_count, show_inventory, shows_on_sale, ticket_columns


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
    tz = settings.tz
    start = dt.datetime.combine(first, dt.time(), tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
    with QticketsClient(base_url=settings.base_url, token=settings.token, read_timeout=settings.read_timeout) as client:
        events = [event for page in client.iter_events() for event in page]
        event_rows, show_rows = event_columns(events, org=settings.org)
        orders = tickets = 0
        for page in client.iter_paid_orders(start, end):
            orders += len(page)
            tickets += row_count(ticket_columns(page, org=settings.org, tz=tz, pii_key=settings.pii_key.encode()))
        on_sale = shows_on_sale(events, dt.datetime.now(dt.UTC))
        left = sum(show_inventory(client.show_seats(show_id))[1] for _, show_id in on_sale)
    return DryRunCounts(row_count(event_rows), row_count(show_rows), orders, tickets, len(on_sale), left)
