"""The dlt peer as the harness runs it: ``peer_dlt.py`` in a venv of its own (built once from
``requirements-dlt.txt``, so dlt's dependencies never touch the project's) against the same
simulator, its wall time and process-tree memory measured exactly as the sync's."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from benchmarks import measure
from benchmarks.environment import BENCH_DIR, TOKEN, clean_env, say
from benchmarks.results import ScaleResult


def dlt_python(args: argparse.Namespace, log_dir: Path) -> tuple[str | None, str]:
    """The peer's interpreter: ``--dlt-python`` or a venv made once from requirements-dlt.txt."""
    if args.dlt_python:
        return args.dlt_python, ""
    if not (BENCH_DIR / "peer_dlt.py").exists():
        return None, "benchmarks/peer_dlt.py does not exist yet"
    requirements = BENCH_DIR / "requirements-dlt.txt"
    venv = BENCH_DIR / ".venv-dlt"
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = requirements.read_text() if requirements.exists() else ""
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return str(python), ""
    print(f"creating {venv} from {requirements.name} …", flush=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "venv-dlt.log").open("wb") as log:
        steps = [[sys.executable, "-m", "venv", "--clear", str(venv)]]
        if requirements.exists():
            steps.append([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)])
        for step in steps:
            if subprocess.run(step, stdout=log, stderr=log, check=False).returncode != 0:
                return None, f"could not build {venv} (see {log_dir / 'venv-dlt.log'})"
    stamp.write_text(wanted)
    return str(python), ""


def bench_peer(result: ScaleResult, args: argparse.Namespace, base_url: str, work: Path, logs: Path) -> None:
    """``--runs`` peer runs, each in a fresh directory; the first failure is noted, not raised."""
    python, note = dlt_python(args, logs)
    if python is None:
        result.peer_note = note
        say(f"[{result.scale}×] peer skipped: {note}")
        return
    for i in range(args.runs):
        peer_dir = work / f"x{result.scale}" / f"peer-{i}"
        shutil.rmtree(peer_dir, ignore_errors=True)
        peer_dir.mkdir(parents=True)
        measured = measure.run(
            [python, str(BENCH_DIR / "peer_dlt.py"), "--base-url", base_url, "--token", TOKEN, "--workdir", str(peer_dir)],
            env=clean_env(), cwd=peer_dir, log_dir=logs, name=f"peer-{i}",
        )  # fmt: skip
        if measured.returncode != 0:
            result.peer_note = f"peer_dlt.py failed (exit {measured.returncode}): {measured.stderr.strip()[-500:]}"
            say(f"[{result.scale}×] {result.peer_note}")
            return
        result.peer.append(measured)
        lines = [line for line in measured.stdout.splitlines() if line.strip().startswith("{")]
        result.peer_output.append(orjson.loads(lines[-1]) if lines else {})
        say(f"[{result.scale}×] peer run {i + 1}: {measured.seconds:.1f} s, peak RSS {measured.rss_mb:.0f} MB")
        if not args.keep:
            shutil.rmtree(peer_dir, ignore_errors=True)
