"""Ground truth: what the warehouse must report for a simulated account.

Reckoned straight from the account's API-shaped JSON, independently of the pipeline
(only the shared business definitions in ``rules.py`` are reused), so that a test can
compare the warehouse against numbers that did not pass through the code under test.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from zakaz_pipeline.qtickets.rules import CENT, parse_ts, show_is_on_sale
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.timezone import DEFAULT_TIMEZONE


@dataclass(frozen=True)
class DailySales:
    """One (sales day, event) cell of the sales report."""

    orders: int
    tickets_sold: int
    gross_revenue: Decimal
    refunded_amount: Decimal
    revenue: Decimal


def _amount(value: float | None) -> Decimal:
    """JSON money to exact Decimal; floats go through ``str`` to drop binary noise."""
    return Decimal(0).quantize(CENT) if value is None else Decimal(str(value)).quantize(CENT)


def _paid_at(order: dict) -> dt.datetime | None:
    """When a paid, non-cancelled order was paid; None for every other order."""
    if not order["payed"] or order["deleted_at"] is not None:
        return None
    return parse_ts(order["payed_at"])


def daily_sales(account: SimulatedAccount, tz: str = DEFAULT_TIMEZONE) -> dict[tuple[dt.date, int], DailySales]:
    """Sales per (day of payment in ``tz``, event) of the account's orders."""
    with account.lock:
        return daily_sales_of(account.orders, tz)


def daily_sales_of(orders_json: Iterable[dict], tz: str = DEFAULT_TIMEZONE) -> dict[tuple[dt.date, int], DailySales]:
    """Sales per (day of payment in ``tz``, event) of API-shaped orders (an account's, or
    those a running simulator answers).

    A sold ticket is a non-cancelled basket of a paid, non-cancelled order. Gross counts
    every sold ticket's price, refunds are subtracted for revenue, and refunded tickets
    no longer count as sold.
    """
    zone = ZoneInfo(tz)
    orders: dict[tuple[dt.date, int], set[int]] = defaultdict(set)
    tickets: dict[tuple[dt.date, int], int] = defaultdict(int)
    gross: dict[tuple[dt.date, int], Decimal] = defaultdict(Decimal)
    refunded: dict[tuple[dt.date, int], Decimal] = defaultdict(Decimal)
    for order in orders_json:
        paid_at = _paid_at(order)
        if paid_at is None:
            continue
        key = (paid_at.astimezone(zone).date(), order["event_id"])
        for basket in order["baskets"]:
            if basket["deleted_at"] is not None:
                continue
            orders[key].add(order["id"])
            gross[key] += _amount(basket["price"])
            refunded[key] += _amount(basket["refunded_amount"])
            if basket["refunded_at"] is None:
                tickets[key] += basket["quantity"]
    return {
        key: DailySales(
            orders=len(ids),
            tickets_sold=tickets[key],
            gross_revenue=gross[key].quantize(CENT),
            refunded_amount=refunded[key].quantize(CENT),
            revenue=(gross[key] - refunded[key]).quantize(CENT),
        )
        for key, ids in sorted(orders.items())
    }


def day_totals(sales: dict[tuple[dt.date, int], DailySales], day: dt.date) -> dict[str, Decimal]:
    """One sales day's totals over all events, named as the daily fact's columns."""
    cells = [cell for (date, _), cell in sales.items() if date == day]
    return {
        "orders": Decimal(sum(cell.orders for cell in cells)),
        "tickets_sold": Decimal(sum(cell.tickets_sold for cell in cells)),
        "gross_revenue": sum((cell.gross_revenue for cell in cells), Decimal(0)),
        "refunded_amount": sum((cell.refunded_amount for cell in cells), Decimal(0)),
        "revenue": sum((cell.revenue for cell in cells), Decimal(0)),
    }


def show_inventory(account: SimulatedAccount) -> dict[int, tuple[int, int]]:
    """(tickets_total, tickets_left) per show on sale at ``account.now``, over the
    seats that are not disabled."""
    result: dict[int, tuple[int, int]] = {}
    with account.lock:
        for event in account.events:
            for show in event["shows"]:
                if not show_is_on_sale(event, show, account.now):
                    continue
                seats = [seat for seat in account.seats[show["id"]] if not seat["disabled"]]
                result[show["id"]] = (
                    sum(seat["max_quantity"] for seat in seats),
                    sum(seat["free_quantity"] for seat in seats),
                )
    return result


Observation = tuple[dt.datetime, dict[int, tuple[int, int]]]
"""A moment and ``show_inventory`` at it: what one inventory snapshot should have seen."""

SELLOUT_HORIZON_DAYS = 3650


@dataclass(frozen=True)
class SnapshotRow:
    """One show in one snapshot, as the inventory history reports it."""

    tickets_total: int
    tickets_left: int
    tickets_sold: int
    sold_since_previous: int | None


@dataclass(frozen=True)
class SellThrough:
    """One show on sale at the newest observation, as the sell-through report gives it."""

    event_id: int
    capacity: int
    tickets_sold: int
    tickets_left: int
    tickets_sold_1d: int | None
    tickets_sold_7d: int | None
    pace_per_day: float | None
    days_until_show: int | None
    projected_sellout_date: dt.date | None


def inventory_history(observations: list[Observation]) -> dict[tuple[int, dt.datetime], SnapshotRow]:
    """Per (show, moment): seats, seats taken (total - left) and the change of seats taken
    since the show's previous observation (None for its first)."""
    rows: dict[tuple[int, dt.datetime], SnapshotRow] = {}
    previous: dict[int, int] = {}
    for moment, shows in sorted(observations, key=lambda o: o[0]):
        for show_id, (total, left) in shows.items():
            sold = total - left
            change = sold - previous[show_id] if show_id in previous else None
            rows[(show_id, moment)] = SnapshotRow(total, left, sold, change)
            previous[show_id] = sold
    return rows


def sell_through(
    account: SimulatedAccount, observations: list[Observation], now: dt.datetime, tz: str = DEFAULT_TIMEZONE
) -> dict[int, SellThrough]:
    """Per show in the newest observation: seats taken in the 24 hours and 7 days before
    ``now`` (the changes observed at moments inside the window; None without any), the pace
    over the time from the last observation before the 7-day window (else the show's first)
    to the newest, and the day the last seat goes at that pace."""
    zone = ZoneInfo(tz)
    history = inventory_history(observations)
    newest_moment = max(moment for moment, _ in observations)
    on_sale = dict(observations)[newest_moment]
    starts = {
        show["id"]: (event["id"], parse_ts(show["start_date"])) for event in account.events for show in event["shows"]
    }
    result = {}
    for show_id in on_sale:
        seen = sorted((moment, row) for (show, moment), row in history.items() if show == show_id)
        newest_at, newest = seen[-1]

        def sold_since(start: dt.datetime, seen: list = seen) -> int | None:
            changes = [row.sold_since_previous for moment, row in seen if moment > start]
            changes = [change for change in changes if change is not None]
            return sum(changes) if changes else None

        week_ago = now - dt.timedelta(days=7)
        before = [moment for moment, _ in seen if moment <= week_ago]
        baseline = before[-1] if before else seen[0][0]
        sold_7d = sold_since(week_ago)
        span_days = (newest_at - baseline).total_seconds() / 86400
        pace = sold_7d / span_days if sold_7d is not None and span_days > 0 else None
        sellout = None
        if pace is not None and pace > 0 and newest.tickets_left / pace <= SELLOUT_HORIZON_DAYS:
            seconds = math.ceil(newest.tickets_left / pace * 86400)
            sellout = (newest_at + dt.timedelta(seconds=seconds)).astimezone(zone).date()
        event_id, start = starts[show_id]
        result[show_id] = SellThrough(
            event_id=event_id,
            capacity=newest.tickets_total,
            tickets_sold=newest.tickets_sold,
            tickets_left=newest.tickets_left,
            tickets_sold_1d=sold_since(now - dt.timedelta(days=1)),
            tickets_sold_7d=sold_7d,
            pace_per_day=pace,
            days_until_show=(start.astimezone(zone).date() - now.astimezone(zone).date()).days if start else None,
            projected_sellout_date=sellout,
        )
    return result


def buyer_emails(account: SimulatedAccount) -> dict[str, int]:
    """Lower-cased buyer e-mail -> number of its paid, non-cancelled orders (buyers
    without such an order are left out)."""
    counts: dict[str, int] = defaultdict(int)
    with account.lock:
        for order in account.orders:
            if _paid_at(order) and order["client"] and order["client"]["email"]:
                counts[order["client"]["email"].lower()] += 1
    return dict(sorted(counts.items()))


def personal_values(account: SimulatedAccount) -> set[str]:
    """Every e-mail, phone, first name, surname and card number in the account: what a
    scan of the warehouse must not find outside the places meant to hold it."""
    values: set[str | None] = set()
    with account.lock:
        for order in account.orders:
            client = order["client"] or {}
            details = client.get("details") or {}
            values.update(
                [
                    client.get("email"),
                    details.get("phone"),
                    details.get("name"),
                    details.get("surname"),
                    order["payment_card_number"],
                ]
            )
            for basket in order["baskets"]:
                values.update(
                    [basket["client_email"], basket["client_phone"], basket["client_name"], basket["client_surname"]]
                )
    return {value for value in values if value}
