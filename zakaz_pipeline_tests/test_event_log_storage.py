"""The local instance's event log: a batch of events in one transaction per SQLite file,
in Dagster's own layout, so a home configured with plain ``sqlite`` reads it unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    asset,
    define_asset_job,
)
from dagster._check import CheckError

from zakaz_pipeline import event_log_storage
from zakaz_pipeline.cli.instance import EVENT_BATCH_SIZE, ensure_dagster_home, open_instance

DAYS = 40
FIRST = dt.date(2026, 1, 1)
partitions = DailyPartitionsDefinition(start_date=FIRST.isoformat())


@asset(partitions_def=partitions, backfill_policy=BackfillPolicy.single_run())
def daily_thing() -> MaterializeResult:
    return MaterializeResult()


@asset(partitions_def=partitions, backfill_policy=BackfillPolicy.single_run(), deps=[daily_thing])
def daily_other() -> MaterializeResult:
    return MaterializeResult()


JOB = Definitions(assets=[daily_thing, daily_other], jobs=[define_asset_job("both")]).resolve_job_def("both")


@pytest.fixture
def zakaz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME as the zakaz CLI makes it (its instance.yaml, batch size, planned events)."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return ensure_dagster_home()


def _range(first: dt.date, last: dt.date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def _materialized(instance: DagsterInstance, key: str) -> set[str]:
    return set(instance.get_materialized_partitions(AssetKey(key)))


def test_a_run_over_many_days_is_stored_in_batches_and_read_by_plain_sqlite(
    zakaz_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage_class = event_log_storage.BatchedSqliteEventLogStorage
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
        assert isinstance(instance.event_log_storage, event_log_storage.BatchedSqliteEventLogStorage)
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
