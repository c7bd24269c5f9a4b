"""Runs whose process was killed: found by the next ``zakaz sync`` and by the daemon's run
monitoring, marked failed with the reason, and the one-run queue moves on.

The processes are real: ``zakaz sync`` and ``dagster-daemon`` as subprocesses on the
simulator over HTTP and an embedded warehouse, killed with SIGKILL as an OOM killer or a
power cut would end them (no handler runs, nothing is written on the way out).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, job, op

from zakaz_pipeline.defs.jobs import partition_range_tags
from zakaz_pipeline.runtime.instance import ensure_dagster_home
from zakaz_pipeline.runtime.run_workers import BOOT_TAG, HOST_TAG, PID_TAG, Place, fail_dead_runs, this_process_tags
from zakaz_pipeline.simulator.faults import FaultPlan
from zakaz_pipeline.simulator.server import RequestRecord, SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse.connection import open_client, parse_target
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, TOKEN
from zakaz_pipeline_tests.test_cli import env, zakaz  # noqa: F401  (env is a fixture)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Slow enough that a run is still fetching orders when it is killed.
SLOW = FaultPlan.parse("seed=1,latency_ms=250,max_per_page=10")
WAIT = 240  # seconds any one thing may take on a busy 2-core machine


@op
def nothing() -> None:
    """A step that does nothing: the runs here are only records."""


@job
def records() -> None:
    nothing()


def test_runs_whose_process_is_gone_from_this_machine_are_marked_failed(instance: DagsterInstance) -> None:
    """A run of a dead pid here, or of a boot before the machine's restart, is failed with
    the reason; one of a live process, of another host or without a record is left alone."""
    here = Place.here()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead_pid = str(finished.pid)
    tagged = {
        "dead": {**here.tags(), PID_TAG: dead_pid},
        "restarted": {HOST_TAG: here.host, BOOT_TAG: "an-earlier-boot", PID_TAG: str(os.getpid())},
        "alive": this_process_tags(),
        "elsewhere": {HOST_TAG: "another-host", BOOT_TAG: here.boot, PID_TAG: dead_pid},
        "unrecorded": {},
    }
    runs = {name: instance.create_run_for_job(job_def=records, tags=tags) for name, tags in tagged.items()}

    failed = fail_dead_runs(instance)

    expected = {runs["dead"].run_id, runs["restarted"].run_id} if here.boot else {runs["dead"].run_id}
    assert set(failed) == expected
    statuses = {name: _run(instance, run.run_id).status for name, run in runs.items()}
    assert statuses == {
        name: DagsterRunStatus.FAILURE if runs[name].run_id in expected else DagsterRunStatus.NOT_STARTED
        for name in runs
    }
    assert f"pid {dead_pid} on {here.host}) is gone" in _failure_message(instance, runs["dead"].run_id)
    assert fail_dead_runs(instance) == [], "a run is marked once"


def test_a_killed_sync_is_failed_by_the_next_one_which_succeeds(env, tmp_path) -> None:  # noqa: F811
    account = SimulatedAccount.generate(seed=5, orders=300, events=3, history_days=60, now=ACCOUNT_NOW)
    with SimulatorServer(account, token=TOKEN, faults=SLOW) as server:
        killed = _kill_while_fetching(_start_sync(env | {"QTICKETS_BASE_URL": server.base_url}), server)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (left,) = instance.get_runs()
        assert left.status == DagsterRunStatus.STARTED, "SIGKILL leaves the run as it was"
        assert left.tags[PID_TAG] == str(killed)

    with SimulatorServer(account, token=TOKEN) as server:
        result = zakaz("sync", env=env | {"QTICKETS_BASE_URL": server.base_url})

    assert result.returncode == 0, result.stderr[-3000:]
    assert f"run {left.run_id} was left STARTED" in result.stderr and "marked failed" in result.stderr
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        statuses = {run.run_id: run.status for run in instance.get_runs()}
        reason = _failure_message(instance, left.run_id)
    assert statuses.pop(left.run_id) == DagsterRunStatus.FAILURE
    assert list(statuses.values()) == [DagsterRunStatus.SUCCESS]
    assert f"pid {killed} on" in reason and "is gone without finishing the run" in reason
    with open_client(parse_target(env["CLICKHOUSE_URL"], "zakaz")) as client:
        recorded = dict(client.query("SELECT run_id, status FROM meta_job_runs FINAL").result_rows)
    assert recorded[left.run_id] == "FAILURE", "the dead run is a failed sync for BI too"


def test_the_daemon_fails_dead_runs_and_its_queue_moves_on(env, tmp_path, monkeypatch) -> None:  # noqa: F811
    """The local instance runs one run at a time. A killed ``zakaz sync`` leaves its run
    STARTED; the daemon's run monitoring fails it and launches the queued run. That run's
    worker is then killed with the daemon and its code server (a power cut of the
    machine's Dagster); the daemon started again fails it too, and the next queued run
    starts."""
    account = SimulatedAccount.generate(seed=5, orders=300, events=3, history_days=60, now=ACCOUNT_NOW)
    home = _home_polled_every_second(env, monkeypatch)
    today = ACCOUNT_NOW.date()
    with SimulatorServer(account, token=TOKEN, faults=SLOW) as server:
        wired = env | {"QTICKETS_BASE_URL": server.base_url}
        killed_sync = _kill_while_fetching(_start_sync(wired), server)
        with DagsterInstance.from_config(str(home)) as instance:
            (left,) = instance.get_runs()
        with _daemon(wired, tmp_path / "daemon-1.log") as daemon:
            first = _launch(wired, partition_range_tags(today, today))
            _wait_for(lambda: _status(home, first) == DagsterRunStatus.STARTED, "the queued run to start")
            assert _status(home, left.run_id) == DagsterRunStatus.FAILURE
            worker = _worker_pid(home, first)
            os.killpg(daemon.pid, signal.SIGKILL)  # the daemon, its code server and the run's worker
            daemon.wait(timeout=WAIT)
        _wait_for(lambda: not _alive(worker), "the run worker to be gone")
        assert _status(home, first) == DagsterRunStatus.STARTED, "nothing was left to mark it"
        second = _launch(wired, partition_range_tags(today, today))
        assert _status(home, second) == DagsterRunStatus.QUEUED
        with _daemon(wired, tmp_path / "daemon-2.log"):
            _wait_for(lambda: _status(home, second) in STARTED_OR_DONE, "the next queued run to start")
    assert _status(home, first) == DagsterRunStatus.FAILURE
    with DagsterInstance.from_config(str(home)) as instance:
        sync_reason, worker_reason = (_failure_message(instance, run_id) for run_id in (left.run_id, first))
    for reason, pid in ((sync_reason, killed_sync), (worker_reason, worker)):  # Dagster's words around ours
        assert reason.startswith("Detected run worker status FAILED"), reason
        assert f"its process (pid {pid} on " in reason and "is gone without finishing the run" in reason


STARTED_OR_DONE = (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.SUCCESS)


def _start_sync(env: dict[str, str]) -> subprocess.Popen:  # noqa: F811
    return subprocess.Popen(
        [sys.executable, "-m", "zakaz_pipeline.cli", "sync"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _kill_while_fetching(sync: subprocess.Popen, server: SimulatorServer) -> int:
    """SIGKILL once the run pages through orders; returns its pid (reaped: no zombie left)."""
    try:
        _wait_for(lambda: any(_next_page_of_orders(r) for r in server.requests), "the sync to fetch orders")
        assert sync.poll() is None, "the sync ended before it could be killed"
    finally:
        sync.kill()
        sync.wait(timeout=WAIT)
    return sync.pid


def _next_page_of_orders(request: RequestRecord) -> bool:
    return request.path == "/orders" and len((request.body or {}).get("where", [])) > 2


def _home_polled_every_second(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """The Dagster home as ``zakaz`` writes it, with run monitoring polled every second
    rather than every 30 (the test's only change to the shipped instance)."""
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    for name in ("DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"):
        monkeypatch.delenv(name, raising=False)  # ensure_dagster_home sets them; restored afterwards
    home = ensure_dagster_home()
    config = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8"))
    assert config["run_launcher"]["class"] == "LocalRunLauncher" and config["run_monitoring"]["enabled"]
    config["run_monitoring"]["poll_interval_seconds"] = 1
    (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return home


class _daemon:
    """``dagster-daemon run`` on this folder's workspace, in a process group of its own."""

    def __init__(self, env: dict[str, str], log: Path) -> None:  # noqa: F811
        self.env, self.log = env, log

    def __enter__(self) -> subprocess.Popen:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return self.proc

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=WAIT)


def _launch(env: dict[str, str], tags: dict[str, str]) -> str:  # noqa: F811
    """A run of the sync job submitted to the instance's queue, as the schedule submits one."""
    result = subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "qtickets_sync", "--tags",
         json.dumps(tags)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        return instance.get_runs(limit=1)[0].run_id


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT} s for {what}"
        time.sleep(0.5)


def _run(instance: DagsterInstance, run_id: str) -> DagsterRun:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run


def _status(home: Path, run_id: str) -> DagsterRunStatus:
    with DagsterInstance.from_config(str(home)) as instance:
        return _run(instance, run_id).status


def _worker_pid(home: Path, run_id: str) -> int:
    with DagsterInstance.from_config(str(home)) as instance:
        (started,) = [
            entry for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
            if entry.message.startswith("Started process for run")
        ]  # fmt: skip
    assert started.dagster_event is not None
    return int(started.dagster_event.event_specific_data.metadata["pid"].value)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"


def _failure_message(instance: DagsterInstance, run_id: str) -> str:
    (failure,) = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    return failure.message
