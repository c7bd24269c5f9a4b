"""The local instance's event log: a batch of events in one transaction per SQLite file,
in Dagster's own layout, so a home configured with plain ``sqlite`` reads it unchanged;
only on the Dagster series its private internals were checked on."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import dagster
import pytest
from dagster import (
    AssetCheckResult,
    AssetKey,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    asset,
    asset_check,
    define_asset_job,
)
from dagster._check import CheckError
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import deserialize_value

from zakaz_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from zakaz_pipeline.runtime import event_log
from zakaz_pipeline.runtime.instance import EVENT_BATCH_SIZE, ensure_dagster_home, open_instance

DAYS = 40
FIRST = dt.date(2026, 1, 1)
partitions = DailyPartitionsDefinition(start_date=FIRST.isoformat())


@asset(partitions_def=partitions, backfill_policy=BackfillPolicy.single_run())
def daily_thing() -> MaterializeResult:
    return MaterializeResult()


@asset(partitions_def=partitions, backfill_policy=BackfillPolicy.single_run(), deps=[daily_thing])
def daily_other() -> MaterializeResult:
    return MaterializeResult()


@asset_check(asset=daily_thing)
def thing_is_fine() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


JOB = Definitions(
    assets=[daily_thing, daily_other], asset_checks=[thing_is_fine], jobs=[define_asset_job("both")]
).resolve_job_def("both")


@pytest.fixture
def zakaz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME as the zakaz CLI makes it (its instance.yaml, batch size, planned events)."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return ensure_dagster_home()


def _range(first: dt.date, last: dt.date) -> dict[str, str]:
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def _materialized(instance: DagsterInstance, key: str) -> set[str]:
    return set(instance.get_materialized_partitions(AssetKey(key)))


def test_a_run_over_many_days_is_stored_in_batches_and_read_by_plain_sqlite(
    zakaz_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage_class = event_log.BatchedSqliteEventLogStorage
    batches: list[int] = []
    current: list[int] = []  # the batch being stored, if any
    transactions: list[tuple[int, str]] = []
    real_store_batch, real_transaction = storage_class.store_event_batch, storage_class._transaction

    def store_event_batch(self, events):
        batches.append(len(events))
        current.append(len(batches))
        try:
            return real_store_batch(self, events)
        finally:
            current.pop()

    def transaction(self, shard):
        if current:
            transactions.append((current[-1], shard))
        return real_transaction(self, shard)

    monkeypatch.setattr(storage_class, "store_event_batch", store_event_batch)
    monkeypatch.setattr(storage_class, "_transaction", transaction)
    last = FIRST + dt.timedelta(days=DAYS - 1)
    with open_instance() as instance:
        assert isinstance(instance.event_log_storage, event_log.BatchedSqliteEventLogStorage)
        result = JOB.execute_in_process(instance=instance, tags=_range(FIRST, last))
        assert result.success
        run_id = result.run_id
        expected = {(FIRST + dt.timedelta(days=i)).isoformat() for i in range(DAYS)}
        assert _materialized(instance, "daily_thing") == expected
        events = instance.all_logs(run_id)

    # Every day's materialization of both assets went through batches, each batch
    # through one transaction per SQLite file (the run's and the index), not one per event.
    assert sum(batches) >= 2 * DAYS
    for batch in range(1, len(batches) + 1):
        in_batch = [shard for number, shard in transactions if number == batch]
        assert 1 <= len(in_batch) <= 2
        assert len(set(in_batch)) == len(in_batch)
    materializations = [e for e in events if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION]
    assert len(materializations) == 2 * DAYS

    plain = zakaz_home / "plain"
    plain.mkdir()
    (plain / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {zakaz_home}\n", encoding="utf-8")
    with DagsterInstance.from_config(str(plain)) as reader:
        assert type(reader.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert _materialized(reader, "daily_other") == expected
        assert len(reader.all_logs(run_id)) == len(events)
        assert reader.get_run_by_id(run_id).is_success


def test_a_failed_batch_leaves_nothing_half_written(zakaz_home: Path) -> None:
    """If storing a batch fails, its transaction is rolled back, so Dagster's fallback of
    storing the events one by one cannot double any of them."""
    with open_instance() as instance:
        result = JOB.execute_in_process(instance=instance, partition_key=FIRST.isoformat())
        events = [
            e
            for e in instance.all_logs(result.run_id)
            if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION
        ]
        storage = instance.event_log_storage
        before = len(instance.all_logs(result.run_id))
        with pytest.raises(CheckError):
            storage.store_event_batch([*events, "not an event"])
        assert len(instance.all_logs(result.run_id)) == before
        storage.store_event_batch(events)
        assert len(instance.all_logs(result.run_id)) == before + len(events)


def test_the_private_dagster_internals_it_uses_were_checked_on_this_dagster(zakaz_home: Path) -> None:
    """Fails on a Dagster upgrade: check the module against the new SqliteEventLogStorage
    (``_connect``, ``_initdb``, ``_initialized_dbs``, ``_db_lock``, ``conn_string_for_shard``,
    ``has_table``, ``_store_asset_check_evaluation_planned``, ``_has_asset_key_col_on_connection``), re-measure a two-year sync against Dagster's own storage, then move
    ``VERIFIED_DAGSTER``."""
    assert event_log.verified(), (
        f"Dagster {dagster.__version__} is not the {event_log.VERIFIED_DAGSTER} series "
        "zakaz_pipeline/runtime/event_log.py was verified on: local homes now use Dagster's own "
        "SQLite event log; re-check its private internals and re-measure (see this test's docstring)"
    )
    internals = ("_connect", "_initdb", "conn_string_for_shard", "has_table", "store_event", "store_event_batch",
                 "_store_asset_check_evaluation_planned", "_event_insert_timestamp", "index_connection",
                 "_has_asset_key_col_on_connection")  # fmt: skip
    for name in internals:
        assert callable(getattr(SqliteEventLogStorage, name, None)), f"SqliteEventLogStorage.{name} is gone"
    with open_instance() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, event_log.BatchedSqliteEventLogStorage)
        assert isinstance(storage._initialized_dbs, set)
        assert hasattr(storage._db_lock, "acquire")


def test_an_unverified_dagster_series_gets_dagsters_own_storage(
    zakaz_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(event_log, "VERIFIED_DAGSTER", "0.0")
    last = FIRST + dt.timedelta(days=2)
    with caplog.at_level(logging.WARNING, logger=event_log.__name__), open_instance() as instance:
        assert type(instance.event_log_storage) is SqliteEventLogStorage
        result = JOB.execute_in_process(instance=instance, tags=_range(FIRST, last))
        assert result.success
        assert _materialized(instance, "daily_other") == {(FIRST + dt.timedelta(days=i)).isoformat() for i in range(3)}
    assert any("not the 0.0 series" in record.getMessage() for record in caplog.records)


def _planned_check_rows(instance: DagsterInstance, run_id: str) -> list[tuple]:
    """The run's check rows: asset, check, day, status and the kind of event each holds."""
    query = AssetCheckExecutionsTable.select().where(AssetCheckExecutionsTable.c.run_id == run_id)
    with instance.event_log_storage.index_connection() as conn:
        rows = conn.execute(query).fetchall()
    return sorted(
        (row.asset_key, row.check_name, row.partition or "", row.execution_status,
         deserialize_value(row.evaluation_event).dagster_event_type)
        for row in rows
    )  # fmt: skip


def _range_keys() -> list[str]:
    return [(FIRST + dt.timedelta(days=i)).isoformat() for i in range(DAYS)]


def test_a_check_planned_over_many_days_is_stored_as_dagster_stores_it(zakaz_home: Path) -> None:
    """One planned row per day of the range for the daily asset's check (and its result), as
    Dagster's own storage writes them: the planned event is serialized once here, not once a day."""
    last = FIRST + dt.timedelta(days=DAYS - 1)
    with open_instance() as instance:
        run_id = JOB.execute_in_process(instance=instance, tags=_range(FIRST, last)).run_id
        ours = _planned_check_rows(instance, run_id)
    plain = zakaz_home / "plain"
    plain.mkdir()
    (plain / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {plain / 'data'}\n", encoding="utf-8")
    with DagsterInstance.from_config(str(plain)) as reference:
        assert type(reference.event_log_storage).__name__ == "SqliteEventLogStorage"
        theirs = _planned_check_rows(
            reference, JOB.execute_in_process(instance=reference, tags=_range(FIRST, last)).run_id
        )
    planned = [row for row in ours if row[3] == "PLANNED"]
    assert len(planned) == DAYS and {row[2] for row in planned} == set(_range_keys())
    assert ours == theirs
