"""The Dagster UI on a demo, in a real browser: every asset, the demo's materializations
and its check results, as a user sees them.

``zakaz demo`` fills a warehouse and a Dagster home in separate processes, then
``dagster-webserver`` serves them and Debian's headless Chromium (``/usr/bin/chromium``,
driven by Playwright's Python package; nothing is downloaded) reads the pages. The browser
and the network are the machine's own: Chromium runs without sandbox, GPU or any
background traffic, with a fresh profile in the test's folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from zakaz_pipeline.definitions import defs

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
SERVER_START_TIMEOUT_S = 90

pytestmark = pytest.mark.timeout(300)


@dataclass(frozen=True)
class Demo:
    path: Path
    env: dict[str, str]
    run_id: str


@dataclass(frozen=True)
class Webserver:
    url: str
    process: subprocess.Popen
    log: Path


def clean_env() -> dict[str, str]:
    """The environment a user's shell would have: none of the project's settings but the
    history start the whole test session uses."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QTICKETS_", "CLICKHOUSE_", "ZAKAZ_", "DAGSTER_"))}
    return base | {"QTICKETS_HISTORY_START": os.environ["QTICKETS_HISTORY_START"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no output)"


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    path = tmp_path / "demo"
    env = clean_env()
    result = subprocess.run(
        [sys.executable, "-m", "zakaz_pipeline.cli", "demo", "--path", str(path), "--orders", "400", "--events", "6"],
        capture_output=True, text=True, env=env, timeout=240, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with DagsterInstance.from_config(str(path / "dagster_home")) as instance:
        runs = instance.get_runs()
    assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS]
    return Demo(path=path, env=env, run_id=runs[0].run_id)


@pytest.fixture
def webserver(demo: Demo, tmp_path: Path) -> Iterator[Webserver]:
    """``dagster-webserver`` on the demo, in a process group of its own (it starts a code
    server), stopped with its children whatever the test does."""
    port = free_port()
    log = tmp_path / "webserver.log"
    env = demo.env | {
        "DAGSTER_HOME": str(demo.path / "dagster_home"),
        "CLICKHOUSE_URL": f"chdb://{demo.path / 'warehouse'}",
    }
    command = [
        str(Path(sys.executable).with_name("dagster-webserver")),
        *("-m", "zakaz_pipeline.definitions", "-h", "127.0.0.1", "-p", str(port), "--read-only"),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, log)
        yield Webserver(url=url, process=process, log=log)
    finally:
        stop_group(process)


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with status {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"dagster-webserver did not answer {url}/server_info in {SERVER_START_TIMEOUT_S} s:\n{tail(log)}")


def stop_group(process: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue


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
        try:
            yield context
        finally:
            context.close()


def check_status(page: Page, check: str, status: str) -> None:
    """A check in the asset's Checks tab: its name, then its latest status below it."""
    entry = page.get_by_title(check, exact=True).first.locator("xpath=..")
    expect(entry).to_contain_text(status, timeout=UI_TIMEOUT_MS)


def screenshot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000, f"{path} is {path.stat().st_size} bytes: an empty page?"


def test_dagster_ui_shows_the_demo(browser: BrowserContext, demo: Demo, webserver: Webserver, tmp_path: Path) -> None:
    graph = defs.resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    assert {k.to_user_string() for k in keys} >= {
        "dim_events", "dim_shows", "stg_qtickets_api_orders_raw", "stg_qtickets_api_inventory_raw",
        "fact_qtickets_sales_daily", "fact_qtickets_inventory_latest", "v_qtickets_sales_dashboard",
        "v_sales_14d", "v_sales_latest", "v_qtickets_freshness", "meta_job_runs",
    }  # fmt: skip
    with DagsterInstance.from_config(str(demo.path / "dagster_home")) as instance:
        latest = {key: instance.get_latest_materialization_event(key) for key in keys}
    materialized = {key for key, event in latest.items() if event is not None}
    assert {latest[key].run_id for key in materialized} == {demo.run_id}
    # unpartitioned assets show "Materialized" in the catalog, partitioned ones their partition counts
    unpartitioned = {key for key in materialized if graph.get(key).partitions_def is None}
    assert unpartitioned, "the demo materialized no unpartitioned asset"

    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    # The catalog: every asset of the definitions, and the demo's materializations.
    page.goto(f"{webserver.url}/assets")
    for key in keys:
        expect(page.locator(f'a[href="/assets/{key.to_user_string()}"]').first).to_be_visible()
    expect(page.get_by_text("Materialized", exact=True)).to_have_count(len(unpartitioned))
    screenshot(page, tmp_path / "asset_catalog.png")

    # The demo's run: succeeded, and it materialized the daily fact's partitions.
    short_id = demo.run_id[:8]
    page.goto(f"{webserver.url}/runs")
    expect(page.get_by_role("link", name=f"run {short_id}")).to_have_attribute("href", f"/runs/{demo.run_id}")
    page.goto(f"{webserver.url}/runs/{demo.run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_role("link", name="qtickets_sync").first).to_be_visible()
    expect(page.get_by_text("ASSET_MATERIALIZATION", exact=True).first).to_be_visible()
    page.goto(f"{webserver.url}/assets/fact_qtickets_sales_daily?view=events")
    expect(page.get_by_text(f"materialized in run {short_id}").first).to_be_visible()

    # The checks the demo's run evaluated, with their results.
    fact = AssetKey("fact_qtickets_sales_daily")
    fact_checks = sorted(c.name for c in graph.asset_check_keys if c.asset_key == fact)
    assert "matches_raw" in fact_checks
    page.goto(f"{webserver.url}/assets/fact_qtickets_sales_daily?view=checks")
    expect(page.get_by_text(f"Checks ({len(fact_checks)})")).to_be_visible()
    for name in fact_checks:
        check_status(page, name, "Succeeded")
    screenshot(page, tmp_path / "fact_checks.png")

    page.goto(f"{webserver.url}/assets/stg_qtickets_api_orders_raw?view=checks")
    check_status(page, "no_duplicate_tickets", "Succeeded")

    # Without users or grants to inspect, the embedded warehouse skips this one.
    page.goto(f"{webserver.url}/assets/v_qtickets_sales_dashboard?view=checks")
    check_status(page, "warehouse_access", "Skipped")
    check_status(page, "returns_rows", "Succeeded")
    screenshot(page, tmp_path / "dashboard_checks.png")

    assert not problems, f"errors in the UI's pages: {problems}"
    assert webserver.process.poll() is None, tail(webserver.log)
