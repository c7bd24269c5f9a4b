"""A Dagster IO manager that persists each asset as a slice of its ClickHouse table.

An asset returns one of:
- ``Columns`` or an iterable of ``Columns`` (column name → values): rows built in
  Python, streamed batch by batch into staging, so a whole history never sits in memory;
- ``SelectInto``: rows computed inside ClickHouse (facts), never leaving the server;
- ``None``: the asset wrote nothing through the IO manager (e.g. a view).

The table is the asset key's last part. Asset metadata says how to write:
``partition_expr`` names the Date column of daily-partitioned assets (the run's partition
time window becomes the slice's days); ``table_partition`` is ``"day"`` (default) or
``"month"`` when the ClickHouse table is partitioned by the month of that column (fewer
parts for queries over the whole history): a write then replaces the whole months its
days fall in, and the asset's ``SelectInto`` recomputes them all (reads still take just
the run's days); ``write_mode`` is ``"replace"`` (default: atomic slice replace, see
``writes``) or ``"append"`` (snapshots).

Materializations carry Dagster's ``dagster/row_count``. A run over many days records one
materialization per day, and each gets that day's own count (read after the swap, one
GROUP BY), not the run's total repeated on every day.
"""

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError
from dagster import ConfigurableIOManager, Failure, InputContext, OutputContext, ResourceDependency

from zakaz_pipeline.columns import Columns
from zakaz_pipeline.errors import first_line
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline.warehouse.writes import (
    SelectInto,
    Slice,
    append_rows,
    count_rows,
    read_slice,
    replace_slice,
    rows_per_day,
)

ROW_COUNT = "dagster/row_count"


class ClickHouseIOManager(ConfigurableIOManager):
    """Writes belong to one ``org`` so several Qtickets accounts can share a warehouse."""

    warehouse: ResourceDependency[ClickHouseResource]
    org: str

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        table = context.asset_key.path[-1]
        metadata = context.definition_metadata or {}
        source = _as_source(obj)
        if metadata.get("write_mode") == "append":
            if isinstance(source, SelectInto):
                raise TypeError(f"{table}: append takes rows, not a SelectInto")
            with self._writing(table), self.warehouse.get_client() as client:
                rows = append_rows(client, table, source)
                total = count_rows(client, Slice(table, self.org))
            context.add_output_metadata({"rows_appended": rows, ROW_COUNT: total})
            return
        days = self._slice(table, metadata, context)
        target = _widened(days, metadata)
        with self._writing(target.describe()), self.warehouse.get_client() as client:
            rows = replace_slice(client, target, source)
            per_day = rows_per_day(client, days) if days.day_column else None
        if per_day is None:
            context.add_output_metadata({"rows_written": rows, ROW_COUNT: rows})
            return
        for key in context.asset_partition_keys:
            _add_partition_metadata(context, key, {ROW_COUNT: per_day.get(dt.date.fromisoformat(key), 0)})

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """A warehouse that fails mid-write (server stopped, disk full, path unwritable) fails
        the step with what happened and what it means; the slice swap is atomic per day, so
        the table keeps its previous rows for every day not yet swapped."""
        try:
            yield
        except ClickHouseError as exc:
            raise Failure(
                f"writing {what} to {self.warehouse.target.describe()} failed: "
                f"{type(exc).__name__}: {first_line(str(exc))}. "
                "Days not yet swapped keep their previous rows; the next run rewrites them."
            ) from None

    def load_input(self, context: InputContext) -> dict[str, list[Any]]:
        upstream = context.upstream_output
        table = context.asset_key.path[-1]
        metadata = (upstream.definition_metadata if upstream else None) or {}
        with self.warehouse.get_client() as client:
            return read_slice(client, self._slice(table, metadata, context))

    def _slice(self, table: str, metadata: Mapping[str, Any], context: OutputContext | InputContext) -> Slice:
        day_column = metadata.get("partition_expr")
        if not day_column:
            return Slice(table, self.org)
        if not context.has_asset_partitions:
            raise ValueError(f"{table} is written by day ({day_column}) but the run has no partition")
        window = context.asset_partitions_time_window
        return Slice(table, self.org, str(day_column), _day(window.start), _day(window.end))


def _add_partition_metadata(context: OutputContext, partition_key: str, metadata: Mapping[str, Any]) -> None:
    """Metadata of one partition's materialization only: what ``AssetExecutionContext.add_asset_metadata``
    (``partition_key=``) does from an asset's body, done from the IO manager, which alone knows the counts."""
    context.step_context.add_asset_metadata(metadata, asset_key=context.asset_key, partition_key=partition_key)


def _widened(target: Slice, metadata: Mapping[str, Any]) -> Slice:
    """The slice a write must replace: a table's partitions are swapped whole."""
    grain = metadata.get("table_partition", "day")
    if grain == "month":
        return target.whole_months()
    if grain != "day":
        raise ValueError(f"{target.table}: table_partition must be 'day' or 'month', not {grain!r}")
    return target


def _day(moment: dt.datetime) -> dt.date:
    """Partition bounds are midnights in the partitions' time zone: their date is the day."""
    return moment.date()


def _as_source(obj: Any) -> Iterable[Columns] | SelectInto:
    if isinstance(obj, SelectInto):
        return obj
    if isinstance(obj, Mapping):
        return [dict(obj)]
    if isinstance(obj, Iterable):
        return obj
    raise TypeError(
        f"the ClickHouse IO manager stores Columns, an iterable of Columns or SelectInto, not {type(obj).__name__}"
    )
