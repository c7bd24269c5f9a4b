"""``Columns``: a batch of rows held column by column (column name → list of values).

It is the shape ``qtickets/`` flattens API answers into and ``warehouse/`` inserts
(clickhouse-connect's columnar insert takes exactly this), so no per-row dicts are kept.
It lives here, beside both rooms, because neither may import the other: the client knows
no ClickHouse and the warehouse no Qtickets. No other import: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

Columns = dict[str, list[Any]]


def empty_columns(names: Iterable[str]) -> Columns:
    return {name: [] for name in names}


def row_count(columns: Mapping[str, list[Any]]) -> int:
    return len(next(iter(columns.values()), []))


def rows_of(columns: Mapping[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """The batch row by row, for the few places that read rows rather than insert them."""
    names = list(columns)
    for values in zip(*columns.values(), strict=True):
        yield dict(zip(names, values, strict=True))
