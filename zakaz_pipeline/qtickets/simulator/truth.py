"""Ground truth: what the warehouse must report for a simulated account.

Reckoned straight from the account's API-shaped JSON, independently of the pipeline
(only the shared business definitions in ``rules.py`` are reused), so that a test can
compare the warehouse against numbers that did not pass through the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from zakaz_pipeline.qtickets.rules import DEFAULT_TIMEZONE, parse_ts, show_is_on_sale
from zakaz_pipeline.qtickets.simulator.account import SimulatedAccount

_CENT = Decimal("0.01")


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
    return Decimal(0).quantize(_CENT) if value is None else Decimal(str(value)).quantize(_CENT)


def _paid_at(order: dict) -> dt.datetime | None:
    """When a paid, non-cancelled order was paid; None for every other order."""
    if not order["payed"] or order["deleted_at"] is not None:
        return None
    return parse_ts(order["payed_at"])


def daily_sales(account: SimulatedAccount, tz: str = DEFAULT_TIMEZONE) -> dict[tuple[dt.date, int], DailySales]:
    """Sales per (day of payment in ``tz``, event).

    A sold ticket is a non-cancelled basket of a paid, non-cancelled order. Gross counts
    every sold ticket's price, refunds are subtracted for revenue, and refunded tickets
    no longer count as sold.
    """
    zone = ZoneInfo(tz)
    orders: dict[tuple[dt.date, int], set[int]] = defaultdict(set)
    tickets: dict[tuple[dt.date, int], int] = defaultdict(int)
    gross: dict[tuple[dt.date, int], Decimal] = defaultdict(Decimal)
    refunded: dict[tuple[dt.date, int], Decimal] = defaultdict(Decimal)
    with account.lock:
        for order in account.orders:
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
            gross_revenue=gross[key].quantize(_CENT),
            refunded_amount=refunded[key].quantize(_CENT),
            revenue=(gross[key] - refunded[key]).quantize(_CENT),
        )
        for key, ids in sorted(orders.items())
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
