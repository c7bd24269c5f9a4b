"""Batches as Arrow tables, typed from the target's ClickHouse columns.

clickhouse-connect's columnar insert converts every value in Python (and imports pandas,
~0.5 s, to ask whether the data is a DataFrame); ``pyarrow`` (already loaded by chDB)
converts a whole column in C++ and ClickHouse reads the Arrow stream natively, on chDB
and over HTTP alike. Each column gets the Arrow type of its ClickHouse type, so a value
of the wrong type fails the insert here instead of being coerced.

``pa.array`` asks whether pandas is installed, to learn whether a list might be a pandas
object; on the first call it imports pandas to find out (0.4–0.6 s and ~40 MB of every
process that writes, a tick included). Nothing here hands pyarrow a pandas object, so
the module answers that question once, with pandas hidden: pyarrow then treats every
batch as the plain sequence it is, and still imports pandas for real if anything in the
process later asks pyarrow for pandas (``to_pandas``), because that path retries the import.
"""

from __future__ import annotations

import importlib.abc
import re
import sys
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import pyarrow as pa

from zakaz_pipeline.columns import Columns

_WRAPPERS = re.compile(r"^(Nullable|LowCardinality)\((.*)\)$")
_DECIMAL = re.compile(r"^Decimal\((\d+),\s*(\d+)\)$")
_DATETIME64 = re.compile(r"^DateTime64\((\d)(?:,\s*'([^']+)')?\)$")
_DATETIME = re.compile(r"^DateTime(?:\('([^']+)'\))?$")
_ARRAY = re.compile(r"^Array\((.*)\)$")
_PLAIN = {
    "String": pa.string(),
    "Bool": pa.bool_(),
    "Date": pa.date32(),
    "Float64": pa.float64(),
    **{f"UInt{bits}": getattr(pa, f"uint{bits}")() for bits in (8, 16, 32, 64)},
    **{f"Int{bits}": getattr(pa, f"int{bits}")() for bits in (8, 16, 32, 64)},
}
_UNITS = {0: "s", 3: "ms", 6: "us", 9: "ns"}


class _HiddenPandas(importlib.abc.MetaPathFinder):
    """Makes ``import pandas`` fail, for as long as it sits on ``sys.meta_path``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "pandas":
            raise ImportError("pandas is hidden while pyarrow probes for it")
        return None


def _answer_pyarrow_pandas_probe() -> None:
    """pyarrow's probe runs once a process; if pandas is already loaded there is no import left to save."""
    if "pandas" in sys.modules:
        return
    hidden = _HiddenPandas()
    sys.meta_path.insert(0, hidden)
    try:
        pa.array([0], type=pa.int8())
    finally:
        sys.meta_path.remove(hidden)


_answer_pyarrow_pandas_probe()


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type ClickHouse reads into a column of type ``kind`` (nullability is the
    Arrow field's; LowCardinality is storage only)."""
    if wrapped := _WRAPPERS.match(kind):
        return arrow_type(wrapped.group(2))
    if kind in _PLAIN:
        return _PLAIN[kind]
    if decimal := _DECIMAL.match(kind):
        return pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    if moment := _DATETIME64.match(kind):
        precision = int(moment.group(1))
        if precision not in _UNITS:
            raise ValueError(f"no Arrow unit for {kind}")
        return pa.timestamp(_UNITS[precision], tz=moment.group(2) or "UTC")
    if moment := _DATETIME.match(kind):
        return pa.timestamp("s", tz=moment.group(1) or "UTC")
    if array := _ARRAY.match(kind):
        return pa.list_(arrow_type(array.group(1)))
    raise ValueError(f"no Arrow type for the ClickHouse type {kind}")


def arrow_table(batch: Columns, types: Mapping[str, str]) -> pa.Table:
    """``batch`` as an Arrow table whose columns have the types of ``types`` (name → ClickHouse type)."""
    unknown = [name for name in batch if name not in types]
    if unknown:
        raise ValueError(f"columns not in the table: {', '.join(unknown)}")
    return pa.table({name: pa.array(values, type=arrow_type(types[name])) for name, values in batch.items()})


def contract_types(tables: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Every ClickHouse type a table of ``tables`` uses, with the Arrow type it is sent as
    (raises on one that has none): a new column type cannot reach an insert unmapped."""
    kinds = {kind for columns in tables.values() for kind in columns.values()}
    return {kind: str(arrow_type(kind)) for kind in sorted(kinds)}
