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
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, PII_KEY, TOKEN
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
    return SimulatedAccount.generate(seed=61, orders=500, events=4, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)


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


def test_first_contact_from_a_dotenv_file_sets_the_history_start_for_the_sync(
    account: SimulatedAccount, env: dict[str, str], tmp_path: Path
) -> None:
    """The operator fills in ``.env`` (as for docker compose), not the shell: ``zakaz probe``
    reads the token from it and writes the first sale's day into it, and ``zakaz sync`` then
    reads every setting from it and syncs from that day on. A variable the environment
    sets wins over the file (``ORG_NAME`` here)."""
    folder = tmp_path / "operator"
    folder.mkdir()
    dotenv = folder / ".env"
    dotenv.write_text(
        f"# the seller's settings\nQTICKETS_TOKEN={TOKEN}\nZAKAZ_PII_KEY={PII_KEY}\nQTICKETS_HISTORY_START=2021-01-01\n"
        "ORG_NAME=from-dotenv\n",
        encoding="utf-8",
    )
    shell = {k: v for k, v in env.items() if k not in ("QTICKETS_TOKEN", "ZAKAZ_PII_KEY", "QTICKETS_HISTORY_START")}
    first_sale = account.first_payment_date("Europe/Moscow")
    with SimulatorServer(account, token=TOKEN) as server:
        shell |= {"QTICKETS_BASE_URL": server.base_url}
        probed = zakaz("probe", env=shell, cwd=folder)
        assert probed.returncode == 0, probed.stderr[-2000:]
        assert f"QTICKETS_HISTORY_START={first_sale} (the first sale, in Europe/Moscow) written to {dotenv}" in (
            probed.stdout
        )
        assert dotenv.read_text(encoding="utf-8").splitlines() == [
            "# the seller's settings", f"QTICKETS_TOKEN={TOKEN}", f"ZAKAZ_PII_KEY={PII_KEY}",
            f"QTICKETS_HISTORY_START={first_sale}", "ORG_NAME=from-dotenv",
        ]  # fmt: skip
        synced = zakaz("sync", env=shell, cwd=folder)
    assert synced.returncode == 0, synced.stderr[-3000:]
    assert f"for sales days {first_sale} … " in synced.stdout
    with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
        assert differences(client, account, env["ORG_NAME"], "Europe/Moscow").exact, "the environment's ORG_NAME"
        orgs = client.query("SELECT DISTINCT org FROM stg_qtickets_api_orders_raw").result_rows
    assert orgs == [(env["ORG_NAME"],)]


def test_a_history_start_the_environment_sets_is_left_to_it(
    account: SimulatedAccount, env: dict[str, str], tmp_path: Path
) -> None:
    """Exported, the variable would win over any line of ``.env``: the probe says what to set
    and writes no file; with ``--no-record`` it writes nothing either."""
    first_sale = account.first_payment_date("Europe/Moscow")
    with SimulatorServer(account, token=TOKEN) as server:
        shell = env | {"QTICKETS_BASE_URL": server.base_url, "QTICKETS_HISTORY_START": "2021-01-01"}
        exported = zakaz("probe", env=shell, cwd=tmp_path)
        unset = {k: v for k, v in shell.items() if k != "QTICKETS_HISTORY_START"}
        not_recorded = zakaz("probe", "--no-record", env=unset, cwd=tmp_path)
    for result, why in ((exported, "the environment sets it"), (not_recorded, "--no-record writes nothing")):
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"set QTICKETS_HISTORY_START={first_sale} (the first sale, in Europe/Moscow);" in result.stdout
        assert why in result.stdout
    assert not (tmp_path / ".env").exists()
