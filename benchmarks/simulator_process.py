"""The harness's handle on ``python -m benchmarks.simulator``: the dataset served from its
own process, so that its memory and CPU never count toward the pipeline's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from benchmarks import measure
from benchmarks.environment import REPO, TOKEN


class Simulator:
    """``python -m benchmarks.simulator`` in its own process; stops when its stdin closes."""

    def __init__(self, orders: int, events: int, seed: int, history_days: int, log: Path) -> None:
        argv = [
            sys.executable, "-m", "benchmarks.simulator", "--orders", str(orders), "--events", str(events),
            "--seed", str(seed), "--history-days", str(history_days), "--token", TOKEN,
        ]  # fmt: skip
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("wb")
        self.proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"the simulator did not start; see {log}")
        self.info: dict[str, Any] = orjson.loads(line)
        self.base_url: str = self.info["base_url"]

    def rss_mb(self) -> float:
        return measure.tree_memory(self.proc.pid)[0] / measure.MB

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self._log.close()
