"""First contact with an account, as its operator makes it: ``zakaz probe`` in a separate
process against the simulator in each API dialect, what it prints and records, then
``zakaz sync`` with those findings; and a filter the API refuses, forced anyway."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from zakaz_pipeline.defs.api_findings import latest_findings
from zakaz_pipeline.simulator.dialect import ApiDialect
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse.connection import open_client, parse_target
from zakaz_pipeline_tests.conftest import HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.reconcile import differences
from zakaz_pipeline_tests.test_cli import env as env
from zakaz_pipeline_tests.test_cli import zakaz

VERDICTS = {
    "honoured": ("payed_at honoured, updated_at honoured, id honoured", "orders strategy: filtered"),
    "ignored": ("payed_at ignored, updated_at ignored, id ignored", "orders strategy: scan"),
    "refused": (
        "payed_at refused (UNKNOWN_ERROR), updated_at refused (UNKNOWN_ERROR), id refused (UNKNOWN_ERROR)",
        "orders strategy: scan",
    ),
}


@pytest.fixture(scope="module")
def account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=61, orders=500, events=4, history_days=HISTORY_DAYS)


@pytest.fixture
def refusing(account: SimulatedAccount) -> Iterator[SimulatorServer]:
    with SimulatorServer(account, token=TOKEN, dialect=ApiDialect("refused", real_paging=True, tariffs=True)) as server:
        yield server


@pytest.mark.parametrize("filters", list(VERDICTS))
def test_probe_reports_what_each_dialect_does_and_records_the_strategy(
    filters: str, account: SimulatedAccount, env: dict[str, str], tmp_path: Path
) -> None:
    dialect = ApiDialect(filters, real_paging=filters != "honoured", tariffs=filters != "honoured")
    with SimulatorServer(account, token=TOKEN, dialect=dialect) as server:
        result = zakaz("probe", env=env | {"QTICKETS_BASE_URL": server.base_url})
        requests = len(server.requests)
    assert result.returncode == 0, result.stderr[-2000:]
    filters_line, strategy_line = VERDICTS[filters]
    out = result.stdout
    assert f"filters on /orders: {filters_line}" in out and strategy_line in out
    pages = "50 orders and 10 events a page" if dialect.real_paging else "500 orders and 500 events a page"
    assert f"token accepted; {len(account.orders)} orders; {pages}" in out
    assert f"tariff copies: {'yes' if dialect.tariffs else 'no'}" in out and "timestamp offsets: +03:00" in out
    first_sale = account.first_payment_date("Europe/Moscow")
    assert f"QTICKETS_HISTORY_START={first_sale}" in out
    # eight requests; a refused filter's costs six more: two retries, the control, a second try and its retries
    assert requests <= 8 + 3 * 6
    assert TOKEN not in out + result.stderr
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        findings = latest_findings(instance, env["ORG_NAME"])
    assert findings is not None and f"orders strategy: {findings.orders_strategy()}" == strategy_line


def test_a_sync_after_the_probe_fetches_by_page_and_is_exact(
    refusing: SimulatorServer, account: SimulatedAccount, env: dict[str, str]
) -> None:
    env = env | {"QTICKETS_BASE_URL": refusing.base_url}
    assert zakaz("probe", env=env).returncode == 0
    result = zakaz("sync", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
        assert differences(client, account, env["ORG_NAME"], "Europe/Moscow").exact


def test_a_refused_filter_forced_ends_in_one_line_naming_the_apis_code(
    refusing: SimulatorServer, env: dict[str, str]
) -> None:
    env = env | {"QTICKETS_BASE_URL": refusing.base_url, "QTICKETS_ORDERS_STRATEGY": "filtered"}
    started = time.monotonic()
    result = zakaz("sync", env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    named = [line for line in result.stderr.splitlines() if "UNKNOWN_ERROR" in line]
    assert len(named) == 1 and "payed_at" in named[0] and "QTICKETS_ORDERS_STRATEGY" in named[0], result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stderr
    assert elapsed < 120, "no minutes of retries for a request the API refuses every time"
