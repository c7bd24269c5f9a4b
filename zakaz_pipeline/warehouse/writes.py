"""Atomic writes of a slice of a table: stage, check, then swap partitions.

A slice is what one asset materialization owns: all rows of one ``org`` and, for
daily-partitioned assets, the sales days of the run — widened to whole months when the
table's partitions are months (``Slice.whole_months``). New rows go to a staging table
with the target's structure; only when every row is staged does one ``ALTER TABLE``
replace each staged partition (``REPLACE PARTITION ID … FROM stage``) and drop the
slice's partitions that no longer have rows. ClickHouse swaps each partition atomically,
so a reader sees a day either as it was or as it is now, and a run that fails before the
swap leaves the table untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from zakaz_pipeline.columns import Columns, row_count
from zakaz_pipeline.warehouse.arrow import arrow_table
from zakaz_pipeline.warehouse.connection import IDENTIFIER

log = logging.getLogger(__name__)

ALTER_ACTIONS_PER_STATEMENT = 200
# Rows of one INSERT. Batches arrive small (a few pages) and are held as Arrow tables
# (~150 bytes a ticket) until this many: each INSERT makes one part per day it touches,
# and every part costs each later engine start and query over the history.
ROWS_PER_INSERT = 30_000
NO_PARTITION_LIMIT = {"max_partitions_per_insert_block": 0}
SWAP_REPAIRS = 5


@dataclass(frozen=True)
class Batches:
    """Rows produced lazily, batch by batch, when the writer iterates.

    A plain iterable rather than a generator: Dagster iterates a generator returned by
    an asset as a stream of events, while this reaches the IO manager untouched.
    """

    produce: Callable[[], Iterator[Columns]]

    def __iter__(self) -> Iterator[Columns]:
        return self.produce()


@dataclass(frozen=True)
class SelectInto:
    """Rows computed inside ClickHouse: ``INSERT INTO <stage> (columns) <sql>``.

    ``sql`` may use ``%(name)s`` parameters; the slice's own bounds (``org``, and
    ``start``/``end`` dates for daily slices) are always supplied.
    """

    sql: str
    columns: tuple[str, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Slice:
    """The rows of ``table`` a write replaces: one org, optionally ``[start, end)`` days."""

    table: str
    org: str
    day_column: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self) -> None:
        for name in (self.table, self.day_column or "org"):
            if not IDENTIFIER.match(name):
                raise ValueError(f"not a plain identifier: {name!r}")
        if (self.day_column is None) != (self.start is None) or (self.start is None) != (self.end is None):
            raise ValueError("a daily slice needs day_column, start and end together")

    @property
    def predicate(self) -> str:
        if self.day_column is None:
            return "org = %(org)s"
        return f"org = %(org)s AND {self.day_column} >= %(start)s AND {self.day_column} < %(end)s"

    @property
    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"org": self.org}
        if self.day_column is not None:
            params.update(start=self.start, end=self.end)
        return params

    def describe(self) -> str:
        days = f" days [{self.start}, {self.end})" if self.day_column else ""
        return f"{self.table} org={self.org!r}{days}"

    def whole_months(self) -> Slice:
        """The slice widened to the months it touches, for a table partitioned by month:
        a partition is swapped whole, so a write must own every day of it."""
        if self.start is None or self.end is None:
            raise ValueError(f"{self.describe()} has no days to widen to months")
        start, end = whole_months(self.start, self.end)
        return replace(self, start=start, end=end)


def whole_months(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The days ``[start, end)`` widened to the months they touch."""
    last = end - dt.timedelta(days=1)
    return start.replace(day=1), (last.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


class ConcurrentWriteError(RuntimeError):
    """Concurrent writers kept doubling the same partitions; the step's retry settles it."""


class SliceOutOfBounds(RuntimeError):
    """Staged rows fall outside the slice; swapping would overwrite data not owned by this write."""


def replace_slice(client: Client, target: Slice, source: Iterable[Columns] | SelectInto) -> int:
    """Replace ``target``'s rows with ``source``; return the number of rows written."""
    stage = f"_stage_{target.table}_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE {stage} AS {target.table}")
    try:
        rows = _fill(client, stage, target, source)
        _check_bounds(client, stage, target)
        _swap(client, stage, target)
        log.info("replaced %s with %d rows", target.describe(), rows)
        return rows
    finally:
        _drop_stage(client, stage)


def _drop_stage(client: Client, stage: str) -> None:
    """Best effort: when the warehouse is gone the write's own error is the one to report;
    a staging table left behind is dropped by a later run (``schema.STALE_STAGING_HOURS``).

    ``SYNC``: an Atomic database otherwise keeps a dropped table's parts for 8 minutes,
    and every engine start in between loads them again (a 1× history's stage: 1,678 parts,
    0.9 s of each following tick on the embedded engine)."""
    try:
        client.command(f"DROP TABLE IF EXISTS {stage} SYNC")
    except ClickHouseError as exc:
        log.warning("could not drop staging table %s (%s); a later run drops it", stage, type(exc).__name__)


def append_rows(client: Client, table: str, source: Iterable[Columns]) -> int:
    """Insert batches as they are (append-only tables)."""
    return _insert_all(client, table, source)


def _fill(client: Client, stage: str, target: Slice, source: Iterable[Columns] | SelectInto) -> int:
    if isinstance(source, SelectInto):
        columns = ", ".join(source.columns)
        client.command(
            f"INSERT INTO {stage} ({columns}) {source.sql}",
            parameters={**target.parameters, **source.parameters},
            settings=NO_PARTITION_LIMIT,
        )
        return int(client.query(f"SELECT count() FROM {stage}").result_rows[0][0])
    return _insert_all(client, stage, source)


def column_types(client: Client, table: str) -> dict[str, str]:
    """Column name → ClickHouse type, as the table really is."""
    rows = client.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = %(t)s",
        parameters={"t": table},
    ).result_rows
    return {str(name): str(kind) for name, kind in rows}


def _insert_all(client: Client, table: str, source: Iterable[Columns]) -> int:
    """Each batch becomes an Arrow table as it arrives (its Python values are freed), and
    up to ``ROWS_PER_INSERT`` rows of them go in one INSERT."""
    types = column_types(client, table)
    pending: list[pa.Table] = []
    held = written = 0
    batches = iter(source)
    try:
        for batch in batches:
            if not row_count(batch):
                continue
            pending.append(arrow_table(batch, types))
            held += pending[-1].num_rows
            if held >= ROWS_PER_INSERT:
                written += _insert(client, table, pending)
                pending, held = [], 0
    finally:
        _close(batches)
    return written + _insert(client, table, pending)


def _close(batches: Iterator[Columns]) -> None:
    """A generator of batches (``Batches``) is closed, not left to an error's traceback:
    its own ``finally`` (the API scans it reads) runs now, whatever stopped the insert."""
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def _insert(client: Client, table: str, parts: list[pa.Table]) -> int:
    if not parts:
        return 0
    data = pa.concat_tables(parts)
    client.insert_arrow(table, data, settings=NO_PARTITION_LIMIT)
    return data.num_rows


def _check_bounds(client: Client, stage: str, target: Slice) -> None:
    outside = client.query(
        f"SELECT count() FROM {stage} WHERE NOT ({target.predicate})", parameters=target.parameters
    ).result_rows[0][0]
    if outside:
        raise SliceOutOfBounds(f"{outside} staged rows fall outside {target.describe()}; nothing was written")
    shared = client.query(
        f"SELECT count() FROM {target.table} WHERE _partition_id IN (SELECT DISTINCT _partition_id FROM {stage}) "
        f"AND NOT ({target.predicate})",
        parameters=target.parameters,
    ).result_rows[0][0]
    if shared:
        raise SliceOutOfBounds(
            f"{target.table} is partitioned more coarsely than {target.describe()}: "
            f"{shared} rows outside the slice share its partitions; nothing was written"
        )


def _swap(client: Client, stage: str, target: Slice) -> None:
    staged = _partition_ids(client, f"SELECT DISTINCT _partition_id FROM {stage}", {})
    current = _partition_ids(
        client, f"SELECT DISTINCT _partition_id FROM {target.table} WHERE {target.predicate}", target.parameters
    )
    _alter(client, target.table, [f"REPLACE PARTITION ID '{pid}' FROM {stage}" for pid in staged])
    _alter(client, target.table, [f"DROP PARTITION ID '{pid}'" for pid in sorted(set(current) - set(staged))])
    _repair_doubled(client, stage, target.table, staged)


def _alter(client: Client, table: str, actions: list[str]) -> None:
    for i in range(0, len(actions), ALTER_ACTIONS_PER_STATEMENT):
        client.command(f"ALTER TABLE {table} " + ", ".join(actions[i : i + ALTER_ACTIONS_PER_STATEMENT]))


def _repair_doubled(client: Client, stage: str, table: str, partitions: list[str]) -> None:
    """Two writers replacing the same partition at the same moment can both keep their
    parts: a MergeTree REPLACE drops the blocks numbered below the one it allocated before
    copying, so a replace that commits in between survives the other (seen with three
    concurrent runs). A replace issued now allocates the highest block number and so
    drops both; the partition then holds exactly one writer's rows. Detection relies on
    every replaced table's sorting key being its row key (one row per key). Only
    partitions whose row count differs from the staged one are examined key by key: a
    doubled partition always does, and counts come from part metadata, whereas the exact
    key check over a whole history holds every key in memory (~130 MB for 2.57 M tickets)."""
    key = client.query(
        "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = %(t)s",
        parameters={"t": table},
    ).result_rows[0][0]
    for _ in range(SWAP_REPAIRS):
        suspects = _count_differs(client, stage, table, partitions)
        doubled = _partition_ids(
            client,
            f"SELECT _partition_id FROM {table} WHERE _partition_id IN %(ids)s "
            f"GROUP BY _partition_id HAVING count() != uniqExact({key})",
            {"ids": suspects},
        ) if suspects else []  # fmt: skip
        if not doubled:
            return
        log.warning("%s: %d partitions doubled by a concurrent replace; replacing them again", table, len(doubled))
        _alter(client, table, [f"REPLACE PARTITION ID '{pid}' FROM {stage}" for pid in doubled])
    raise ConcurrentWriteError(
        f"{table}: {len(doubled)} partitions stayed doubled after {SWAP_REPAIRS} replaces by concurrent writers; "
        "the blocking duplicate checks keep them from the facts and the next run replaces them"
    )


def _count_differs(client: Client, stage: str, table: str, partitions: list[str]) -> list[str]:
    """Partitions of ``table`` whose row count (of its active parts) is not the staged one:
    another writer's rows are there too, or instead."""
    if not partitions:
        return []
    counts = (
        "SELECT partition_id, sum(rows) AS rows FROM system.parts WHERE database = currentDatabase() "
        "AND table = %({})s AND active AND partition_id IN %(ids)s GROUP BY partition_id"
    )
    return _partition_ids(
        client,
        f"SELECT t.partition_id FROM ({counts.format('table')}) AS t "
        f"LEFT JOIN ({counts.format('stage')}) AS s USING (partition_id) WHERE t.rows != s.rows",
        {"ids": partitions, "table": table, "stage": stage},
    )


def _partition_ids(client: Client, sql: str, parameters: dict[str, Any]) -> list[str]:
    ids = sorted(row[0] for row in client.query(sql, parameters=parameters).result_rows)
    for pid in ids:
        if not pid.replace("_", "").replace("-", "").isalnum():
            raise RuntimeError(f"unexpected partition id {pid!r}")
    return ids


def count_rows(client: Client, target: Slice) -> int:
    return int(
        client.query(
            f"SELECT count() FROM {target.table} WHERE {target.predicate}", parameters=target.parameters
        ).result_rows[0][0]
    )


def rows_per_day(client: Client, target: Slice) -> dict[dt.date, int]:
    """Rows of each day of a daily slice as the table now holds them (one GROUP BY)."""
    if target.day_column is None:
        raise ValueError(f"{target.describe()} has no days to count")
    result = client.query(
        f"SELECT {target.day_column}, count() FROM {target.table} WHERE {target.predicate} GROUP BY {target.day_column}",
        parameters=target.parameters,
    )
    return {day: int(rows) for day, rows in result.result_rows}


def read_slice(client: Client, target: Slice) -> dict[str, list[Any]]:
    """The slice's rows, column by column (what a downstream Python asset loads)."""
    result = client.query(f"SELECT * FROM {target.table} WHERE {target.predicate}", parameters=target.parameters)
    return {name: list(column) for name, column in zip(result.column_names, result.result_columns, strict=True)}
