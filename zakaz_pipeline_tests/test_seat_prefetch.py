"""The events step starts the inventory step's seat requests (``defs/seat_prefetch.py``):
on the simulator over HTTP and chDB, the snapshot is the ground truth, each show's seats
are asked once, and nothing is asked early where no later step of this process takes it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    in_process_executor,
    materialize,
    multi_or_in_process_executor,
    multiprocess_executor,
)

from zakaz_pipeline.defs.jobs import partition_range_tags
from zakaz_pipeline.defs.resources import QticketsResource
from zakaz_pipeline.defs.seat_prefetch import steps_share_process
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.harness import ALL_ASSETS, ORG, history, pipeline_resources, probed
from zakaz_pipeline_tests.test_pipeline import warehouse_inventory

INVENTORY_STEP = "stg_qtickets_api_inventory_raw"


@pytest.fixture
def account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=7, orders=300, events=6, history_days=HISTORY_DAYS)


@pytest.fixture
def server(account: SimulatedAccount) -> Iterator[SimulatorServer]:
    with SimulatorServer(account, token=TOKEN) as running:
        yield running


def _materialize(
    server: SimulatorServer,
    warehouse: ClickHouseResource,
    instance: DagsterInstance,
    max_in_flight: int,
    selection=None,
):
    """A tick's run: yesterday and today, in this process (``materialize``), the API's
    findings recorded first (so the server's requests are the run's alone)."""
    probed(server, instance)
    server.requests.clear()
    last = history(server.account)[1]
    qtickets = QticketsResource(org=ORG, base_url=server.base_url, token=TOKEN, max_in_flight=max_in_flight)
    result = materialize(
        ALL_ASSETS,
        selection=selection,
        resources=pipeline_resources(server, warehouse) | {"qtickets": qtickets},
        instance=instance,
        tags=partition_range_tags(last - dt.timedelta(days=1), last),
    )
    assert result.success
    return result


def _seat_requests(server: SimulatorServer) -> list[float]:
    """When each seat request arrived, as wall-clock time (the server runs in this process)."""
    offset = time.time() - time.monotonic()
    return [r.received + offset for r in server.requests if r.path.startswith("/shows/") and r.path.endswith("/seats")]


def _step_start(instance: DagsterInstance, run_id: str, step_key: str) -> float:
    (start,) = [
        record.timestamp
        for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
        if record.step_key == step_key
    ]
    return start


def test_the_seats_are_requested_before_the_inventory_step_and_once_per_show(
    server, account, warehouse, instance
) -> None:
    result = _materialize(server, warehouse, instance, max_in_flight=4)
    seats = _seat_requests(server)
    on_sale = truth.show_inventory(account)
    assert len(seats) == len(on_sale) > 0
    assert max(seats) < _step_start(instance, result.run_id, INVENTORY_STEP)
    with warehouse.get_client() as client:
        assert warehouse_inventory(client) == on_sale
        (snapshots,) = client.query("SELECT uniqExact(snapshot_ts) FROM stg_qtickets_api_inventory_raw").result_rows[0]
    assert snapshots == 1


def test_with_one_request_in_flight_the_inventory_step_asks_itself(server, account, warehouse, instance) -> None:
    """No slot would be left for the steps in between: nothing starts early."""
    result = _materialize(server, warehouse, instance, max_in_flight=1)
    seats = _seat_requests(server)
    assert len(seats) == len(truth.show_inventory(account))
    assert min(seats) > _step_start(instance, result.run_id, INVENTORY_STEP)
    with warehouse.get_client() as client:
        assert warehouse_inventory(client) == truth.show_inventory(account)


def test_a_run_without_the_inventory_asks_for_no_seats(server, warehouse, instance) -> None:
    _materialize(
        server, warehouse, instance, max_in_flight=4, selection=[AssetKey("dim_events"), AssetKey("dim_shows")]
    )
    assert any(r.path == "/events" for r in server.requests)
    assert _seat_requests(server) == []


@pytest.mark.parametrize(
    ("executor", "run_config", "shared"),
    [
        (in_process_executor.name, {}, True),
        ("execute_in_process_executor", {}, True),
        (multi_or_in_process_executor.name, {"execution": {"config": {"in_process": {}}}}, True),
        (multi_or_in_process_executor.name, {"execution": {"config": {"multiprocess": {}}}}, False),
        (multi_or_in_process_executor.name, {}, False),
        (multiprocess_executor.name, {}, False),
    ],
)
def test_only_steps_of_one_process_share_an_early_request(executor: str, run_config: dict, shared: bool) -> None:
    """A step in a process of its own would start requests no later step could take."""
    assert steps_share_process(executor, run_config) is shared
