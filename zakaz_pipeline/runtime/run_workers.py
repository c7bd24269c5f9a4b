"""Runs whose process died: found, marked failed with the reason, so the queue moves on.

A run of ``zakaz sync`` lives in that process; one the daemon launches lives in a run
worker that its code server starts. A SIGKILL, an OOM kill or a power cut ends either
without a word and leaves the run STARTED for ever. The local instance allows one run at
a time, so every scheduled run would then wait in the queue behind the dead one.

So every run records where its process lives: its host and boot (``zakaz/host``,
``zakaz/boot_id``), and its pid (``zakaz/pid`` for a run of the command; for a run the
daemon launched, the pid Dagster's own "Started process for run" event reports). A run
whose process is gone from this host, or whose host has restarted since, is dead:

- the command marks such runs failed before it starts its own (``fail_dead_runs``);
- the daemon does, by Dagster's run monitoring (``run_monitoring:`` in ``instance.yaml``),
  which asks the run launcher whether a run's worker is alive. Dagster's
  ``DefaultRunLauncher`` cannot tell, so its monitoring never looks at a STARTED run;
  ``LocalRunLauncher`` is that launcher answering from the records above.

A run on another host, or one with no record (made before this module), is left alone.
``instance.report_run_failed`` (public API) marks a run failed, with the reason in its log.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, DefaultRunLauncher, RunsFilter

from zakaz_pipeline.runtime.dagster_private import CheckRunHealthResult, LaunchRunContext, WorkerStatus

log = logging.getLogger("zakaz")

HOST_TAG = "zakaz/host"
BOOT_TAG = "zakaz/boot_id"
PID_TAG = "zakaz/pid"
# Where Linux keeps the id of the current boot: a new one after every restart.
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
# How Dagster's run worker announces itself, with its pid in the event's metadata:
# "Started process for run (pid: N)." (or "… for resuming job …").
RUN_WORKER_STARTED = ("Started process for run ", "Started process for resuming job ")
# Runs a dead process can leave behind, holding their place in the queue.
UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


@dataclass(frozen=True)
class Place:
    """A machine as it is booted now: a process of another boot is gone."""

    host: str
    boot: str

    @classmethod
    def here(cls) -> Place:
        try:
            boot = BOOT_ID.read_text(encoding="ascii").strip()
        except OSError:  # not Linux: a restart cannot be told, a dead pid still can
            boot = ""
        return cls(socket.gethostname(), boot)

    def tags(self) -> dict[str, str]:
        return {HOST_TAG: self.host, BOOT_TAG: self.boot}


def this_process_tags() -> dict[str, str]:
    """The tags that say where a run executed in this process lives."""
    return {**Place.here().tags(), PID_TAG: str(os.getpid())}


def why_dead(instance: DagsterInstance, run: DagsterRun, here: Place) -> str | None:
    """Why ``run``'s process is known to be gone, or None (alive, or cannot be told here)."""
    host, boot = run.tags.get(HOST_TAG), run.tags.get(BOOT_TAG)
    if host != here.host:
        return None
    pid = _pid(instance, run)
    if pid is None:
        return None
    if boot and here.boot and boot != here.boot:
        return f"its process (pid {pid} on {host}) ended when the machine restarted, before the run finished"
    if not _running(pid):
        return (
            f"its process (pid {pid} on {host}) is gone without finishing the run: killed (SIGKILL, "
            "out of memory) or crashed"
        )
    return None


def fail_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark failed every unfinished run whose process is gone; returns their ids."""
    here = Place.here()
    failed = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        reason = why_dead(instance, run, here)
        if reason is None:
            continue
        instance.report_run_failed(run, f"Marked failed by zakaz: {reason}.")
        log.warning("run %s was left %s: %s; marked failed", run.run_id, run.status.value, reason)
        failed.append(run.run_id)
    return failed


class LocalRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher (a run worker per run, started by the code server on
    this machine) that records where the worker lives and can tell whether it still does,
    so that the daemon's run monitoring fails a run whose worker died."""

    def launch_run(self, context: LaunchRunContext) -> None:
        self._instance.add_run_tags(context.dagster_run.run_id, Place.here().tags())
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        reason = why_dead(self._instance, run, Place.here())
        if reason is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, reason)


def _pid(instance: DagsterInstance, run: DagsterRun) -> int | None:
    """The run's process: the command's own tag, else the run worker Dagster reported
    (not a step's process, which also reports its pid and ends on its own)."""
    if PID_TAG in run.tags:
        return _as_pid(run.tags[PID_TAG])
    engine = instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
    pids = [
        _reported_pid(entry.dagster_event.event_specific_data)
        for entry in engine
        if entry.dagster_event is not None and _is_worker_start(entry.message)
    ]
    known = [pid for pid in pids if pid is not None]
    return known[-1] if known else None


def _is_worker_start(message: str) -> bool:
    """Dagster's words when a run worker starts (a resumed run's worker too)."""
    return message.startswith(RUN_WORKER_STARTED)


def _reported_pid(data: object) -> int | None:
    """The ``pid`` of an engine event's metadata."""
    metadata = getattr(data, "metadata", None) or {}
    value = metadata.get("pid")
    return _as_pid(str(value.value)) if value is not None else None


def _as_pid(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process here (an unreaped zombie has finished)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return _state(pid) not in ("Z", "X")


def _state(pid: int) -> str:
    """The process's state letter from ``/proc`` (empty where there is none)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    fields: Sequence[str] = stat.rpartition(")")[2].split()
    return fields[0] if fields else ""
