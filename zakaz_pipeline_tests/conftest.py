"""Shared fixtures: one embedded chDB data path for the whole session (a process may
open only one), a fresh database per test, and a running simulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from zakaz_pipeline.warehouse.resource import ClickHouseResource


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb") / "warehouse"


@pytest.fixture
def warehouse(chdb_path: Path) -> ClickHouseResource:
    """An empty database of its own in the session's embedded warehouse."""
    return ClickHouseResource(url=f"chdb://{chdb_path}", database=f"t_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def client(warehouse: ClickHouseResource) -> Iterator:
    with warehouse.get_client() as c:
        yield c
