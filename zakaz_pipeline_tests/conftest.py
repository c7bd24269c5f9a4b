"""Shared fixtures: one embedded chDB data path for the whole session (a process may
open only one), a fresh database per test, and a running simulator."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from dagster import DagsterInstance

from zakaz_pipeline.runtime.instance import batch_run_events
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse.connection import open_client
from zakaz_pipeline.warehouse.resource import ClickHouseResource

# Runs executed in the tests' own processes store their events as every deployment's do
# (in batches, one planned event per asset), not one SQL statement per event.
batch_run_events()

# Days of history of the generated accounts; the test settings' partitions start before them
# (``HISTORY_START``).
HISTORY_DAYS = 70
# Where every generated account's clock stands: the start of the day, in Moscow, on which
# the tests started. The generator moves by whole days without changing anything else
# (test_simulator holds it), so every test meets the same account on any day, only dated
# differently, and none of its orders falls on the pipeline's "today". What varies with the
# hour is how long ago the account went quiet (under a day), which the freshness checks'
# error limit (48 h) absorbs; a test of what the real clock drives moves the account on.
ACCOUNT_NOW = dt.datetime.combine(
    dt.datetime.now(ZoneInfo("Europe/Moscow")).date(), dt.time(), ZoneInfo("Europe/Moscow")
)
# The first day of the test settings' partitions: ten days before any generated history.
HISTORY_START = ACCOUNT_NOW.date() - dt.timedelta(days=HISTORY_DAYS + 10)

# Real Qtickets answers, scrubbed of personal data (see fixtures/qtickets/README.md).
SAMPLES = Path(__file__).resolve().parent / "fixtures" / "qtickets"
TOKEN = "test-token-0123456789"
PII_KEY = "test-pii-key-0123456789"


# The files that take longest, longest first (measured: a full run's per-file times). xdist
# hands whole files to its two workers in collection order (``--dist loadfile
# --no-loadscope-reorder``), so starting with these lets the short files fill in at the end
# and both workers finish together; by default it orders files by their number of tests,
# which left a one-test file of ~100 s to start last.
LONGEST_FIRST = (
    "test_cli.py", "test_dialects.py", "test_ui_browser.py", "test_checks.py", "test_run_workers.py",
    "test_reliability.py", "test_first_contact.py", "test_pipeline.py", "test_datalens.py",
    "test_webhooks_end_to_end.py", "test_local_runs.py", "test_monitoring.py",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of the ``LONGEST_FIRST`` files first, in that order; each file's own order kept."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb") / "warehouse"


@contextmanager
def fresh_warehouse(chdb_path: Path) -> Iterator[ClickHouseResource]:
    """An empty database of its own in the embedded warehouse at ``chdb_path``, dropped
    afterwards: every chDB session loads the metadata of every database in the path."""
    resource = ClickHouseResource(url=f"chdb://{chdb_path}", database=f"t_{uuid.uuid4().hex[:10]}")
    try:
        yield resource
    finally:
        with open_client(resource.target, create_database=False) as client:
            client.command(f"DROP DATABASE IF EXISTS {resource.database} SYNC")


@pytest.fixture
def warehouse(chdb_path: Path) -> Iterator[ClickHouseResource]:
    """A fresh database for the test (``fresh_warehouse``); a test wanting a second asks for ``other_warehouse``."""
    with fresh_warehouse(chdb_path) as resource:
        yield resource


@pytest.fixture
def other_warehouse(chdb_path: Path) -> Iterator[ClickHouseResource]:
    """A second fresh database beside ``warehouse``: two warehouses fed the same shop differently."""
    with fresh_warehouse(chdb_path) as resource:
        yield resource


@pytest.fixture
def client(warehouse: ClickHouseResource) -> Iterator:
    with warehouse.get_client() as c:
        yield c


@pytest.fixture(scope="session")
def small_account() -> SimulatedAccount:
    """Read-only: tests that change data build their own account."""
    return SimulatedAccount.generate(seed=11, orders=600, events=8, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)


@pytest.fixture(scope="session")
def small_server(small_account: SimulatedAccount) -> Iterator[SimulatorServer]:
    with SimulatorServer(small_account, token=TOKEN) as server:
        yield server


def load_sample(name: str) -> dict:
    """A real Qtickets answer (``orders_page.json``, ``events_page.json``), kept in the repository."""
    return orjson.loads((SAMPLES / name).read_bytes())


@pytest.fixture(scope="session")
def sample_orders() -> list[dict]:
    return load_sample("orders_page.json")["data"]


@pytest.fixture(scope="session")
def sample_events() -> list[dict]:
    return load_sample("events_page.json")["data"]


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral
