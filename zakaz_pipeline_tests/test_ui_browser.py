"""The Dagster UI on a live demo, in a real browser, as a user drives it.

``zakaz demo --ui`` runs in a subprocess exactly as a user starts it: it syncs a small
shop, keeps it selling (a journal records each change and the sales day it changes) and
serves the Dagster webserver and daemon with the schedule and the late-change sensor on.
Debian's headless Chromium (``/usr/bin/chromium``, driven by Playwright's Python package;
nothing is downloaded) then checks that every partition is materialized and the checks
are green, launches a backfill from the asset's "Materialize…" dialog and sees it succeed
as one run, and sees the shop's refund of an old order restate its day. Ctrl-C (SIGINT)
stops it all; the warehouse's numbers for that day then equal the ground truth reckoned
from that day's orders as the demo's simulator served them after the refund.
The browser runs without sandbox, GPU or any background traffic, with a fresh profile.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunsFilter,
)
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from zakaz_pipeline.cli.demo import DEMO_TOKEN
from zakaz_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from zakaz_pipeline.simulator.live import Change, read_journal
from zakaz_pipeline.timezone import DEFAULT_TIMEZONE
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.harness import definitions

# Debian's package; CHROMIUM_PATH names another Chromium or Chrome (e.g. on a non-Debian CI runner).
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 30_000  # one page's wait for its text; the code location loads in a few seconds
DEMO_START_TIMEOUT_S = 240
RUN_TIMEOUT_S = 150  # a run waits its turn in the one-at-a-time queue behind the schedule's and the sensor's

GREEN = re.compile("Succeeded|In progress")

pytestmark = pytest.mark.timeout(600)


@dataclass(frozen=True)
class LiveDemo:
    path: Path
    url: str
    process: subprocess.Popen
    output: Path

    @property
    def home(self) -> str:
        return str(self.path / "dagster_home")


def clean_env() -> dict[str, str]:
    """The environment a user's shell would have: none of the project's settings, but a
    late-change sensor ticking every 10 s so that the test need not wait 30 s per tick."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QTICKETS_", "CLICKHOUSE_", "ZAKAZ_", "DAGSTER_"))}
    return base | {"ZAKAZ_LATE_CHANGES_INTERVAL": "10"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no output)"


@pytest.fixture
def live_demo(tmp_path: Path) -> Iterator[LiveDemo]:
    """``zakaz demo --ui`` until the test stops it (or, whatever the test does, afterwards)."""
    path, port, output = tmp_path / "demo", free_port(), tmp_path / "demo.out"
    command = [
        sys.executable, "-m", "zakaz_pipeline.cli", "demo", "--ui", "--path", str(path),
        "--orders", "400", "--events", "6", "--ui-port", str(port), "--shop-every", "2",
    ]  # fmt: skip
    with output.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=clean_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    demo = LiveDemo(path=path, url=f"http://127.0.0.1:{port}", process=process, output=output)
    try:
        wait_until_serving(demo)
        yield demo
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for pid in processes_of(demo):
            os.kill(pid, signal.SIGKILL)


def processes_of(demo: LiveDemo) -> list[int]:
    """Processes still running with this demo's Dagster home (webserver, daemon, code servers, runs)."""
    marker = f"DAGSTER_HOME={demo.home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until_serving(demo: LiveDemo) -> None:
    deadline = time.monotonic() + DEMO_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if demo.process.poll() is not None:
            pytest.fail(f"zakaz demo --ui exited with status {demo.process.returncode}:\n{tail(demo.output)}")
        if "Dagster UI: " in demo.output.read_text(errors="replace"):
            try:
                with urllib.request.urlopen(f"{demo.url}/server_info", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.5)
    pytest.fail(f"zakaz demo --ui did not serve {demo.url} in {DEMO_START_TIMEOUT_S} s:\n{tail(demo.output)}")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: this test drives Debian's Chromium. Install it with "
            "`sudo apt-get install --no-install-recommends chromium` (.ci/run does this), "
            "or set CHROMIUM_PATH to another Chromium or Chrome."
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1400},  # tall enough for the whole catalog
        )
        # Dagster's one-off "Join the community" dialog on localhost covers the page: mark it seen.
        context.add_init_script("window.localStorage.setItem('communityNux', '\"1\"')")
        context.set_default_timeout(UI_TIMEOUT_MS)
        # expect()'s own wait is 5 s unless told: a busy machine renders a page slower than that.
        expect.set_options(timeout=UI_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def check_status(page: Page, check: str, status: str | re.Pattern[str]) -> None:
    """A check in the asset's Checks tab: its name, then its latest status below it."""
    entry = page.get_by_title(check, exact=True).first.locator("xpath=..")
    expect(entry).to_contain_text(status, timeout=UI_TIMEOUT_MS)


def screenshot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000, f"{path} is {path.stat().st_size} bytes: an empty page?"


T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, demo: LiveDemo) -> T:
    """Poll ``probe`` until it returns something truthy; fail with the demo's output otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        if demo.process.poll() is not None:
            pytest.fail(f"the demo exited ({demo.process.returncode}) while waiting for {what}:\n{tail(demo.output)}")
        time.sleep(1)
    pytest.fail(f"no {what} in {timeout:.0f} s:\n{tail(demo.output)}")


def first_refund(demo: LiveDemo) -> Change | None:
    return next((c for c in read_journal(demo.path / "live_shop.jsonl") if c.kind == "refund"), None)


def simulator_url(demo: LiveDemo) -> str:
    """The API address the demo logged for its simulator."""
    found = re.search(r"simulator with \d+ orders and \d+ events at (\S+)", demo.output.read_text(errors="replace"))
    assert found, f"the demo did not log its simulator's address:\n{tail(demo.output)}"
    return found.group(1)


def day_truth(demo: LiveDemo, change: Change) -> dict[str, Decimal]:
    """``change``'s sales day as ``truth`` reckons it from the orders paid that day (in the
    demo's default time zone), read from the demo's simulator over its API like any client;
    the refunded ticket must be among them, refunded."""
    zone = ZoneInfo(DEFAULT_TIMEZONE)
    day = dt.date.fromisoformat(change.sales_date)
    start = dt.datetime.combine(day, dt.time(), zone)
    where = [
        {"column": "payed_at", "operator": ">=", "value": start.isoformat()},
        {"column": "payed_at", "operator": "<", "value": (start + dt.timedelta(days=1)).isoformat()},
    ]
    query = urllib.parse.urlencode({"where": json.dumps(where), "perPage": 1000})
    request = urllib.request.Request(
        f"{simulator_url(demo)}/orders?{query}", headers={"Authorization": f"Bearer {DEMO_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        page = json.load(answer)
    orders = page["data"]
    assert page["paging"]["total"] == len(orders), "the day's orders fit one page"
    refunded = next(
        b for o in orders if o["id"] == change.order_id for b in o["baskets"] if b["id"] == change.basket_id
    )
    assert refunded["refunded_at"] is not None
    return truth.day_totals(truth.daily_sales_of(orders, zone.key), day)


def latest_run_covering(instance: DagsterInstance, job: str, day: str, after: float) -> str | None:
    """The newest successful ``job`` run created after ``after`` whose partition range holds ``day``."""
    records = instance.get_run_records(RunsFilter(job_name=job, statuses=[DagsterRunStatus.SUCCESS]))
    for record in records:  # newest first
        tags = record.dagster_run.tags
        start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
        if start and end and start <= day <= end and record.create_timestamp.timestamp() > after:
            return record.dagster_run.run_id
    return None


def warehouse_day(demo: LiveDemo, day: str) -> dict[str, Decimal]:
    """The daily fact's totals for ``day``, read in a process of its own (this one has the
    session's embedded warehouse open, and a process opens one)."""
    script = (
        "import json, sys\n"
        "from zakaz_pipeline.warehouse.connection import open_client, parse_target\n"
        "with open_client(parse_target('chdb://' + sys.argv[1]), create_database=False) as client:\n"
        "    row = client.query('SELECT sum(orders), sum(tickets_sold), sum(gross_revenue), sum(refunded_amount),'\n"
        "        ' sum(revenue) FROM fact_qtickets_sales_daily WHERE org = %(org)s AND sales_date = %(day)s',\n"
        "        parameters={'org': 'default', 'day': sys.argv[2]}).result_rows[0]\n"
        "print(json.dumps([str(value) for value in row]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(demo.path / "warehouse"), day],
        capture_output=True, text=True, timeout=120, env=clean_env(), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    names = ("orders", "tickets_sold", "gross_revenue", "refunded_amount", "revenue")
    return dict(zip(names, map(Decimal, json.loads(result.stdout.splitlines()[-1])), strict=True))


def failed_checks(evaluations: list) -> list[str]:
    """The checks among these evaluations that did not pass, WARN or ERROR."""
    datas = [event.dagster_event.event_specific_data for event in evaluations]
    return sorted({data.asset_check_key.name for data in datas if not data.passed})


def test_live_demo_in_the_ui(browser: BrowserContext, live_demo: LiveDemo, tmp_path: Path) -> None:
    demo = live_demo
    graph = definitions().resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    with DagsterInstance.from_config(demo.home) as instance:
        initial = instance.get_runs(RunsFilter(job_name="qtickets_sync"))[-1]  # the oldest: the demo's own sync
        evaluations = instance.all_logs(initial.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    assert initial.status == DagsterRunStatus.SUCCESS
    assert evaluations and not failed_checks(evaluations), "checks not green after the demo's sync"
    with DagsterInstance.from_config(demo.home) as instance:
        recorded = instance.get_latest_materialization_event(AssetKey("meta_job_runs"))
    assert recorded is not None, "the monitoring table the CLI wrote shows as materialized"

    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    # The catalog: every asset of the definitions.
    page.goto(f"{demo.url}/assets")
    for key in keys:
        expect(page.locator(f'a[href="/assets/{key.to_user_string()}"]').first).to_be_visible()
    screenshot(page, tmp_path / "asset_catalog.png")

    # Every partition of the demo's range is materialized: none missing.
    page.goto(f"{demo.url}/assets/fact_qtickets_sales_daily?view=partitions")
    expect(page.get_by_text("Missing (0)")).to_be_visible()
    expect(page.get_by_text("Failed (0)")).to_be_visible()
    screenshot(page, tmp_path / "fact_partitions.png")

    # Green checks, freshness included: the live shop sold seconds before the sync read the
    # orders. The schedule's and the sensor's runs evaluate them again and again, so the
    # latest may be one in progress; every finished evaluation is checked at the end.
    page.goto(f"{demo.url}/assets/stg_qtickets_api_orders_raw?view=checks")
    for name in ("paid_orders_fresh", "daily_volume", "no_duplicate_tickets", "keys_present"):
        check_status(page, name, GREEN)
    screenshot(page, tmp_path / "orders_checks.png")
    page.goto(f"{demo.url}/assets/v_qtickets_sales_dashboard?view=checks")
    check_status(page, "returns_rows", GREEN)
    # The embedded engine has no users or grants: its code location has no access check to show.
    expect(page.get_by_title("warehouse_access", exact=True)).to_have_count(0)

    # A backfill of three old days from the asset's "Materialize…" dialog: one run, successful.
    today = dt.date.fromisoformat(read_journal(demo.path / "live_shop.jsonl")[0].at[:10])
    first, last = today - dt.timedelta(days=2), today - dt.timedelta(days=1)
    page.goto(f"{demo.url}/assets/stg_qtickets_api_orders_raw?view=partitions")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Backfills all partitions in a single run.")).to_be_visible()
    selection = dialog.locator("input[type=text]").first  # "Custom" is preselected: type the range
    selection.fill(f"[{first}...{last}]")
    selection.press("Enter")
    expect(dialog.get_by_text("2 partitions")).to_be_visible()
    screenshot(page, tmp_path / "backfill_dialog.png")
    dialog.get_by_role("button", name="Launch backfill").click()
    expect(dialog).to_be_hidden()

    def backfill_runs() -> tuple[PartitionBackfill, list[DagsterRun]]:
        with DagsterInstance.from_config(demo.home) as instance:
            (backfill,) = instance.get_backfills()
            return backfill, instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))

    def finished_backfill_run() -> tuple[PartitionBackfill, list[DagsterRun]] | None:
        backfill, runs = backfill_runs()
        return (backfill, runs) if runs and all(run.is_finished for run in runs) else None

    # The backfill daemon submits the run on one pass and marks the backfill done on a later
    # one (every 30 s): the test waits for the run, and holds the backfill to it at the end.
    backfill, runs = wait_for("finished backfill run", finished_backfill_run, RUN_TIMEOUT_S, demo)
    assert backfill.status != BulkActionStatus.FAILED, backfill.status
    assert [run.status for run in runs] == [DagsterRunStatus.SUCCESS], "the backfill is one successful run"
    assert (runs[0].tags[RANGE_START_TAG], runs[0].tags[RANGE_END_TAG]) == (
        str(first),
        str(last),
    )
    page.goto(f"{demo.url}/runs/{runs[0].run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    screenshot(page, tmp_path / "backfill_run.png")

    # The shop refunds an old order; the late-change sensor's run restates that day.
    refund = wait_for("refund in the live shop's journal", lambda: first_refund(demo), 60, demo)
    refunded_at = dt.datetime.fromisoformat(refund.at).timestamp()

    def restating_run() -> str | None:
        with DagsterInstance.from_config(demo.home) as instance:
            return latest_run_covering(instance, "qtickets_late_changes", refund.sales_date, refunded_at)

    run_id = wait_for(f"late-change run of {refund.sales_date}", restating_run, RUN_TIMEOUT_S, demo)
    expected = day_truth(demo, refund)  # each old day changes once: this stays the day's truth
    page.goto(f"{demo.url}/assets/stg_qtickets_api_orders_raw?view=partitions&partition={refund.sales_date}")
    expect(page.get_by_role("link", name=run_id[:8]).first).to_be_visible()
    screenshot(page, tmp_path / "restated_day.png")
    assert not problems, f"errors in the UI's pages: {problems}"

    # Ctrl-C: everything stops, in a few plain lines.
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(timeout=60) == 130, tail(demo.output)
    output = demo.output.read_text(errors="replace")
    assert "Traceback" not in output, tail(demo.output)
    assert output.rstrip().endswith("demo stopped"), tail(demo.output)
    assert processes_of(demo) == [], "processes outlived the demo"

    # Every check of every run the demo made (sync, schedule, sensor, backfill) passed.
    with DagsterInstance.from_config(demo.home) as instance:
        evaluations = [
            event
            for run in instance.get_runs()
            for event in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
    assert not failed_checks(evaluations), f"checks that did not pass: {failed_checks(evaluations)}"
    backfill, runs_then = backfill_runs()
    assert [run.run_id for run in runs_then] == [runs[0].run_id], "the backfill made no other run"
    assert backfill.status in (BulkActionStatus.REQUESTED, BulkActionStatus.COMPLETED_SUCCESS), backfill.status

    # The day's numbers in the warehouse are the ground truth after the refund.
    assert expected["refunded_amount"] > 0
    assert warehouse_day(demo, refund.sales_date) == expected
