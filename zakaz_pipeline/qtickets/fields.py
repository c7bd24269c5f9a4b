"""One field of an API record read as the warehouse stores it, or an error naming the field.

The facts are sums over what these readers return, so a value they cannot read truthfully
stops the sync instead of becoming a zero, a one or another moment: a price such as
``"1 500,00"``, a negative ticket count, a timestamp outside what a ClickHouse ``DateTime``
holds (1970 … 2106 UTC) or without its UTC offset. A key the facts need that is missing
altogether is schema drift too, unlike an empty value: ``"baskets": []`` is a real order
with nothing in it, an order without ``baskets`` is an answer whose shape changed.

Errors quote the offending value only for the fields read here (amounts, counts, ids,
timestamps), never a personal field, and are ``ValueError``s: retrying will not heal them.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from zakaz_pipeline.qtickets.rules import CENT

# What a ClickHouse DateTime holds: seconds since 1970 in a UInt32.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2106, 2, 7, 6, 28, 15, tzinfo=dt.UTC)
# Decimal(18, 2) holds 16 digits before the point.
AMOUNT_LIMIT = Decimal(10) ** 16
ZERO = Decimal("0.00")
_QUOTED = 40


class FieldError(ValueError):
    """A field of one record that cannot be stored truthfully; the caller names the record."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field


class UpstreamDataError(ValueError):
    """The API answered a record that cannot be stored truthfully: which record (order,
    basket), which field, and what kind of value. A sync stops on it, without retries."""

    def __init__(self, record: str, error: FieldError) -> None:
        super().__init__(
            f"the Qtickets API sent bad data: {record}: {error}; nothing of this answer was stored, "
            "and a retry would read the same"
        )
        self.record = record
        self.field = error.field


def require(record: Any, keys: frozenset[str], what: str) -> None:
    """``record`` is an object holding every key of ``keys`` (their values may be empty)."""
    if not isinstance(record, dict):
        raise FieldError(what, f"is not an object ({kind(record)})")
    if not record.keys() >= keys:
        missing = sorted(keys - record.keys())
        raise FieldError(missing[0], "is missing: the key itself, not an empty value (the answer's shape changed)")


def items(record: Mapping[str, Any], key: str) -> list[Any]:
    """A list field, ``[]`` included; null or another type is not a list."""
    value = record[key]
    if type(value) is not list:
        raise FieldError(key, f"is not a list ({kind(value)})")
    return value


def moment(record: Mapping[str, Any], key: str) -> dt.datetime | None:
    """An aware timestamp the warehouse can hold, or None for an empty one."""
    value = record.get(key)
    if value is None or value == "":
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise FieldError(key, f"is not a timestamp ({kind(value)})") from None
    if parsed.tzinfo is None:
        raise FieldError(key, f"has no UTC offset ({kind(value)})")
    if not 1970 < parsed.year < 2106 and not EARLIEST <= parsed <= LATEST:
        raise FieldError(key, f"is outside what the warehouse holds, 1970 … 2106 UTC ({kind(value)})")
    return parsed


def required_moment(record: Mapping[str, Any], key: str) -> dt.datetime:
    value = moment(record, key)
    if value is None:
        raise FieldError(key, "is empty")
    return value


def amount(record: Mapping[str, Any], key: str) -> Decimal:
    """Exact kopecks from an int, a float or a numeric string; empty is zero."""
    value = record.get(key)
    if value is None or value == "":
        return ZERO
    try:
        return _kopecks(value)
    except (TypeError, ValueError, ArithmeticError):
        raise FieldError(key, f"is not an amount ({kind(value)})") from None


@functools.lru_cache(maxsize=4096, typed=True)
def _kopecks(value: int | float | str) -> Decimal:
    """Cached because a two-year history has millions of amounts but only a few thousand
    distinct prices (a Decimal is immutable; ``typed`` keeps ``1`` and ``1.0`` apart);
    an error is not cached, and there are few of them."""
    if isinstance(value, bool):
        raise TypeError("a flag is not an amount")
    kopecks = Decimal(str(value)).quantize(CENT)
    if not kopecks.is_finite() or abs(kopecks) >= AMOUNT_LIMIT:
        raise ValueError("not a storable amount")
    return kopecks


def whole(record: Mapping[str, Any], key: str) -> int:
    """An id: a whole number, or one written as a string of digits."""
    value = record.get(key)
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise FieldError(key, f"is not an id ({kind(value)})")


def optional_whole(record: Mapping[str, Any], key: str) -> int | None:
    """An id that may be empty."""
    value = record.get(key)
    return None if value is None or value == "" else whole(record, key)


def tickets(record: Mapping[str, Any], key: str) -> int:
    """A count of tickets: a whole number, at least one."""
    value = record.get(key)
    if type(value) is int and value >= 1:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) >= 1:
        return int(value)
    raise FieldError(key, f"is not a count of tickets, 1 or more ({kind(value)})")


def kind(value: Any) -> str:
    """What a value is, for an error: a short quote of a string or number, else its type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{value}, a flag"
    if isinstance(value, int | float | str):
        text = repr(value)
        quoted = text if len(text) <= _QUOTED else text[: _QUOTED - 1] + "…"
        return f"{quoted}, {'a string' if isinstance(value, str) else 'a number'}"
    return f"{'an' if type(value).__name__[0] in 'aeiou' else 'a'} {type(value).__name__}"
