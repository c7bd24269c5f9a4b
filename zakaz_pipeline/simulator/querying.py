"""The API's ``where`` / ``orderBy`` / paging, evaluated over API-shaped dicts.

Semantics follow the SQL the real API runs (Laravel query builder): a condition on a
NULL column matches only ``null``; ``payed = 1`` matches ``true``; datetimes compare as
instants whatever offset the value carries. Lists are scanned in id order, and since a
client pages a large account with ``id > last_id`` keyset queries, id bounds are cut
with ``bisect`` and the other conditions' matches are cached per account revision, so a
page costs O(log n + page) rather than a scan of every order.
"""

from __future__ import annotations

import bisect
import datetime as dt
import operator
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from zakaz_pipeline.simulator.rendering import MOSCOW, MSK_OFFSET

OPERATORS = ("=", "!=", "<", ">", "<=", ">=", "in", "not in", "null", "not null")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_ID_BOUNDS = ("=", ">", ">=", "<", "<=")
_TRUE = ("1", "true")
_FALSE = ("0", "false")


class QueryError(ValueError):
    """A request the real API would answer with 400."""


@dataclass(frozen=True)
class Condition:
    column: str
    operator: str
    value: Any


def is_datetime_column(column: str) -> bool:
    return column.endswith(("_at", "_date")) or column == "reserved_to"


def canonical_ts(value: Any) -> str:
    """A datetime value as the account stores it (Moscow offset), so that plain string
    comparison orders instants; fractions of a second are kept and still sort right."""
    if not isinstance(value, str):
        raise QueryError(f"not a datetime: {value!r}")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise QueryError(f"not a datetime: {value!r}") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=MOSCOW)
    return moment.astimezone(MSK_OFFSET).isoformat()


def parse_conditions(raw: Any, columns: Iterable[str]) -> list[Condition]:
    """Validate ``where``: a list of {column, operator?, value?} (a lone object is accepted)."""
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        raise QueryError("where must be a list of conditions")
    known = set(columns)
    conditions = []
    for item in raw:
        if not isinstance(item, Mapping) or "column" not in item:
            raise QueryError(f"bad condition: {item!r}")
        column, op = item["column"], str(item.get("operator", "=")).lower()
        if column not in known:
            raise QueryError(f"unknown column: {column!r}")
        if op not in OPERATORS:
            raise QueryError(f"unknown operator: {op!r}")
        if op not in ("null", "not null") and "value" not in item:
            raise QueryError(f"condition on {column!r} has no value")
        conditions.append(Condition(column, op, item.get("value")))
    return conditions


def parse_order_by(raw: Any, columns: Iterable[str]) -> list[tuple[str, bool]]:
    """Validate ``orderBy`` ({column: "asc"|"desc"}, in priority order) -> (column, descending)."""
    if raw in (None, {}, []):
        return [("id", False)]
    if not isinstance(raw, Mapping):
        raise QueryError('orderBy must be an object such as {"id": "asc"}')
    known = set(columns)
    result = []
    for column, raw_direction in raw.items():
        if column not in known:
            raise QueryError(f"unknown column in orderBy: {column!r}")
        direction = str(raw_direction).lower()
        if direction not in ("asc", "desc"):
            raise QueryError(f"orderBy direction must be asc or desc, not {direction!r}")
        result.append((column, direction == "desc"))
    return result


@dataclass(frozen=True)
class _Operand:
    """A condition value pre-coerced for each JSON type a column may hold."""

    text: str | None
    number: float | None
    flag: bool | None

    @classmethod
    def of(cls, value: Any, datetime_column: bool) -> _Operand:
        if datetime_column:
            return cls(canonical_ts(value), None, None)
        if isinstance(value, bool):
            return cls("1" if value else "0", float(value), value)
        if isinstance(value, (int, float)):
            return cls(_plain(value), float(value), bool(value) if value in (0, 1) else None)
        text = str(value)
        flag = True if text.lower() in _TRUE else False if text.lower() in _FALSE else None
        try:
            number: float | None = float(text)
        except ValueError:
            number = None
        return cls(text, number, flag)

    def against(self, item_value: Any) -> Any:
        """The operand in the item value's own type; None when they cannot compare."""
        if isinstance(item_value, bool):
            return self.flag
        if isinstance(item_value, (int, float)):
            return self.number
        if isinstance(item_value, str):
            return self.text
        return None


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def compile_condition(condition: Condition) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for one condition, with its value coerced once rather than per item."""
    column, op = condition.column, condition.operator
    if op == "null":
        return lambda item: item.get(column) is None
    if op == "not null":
        return lambda item: item.get(column) is not None
    datetime_column = is_datetime_column(column)
    if op in ("in", "not in"):
        values = condition.value if isinstance(condition.value, list) else [condition.value]
        operands = [_Operand.of(v, datetime_column) for v in values if v is not None]
        wanted = op == "in"

        def member(item: Mapping[str, Any]) -> bool:
            value = item.get(column)
            if value is None:
                return False
            found = any(operand.against(value) == value for operand in operands)
            return found == wanted

        return member
    if condition.value is None:
        # SQL: comparing with NULL matches nothing, except Laravel's "= null" / "!= null".
        return (
            compile_condition(Condition(column, "null" if op == "=" else "not null", None))
            if op in ("=", "!=")
            else (lambda item: False)
        )
    operand = _Operand.of(condition.value, datetime_column)
    compare = _COMPARE[op]

    def check(item: Mapping[str, Any]) -> bool:
        value = item.get(column)
        if value is None:
            return False
        target = operand.against(value)
        if target is None:
            return op == "!="
        return compare(value, target)

    return check


def _sort_key(column: str) -> Callable[[Mapping[str, Any]], tuple]:
    # NULLs first ascending (last descending), as in MySQL; mixed types sort by type name.
    def key(item: Mapping[str, Any]) -> tuple:
        value = item.get(column)
        if value is None:
            return (0, "", 0)
        if isinstance(value, (int, float)):
            return (1, "number", value)
        return (1, type(value).__name__, str(value))

    return key


class Collection:
    """Filters, orders and pages one resource (orders or events) of an account.

    ``items`` must be sorted by ``id``. Results are cached under the account revision,
    which changes on every mutation, so a cached answer can never be stale.
    """

    def __init__(self, columns: Iterable[str], *, cache_size: int = 64) -> None:
        self.columns = frozenset(columns)
        self._cache: OrderedDict[tuple, tuple[list[dict], list[int]]] = OrderedDict()
        self._cache_size = cache_size

    def select(
        self,
        items: Sequence[dict],
        *,
        revision: int,
        conditions: list[Condition],
        order_by: list[tuple[str, bool]],
        page: int,
        per_page: int,
    ) -> tuple[list[dict], int]:
        """One page of matches and the number of all matches."""
        bounds = [c for c in conditions if c.column == "id" and c.operator in _ID_BOUNDS]
        others = [c for c in conditions if c not in bounds]
        matched, ids = self._filtered(items, revision, others)
        low, high = _id_range(ids, bounds)
        start = (page - 1) * per_page
        if order_by == [("id", False)]:
            return matched[low + start : min(high, low + start + per_page)], high - low
        if order_by == [("id", True)]:
            top = high - start
            return matched[max(low, top - per_page) : max(top, low)][::-1], high - low
        ordered = self._ordered(items, matched[low:high], revision=revision, conditions=conditions, order_by=order_by)
        return ordered[start : start + per_page], len(ordered)

    def _filtered(
        self, items: Sequence[dict], revision: int, conditions: list[Condition]
    ) -> tuple[list[dict], list[int]]:
        key = ("filter", id(items), revision, _fingerprint(conditions))
        if key not in self._cache:
            predicates = [compile_condition(c) for c in conditions]
            matched = [item for item in items if all(p(item) for p in predicates)] if predicates else list(items)
            self._remember(key, (matched, [item["id"] for item in matched]))
        self._cache.move_to_end(key)
        return self._cache[key]

    def _ordered(
        self,
        items: Sequence[dict],
        rows: list[dict],
        *,
        revision: int,
        conditions: list[Condition],
        order_by: list[tuple[str, bool]],
    ) -> list[dict]:
        key = ("order", id(items), revision, _fingerprint(conditions), tuple(order_by))
        if key not in self._cache:
            for column, descending in reversed(order_by):
                rows.sort(key=_sort_key(column), reverse=descending)
            self._remember(key, (rows, []))
        self._cache.move_to_end(key)
        return self._cache[key][0]

    def _remember(self, key: tuple, value: tuple[list[dict], list[int]]) -> None:
        self._cache[key] = value
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _fingerprint(conditions: list[Condition]) -> bytes:
    return orjson.dumps([[c.column, c.operator, c.value] for c in conditions], option=orjson.OPT_SORT_KEYS)


def _id_range(ids: list[int], bounds: list[Condition]) -> tuple[int, int]:
    """The slice of ``ids`` (sorted) that satisfies every id bound."""
    low, high = 0, len(ids)
    for bound in bounds:
        try:
            value = int(bound.value)
        except (TypeError, ValueError) as error:
            raise QueryError(f"id must be an integer, not {bound.value!r}") from error
        if bound.operator in ("=", ">="):
            low = max(low, bisect.bisect_left(ids, value))
        if bound.operator == ">":
            low = max(low, bisect.bisect_right(ids, value))
        if bound.operator in ("=", "<="):
            high = min(high, bisect.bisect_right(ids, value))
        if bound.operator == "<":
            high = min(high, bisect.bisect_left(ids, value))
    return low, max(low, high)
