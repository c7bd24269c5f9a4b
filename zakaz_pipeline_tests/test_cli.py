"""The ``zakaz`` command as a user runs it: a separate process, real simulator, real chDB."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from zakaz_pipeline.qtickets.simulator import truth
from zakaz_pipeline.qtickets.simulator.account import SimulatedAccount
from zakaz_pipeline.qtickets.simulator.server import SimulatorServer
from zakaz_pipeline.warehouse.connection import open_client, parse_target
from zakaz_pipeline_tests.conftest import PII_KEY, TOKEN, load_sample
from zakaz_pipeline_tests.reconcile import differences


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CLOSED_PORT = _closed_port()


def zakaz(*args: str, env: dict[str, str], timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "zakaz_pipeline.cli", *args],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, small_server) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QTICKETS_", "CLICKHOUSE_", "ZAKAZ_", "DAGSTER_"))}
    return base | {
        "QTICKETS_BASE_URL": small_server.base_url,
        "QTICKETS_TOKEN": TOKEN,
        "ZAKAZ_PII_KEY": PII_KEY,
        "CLICKHOUSE_URL": f"chdb://{tmp_path / 'warehouse'}",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "QTICKETS_HISTORY_START": os.environ["QTICKETS_HISTORY_START"],
        "ORG_NAME": "cli",
    }


def summary(stdout: str) -> dict[str, str]:
    """The ``label  value`` lines of a summary table."""
    rows = (line.strip().rsplit(None, 1) for line in stdout.splitlines() if line.startswith("  "))
    return {label.strip(): value for label, value in rows}


def test_sync_fills_the_warehouse_and_records_the_run(env, small_account, tmp_path) -> None:
    result = zakaz("sync", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = truth.daily_sales(small_account, "Europe/Moscow")
    inventory = truth.show_inventory(small_account)
    table = summary(result.stdout)
    assert int(table["orders"]) == sum(v.orders for v in expected.values())
    assert int(table["tickets sold"]) == sum(v.tickets_sold for v in expected.values())
    assert Decimal(table["revenue"]) == sum(v.revenue for v in expected.values())
    assert Decimal(table["refunded"]) == sum(v.refunded_amount for v in expected.values())
    assert int(table["shows on sale"]) == len(inventory)
    assert int(table["tickets left"]) == sum(left for _, left in inventory.values())
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
    assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS]


def test_check_passes_on_a_synced_warehouse_and_fails_on_a_bad_row(env, tmp_path) -> None:
    assert zakaz("sync", env=env).returncode == 0
    passing = zakaz("check", env=env)
    assert passing.returncode == 0, passing.stdout[-3000:] + passing.stderr[-3000:]
    assert "all ERROR checks passed" in passing.stdout
    assert "warehouse_access" in passing.stdout and "SKIPPED" in passing.stdout
    with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
        client.command("INSERT INTO stg_qtickets_api_orders_raw SELECT * FROM stg_qtickets_api_orders_raw LIMIT 1")
        runs = dict(client.query("SELECT job, status FROM meta_job_runs FINAL").result_rows)
    assert runs == {"qtickets_sync": "SUCCESS", "qtickets_checks": "SUCCESS"}
    failing = zakaz("check", env=env)
    assert failing.returncode == 1
    assert "stg_qtickets_api_orders_raw.no_duplicate_tickets" in failing.stdout
    assert "fact_qtickets_sales_daily.matches_raw" in failing.stdout


def test_sync_of_the_real_sample_answers_reconciles(env, tmp_path) -> None:
    """Any server speaking the documented API will do: here one answering with the real,
    anonymized Qtickets pages (2021 sales, their odd shapes included)."""
    orders, events = load_sample("orders_page.json")["data"], load_sample("events_page.json")["data"]
    account = SimulatedAccount(events=events, orders=orders, seats={}, now=dt.datetime.now(dt.UTC))
    first = account.first_payment_date("Europe/Moscow")
    with SimulatorServer(account, token=TOKEN) as server:
        result = zakaz(
            "sync", "--from", first.isoformat(), "--to", (first + dt.timedelta(days=60)).isoformat(),
            env=env | {"QTICKETS_BASE_URL": server.base_url, "QTICKETS_HISTORY_START": "2021-01-01"},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
        daily = client.query(
            "SELECT sales_date, event_id, orders, tickets_sold, gross_revenue, refunded_amount, revenue "
            "FROM fact_qtickets_sales_daily"
        ).result_rows
        tickets = client.query("SELECT count() FROM stg_qtickets_api_orders_raw").result_rows[0][0]
    expected = truth.daily_sales(account, "Europe/Moscow")
    assert len(expected) > 10
    assert {(day, event): truth.DailySales(*values) for day, event, *values in daily} == expected
    assert tickets == sum(len(order["baskets"]) for order in orders if order["payed_at"])


def test_dry_run_counts_and_writes_nothing(env, small_account, tmp_path) -> None:
    result = zakaz("sync", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    paid = [o for o in small_account.orders if o["payed_at"]]
    table = summary(result.stdout)
    assert int(table["orders"]) == len(paid)
    assert int(table["ticket_rows"]) == sum(len(o["baskets"]) for o in paid)
    assert int(table["events"]) == len(small_account.events)
    assert int(table["shows_on_sale"]) == len(truth.show_inventory(small_account))
    assert not (tmp_path / "warehouse").exists()


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        ({"ZAKAZ_TIMEZONE": "Mars/Olympus"}, [], "ZAKAZ_TIMEZONE"),
        ({"CLICKHOUSE_URL": "http://admin:hunter2secret@host:port"}, [], "CLICKHOUSE_URL"),
        ({"QTICKETS_TOKEN": ""}, [], "QTICKETS_TOKEN"),
        ({"ZAKAZ_PII_KEY": "short"}, [], "ZAKAZ_PII_KEY"),
        ({"QTICKETS_BASE_URL": "ftp://nowhere"}, [], "QTICKETS_BASE_URL"),
        ({"ZAKAZ_ORDERS_WARN_HOURS": "two"}, [], "ZAKAZ_ORDERS_WARN_HOURS"),
        ({"QTICKETS_READ_TIMEOUT": "0"}, [], "QTICKETS_READ_TIMEOUT"),
        ({}, ["--from", "2026-02-10", "--to", "2026-02-01"], "after --to"),
        ({}, ["--from", "2020-12-31"], "before QTICKETS_HISTORY_START"),
        ({"QTICKETS_BASE_URL": f"http://127.0.0.1:{CLOSED_PORT}/api/rest/v1"}, [], "QTICKETS_BASE_URL: cannot connect"),
        ({"QTICKETS_BASE_URL": "https://no-such-host.invalid/api/rest/v1"}, [], "QTICKETS_BASE_URL: cannot connect"),
        ({"CLICKHOUSE_URL": f"http://etl:hunter2secret@127.0.0.1:{CLOSED_PORT}"}, [], "CLICKHOUSE_URL: cannot connect"),
    ],
)
def test_bad_configuration_fails_before_fetching(env, small_server, change, args, message) -> None:
    before = len(small_server.requests)
    result = zakaz("sync", *args, env=env | change)
    assert result.returncode == 2
    assert message in result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout
    assert len(small_server.requests) == before


def test_wrong_token_fails_fast_is_recorded_and_writes_nothing(env) -> None:
    result = zakaz("sync", env=env | {"QTICKETS_TOKEN": "revoked-token-value"})
    assert result.returncode == 1
    assert "QTICKETS_TOKEN" in result.stdout
    assert "revoked-token-value" not in result.stdout + result.stderr
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (failed,) = instance.get_runs()
        stats = instance.get_run_stats(failed.run_id)
        event_log = "".join(entry.message + repr(entry.dagster_event) for entry in instance.all_logs(failed.run_id))
    assert failed.status == DagsterRunStatus.FAILURE
    assert stats.end_time - stats.start_time < 5, "a refused token is not retried"
    assert "QTICKETS_TOKEN" in event_log and "revoked-token-value" not in event_log
    with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
        recorded = client.query("SELECT status, message FROM meta_job_runs FINAL").result_rows
        written = client.query(
            "SELECT sum(total_rows) FROM system.tables WHERE database = 'zakaz' AND name != 'meta_job_runs' "
            "AND name != 'zakaz_schema_history' AND engine LIKE '%MergeTree'"
        ).result_rows[0][0]
    ((status, message),) = recorded
    assert status == "FAILURE" and "QTICKETS_TOKEN" in message and "revoked-token-value" not in message
    assert written == 0


def test_secrets_never_reach_output_event_log_or_warehouse(env, tmp_path) -> None:
    """A successful sync, then a refused one: neither the token nor the PII key appears in
    anything they leave behind (the event log keeps every debug event)."""
    ok = zakaz("sync", env=env)
    assert ok.returncode == 0, ok.stderr[-3000:]
    refused = zakaz("sync", env=env | {"QTICKETS_TOKEN": TOKEN + "-revoked"})
    assert refused.returncode == 1
    secrets = (TOKEN, PII_KEY)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        event_log = "".join(
            entry.message + repr(entry.dagster_event) for run in runs for entry in instance.all_logs(run.run_id)
        )
        run_configs = repr([(run.run_config, run.tags) for run in runs])
    files = "".join(
        path.read_text(errors="replace") for path in (tmp_path / "dagster_home").rglob("*") if path.is_file()
        and path.suffix in (".log", ".txt", ".out", ".err", ".yaml", ".json")
    )  # fmt: skip
    with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
        stored = _every_string_value(client)
    for secret in secrets:
        for name, text in {"stdout/stderr": ok.stdout + ok.stderr + refused.stdout + refused.stderr,
                           "event log": event_log, "run config": run_configs, "dagster home": files,
                           "warehouse": stored}.items():  # fmt: skip
            assert secret not in text, f"a secret appears in the {name}"


def _every_string_value(client) -> str:
    tables = client.query(
        "SELECT table, name FROM system.columns WHERE database = 'zakaz' AND type LIKE '%String%'"
    ).result_rows
    return "\n".join(
        str(client.query(f"SELECT groupArray({column}) FROM {table}").result_rows[0][0]) for table, column in tables
    )


def test_wrong_api_address_fails_at_once_without_retries(env, small_server) -> None:
    started = time.monotonic()
    result = zakaz("sync", env=env | {"QTICKETS_BASE_URL": small_server.base_url + "/no-such-api"})
    assert result.returncode == 1
    assert "HTTP 404" in result.stdout and "QTICKETS_BASE_URL" in result.stdout
    assert time.monotonic() - started < 60, "a refused request is not retried (the step retry waits 10 s+)"


def test_demo_runs_end_to_end(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QTICKETS_", "CLICKHOUSE_", "ZAKAZ_", "DAGSTER_"))}
    result = zakaz("demo", "--path", str(tmp_path / "demo"), "--orders", "400", "--events", "6", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SUCCESS" in result.stdout and "dagster dev" in result.stdout
    with DagsterInstance.from_config(str(tmp_path / "demo" / "dagster_home")) as instance:
        assert [r.status for r in instance.get_runs()] == [DagsterRunStatus.SUCCESS]


def test_sync_waits_for_a_process_holding_the_embedded_warehouse(env, tmp_path) -> None:
    """chDB opens a data path in one process at a time: a second sync waits, then succeeds."""
    target = parse_target(env["CLICKHOUSE_URL"], "zakaz")
    with open_client(target):
        started = time.monotonic()
        sync = subprocess.Popen(
            [sys.executable, "-m", "zakaz_pipeline.cli", "sync"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(10)
        assert sync.poll() is None, "the second process should be waiting for the warehouse"
    out, err = sync.communicate(timeout=240)
    assert sync.returncode == 0, err[-3000:]
    assert "waiting for the embedded warehouse" in err
    assert time.monotonic() - started >= 10 and "SUCCESS" in out


def test_three_syncs_started_at_once_end_with_a_correct_warehouse(env, small_account) -> None:
    """The seed's stress test: on the embedded warehouse the runs take turns on its lock."""
    command = [sys.executable, "-m", "zakaz_pipeline.cli", "sync"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "stdin": subprocess.DEVNULL}
    syncs = [subprocess.Popen(command, text=True, env=env, **pipes) for _ in range(3)]
    outputs = [sync.communicate(timeout=300) for sync in syncs]
    assert [sync.returncode for sync in syncs] == [0, 0, 0], [err[-2000:] for _, err in outputs]
    assert all("SUCCESS" in out for out, _ in outputs)
    assert not any("Timeout" in err or "Traceback" in err for _, err in outputs)
    with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
        assert differences(client, small_account, "cli", "Europe/Moscow").exact
        statuses = client.query("SELECT status, count() FROM meta_job_runs FINAL GROUP BY status").result_rows
    assert statuses == [("SUCCESS", 3)]
