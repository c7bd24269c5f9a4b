"""Runs of ``zakaz sync`` / ``zakaz check`` where users look for them: under their job in
the UI, and on each asset partition with that day's own metadata. Asked of the real
webserver over GraphQL, as the UI asks."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
import yaml
from dagster import DagsterRunStatus, job, op

from zakaz_pipeline.runtime import dagster_private
from zakaz_pipeline.runtime.event_log import BatchedSqliteEventLogStorage
from zakaz_pipeline.runtime.instance import ensure_dagster_home, open_instance
from zakaz_pipeline.runtime.run_workers import PID_TAG, LocalRunLauncher, Place, this_process_tags
from zakaz_pipeline.runtime.runs import CODE_LOCATION, remote_job_origin
from zakaz_pipeline.warehouse.contract import schema_contract
from zakaz_pipeline_tests.reconcile import expected_tickets
from zakaz_pipeline_tests.test_cli import env, zakaz  # noqa: F401  (env is a fixture)

ROOT = Path(__file__).resolve().parents[1]
ORDERS = "stg_qtickets_api_orders_raw"
LOAD_TIMEOUT = 240
RUN_ID = re.compile(r"\brun ([0-9a-f-]{36})\b")
QUERY = """
query ($asset: [String!]!) {
  sync: pipelineOrError(params: {pipelineName: "qtickets_sync", repositoryName: "__repository__",
                                 repositoryLocationName: "zakaz"}) {
    __typename ... on Pipeline { runs { runId status repositoryOrigin { repositoryLocationName } } }
  }
  checks: pipelineOrError(params: {pipelineName: "qtickets_checks", repositoryName: "__repository__",
                                   repositoryLocationName: "zakaz"}) {
    __typename ... on Pipeline { runs { runId status } }
  }
  assetNodeOrError(assetKey: {path: $asset}) {
    ... on AssetNode {
      metadataEntries { label ... on TableSchemaMetadataEntry { schema { columns { name type } } } }
      assetMaterializations(limit: 1000) { partition runId metadataEntries { label ... on IntMetadataEntry { intValue } } }
    }
  }
}
"""


def test_the_code_location_is_named_as_in_both_workspaces() -> None:
    """The UI files a run under its job by the origin's label; it names the location of both workspaces."""
    for workspace in (ROOT / "workspace.yaml", ROOT / "infra" / "dagster" / "workspace.yaml"):
        entries = yaml.safe_load(workspace.read_text())["load_from"]
        assert [next(iter(entry.values()))["location_name"] for entry in entries] == [CODE_LOCATION], workspace
    origin = remote_job_origin("qtickets_sync")
    assert (origin.job_name, origin.repository_origin.get_label()) == ("qtickets_sync", "__repository__@zakaz")


@op
def nothing() -> None:
    """A step that does nothing: the runs here are only records."""


@job
def records() -> None:
    nothing()


def test_the_private_dagster_names_still_do_what_the_runtime_uses_them_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard of ``runtime/dagster_private.py``, with the UI test below (a run filed under its
    job): on a Dagster that moved or changed a name, this fails rather than a user's command.
    The instance the command makes stores events through the subclass of Dagster's SQLite
    storage and launches through the launcher whose health answers run monitoring reads."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with open_instance() as instance:
        storage, launcher = instance.event_log_storage, instance.run_launcher
        assert isinstance(storage, BatchedSqliteEventLogStorage)
        assert isinstance(storage, dagster_private.SqliteEventLogStorage)
        assert isinstance(launcher, LocalRunLauncher) and launcher.supports_check_run_worker_health
        finished = subprocess.Popen([sys.executable, "-c", "pass"])
        finished.wait()
        alive = instance.create_run_for_job(job_def=records, tags=this_process_tags())
        dead = instance.create_run_for_job(job_def=records, tags={**Place.here().tags(), PID_TAG: str(finished.pid)})
        answers = {run.run_id: launcher.check_run_worker_health(run) for run in (alive, dead)}
        assert all(isinstance(answer, dagster_private.CheckRunHealthResult) for answer in answers.values())
        assert [answers[run.run_id].status for run in (alive, dead)] == [
            dagster_private.WorkerStatus.RUNNING,
            dagster_private.WorkerStatus.FAILED,
        ]
        assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.NOT_STARTED, "asking changes nothing"


def test_a_home_written_before_the_runtime_package_still_opens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``.zakaz/dagster_home`` made when the instance's pieces lived in ``cli/`` names them
    there; the command rewrites those names and keeps the rest of the home's settings."""
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    ensure_dagster_home()
    config = home / "dagster.yaml"
    old = config.read_text(encoding="utf-8").replace("zakaz_pipeline.runtime.", "zakaz_pipeline.cli.")
    config.write_text(old.replace("max_concurrent_runs: 1", "max_concurrent_runs: 2"), encoding="utf-8")
    with open_instance() as instance:
        assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)
        assert isinstance(instance.run_launcher, LocalRunLauncher)
    text = config.read_text(encoding="utf-8")
    assert "zakaz_pipeline.cli." not in text and "max_concurrent_runs: 2" in text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def webserver(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # noqa: F811
    """``dagster-webserver`` on this folder's workspace.yaml and the test's DAGSTER_HOME,
    made first as the CLI makes it (a server started on a missing home exits at once).

    A free port can be taken by another process between the probe and the server's bind
    (tests run side by side): a server that exits before it listens is started again on
    another port, and one that never listens fails the test with its own log."""
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    for name in ("DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"):
        monkeypatch.delenv(name, raising=False)  # ensure_dagster_home sets them; restored afterwards
    ensure_dagster_home()
    log = tmp_path / "webserver.log"
    for _ in range(3):
        port = _free_port()
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
                 "-p", str(port)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if _listening(proc, port):
            break
        _stop(proc)
    else:
        pytest.fail("dagster-webserver never listened: " + log.read_text(errors="replace")[-2000:])
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        _stop(proc)


def _listening(proc: subprocess.Popen, port: int) -> bool:
    """True once the server accepts connections on ``port``, False if it exits first."""
    deadline = time.monotonic() + LOAD_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _ask(url: str, variables: dict) -> dict:
    """The query's answer once the code location has loaded (the webserver loads it in the background)."""
    http = urllib3.PoolManager(retries=False)
    # loading the code location takes seconds alone, minutes on a loaded 2-core machine
    deadline, answer = time.monotonic() + LOAD_TIMEOUT, None
    while True:
        try:
            answer = http.request(
                "POST", url, body=json.dumps({"query": QUERY, "variables": variables}),
                headers={"Content-Type": "application/json"}, timeout=10,
            )  # fmt: skip
            data = json.loads(answer.data)["data"]
            if data["sync"]["__typename"] == "Pipeline":
                return data
        except (urllib3.exceptions.HTTPError, ValueError, KeyError, TypeError):
            pass
        assert time.monotonic() < deadline, (
            f"no answer in {LOAD_TIMEOUT} s; the last: {answer and answer.data[:2000]!r}"
        )
        time.sleep(0.5)


def test_cli_runs_show_under_their_job_and_each_day_carries_its_own_rows(env, small_account, webserver) -> None:  # noqa: F811
    sync = zakaz("sync", env=env)
    assert sync.returncode == 0, sync.stderr[-3000:]
    check = zakaz("check", env=env)  # its verdict is test_cli's business; its run is ours
    assert RUN_ID.search(check.stdout), check.stdout[-3000:] + check.stderr[-3000:]
    sync_run, check_run = (RUN_ID.search(result.stdout).group(1) for result in (sync, check))

    data = _ask(webserver, {"asset": [ORDERS]})

    assert [(r["runId"], r["status"]) for r in data["sync"]["runs"]] == [(sync_run, "SUCCESS")]
    assert data["sync"]["runs"][0]["repositoryOrigin"] == {"repositoryLocationName": "zakaz"}
    assert [r["runId"] for r in data["checks"]["runs"]] == [check_run]
    node = data["assetNodeOrError"]
    (schema,) = [e["schema"] for e in node["metadataEntries"] if e["label"] == "dagster/column_schema"]
    assert [(c["name"], c["type"]) for c in schema["columns"]] == list(schema_contract()[ORDERS].items())
    expected = collections.Counter(
        day.isoformat() for day, *_ in expected_tickets(small_account, "Europe/Moscow").values()
    )
    found = {}
    for materialization in node["assetMaterializations"]:
        assert materialization["runId"] == sync_run
        (rows,) = [e["intValue"] for e in materialization["metadataEntries"] if e["label"] == "dagster/row_count"]
        found[materialization["partition"]] = rows
    assert {day: rows for day, rows in found.items() if rows} == dict(expected)
    assert len(set(found.values())) > 1, "each day has its own count, not the run's total repeated"
