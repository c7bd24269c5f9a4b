"""The harness's handle on ``python -m benchmarks.simulator``: the dataset served from its
own process, so that its memory and CPU never count toward the pipeline's."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from benchmarks import measure
from benchmarks.environment import REPO, TOKEN


@dataclass(frozen=True)
class Pace:
    """A remote API's pace: every answer after ``latency_ms``, at most ``max_per_page`` a page
    (``None``: as asked), in a dialect (``zakaz_pipeline/simulator/dialect.py``)."""

    latency_ms: float
    max_per_page: int | None
    api_filters: str = "honoured"
    real_paging: bool = False
    tariffs: bool = False

    def argv(self) -> list[str]:
        """This pace as ``python -m benchmarks.simulator`` options."""
        argv = ["--latency-ms", str(self.latency_ms), "--api-filters", self.api_filters]
        argv += ["--max-per-page", str(self.max_per_page)] if self.max_per_page is not None else []
        return argv + ["--real-paging"] * self.real_paging + ["--tariffs"] * self.tariffs


class Traffic(NamedTuple):
    peak_in_flight: int  # the most requests held at once
    requests: int  # requests answered
    kinds: dict[str, int]  # of them: orders, events, seats, other; refused: answered other than 200


class Simulator:
    """``python -m benchmarks.simulator`` in its own process; stops when its stdin closes."""

    def __init__(
        self, orders: int, events: int, seed: int, history_days: int, log: Path, pace: Pace | None = None
    ) -> None:
        argv = [
            sys.executable, "-m", "benchmarks.simulator", "--orders", str(orders), "--events", str(events),
            "--seed", str(seed), "--history-days", str(history_days), "--token", TOKEN,
        ]  # fmt: skip
        if pace is not None:
            argv += pace.argv()
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

    def traffic(self) -> Traffic:
        """What the simulator served since the last call."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"peak\n")
        self.proc.stdin.flush()
        answer = orjson.loads(self.proc.stdout.readline())
        return Traffic(int(answer["peak_in_flight"]), int(answer["requests"]), dict(answer["kinds"]))

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
