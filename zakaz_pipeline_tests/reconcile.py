"""The warehouse against the simulator's ground truth, ticket by ticket and kopeck by kopeck."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from zakaz_pipeline.qtickets.rules import CENT
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline_tests import truth

PERSONAL_COLUMN = re.compile(r"mail|phone|surname|first_name|client_name|card|passport|birth", re.IGNORECASE)
TicketKey = tuple[int, int]
TicketState = tuple[dt.date, Decimal, Decimal, bool, bool]  # day, price, refunded, refunded?, cancelled?


@dataclass(frozen=True)
class Differences:
    lost: int  # tickets of paid orders missing from the raw table
    duplicated: int  # raw rows beyond one per ticket
    unexpected: int  # raw tickets the account does not have
    stale: int  # raw tickets whose day, money, refund or cancellation differs from the account
    fact_days: int  # (day, event) rows of the daily fact that differ from the ground truth
    kopecks: Decimal  # Σ |revenue difference| over those rows

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.stale or self.fact_days or self.kopecks)


def expected_tickets(account: SimulatedAccount, tz: str) -> dict[TicketKey, TicketState]:
    """Every basket of every order with a payment time, as the raw table should hold it."""
    zone = ZoneInfo(tz)
    with account.lock:
        return {
            (order["id"], basket["id"]): (
                dt.datetime.fromisoformat(order["payed_at"]).astimezone(zone).date(),
                Decimal(str(basket["price"])).quantize(CENT),
                Decimal(str(basket["refunded_amount"] or 0)).quantize(CENT),
                basket["refunded_at"] is not None,
                basket["deleted_at"] is not None or order["deleted_at"] is not None,
            )
            for order in account.orders
            if order["payed_at"]
            for basket in order["baskets"]
        }


def differences(client: Client, account: SimulatedAccount, org: str, tz: str) -> Differences:
    rows = client.query(
        "SELECT order_id, basket_id, sales_date, price, refunded_amount, refunded_at IS NOT NULL, "
        "basket_deleted_at IS NOT NULL OR order_deleted_at IS NOT NULL "
        "FROM stg_qtickets_api_orders_raw WHERE org = %(org)s",
        parameters={"org": org},
    ).result_rows
    stored: dict[TicketKey, TicketState] = {}
    duplicated = 0
    for order_id, basket_id, *state in rows:
        duplicated += (order_id, basket_id) in stored
        stored[(order_id, basket_id)] = tuple(state)  # type: ignore[assignment]
    expected = expected_tickets(account, tz)
    facts = _fact_rows(client, org)
    wanted = truth.daily_sales(account, tz)
    differing = [key for key in facts.keys() | wanted.keys() if facts.get(key) != wanted.get(key)]
    return Differences(
        lost=len(expected.keys() - stored.keys()),
        duplicated=duplicated,
        unexpected=len(stored.keys() - expected.keys()),
        stale=sum(1 for key, state in stored.items() if key in expected and expected[key] != state),
        fact_days=len(differing),
        kopecks=sum((abs(_revenue(facts.get(key)) - _revenue(wanted.get(key))) for key in differing), Decimal(0)),
    )


def _fact_rows(client: Client, org: str) -> dict[tuple[dt.date, int], truth.DailySales]:
    rows = client.query(
        "SELECT sales_date, event_id, orders, tickets_sold, gross_revenue, refunded_amount, revenue "
        "FROM fact_qtickets_sales_daily WHERE org = %(org)s",
        parameters={"org": org},
    ).result_rows
    return {(day, event): truth.DailySales(*values) for day, event, *values in rows}


def _revenue(sales: truth.DailySales | None) -> Decimal:
    return sales.revenue if sales is not None else Decimal(0)


def personal_data_found(client: Client, account: SimulatedAccount) -> list[str]:
    """Columns meant for personal data, and columns of any table or view holding an e-mail,
    phone, name or card number of the account's buyers, even inside a longer text."""
    personal = sorted({value.lower() for value in truth.personal_values(account) if len(value) >= 4})
    assert len(personal) > 100, "the account has buyers enough to look for"
    columns = client.query(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase()"
    ).result_rows
    found = [f"{table}.{name} is meant for personal data" for table, name, _ in columns if PERSONAL_COLUMN.search(name)]
    for table, column, kind in columns:
        if "String" not in kind:
            continue
        for chunk in range(0, len(personal), 200):
            hits = client.query(
                f"SELECT count() FROM {table} WHERE multiSearchAnyCaseInsensitive(toString({column}), %(needles)s)",
                parameters={"needles": personal[chunk : chunk + 200]},
            ).result_rows[0][0]
            if hits:
                found.append(f"{table}.{column} holds personal data")
    return found
