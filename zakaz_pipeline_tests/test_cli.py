"""The ``zakaz`` command as a user runs it: a separate process, real simulator, real chDB."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from zakaz_pipeline.defs.jobs import SYNC_JOB, sync_assets
from zakaz_pipeline.simulator.faults import FaultPlan
from zakaz_pipeline.simulator.server import RequestRecord, SimulatorServer
from zakaz_pipeline.simulator.shop import CORRUPTIONS, SimulatedAccount
from zakaz_pipeline.warehouse.connection import open_client, parse_target
from zakaz_pipeline.warehouse.quality import COUNTED_IN_FACTS
from zakaz_pipeline.warehouse.schema import ensure_schema
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, PII_KEY, TOKEN, load_sample
from zakaz_pipeline_tests.harness import ENV as SETTINGS_ENV
from zakaz_pipeline_tests.harness import SETTINGS, definitions
from zakaz_pipeline_tests.reconcile import differences


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CLOSED_PORT = _closed_port()
INFO_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ INFO zakaz")


# The folder commands run in unless a test names one: empty, so that no .env of the
# checkout (the command reads ./.env) reaches a test, and no command writes one there.
BARE_FOLDER = Path(tempfile.mkdtemp(prefix="zakaz-cwd-"))


def zakaz(*args: str, env: dict[str, str], timeout: int = 240, cwd: Path = BARE_FOLDER) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "zakaz_pipeline.cli", *args],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL, check=False, cwd=cwd,
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
        "QTICKETS_HISTORY_START": SETTINGS.history_start.isoformat(),
        "ORG_NAME": "cli",
        "ZAKAZ_STEP_RETRY_DELAY": SETTINGS_ENV[
            "ZAKAZ_STEP_RETRY_DELAY"
        ],  # 10 s by default: retries would wait a minute
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
    assert int(table["orders sold"]) == sum(v.orders for v in expected.values())
    assert int(table["tickets sold"]) == sum(v.tickets_sold for v in expected.values())
    assert Decimal(table["revenue"]) == sum(v.revenue for v in expected.values())
    assert Decimal(table["refunded"]) == sum(v.refunded_amount for v in expected.values())
    assert int(table["shows on sale"]) == len(inventory)
    assert int(table["tickets left"]) == sum(left for _, left in inventory.values())
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
    assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS]
    # Not a terminal: plain progress lines, the last one complete, counted against the simulator.
    paid = sum(1 for order in small_account.orders if order["payed_at"])
    progress = [line for line in result.stderr.splitlines() if line.startswith("sync: orders read ")]
    assert progress and "\r" not in result.stderr
    assert progress[-1].startswith(f"sync: orders read {paid:,} / {paid:,}, days ")
    # Three counts, each named for what it is: every order of the account, the paid ones the
    # fetch read, the ones with a ticket sold (a paid order cancelled since is not).
    assert f"the account has {len(small_account.orders):,} orders in all, paid or not" in result.stderr
    assert "Traceback" not in result.stderr and "STEP_" not in result.stderr, "Dagster's console stays quiet"


def test_check_passes_on_a_synced_warehouse_and_fails_on_a_bad_row(env, tmp_path) -> None:
    assert zakaz("sync", env=env).returncode == 0
    passing = zakaz("check", env=env)
    assert passing.returncode == 0, passing.stdout[-3000:] + passing.stderr[-3000:]
    assert "all ERROR checks passed" in passing.stdout
    assert "warehouse_access" in passing.stdout and "SKIPPED" in passing.stdout
    with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
        # A ticket the fact counts (paid, neither it nor its order deleted): a copy of any other
        # row is a duplicate too, but leaves the fact's sums as they were.
        client.command(
            "INSERT INTO stg_qtickets_api_orders_raw SELECT * FROM stg_qtickets_api_orders_raw "
            f"WHERE {COUNTED_IN_FACTS} ORDER BY order_id, basket_id LIMIT 1"
        )
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
    """The sync's own API steps, counted by an IO manager that writes nothing: every count
    reconciles with the simulator, and neither a warehouse nor a Dagster home is left behind."""
    result = zakaz("sync", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    paid = [o for o in small_account.orders if o["payed_at"]]
    inventory = truth.show_inventory(small_account)
    table = summary(result.stdout)
    assert {name: int(value) for name, value in table.items()} == {
        "events": len(small_account.events),
        "shows": sum(len(event["shows"]) for event in small_account.events),
        "orders": len({o["id"] for o in paid if o["baskets"]}),
        "ticket_rows": sum(len(o["baskets"]) for o in paid),
        "shows_on_sale": len(inventory),
        "tickets_left": sum(left for _, left in inventory.values()),
    }
    assert not (tmp_path / "warehouse").exists()
    assert not Path(env["DAGSTER_HOME"]).exists(), "the run's instance lived in memory"
    assert "Traceback" not in result.stderr and "STEP_" not in result.stderr, "Dagster's console stays quiet"


def test_dry_run_fetches_by_the_homes_findings_and_leaves_the_home_as_it_was(env, small_server) -> None:
    """With a Dagster home, the dry run fetches orders by the findings recorded there, as a
    sync would (no probe: fewer requests than a dry run with no home), and records nothing."""
    before = len(small_server.requests)
    assert zakaz("sync", "--dry-run", env=env).returncode == 0
    without_home = len(small_server.requests) - before
    assert zakaz("sync", env=env).returncode == 0
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = [run.run_id for run in instance.get_runs()]
    before = len(small_server.requests)
    again = zakaz("sync", "--dry-run", env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(small_server.requests) - before < without_home
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert [run.run_id for run in instance.get_runs()] == runs


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
        ({"QTICKETS_READ_TIMEOUT": "inf"}, [], "QTICKETS_READ_TIMEOUT='inf'"),
        ({"ZAKAZ_WEBHOOK_RETENTION_DAYS": "1e9"}, [], "ZAKAZ_WEBHOOK_RETENTION_DAYS='1e9'"),
        ({"QTICKETS_BASE_URL": "http://qtickets.ru/api/rest/v1"}, [], "QTICKETS_ALLOW_PLAIN_HTTP=1"),
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


def test_wrong_token_fails_fast_is_recorded_and_writes_nothing(env, small_server) -> None:
    """The preflight's one authenticated request answers before any run is created; the
    refused start never becomes a Dagster run, so the CLI records it in meta_job_runs itself."""
    before = len(small_server.requests)
    started = time.monotonic()
    result = zakaz("sync", env=env | {"QTICKETS_TOKEN": "revoked-token-value"})
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert plain_error(result).startswith("zakaz: Qtickets refused the token") and "QTICKETS_TOKEN" in result.stderr
    assert "revoked-token-value" not in result.stdout + result.stderr
    assert elapsed < 30, f"a refused token ends the command in {elapsed:.1f} s"  # Dagster alone loads in more
    assert len(small_server.requests) == before + 1, "one request, not retried"
    assert not Path(env["DAGSTER_HOME"]).exists(), "no run was started"
    with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
        recorded = client.query("SELECT status, message, assets FROM meta_job_runs FINAL").result_rows
        written = client.query(
            "SELECT sum(total_rows) FROM system.tables WHERE database = 'zakaz' AND name != 'meta_job_runs' "
            "AND name != 'zakaz_schema_history' AND engine LIKE '%MergeTree'"
        ).result_rows[0][0]
    ((status, message, assets),) = recorded
    assert status == "FAILURE" and "QTICKETS_TOKEN" in message and "revoked-token-value" not in message
    assert assets == sync_assets()
    assert written == 0


def test_secrets_never_reach_output_event_log_or_warehouse(env, tmp_path) -> None:
    """A successful sync, then a refused one: neither the token nor the PII key appears in
    anything they leave behind (the event log keeps every debug event)."""
    ok = zakaz("sync", env=env)
    assert ok.returncode == 0, ok.stderr[-3000:]
    refused = zakaz("sync", env=env | {"QTICKETS_TOKEN": TOKEN + "-revoked"})
    assert refused.returncode == 2
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


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_wrong_api_address_fails_at_once_without_retries(env, small_server, dry_run) -> None:
    before = len(small_server.requests)
    result = zakaz("sync", *dry_run, env=env | {"QTICKETS_BASE_URL": small_server.base_url + "/no-such-api"})
    assert result.returncode == 2
    assert plain_error(result).startswith("zakaz: QTICKETS_BASE_URL:") and "HTTP 404" in result.stderr
    assert len(small_server.requests) == before + 1, "a refused request is not retried"
    assert not Path(env["DAGSTER_HOME"]).exists(), "it ends before a run starts"


def plain_error(result: subprocess.CompletedProcess) -> str:
    """The last stderr line, after checking that stderr holds a few plain lines besides our
    own INFO log (a fresh warehouse's migrations), and no traceback."""
    lines = [line for line in result.stderr.strip().splitlines() if not INFO_LINE.match(line)]
    assert lines and len(lines) <= 6, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    return lines[-1]


def test_a_refused_start_is_recorded_with_the_sync_jobs_assets() -> None:
    """The row the CLI writes without loading Dagster names the assets the job would have run."""
    job = definitions().resolve_job_def(SYNC_JOB)
    assert sync_assets() == sorted(key.to_user_string() for key in job.asset_layer.selected_asset_keys)


def test_wrong_token_with_dry_run_is_one_plain_line_or_a_traceback_on_request(env) -> None:
    bad = env | {"QTICKETS_TOKEN": "revoked-token-value"}
    result = zakaz("sync", "--dry-run", env=bad)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [plain_error(result)]
    assert "QTICKETS_TOKEN" in result.stderr and "revoked-token-value" not in result.stderr
    assert not Path(env["CLICKHOUSE_URL"].removeprefix("chdb://")).exists(), "a dry run records nothing"
    debug = zakaz("sync", "--dry-run", "--debug", env=bad)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain_error(result)


@pytest.mark.parametrize(
    ("command", "change", "message"),
    [
        ("check", {"CLICKHOUSE_URL": "chdb:///no/such/warehouse"}, "zakaz: CLICKHOUSE_URL: there is no warehouse"),
        ("check", {"CLICKHOUSE_DATABASE": "typo"}, "zakaz: CLICKHOUSE_DATABASE:"),
        ("check", {"CLICKHOUSE_URL": f"http://etl:hunter2secret@127.0.0.1:{CLOSED_PORT}"}, "zakaz: CLICKHOUSE_URL:"),
        ("check", {"CLICKHOUSE_URL": "http://etl:hunter2secret@no-such-host.invalid:8123"}, "zakaz: CLICKHOUSE_URL:"),
        (
            "bootstrap",
            {"CLICKHOUSE_ADMIN_URL": f"http://admin:hunter2secret@127.0.0.1:{CLOSED_PORT}"}
            | {f"CLICKHOUSE_{user}_PASSWORD": "a-password-0123456" for user in ("ETL", "DATALENS", "BACKUP")},
            "zakaz: CLICKHOUSE_ADMIN_URL / CLICKHOUSE_URL:",
        ),
    ],
)
def test_unusable_warehouse_is_one_plain_line_and_never_created(env, tmp_path, command, change, message) -> None:
    if "CLICKHOUSE_DATABASE" in change:  # a warehouse there, its database under another name
        with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
            ensure_schema(client, timezone="Europe/Moscow")
    result = zakaz(command, env=env | change)
    assert result.returncode == 2, result.stderr[-3000:]
    assert plain_error(result).startswith(message), result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout
    assert not Path("/no/such/warehouse").exists()
    if "CLICKHOUSE_DATABASE" in change:
        with open_client(parse_target(env["CLICKHOUSE_URL"], "system"), create_database=False) as client:
            databases = {name for (name,) in client.query("SELECT name FROM system.databases").result_rows}
        assert "typo" not in databases
    else:
        assert not (tmp_path / "warehouse").exists(), "zakaz check creates no warehouse"


def test_failed_sync_ends_in_plain_lines_with_the_stack_in_the_event_log(env) -> None:
    """Every API answer is a proxy's HTML page: the steps fail after their retries."""
    account = SimulatedAccount.generate(seed=5, orders=80, events=3, history_days=30, now=ACCOUNT_NOW)
    with SimulatorServer(account, token=TOKEN, faults=FaultPlan.parse("seed=1,rate=1,kinds=badjson")) as server:
        result = zakaz("sync", env=env | {"QTICKETS_BASE_URL": server.base_url})
    assert result.returncode == 1
    assert "FAILURE" in result.stdout and "not valid JSON" in result.stdout and "--debug" in result.stdout
    plain_error(result)
    told = [line for line in result.stderr.strip().splitlines() if not INFO_LINE.match(line)]
    assert all(line.startswith("zakaz: step ") for line in told)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs()
        stacks = [
            entry.dagster_event.event_specific_data.error.stack
            for entry in instance.all_logs(run.run_id)
            if entry.dagster_event and entry.dagster_event.event_type_value == "STEP_FAILURE"
        ]
    assert stacks and all(stack for stack in stacks), "Dagster's stack stays in the run's log"


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_bad_upstream_data_ends_the_sync_at_once_naming_the_order_and_field(env, kind) -> None:
    """Each bad value the simulator can serve (a price "1 500,00", an order without its
    baskets, a negative quantity, a timestamp past 2106): the orders step fails once,
    without retries, the process exits (no scan thread holds it), and the one line names
    where. The account's history is a month of a longer range, so the orders are scanned
    window by window side by side, as the sync that hung did."""
    account = SimulatedAccount.generate(seed=5, orders=80, events=3, history_days=30, now=ACCOUNT_NOW)
    order_id, basket_id = account.corrupt(kind, random.Random(7))
    where = f"order {order_id}" + ("" if basket_id is None else f", basket {basket_id}")
    with SimulatorServer(account, token=TOKEN) as server:
        started = time.monotonic()
        result = zakaz("sync", env=env | {"QTICKETS_BASE_URL": server.base_url}, timeout=180)
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-3000:]
    assert elapsed < 120, f"a failed sync took {elapsed:.0f} s to exit"
    (told,) = [line for line in result.stderr.splitlines() if line.startswith("zakaz: step ")]
    field = CORRUPTIONS[kind][0]
    assert told.startswith(
        f"zakaz: step stg_qtickets_api_orders_raw failed: the Qtickets API sent bad data: {where}: {field} "
    ), told
    assert "FAILURE" in result.stdout and where in result.stdout
    plain_error(result)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs()
        events = [entry.dagster_event.event_type_value for entry in instance.all_logs(run.run_id)
                  if entry.dagster_event and entry.dagster_event.step_key == "stg_qtickets_api_orders_raw"]  # fmt: skip
    assert run.status == DagsterRunStatus.FAILURE
    assert events.count("STEP_FAILURE") == 1 and "STEP_UP_FOR_RETRY" not in events, "bad data is not retried"


def test_a_dry_run_on_bad_upstream_data_fails_naming_it_and_writes_nothing(env, tmp_path) -> None:
    """The dry run's steps are the sync's, so bad data fails them as it fails a sync: exit 1,
    the order and field named, no retry, and still nothing written."""
    account = SimulatedAccount.generate(seed=5, orders=80, events=3, history_days=30, now=ACCOUNT_NOW)
    order_id, basket_id = account.corrupt("price", random.Random(7))
    with SimulatorServer(account, token=TOKEN) as server:
        result = zakaz("sync", "--dry-run", env=env | {"QTICKETS_BASE_URL": server.base_url}, timeout=180)
    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "dry run: FAILURE", result.stdout
    where = f"order {order_id}, basket {basket_id}: {CORRUPTIONS['price'][0]} "
    assert lines[1].startswith(f"the Qtickets API sent bad data: {where}"), lines
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "warehouse").exists() and not Path(env["DAGSTER_HOME"]).exists()


def test_a_sync_stopped_while_its_windows_are_scanned_side_by_side_exits(env) -> None:
    """Pages of ten orders from a slow API, payment windows scanned side by side by
    worker threads feeding the writer through a queue when the kill arrives."""
    account = SimulatedAccount.generate(seed=5, orders=400, events=3, history_days=120, now=ACCOUNT_NOW)
    pace = FaultPlan.parse("seed=1,latency_ms=150,max_per_page=10")
    with SimulatorServer(account, token=TOKEN, faults=pace) as server:
        sync = start_sync(env, server)
        deadline = time.monotonic() + 120
        while not any(_next_page_of_orders(r) for r in server.requests) and time.monotonic() < deadline:
            time.sleep(0.1)  # a window's second page: the scans are under way
        assert sync.poll() is None, "the sync ended before its scans were seen under way"
        sync.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        out, err = sync.communicate(timeout=120)
        waited = time.monotonic() - stopped
    assert sync.returncode == 1, err[-3000:]
    assert waited < 30, f"the stopped sync took {waited:.0f} s to exit"
    # Not "no traceback": a kill that lands while Dagster's SQLite storage resets a
    # connection makes SQLAlchemy log the interruption (test_stopped_sync_ends_in_plain_lines
    # holds the plain lines, with the main thread waiting on the API).
    assert "Ctrl-C or a kill" in out + err


def start_sync(env: dict[str, str], server: SimulatorServer) -> subprocess.Popen:
    """``zakaz sync`` against ``server`` in the background, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "zakaz_pipeline.cli", "sync"], env=env | {"QTICKETS_BASE_URL": server.base_url},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _next_page_of_orders(request: RequestRecord) -> bool:
    """A keyset scan's request after its first page: payment window and ``id >`` the last seen."""
    return request.path == "/orders" and len((request.body or {}).get("where", [])) > 2


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stopped_sync_ends_in_plain_lines(env, sig) -> None:
    """Ctrl-C or a kill while the run fetches from a slow API."""
    account = SimulatedAccount.generate(seed=5, orders=80, events=3, history_days=30, now=ACCOUNT_NOW)
    slow = FaultPlan.parse("seed=1,rate=1,kinds=slow,slow_seconds=2")
    with SimulatorServer(account, token=TOKEN, faults=slow) as server:
        sync = start_sync(env, server)
        deadline = time.monotonic() + 60
        while len(server.requests) < 3 and time.monotonic() < deadline:  # preflight, then the run's own requests
            time.sleep(0.2)
        sync.send_signal(sig)
        out, err = sync.communicate(timeout=120)
    result = subprocess.CompletedProcess(sync.args, sync.returncode, out, err)
    assert result.returncode == 1, err[-3000:]
    assert "stopped" in out + err and "Ctrl-C or a kill" in out + err
    assert "Traceback" not in out + err
    assert len([line for line in err.splitlines() if not INFO_LINE.match(line)]) <= 6, err
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert [run.status for run in instance.get_runs()] == [DagsterRunStatus.FAILURE], "not retried to the end"


def test_demo_runs_end_to_end_green_and_its_printed_ui_command_serves(tmp_path) -> None:
    """The demo's run passes every check, freshness included (its shop sold a moment before),
    and the UI command it prints starts the Dagster webserver as written, in another folder,
    with no venv activated (PATH without the venv's bin) and no "superseded" warning."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QTICKETS_", "CLICKHOUSE_", "ZAKAZ_", "DAGSTER_"))}
    result = zakaz("demo", "--path", str(tmp_path / "demo"), "--orders", "400", "--events", "6", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SUCCESS" in result.stdout
    with DagsterInstance.from_config(str(tmp_path / "demo" / "dagster_home")) as instance:
        (run,) = instance.get_runs()
        evaluations = instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    assert run.status == DagsterRunStatus.SUCCESS
    checks = {e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data for e in evaluations}
    assert checks["paid_orders_fresh"].passed
    assert [name for name, data in checks.items() if not data.passed] == []
    lines = result.stdout.splitlines()
    command = lines[lines.index("The Dagster UI on this demo's data (Ctrl-C stops it):") + 1].strip()
    port = _closed_port()
    shell = env | {"PATH": "/usr/bin:/bin"}
    with (tmp_path / "ui.log").open("w+") as log:
        ui = subprocess.Popen(
            ["bash", "-c", f"{command} -h 127.0.0.1 -p {port}"], cwd=BARE_FOLDER, env=shell,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            serving = _serves(f"http://127.0.0.1:{port}/server_info", ui, deadline=time.monotonic() + 180)
        finally:
            with contextlib.suppress(ProcessLookupError):  # it may have exited already: the log says why
                os.killpg(ui.pid, signal.SIGTERM)
            ui.wait(timeout=60)
        log.seek(0)
        output = log.read()
    assert serving, output[-3000:]
    assert "superseded" not in output.lower() and "Traceback" not in output


def _serves(url: str, process: subprocess.Popen, deadline: float) -> bool:
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def test_sync_waits_for_a_process_holding_the_embedded_warehouse(env, tmp_path) -> None:
    """chDB opens a data path in one process at a time: a second sync waits, then succeeds."""
    target, errors = parse_target(env["CLICKHOUSE_URL"], "zakaz"), tmp_path / "sync.err"
    with open_client(target), errors.open("w") as stderr:
        sync = subprocess.Popen(
            [sys.executable, "-m", "zakaz_pipeline.cli", "sync"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 240
        while "waiting for the embedded warehouse" not in errors.read_text() and sync.poll() is None:
            assert time.monotonic() < deadline, "the sync neither waited nor ended"
            time.sleep(0.2)
        assert sync.poll() is None, f"the second process should be waiting for the warehouse: {errors.read_text()}"
    out, _ = sync.communicate(timeout=240)
    assert sync.returncode == 0, errors.read_text()[-3000:]
    assert "SUCCESS" in out


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


@pytest.mark.parametrize(
    ("command", "required"),
    [
        ("sync", ["QTICKETS_TOKEN", "ZAKAZ_PII_KEY"]),
        ("probe", ["QTICKETS_TOKEN"]),
        ("webhooks", ["QTICKETS_WEBHOOK_SECRET"]),
        ("bootstrap", ["CLICKHOUSE_ADMIN_URL", "CLICKHOUSE_ETL_PASSWORD"]),
        ("check", ["CLICKHOUSE_URL"]),
    ],
)
def test_help_names_the_variables_a_command_needs_and_where_they_are_read(command, required) -> None:
    result = zakaz(command, "--help", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # argparse wraps the epilog at the terminal's width
    assert "Environment. Required" in text and all(name in text for name in required), text
    assert "./.env" in text


def test_sync_reads_dotenv_and_an_exported_variable_wins(env, small_account, tmp_path) -> None:
    """The variables of ./.env fill in what the environment does not set: the secrets here,
    and a token the environment exports wins over the file's."""
    folder = tmp_path / "operator"
    folder.mkdir()
    (folder / ".env").write_text(f"QTICKETS_TOKEN={TOKEN}\nZAKAZ_PII_KEY={PII_KEY}\n", encoding="utf-8")
    shell = {k: v for k, v in env.items() if k not in ("QTICKETS_TOKEN", "ZAKAZ_PII_KEY")}
    elsewhere = zakaz("sync", "--dry-run", env=shell)
    assert elsewhere.returncode == 2 and "QTICKETS_TOKEN is not set" in elsewhere.stderr, "no .env where it runs"
    synced = zakaz("sync", "--dry-run", env=shell, cwd=folder)
    assert synced.returncode == 0, synced.stderr[-3000:]
    assert int(summary(synced.stdout)["orders"]) == sum(1 for order in small_account.orders if order["payed_at"])
    exported = zakaz("sync", "--dry-run", env=shell | {"QTICKETS_TOKEN": "revoked-token-value"}, cwd=folder)
    assert exported.returncode == 2 and "Qtickets refused the token" in exported.stderr
