"""Faults in the warehouse and bad input: a run ends exactly right or fails cleanly."""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from dagster import DagsterInstance

from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.harness import ORG, TZ, attempt, failure_messages, history, run, run_checks
from zakaz_pipeline_tests.outages import OutageWarehouse, outage_after, statements_refused, statements_spent
from zakaz_pipeline_tests.proof import prove
from zakaz_pipeline_tests.reconcile import differences

FULL = os.environ.get("ZAKAZ_RELIABILITY_FULL") == "1"
FULL_TIMEOUT = pytest.mark.timeout(1800 if FULL else 300)  # the full set runs for minutes
PROOF_SAMPLE = [4, 9]  # a warehouse cut, every retried kind (invalid JSON and drift: test_faults, test_cli)
DAILY_TABLES = ("stg_qtickets_api_orders_raw", "fact_qtickets_sales_daily")
DayDigests = dict[tuple[str, dt.date], tuple[int, int]]


@pytest.fixture
def account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=23, orders=500, events=6, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)


@pytest.fixture
def server(account: SimulatedAccount) -> Iterator[SimulatorServer]:
    with SimulatorServer(account, token=TOKEN) as running:
        yield running


def day_digests(warehouse: ClickHouseResource) -> DayDigests:
    """(table, day) → (rows, hash of every row but its load time): equal digests, equal days."""
    digests: DayDigests = {}
    with warehouse.get_client() as client:
        for table in DAILY_TABLES:
            rows = client.query(
                f"SELECT sales_date, count(), sum(sipHash64(*)) FROM (SELECT * EXCEPT loaded_at FROM {table} "
                "WHERE org = %(org)s) GROUP BY sales_date",
                parameters={"org": ORG},
            ).result_rows
            digests.update({(table, day): (count, digest) for day, count, digest in rows})
    return digests


def refund_and_cancel(account: SimulatedAccount, rng: random.Random, changes: int) -> None:
    """Late changes to tickets sold on random past days."""
    live = [
        (order["id"], basket["id"])
        for order in account.orders
        if order["payed"] and order["deleted_at"] is None
        for basket in order["baskets"]
        if basket["deleted_at"] is None and basket["refunded_at"] is None
    ]
    for order_id, basket_id in rng.sample(live, changes):
        if rng.random() < 0.5:
            account.refund_basket(order_id, basket_id)
        else:
            account.cancel_basket(order_id, basket_id)


def cut_points(total: int) -> list[int]:
    """Where the warehouse goes away: a spread sample in CI, every few statements in the full run."""
    if FULL:
        return list(range(1, total, max(1, total // 30)))
    return sorted({1, total // 2, total - 2})


@FULL_TIMEOUT
def test_warehouse_outage_mid_run_fails_cleanly_and_the_next_run_heals(
    server, account, warehouse, chdb_path, instance
) -> None:
    first, last = history(account)
    run(server, warehouse, instance, first, last)
    before = day_digests(warehouse)
    refund_and_cancel(account, random.Random(7), changes=25)

    granted = 10**9
    counting = outage_after(granted)
    reference = OutageWarehouse(url=f"chdb://{chdb_path}", database=f"r_{uuid.uuid4().hex[:10]}", outage=counting)
    run(server, reference, instance, first, last)
    after = day_digests(reference)
    total = statements_spent(counting, granted)
    assert before != after, "the late changes should change some days"

    for cut in cut_points(total):
        switch = outage_after(cut)
        cut_off = OutageWarehouse(url=warehouse.url, database=warehouse.database, outage=switch)
        result = attempt(server, cut_off, instance, first, last)
        refused = statements_refused(switch)
        assert result.success == (refused == 0), f"cut after {cut} of {total}: {failure_messages(result)}"
        if result.success:
            continue
        messages = failure_messages(result)
        assert any("Connection refused" in m for m in messages), messages
        writes = [m for m in messages if "writing " in m]
        assert all("the next run rewrites them" in m for m in writes), writes
        now = day_digests(warehouse)
        torn = [key for key in now.keys() | after.keys() if now.get(key) not in (before.get(key), after.get(key))]
        assert not torn, f"cut after {cut}: days neither old nor new: {torn[:5]}"

    run(server, warehouse, instance, first, last)
    assert day_digests(warehouse) == after
    with warehouse.get_client() as client:
        assert differences(client, account, ORG, TZ).exact
        leftovers = client.query(
            "SELECT count() FROM system.tables WHERE database = currentDatabase() AND startsWith(name, '_stage_')"
        ).result_rows[0][0]
    assert leftovers <= len(cut_points(total)), "staging tables of cut runs only, dropped later by age"


def test_three_runs_at_once_on_one_warehouse_end_exactly_right(server, account, warehouse, instance) -> None:
    """Server mode has no lock: three runs write the same days at once, each staging in a
    table of its own and swapping whole partitions. (Run in threads on one engine here,
    the SQL a ClickHouse server gets from three processes.)"""
    first, last = history(account)

    def one_run(_: int) -> bool:
        with DagsterInstance.ephemeral() as own:
            return attempt(server, warehouse, own, first, last).success

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(one_run, range(3)))
    assert outcomes == [True, True, True]
    with warehouse.get_client() as client:
        assert differences(client, account, ORG, TZ).exact
        snapshots = client.query("SELECT count(DISTINCT snapshot_ts) FROM stg_qtickets_api_inventory_raw").result_rows
    assert 1 <= snapshots[0][0] <= 3
    checks = run_checks(server, warehouse, instance)
    errors = [
        e.check_name for e in checks.get_asset_check_evaluations() if not e.passed and e.severity.value == "ERROR"
    ]
    assert errors == [], errors


@FULL_TIMEOUT
def test_seeded_fault_runs_end_exactly_right(chdb_path) -> None:
    """A sample of the proof's seeded runs (all 50 with ZAKAZ_RELIABILITY_FULL=1); the
    report is printed (``pytest -s``) and kept in docs/RELIABILITY.md for the full set."""
    seeds = list(range(1, 51)) if FULL else PROOF_SAMPLE
    report = prove(seeds, chdb_path)
    print(report.table())
    assert report.passed, report.table()
    assert report.runs == len(seeds) >= (50 if FULL else 1)
    assert sum(report.faults.values()) > 0 and report.succeeded < report.runs, "the sample should meet faults"
    # More than one request at once: concurrency is on. The limit itself is test_client's:
    # here a "slow" answer the client gave up on (read timeout) is still held by the simulator
    # while the retry travels, so the simulator may count more than QTICKETS_MAX_IN_FLIGHT.
    assert report.peak_in_flight > 1, "the runs read the API with concurrency on"
