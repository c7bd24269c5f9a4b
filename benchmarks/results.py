"""What one scale measured, kept raw (every run) so the report can show medians and spreads."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import measure
from benchmarks.environment import today


@dataclass
class Figure:
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self, fmt: str = "{:.1f}") -> str:
        if len(self.values) < 2:
            return "—"
        return f"{fmt.format(min(self.values))}–{fmt.format(max(self.values))}"


@dataclass
class ScaleResult:
    scale: int
    dataset: dict[str, Any]
    serve_cold: dict[str, Any] = field(default_factory=dict)
    serve: list[dict[str, Any]] = field(default_factory=list)
    floor: list[dict[str, Any]] = field(default_factory=list)
    floor_at_limit: dict[str, Any] = field(default_factory=dict)  # filters refused: the floor's requests 4 at a time
    sync: list[measure.Measured] = field(default_factory=list)
    sync_summary: dict[str, str] = field(default_factory=dict)
    sync_breakdown: dict[str, Any] = field(default_factory=dict)
    tick: list[measure.Measured] = field(default_factory=list)
    tick_breakdown: dict[str, Any] = field(default_factory=dict)
    process_floor: list[measure.Measured] = field(default_factory=list)  # benchmarks.process_floor: no run
    dagster_floor: list[measure.Measured] = field(default_factory=list)  # benchmarks.dagster_floor: empty bodies
    peer: list[measure.Measured] = field(default_factory=list)
    peer_output: list[dict[str, Any]] = field(default_factory=list)
    peer_note: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    warehouse: Path | None = None
    simulator_rss_mb: float = 0.0
    profiles: list[tuple[str, str]] = field(default_factory=list)
    pace: Any = None  # simulator_process.Pace for the "API pace" section, None at zero latency
    peak_in_flight: dict[str, int] = field(default_factory=dict)  # what was running → most requests at once
    requests: dict[str, int] = field(default_factory=dict)  # what was running → requests answered, all its runs
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)  # … → those by kind (simulator.kind)
    findings: dict[str, Any] = field(default_factory=dict)  # what the last sync recorded of the API (findings.py)
    probe: list[measure.Measured] = field(default_factory=list)  # `zakaz probe --no-record`
    variant: ScaleResult | None = None  # the same pace and dialect with a shorter history (refused_runs.py)

    def per_run(self, what: str, runs: int) -> dict[str, float]:
        """``what``'s requests of one run: in all, and by kind."""
        return {"all": self.requests.get(what, 0) / runs} | {
            kind: count / runs for kind, count in self.kinds.get(what, {}).items()
        }

    @property
    def partitions(self) -> int:
        first = dt.date.fromisoformat(self.dataset["first_sale_day"])
        return (today() - first).days + 1

    def fig(self, name: str) -> Figure | None:
        values = {
            "floor_s": [f["seconds"] for f in self.floor],
            "floor_rate": [f["orders"] / f["seconds"] for f in self.floor],
            "serve_pages": [s["pages"] / s["seconds"] for s in self.serve],
            "serve_orders": [s["orders"] / s["seconds"] for s in self.serve],
            "serve_mb": [s["megabytes"] / s["seconds"] for s in self.serve],
            "sync_s": [m.seconds for m in self.sync],
            "sync_rss": [m.rss_mb for m in self.sync],
            "sync_anon": [m.peak_anon_mb for m in self.sync],
            "tick_s": [m.seconds for m in self.tick],
            "tick_rss": [m.rss_mb for m in self.tick],
            "tick_anon": [m.peak_anon_mb for m in self.tick],
            "process_floor_s": [m.seconds for m in self.process_floor],
            "process_floor_rss": [m.rss_mb for m in self.process_floor],
            "dagster_floor_s": [m.seconds for m in self.dagster_floor],
            "dagster_floor_rss": [m.rss_mb for m in self.dagster_floor],
            "peer_s": [m.seconds for m in self.peer],
            "peer_rss": [m.rss_mb for m in self.peer],
        }[name]
        return Figure(values) if values else None
