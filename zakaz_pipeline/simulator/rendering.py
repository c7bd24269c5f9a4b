"""How the Qtickets API writes values: Moscow-offset timestamps, money as int or float,
ticket links, an order's price from its tickets.

Kept apart from the account and the generator because both render the same values (a
generated order and a late payment must look alike) and the query engine parses them
back; nothing here holds state or draws a random number.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from zakaz_pipeline.qtickets.rules import CENT

MOSCOW = ZoneInfo("Europe/Moscow")
# Qtickets renders every timestamp with the Moscow offset; a fixed offset also makes
# equal-format strings sort like the instants they name, which the server relies on.
MSK_OFFSET = dt.timezone(dt.timedelta(hours=3))
ROUBLE = Decimal(1)


def format_ts(value: dt.datetime) -> str:
    """Render an instant as Qtickets does: Moscow offset, whole seconds."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: the account only knows aware instants")
    return value.astimezone(MSK_OFFSET).replace(microsecond=0).isoformat()


def money(value: Decimal) -> int | float:
    """An amount as the API sends it: an int for whole roubles, a float otherwise."""
    value = value.quantize(CENT)
    return int(value) if value == value.to_integral_value() else float(value)


def to_decimal(value: float | Decimal | None) -> Decimal:
    """Exact money from a JSON number (floats through ``str`` to avoid binary noise)."""
    if value is None:
        return Decimal(0)
    return Decimal(str(value)).quantize(CENT)


def order_price(baskets: list[dict], order_deleted_at: str | None) -> int | float:
    """Σ prices of the tickets still in the order; tickets cancelled together with the
    whole order keep counting, as real cancelled orders keep their price."""
    kept = [b["price"] for b in baskets if b["deleted_at"] is None or b["deleted_at"] == order_deleted_at]
    return money(sum((to_decimal(p) for p in kept), Decimal(0)))


def ticket_urls(uniqid: str, barcode: str) -> tuple[str, str]:
    token = f"{int(barcode) * 7919:032x}"[-32:]
    return (
        f"https://qtickets.ru/ticket/pdf/{uniqid}/{token}",
        f"https://qtickets.ru/ticket/passbook/{uniqid}/{token}",
    )
