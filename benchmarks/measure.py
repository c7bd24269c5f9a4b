"""Wall time and peak memory of a command's whole process tree, from /proc (stdlib only).

A sampler thread sums the resident set of the command and all its descendants every
50 ms (``/proc/<pid>/statm``: resident pages, of which file-backed such as chDB's
shared library, the rest anonymous); ``os.wait4`` adds the kernel's own ``ru_maxrss``
of the direct child as a cross-check that no short peak fell between two samples.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


@dataclass
class Measured:
    argv: list[str]
    returncode: int
    seconds: float
    peak_rss_mb: float  # Σ RSS of the tree, highest sample
    peak_anon_mb: float  # Σ (RSS − file-backed) of the tree, highest sample
    maxrss_mb: float  # kernel ru_maxrss of the direct child
    stdout: str
    stderr: str
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (seconds, tree RSS MB)

    @property
    def rss_mb(self) -> float:
        """The peak to report: samples, or the kernel's figure if a peak slipped between samples."""
        return max(self.peak_rss_mb, self.maxrss_mb)

    def check(self, what: str) -> Measured:
        if self.returncode != 0:
            tail = (self.stderr or self.stdout)[-3000:]
            raise RuntimeError(f"{what} failed with exit status {self.returncode}:\n{tail}")
        return self


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_memory(root: int) -> tuple[int, int]:
    """(resident bytes, anonymous resident bytes) of ``root`` and its descendants."""
    tree, stack, rss, anon = _children(), [root], 0, 0
    while stack:
        pid = stack.pop()
        stack.extend(tree.get(pid, ()))
        try:
            fields = Path(f"/proc/{pid}/statm").read_text().split()
        except OSError:
            continue
        resident, shared = int(fields[1]) * PAGE, int(fields[2]) * PAGE
        rss += resident
        anon += resident - shared
    return rss, anon


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    log_dir: Path,
    name: str,
    interval: float = 0.05,
    timeout: float | None = None,
) -> Measured:
    """Run ``argv`` to completion; its stdout/stderr go to ``log_dir/name.{out,err}``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=dict(env) if env else None, cwd=cwd, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)  # fmt: skip
        peak = [0, 0]
        timeline: list[tuple[float, float]] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                rss, anon = tree_memory(proc.pid)
                peak[0], peak[1] = max(peak[0], rss), max(peak[1], anon)
                timeline.append((time.perf_counter() - began, rss / MB))
                done.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        deadline = None if timeout is None else began + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
    return Measured(
        argv=list(argv),
        returncode=proc.returncode,
        seconds=seconds,
        peak_rss_mb=peak[0] / MB,
        peak_anon_mb=peak[1] / MB,
        maxrss_mb=usage.ru_maxrss / 1024,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        timeline=timeline,
    )
