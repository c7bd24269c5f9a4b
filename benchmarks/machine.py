"""The machine and software a report was measured on, read from /proc, git and package metadata."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from benchmarks.environment import REPO

PACKAGES = ("dagster", "chdb", "clickhouse-connect", "pyarrow", "urllib3", "orjson")


def machine() -> dict[str, str]:
    """date, cpu, ram, os, python, versions, commit: the report's Machine table, in that order."""
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{_cpu()}, {os.cpu_count()} cores",
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": ", ".join(f"{name} {_version(name)}" for name in PACKAGES),
        "commit": _commit(),
    }


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "—"


def _commit() -> str:
    """HEAD, and whether the measured code (zakaz_pipeline/) differed from it."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "zakaz_pipeline"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout
    return f"{commit.strip()}{' + uncommitted changes in zakaz_pipeline/' if dirty.strip() else ''}"
