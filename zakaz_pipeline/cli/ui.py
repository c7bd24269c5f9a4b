"""``zakaz demo --ui``: the Dagster webserver and daemon on a live demo, until Ctrl-C.

The demo process keeps the simulator and its live shop; Dagster runs in two child
processes (``dagster-webserver`` and ``dagster-daemon run``, the pieces ``dagster dev``
starts), each in a process group of its own so that stopping a group also stops the code
servers and the runs it launched. The demo process does not hold the embedded warehouse
while they run: runs and sensors take turns on its file lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("zakaz")

# The code location is named as in workspace.yaml and the deployment, so the CLI's runs
# (filed under location "zakaz") show under their jobs; `-m` would name it after the module.
WORKSPACE = """load_from:
  - python_module:
      module_name: zakaz_pipeline.definitions
      location_name: zakaz
"""
START_TIMEOUT_SECONDS = 120
STOP_GRACE_SECONDS = 20
RESIGNAL_SECONDS = 2


def write_workspace(path: Path) -> Path:
    """A workspace file in the demo's folder, so the UI can be started from anywhere."""
    workspace = path / "workspace.yaml"
    workspace.write_text(WORKSPACE, encoding="utf-8")
    return workspace


# The demo's cadence, unless the environment already sets one: ticks a person can watch.
DEMO_CADENCE = {"ZAKAZ_SCHEDULE_CRON": "* * * * *", "ZAKAZ_LATE_CHANGES_INTERVAL": "30"}


class UiError(RuntimeError):
    """The webserver or the daemon did not start or died; the message names its log."""


@dataclass
class _Child:
    name: str
    process: subprocess.Popen
    log: Path


def serve_ui(path: Path, *, host: str, port: int, env: Mapping[str, str], webhooks_port: int | None = None) -> int:
    """Run the webserver and the daemon (and with ``webhooks_port`` the webhook receiver,
    ``zakaz webhooks``) with ``env`` until SIGINT (exit 130), SIGTERM (exit 0) or a child's
    death (``UiError``); every child process group is stopped on the way out."""
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    children: list[_Child] = []
    try:
        logs = path / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        workspace = write_workspace(path)
        bin_dir = Path(sys.executable).parent
        children.append(
            _start(
                "dagster-webserver",
                [str(bin_dir / "dagster-webserver"), "-w", str(workspace), "-h", host, "-p", str(port)],
                logs,
                env,
            )
        )
        # Dagster's daemon logs every sensor tick at INFO ("Checking for new runs …"); its log
        # file keeps warnings and errors, the UI keeps every tick.
        daemon = [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace), "--log-level", "warning"]
        children.append(_start("dagster-daemon", daemon, logs, env))
        if webhooks_port is not None:
            receiver = [str(bin_dir / "zakaz"), "webhooks", "--host", host, "--port", str(webhooks_port)]
            children.append(_start("zakaz-webhooks", receiver, logs, env))
        url = f"http://{host}:{port}"
        _wait_until_serving(url, children, stop)
        if not stop.is_set():
            print(f"\nDagster UI: {url}   (schedule and late-change sensor on; logs in {logs})", flush=True)
            if webhooks_port is not None:
                print(
                    f"Webhooks: the simulator delivers each change to http://{host}:{webhooks_port}/qtickets/webhook;"
                    " the qtickets_webhooks sensor re-runs its day within seconds",
                    flush=True,
                )
            print("Press Ctrl-C to stop the UI, the daemon, their runs and the simulator.", flush=True)
        while not stop.wait(1):
            for child in children:
                if child.process.poll() is not None:
                    raise UiError(f"{child.name} exited with status {child.process.returncode}; see {child.log}")
    finally:
        if children:
            print("stopping the Dagster UI and daemon …", flush=True)
        for child in children:
            _signal_group(child, signal.SIGTERM)
        _wait_or_kill(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 130 if received and received[0] == signal.SIGINT else 0


def _start(name: str, command: list[str], logs: Path, env: Mapping[str, str]) -> _Child:
    log_path = logs / f"{name}.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=logs,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: Ctrl-C reaches only us; we stop it whole
        )
    return _Child(name, process, log_path)


def _wait_until_serving(url: str, children: list[_Child], stop: threading.Event) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not stop.is_set():
        for child in children:
            if child.process.poll() is not None:
                raise UiError(f"{child.name} exited with status {child.process.returncode} at start; see {child.log}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise UiError(f"the Dagster UI did not answer at {url} in {START_TIMEOUT_SECONDS} s; see {children[0].log}")
        stop.wait(0.5)


def _signal_group(child: _Child, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has already gone
        os.killpg(child.process.pid, sig)


def _wait_or_kill(children: list[_Child]) -> None:
    """Give each group (leader, code servers, run workers) the grace period to finish,
    then kill what is left of it: no process outlives the demo.

    A leader still running is signalled again every ``RESIGNAL_SECONDS``: Dagster's daemon
    raises its interrupt from the signal handler into whatever its main thread is running,
    and raised inside a garbage-collector callback it is ignored ("Exception ignored in
    ...") and the daemon runs on: a Ctrl-C then waited out the whole grace period."""
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        while child.process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.1, min(RESIGNAL_SECONDS, deadline - time.monotonic())))
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        while _group_alive(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _group_alive(child):
            log.warning("%s did not stop in %d s; killing it", child.name, STOP_GRACE_SECONDS)
            _signal_group(child, signal.SIGKILL)
        child.process.wait()


def _group_alive(child: _Child) -> bool:
    try:
        os.killpg(child.process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
