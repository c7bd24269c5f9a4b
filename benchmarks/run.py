"""The performance harness: ``python -m benchmarks`` (or ``python benchmarks/run.py``).

For each scale it starts the simulator in its own process, then measures, each ``--runs``
times: the simulator's serving rate, the raw-fetch floor, a full-history ``zakaz sync`` (a
subprocess on a fresh warehouse and DAGSTER_HOME), a 15-minute tick on the filled
warehouse and, at the first scale, the dlt peer. Afterwards it times DataLens queries on
the largest warehouse in this process, profiles the sync where a target is missed, prints
a table and writes ``benchmarks/RESULTS.md``. See benchmarks/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import datetime as dt
import os
import platform
import pstats
import shlex
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from benchmarks import measure, views

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TOKEN = "bench-token-0123456789"
PII_KEY = "bench-pii-key-0123456789"
ORG = "bench"
TIMEZONE = "Europe/Moscow"
REAL_ORDERS, REAL_EVENTS, HISTORY_DAYS = 123_000, 221, 730
QUICK_ORDERS, QUICK_EVENTS, QUICK_HISTORY_DAYS = 12_000, 40, 120

TARGETS = {
    "sync_vs_floor": 1.5,  # full-history sync ≤ 1.5 × raw-fetch floor
    "dlt_vs_sync": 5.0,  # ≥ 5 × faster than dlt
    "rss_mb": 500.0,  # peak RSS ≤ 500 MB
    "rss_growth": 1.10,  # within 10 % between 1× and 10×
    "dlt_rss_vs_sync": 10.0,  # ≥ 10 × less memory than dlt
    "tick_s": 10.0,  # one 15-minute tick ≤ 10 s
    "view_p95_ms": 50.0,  # DataLens view p95 ≤ 50 ms at 10×
}


# --------------------------------------------------------------------------- figures


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
    sync: list[measure.Measured] = field(default_factory=list)
    sync_summary: dict[str, str] = field(default_factory=dict)
    sync_breakdown: dict[str, Any] = field(default_factory=dict)
    tick: list[measure.Measured] = field(default_factory=list)
    tick_breakdown: dict[str, Any] = field(default_factory=dict)
    peer: list[measure.Measured] = field(default_factory=list)
    peer_output: list[dict[str, Any]] = field(default_factory=list)
    peer_note: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    warehouse: Path | None = None
    simulator_rss_mb: float = 0.0
    profiles: list[tuple[str, str]] = field(default_factory=list)

    @property
    def partitions(self) -> int:
        first = dt.date.fromisoformat(self.dataset["first_sale_day"])
        return (dt.datetime.now(ZoneInfo(TIMEZONE)).date() - first).days + 1

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
            "peer_s": [m.seconds for m in self.peer],
            "peer_rss": [m.rss_mb for m in self.peer],
        }[name]
        return Figure(values) if values else None


# --------------------------------------------------------------------------- processes


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


def clean_env(**extra: str) -> dict[str, str]:
    prefixes = ("QTICKETS_", "CLICKHOUSE_", "ZAKAZ_", "DAGSTER_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)} | extra


def sync_env(base_url: str, run_dir: Path, history_start: str) -> dict[str, str]:
    """As the CLI tests set it: a fresh embedded warehouse and DAGSTER_HOME per run."""
    return clean_env(
        QTICKETS_BASE_URL=base_url,
        QTICKETS_TOKEN=TOKEN,
        ZAKAZ_PII_KEY=PII_KEY,
        CLICKHOUSE_URL=f"chdb://{run_dir / 'warehouse'}",
        DAGSTER_HOME=str(run_dir / "dagster_home"),
        QTICKETS_HISTORY_START=history_start,
        ZAKAZ_TIMEZONE=TIMEZONE,
        ORG_NAME=ORG,
    )


def python_json(argv: list[str], log_dir: Path, name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    measured = measure.run([sys.executable, *argv], env=env or clean_env(), cwd=REPO, log_dir=log_dir, name=name)
    measured.check(name)
    return orjson.loads(measured.stdout.strip().splitlines()[-1])


def summary_table(stdout: str) -> dict[str, str]:
    rows = (line.strip().rsplit(None, 1) for line in stdout.splitlines() if line.startswith("  "))
    return {label.strip(): value for label, value in rows}


def run_breakdown(dagster_home: Path) -> dict[str, Any]:
    """Where the newest run's time went, from its own event log: steps, and the
    planned/materialized events Dagster records per partition."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        entries = instance.all_logs(run.run_id)
    kinds: dict[str, int] = {}
    steps: dict[str, list[float]] = {}
    run_start = run_end = None
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        kinds[event.event_type_value] = kinds.get(event.event_type_value, 0) + 1
        if event.event_type == DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif event.event_type in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            run_end = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_START and entry.step_key:
            steps.setdefault(entry.step_key, [entry.timestamp, entry.timestamp])
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE) and entry.step_key:
            steps.setdefault(entry.step_key, [entry.timestamp, entry.timestamp])[1] = entry.timestamp
    first = entries[0].timestamp if entries else 0.0
    return {
        "events": len(entries),
        "planned": kinds.get("ASSET_MATERIALIZATION_PLANNED", 0),
        "materializations": kinds.get("ASSET_MATERIALIZATION", 0),
        "before_run_start_s": (run_start - first) if run_start else None,
        "run_s": (run_end - run_start) if run_start and run_end else None,
        "log_span_s": (entries[-1].timestamp - first) if entries else None,
        "steps": {key: end - start for key, (start, end) in sorted(steps.items(), key=lambda kv: kv[1][0])},
    }


# --------------------------------------------------------------------------- the dlt peer


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


# --------------------------------------------------------------------------- one scale


def bench_scale(scale: int, args: argparse.Namespace, work: Path, with_peer: bool) -> ScaleResult:
    if scale > 1:
        args = argparse.Namespace(**{**vars(args), "runs": args.big_runs})
    logs = work / "logs" / f"x{scale}"
    orders, events = args.orders * scale, args.events * scale
    say(f"[{scale}×] generating {orders:,} orders, {events} events, {args.history_days} days of history …")
    simulator = Simulator(orders, events, args.seed, args.history_days, logs / "simulator.log")
    try:
        result = ScaleResult(scale, simulator.info)
        info = simulator.info
        say(
            f"[{scale}×] simulator ready in {info['generate_seconds']} s: {info['orders']:,} orders "
            f"({info['paid_tickets']:,} paid tickets), {info['shows']} shows, first sale {info['first_sale_day']}"
        )
        base = ["--base-url", simulator.base_url, "--token", TOKEN]
        result.serve_cold = python_json(["-m", "benchmarks.fetch", "serve", *base], logs, "serve-cold")
        for i in range(args.runs):
            result.serve.append(python_json(["-m", "benchmarks.fetch", "serve", *base], logs, f"serve-{i}"))
        say(f"[{scale}×] simulator serves {result.fig('serve_orders').median:,.0f} orders/s (warm)")
        first = info["first_sale_day"]
        for i in range(args.runs):
            result.floor.append(
                python_json(["-m", "benchmarks.fetch", "floor", *base, "--from", first], logs, f"floor-{i}")
            )
            say(f"[{scale}×] floor run {i + 1}: {result.floor[-1]['seconds']:.1f} s")
        run_dir = None
        for i in range(args.runs):
            if run_dir is not None and not args.keep:
                shutil.rmtree(run_dir, ignore_errors=True)
            run_dir = work / f"x{scale}" / f"sync-{i}"
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.mkdir(parents=True)
            measured = measure.run(
                [sys.executable, "-m", "zakaz_pipeline.cli", "sync", "--from", first],
                env=sync_env(simulator.base_url, run_dir, first), cwd=run_dir, log_dir=logs, name=f"sync-{i}",
            ).check(f"zakaz sync ({scale}×, run {i + 1})")  # fmt: skip
            result.sync.append(measured)
            say(f"[{scale}×] sync run {i + 1}: {measured.seconds:.1f} s, peak RSS {measured.rss_mb:.0f} MB")
        assert run_dir is not None
        result.sync_summary = summary_table(result.sync[-1].stdout)
        result.sync_breakdown = run_breakdown(run_dir / "dagster_home")
        result.warehouse = run_dir / "warehouse"
        today = dt.datetime.now(ZoneInfo(TIMEZONE)).date()
        for i in range(args.runs):
            measured = measure.run(
                [sys.executable, "-m", "zakaz_pipeline.cli", "sync", "--from", (today - dt.timedelta(days=1)).isoformat(),
                 "--to", today.isoformat()],
                env=sync_env(simulator.base_url, run_dir, first), cwd=run_dir, log_dir=logs, name=f"tick-{i}",
            ).check(f"zakaz sync tick ({scale}×, run {i + 1})")  # fmt: skip
            result.tick.append(measured)
            say(f"[{scale}×] tick run {i + 1}: {measured.seconds:.1f} s")
        result.tick_breakdown = run_breakdown(run_dir / "dagster_home")
        if with_peer:
            bench_peer(result, args, simulator.base_url, work, logs)
        if needs_profile(result) and not args.no_profile:
            profile_sync(result, simulator.base_url, work, logs)
        result.simulator_rss_mb = simulator.rss_mb()
    finally:
        simulator.stop()
    result.counts = python_json(["-m", "benchmarks.views", "counts", "--path", str(result.warehouse)], logs, "counts")
    return result


def bench_peer(result: ScaleResult, args: argparse.Namespace, base_url: str, work: Path, logs: Path) -> None:
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


# --------------------------------------------------------------------------- profiles


def needs_profile(result: ScaleResult) -> bool:
    sync, floor, tick = result.fig("sync_s"), result.fig("floor_s"), result.fig("tick_s")
    slow = sync and floor and sync.median / floor.median > TARGETS["sync_vs_floor"]
    heavy = sync and result.fig("sync_rss").median > TARGETS["rss_mb"]
    slow_tick = result.scale == 1 and tick and tick.median > TARGETS["tick_s"]
    return bool(result.scale == 1 and (slow or heavy or slow_tick))


def profile_sync(result: ScaleResult, base_url: str, work: Path, logs: Path) -> None:
    """One full sync and one tick under cProfile (the CLI as it runs, on fresh state)."""
    first = result.dataset["first_sale_day"]
    today = dt.datetime.now(ZoneInfo(TIMEZONE)).date()
    run_dir = work / f"x{result.scale}" / "profile"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    for name, dates in (
        ("full sync", ["--from", first]),
        ("tick", ["--from", (today - dt.timedelta(days=1)).isoformat(), "--to", today.isoformat()]),
    ):
        out = run_dir / f"{name.replace(' ', '-')}.prof"
        say(f"[{result.scale}×] profiling the {name} under cProfile …")
        measured = measure.run(
            [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "zakaz_pipeline.cli", "sync", *dates],
            env=sync_env(base_url, run_dir, first), cwd=run_dir, log_dir=logs, name=f"profile-{name.replace(' ', '-')}",
        ).check(f"profiled {name}")  # fmt: skip
        result.profiles.append((f"{name} ({measured.seconds:.1f} s under cProfile)", summarize_profile(out)))
    if not os.environ.get("BENCH_KEEP_PROFILE"):
        shutil.rmtree(run_dir / "warehouse", ignore_errors=True)


# (label, test on (file, function name)): a function whose cumulative time is the bucket.
BUCKETS = (
    ("heaviest import chain (dagster, definitions …)", lambda f, n: n == "_find_and_load"),
    ("Dagster: load definitions", lambda f, n: n == "resolve_job_def"),
    ("Dagster: create run (plans, planned events)", lambda f, n: n == "create_run_for_job"),
    ("Dagster: execute_in_process", lambda f, n: n == "execute_in_process"),
    ("Dagster: log calls (console + event log)", lambda f, n: n == "log_dagster_event"),
    ("Dagster: IO manager handle_output", lambda f, n: n == "handle_output" and "zakaz_pipeline" in f),
    ("Dagster: event log writes (SQLite)", lambda f, n: n == "store_event" and "sqlite" in f),
    ("HTTP: QticketsClient.get", lambda f, n: n == "get" and f.endswith("qtickets/client.py")),
    ("JSON parse (orjson.loads)", lambda f, n: "orjson.loads" in n),
    ("flatten orders → ticket rows", lambda f, n: n == "ticket_columns"),
    ("buyer_key HMAC", lambda f, n: n in ("buyer_key", "_buyer_key")),
    ("warehouse inserts (clickhouse-connect)", lambda f, n: n == "insert" and "clickhouse_connect" in f),
    ("warehouse queries/commands", lambda f, n: n in ("command", "query") and "clickhouse_connect/driver/client" in f),
    ("chdb query calls", lambda f, n: "chdb" in f and n == "query"),
    ("record run in warehouse", lambda f, n: n == "record_in_warehouse"),
    ("summary query", lambda f, n: n == "warehouse_summary"),
)


def _where(key: tuple[str, int, str]) -> str:
    file, line, name = key
    if file == "~":
        return name
    for marker in ("site-packages/", "/work/main/", str(REPO) + "/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{file}:{line}({name})"


def summarize_profile(path: Path, top: int = 30) -> str:
    stats = pstats.Stats(str(path))
    raw: dict = stats.stats  # type: ignore[attr-defined]
    total = max(entry[3] for entry in raw.values())
    lines = [f"total {total:.1f} s (the slowest entry's cumulative time)", "", "buckets (cumulative s, share):"]
    for label, test in BUCKETS:
        times = [entry[3] for key, entry in raw.items() if test(key[0], key[2])]
        if times:
            lines.append(f"  {max(times):8.2f}  {max(times) / total:5.1%}  {label}")
    lines += ["", f"top {top} by cumulative time:", "      cum s    own s      calls  function"]
    by_cum = sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)
    for key, (_, calls, own, cum, _) in by_cum[:top]:
        lines.append(f"  {cum:9.2f} {own:8.2f} {calls:10d}  {_where(key)}")
    lines += ["", "top 15 by own time:", "      own s    cum s      calls  function"]
    for key, (_, calls, own, cum, _) in sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:15]:
        lines.append(f"  {own:9.2f} {cum:8.2f} {calls:10d}  {_where(key)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- report


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "zakaz_pipeline"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "—"

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": ", ".join(
            f"{name} {version(name)}" for name in ("dagster", "chdb", "clickhouse-connect", "requests", "orjson")
        ),
        "commit": f"{commit.strip()}{' + uncommitted changes in zakaz_pipeline/' if dirty.strip() else ''}",
    }


def status(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**MET**" if ok else "**MISSED**")


def target_rows(results: list[ScaleResult], view_rows: list[dict[str, Any]], view_scale: int | None) -> list[list[str]]:
    """figure | measured | min–max | target | status"""
    rows: list[list[str]] = []
    by_scale = {r.scale: r for r in results}
    base = by_scale.get(1) or results[0]
    for r in results:
        floor, sync = r.fig("floor_s"), r.fig("sync_s")
        if floor:
            rows.append([f"raw-fetch floor ({r.scale}×), s", f"{floor.median:.1f}", floor.spread(), "—", "reference"])
            rate = r.fig("floor_rate")
            rows.append(
                [f"raw-fetch floor ({r.scale}×), orders/s", f"{rate.median:,.0f}", rate.spread("{:,.0f}"), "—", "—"]
            )
        if sync:
            rows.append([f"full-history sync ({r.scale}×), s", f"{sync.median:.1f}", sync.spread(), "—", "—"])
        if floor and sync:
            ratio = sync.median / floor.median
            rows.append(
                [
                    f"sync / floor ({r.scale}×)",
                    f"{ratio:.2f}",
                    "—",
                    f"≤ {TARGETS['sync_vs_floor']}",
                    status(ratio <= TARGETS["sync_vs_floor"]),
                ]
            )
        if sync:
            rss = r.fig("sync_rss")
            rows.append(
                [
                    f"sync peak RSS ({r.scale}×), MB",
                    f"{rss.median:.0f}",
                    rss.spread("{:.0f}"),
                    f"≤ {TARGETS['rss_mb']:.0f}",
                    status(rss.median <= TARGETS["rss_mb"]),
                ]
            )
    one, ten = by_scale.get(1), by_scale.get(10)
    if one and ten and one.sync and ten.sync:
        growth = ten.fig("sync_rss").median / one.fig("sync_rss").median
        rows.append(
            ["sync RSS 10× / 1×", f"{growth:.2f}", "—", f"≤ {TARGETS['rss_growth']:.2f}",
             status(growth <= TARGETS["rss_growth"])]
        )  # fmt: skip
    else:
        rows.append(["sync RSS 10× / 1×", "—", "—", f"≤ {TARGETS['rss_growth']:.2f}", status(None)])
    tick = base.fig("tick_s")
    if tick:
        rows.append(
            [f"15-minute tick ({base.scale}×), s", f"{tick.median:.1f}", tick.spread(), f"≤ {TARGETS['tick_s']:.0f}",
             status(tick.median <= TARGETS["tick_s"])]
        )  # fmt: skip
    for r in results:
        if r is not base and r.fig("tick_s"):
            t = r.fig("tick_s")
            rows.append([f"15-minute tick ({r.scale}×), s", f"{t.median:.1f}", t.spread(), "—", "info"])
    if view_rows:
        worst = max(view_rows, key=lambda v: v["p95_ms"])
        at_ten = view_scale == 10
        rows.append(
            [
                f"view p95, worst query ({view_scale}×), ms",
                f"{worst['p95_ms']:.1f}",
                "—",
                f"≤ {TARGETS['view_p95_ms']:.0f} at 10×",
                status(worst["p95_ms"] <= TARGETS["view_p95_ms"]) if at_ten else "not at 10×: " + status(None),
            ]
        )
    peer = next((r for r in results if r.peer), None)
    if peer:
        dlt, sync = peer.fig("peer_s"), peer.fig("sync_s")
        dlt_rss, sync_rss = peer.fig("peer_rss"), peer.fig("sync_rss")
        rows.append([f"dlt peer ({peer.scale}×), s", f"{dlt.median:.1f}", dlt.spread(), "—", "—"])
        rows.append(
            [f"dlt peer peak RSS ({peer.scale}×), MB", f"{dlt_rss.median:.0f}", dlt_rss.spread("{:.0f}"), "—", "—"]
        )
        speed, memory = dlt.median / sync.median, dlt_rss.median / sync_rss.median
        rows.append(
            [f"dlt / sync time ({peer.scale}×)", f"{speed:.2f}", "—", f"≥ {TARGETS['dlt_vs_sync']:.0f}",
             status(speed >= TARGETS["dlt_vs_sync"])]
        )  # fmt: skip
        rows.append(
            [f"dlt RSS / sync RSS ({peer.scale}×)", f"{memory:.2f}", "—", f"≥ {TARGETS['dlt_rss_vs_sync']:.0f}",
             status(memory >= TARGETS["dlt_rss_vs_sync"])]
        )  # fmt: skip
    else:
        note = next((r.peer_note for r in results if r.peer_note), "skipped (--skip-peer)")
        rows.append(["dlt / sync time", "—", "—", f"≥ {TARGETS['dlt_vs_sync']:.0f}", f"not measured: {note}"])
        rows.append(["dlt RSS / sync RSS", "—", "—", f"≥ {TARGETS['dlt_rss_vs_sync']:.0f}", "not measured"])
    return rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    plain = [[cell.replace("**", "") for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in plain) for i in range(len(header))]
    out = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in plain]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def sparkline(timeline: list[tuple[float, float]], width: int = 60) -> str:
    if not timeline:
        return ""
    end = timeline[-1][0] or 1.0
    buckets = [0.0] * width
    for moment, rss in timeline:
        k = min(width - 1, int(moment / end * width))
        buckets[k] = max(buckets[k], rss)
    top = max(buckets) or 1.0
    marks = " ▁▂▃▄▅▆▇█"
    return "".join(marks[round(value / top * (len(marks) - 1))] for value in buckets)


def report(
    args: argparse.Namespace,
    results: list[ScaleResult],
    view_rows: list[dict[str, Any]],
    view_scale: int | None,
    command: str,
    view_parts: Sequence[tuple[str, int, int]] = (),
) -> tuple[str, str]:
    info = machine()
    header = ["figure", "median", "min–max", "target", "status"]
    rows = target_rows(results, view_rows, view_scale)
    md: list[str] = [
        "# zakaz benchmarks",
        "",
        (
            f"Written by `{command}` on {info['date']}. Every figure is the median of {runs_text(args)} "
            "(min–max beside it), on this machine, with the same invocation. Regenerate with the same command; "
            "see benchmarks/README.md for what each figure measures."
        ),
        "",
        "## Machine",
        "",
        markdown_table(["", ""], [[k, v] for k, v in info.items()]),
        "",
        "## Results against the targets",
        "",
        markdown_table(header, rows),
        "",
        "## Datasets (simulator, own process)",
        "",
    ]
    md.append(
        markdown_table(
            [
                "scale",
                "orders",
                "paid orders",
                "tickets (paid)",
                "events",
                "shows (seated)",
                "seats",
                "first sale day",
                "daily partitions",
                "generation s",
                "simulator RSS MB",
            ],
            [
                [
                    f"{r.scale}×",
                    f"{r.dataset['orders']:,}",
                    f"{r.dataset['paid_orders']:,}",
                    f"{r.dataset['tickets']:,} ({r.dataset['paid_tickets']:,})",
                    str(r.dataset["events"]),
                    f"{r.dataset['shows']} ({r.dataset['seated_shows']})",
                    f"{r.dataset['seats']:,}",
                    r.dataset["first_sale_day"],
                    str(r.partitions),
                    f"{r.dataset['generate_seconds']:.0f}",
                    f"{r.simulator_rss_mb:,.0f}",
                ]
                for r in results
            ],
        )
    )
    md += [
        "",
        (
            "History: the account's orders spread over "
            f"{args.history_days} days before now; the sync starts at the first sale day "
            "(`QTICKETS_HISTORY_START` = `--from` = that day), so it spans one daily partition per day since."
        ),
        "",
        "## Simulator serving rate (keyset scan of every order, 500 per page, raw bytes)",
        "",
        markdown_table(
            ["scale", "first scan s (cold: encodes)", "pages/s", "orders/s", "MB/s"],
            [
                [
                    f"{r.scale}×",
                    f"{r.serve_cold['seconds']:.1f}",
                    f"{r.fig('serve_pages').median:,.0f}",
                    f"{r.fig('serve_orders').median:,.0f}",
                    f"{r.fig('serve_mb').median:,.0f}",
                ]
                for r in results
                if r.serve
            ],
        ),
        "",
        (
            "The simulator keeps each item's JSON per account revision, so after the first scan a page is a join of "
            "pre-encoded bytes. The floor below includes the server's share of every request."
        ),
        "",
        "## Raw-fetch floor, sync and tick details",
        "",
    ]
    for r in results:
        last = r.floor[-1] if r.floor else {}
        sync_runs = ", ".join(f"{m.seconds:.1f} s / {m.rss_mb:.0f} MB" for m in r.sync)
        tick_runs = ", ".join(f"{m.seconds:.1f} s / {m.rss_mb:.0f} MB" for m in r.tick)
        b, t = r.sync_breakdown, r.tick_breakdown
        md += [
            f"### {r.scale}×",
            "",
            (
                f"- floor: {last.get('orders', 0):,} paid orders ({last.get('tickets', 0):,} tickets) in "
                f"{last.get('pages', 0)} pages, {last.get('events', 0)} events, seats of {last.get('shows_on_sale', 0)} "
                f"shows on sale; orders alone {statistics.median(f['orders_seconds'] for f in r.floor):.1f} s of "
                f"{r.fig('floor_s').median:.1f} s"
            ),
            (
                f"- sync runs (wall / peak RSS of the tree): {sync_runs}; peak anonymous (private) memory "
                f"{r.fig('sync_anon').median:.0f} MB, the rest is file-backed (chDB's library and other code)"
            ),
            f"- sync wrote: {r.counts.get('stg_qtickets_api_orders_raw', 0):,} ticket rows, "
            f"{r.counts.get('fact_qtickets_sales_daily', 0):,} daily-sales rows over {r.counts.get('sales_days', 0)} "
            f"sales days, {r.counts.get('dim_events', 0)} events, {r.counts.get('dim_shows', 0)} shows; summary: "
            + ", ".join(f"{k} {v}" for k, v in r.sync_summary.items()),
            (
                f"- the last sync's run: {b.get('events')} Dagster events ({b.get('planned')} planned + "
                f"{b.get('materializations')} materializations), {_s(b.get('before_run_start_s'))} from its first event "
                f"to RUN_START, {_s(b.get('run_s'))} from RUN_START to RUN_SUCCESS; the rest of the "
                f"{r.sync[-1].seconds:.1f} s wall is process start, imports, definitions and the summary"
            ),
            "- its steps: " + steps_text(b.get("steps", {})),
            (
                f"- RSS over the last sync (each mark = max in 1/60 of its wall time; peak "
                f"{r.sync[-1].rss_mb:.0f} MB): `{sparkline(r.sync[-1].timeline)}`"
            ),
            f"- tick runs: {tick_runs}; the last tick's run: {t.get('events')} events, "
            f"{_s(t.get('run_s'))} RUN_START→RUN_SUCCESS; steps: " + steps_text(t.get("steps", {})),
            "",
        ]
    if view_rows:
        md += [
            f"## DataLens queries ({view_scale}× warehouse, {args.view_repeats} timed runs each)",
            "",
            (
                "Run in the harness process with clickhouse-connect on `chdb://<warehouse>` (database `zakaz`) after "
                "the sync subprocess exited; embedded, so no network time is included."
            ),
            "",
            markdown_table(
                ["query", "rows", "p50 ms", "p95 ms", "max ms"],
                [
                    [v["query"], str(v["rows"]), f"{v['p50_ms']:.1f}", f"{v['p95_ms']:.1f}", f"{v['max_ms']:.1f}"]
                    for v in view_rows
                ],
            ),
            "",
            "Active parts per table (every query over all history opens one part per daily partition at least): "
            + ", ".join(f"{table} {parts:,} parts / {rows:,} rows" for table, parts, rows in view_parts)
            + ".",
            "",
            "```sql",
            *(f"-- {name}\n{sql};" for name, sql in views.QUERIES),
            "```",
            "",
        ]
    peer = next((r for r in results if r.peer), None)
    md += ["## dlt peer", ""]
    if peer:
        out = peer.peer_output[-1]
        md += [
            f"`benchmarks/peer_dlt.py` against the same simulator and dataset ({peer.scale}×), in its own venv; "
            f"runs: " + ", ".join(f"{m.seconds:.1f} s / {m.rss_mb:.0f} MB" for m in peer.peer) + ".",
            (
                f"Its last output: {orjson.dumps(out).decode()} — daily-sales rows {out.get('daily_rows')} vs ours "
                f"{peer.counts.get('fact_qtickets_sales_daily')}."
            ),
            "",
        ]
    else:
        md += [next((r.peer_note for r in results if r.peer_note), "Skipped (`--skip-peer`)."), ""]
    profiled = [r for r in results if r.profiles]
    if profiled:
        md += [
            "## Profiles of missed targets",
            "",
            (
                "The CLI run once more under `python -m cProfile -o … -m zakaz_pipeline.cli sync …` on a fresh "
                "warehouse (cProfile slows Python-heavy code, so read shares rather than seconds). Buckets are the "
                "cumulative time of one function each and overlap (imports include loading the definitions; "
                "execute_in_process includes fetch, flatten, inserts and event writes)."
            ),
            "",
        ]
        for r in profiled:
            for title, text in r.profiles:
                md += [f"### {r.scale}×: {title}", "", "```", text, "```", ""]
    text = "\n".join(
        [
            f"zakaz benchmarks — {info['date']} — {info['cpu']}, {info['ram']}, Python {info['python']}",
            info["versions"],
            "",
            text_table(header, rows),
        ]
    )
    return "\n".join(md), text


def runs_text(args: argparse.Namespace) -> str:
    if args.big_runs == args.runs or max(args.scales) == 1:
        return f"{args.runs} run(s)"
    return f"{args.runs} run(s) at 1× and {args.big_runs} at larger scales"


def steps_text(steps: dict[str, float], floor: float = 0.25) -> str:
    """Steps that took at least ``floor`` seconds; the others (checks, views) summed."""
    big = [f"{key} {seconds:.1f} s" for key, seconds in steps.items() if seconds >= floor]
    small = [seconds for seconds in steps.values() if seconds < floor]
    if small:
        big.append(f"{len(small)} other steps (checks, views) {sum(small):.1f} s in all")
    return ", ".join(big)


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--scale", default="1,10", help="comma-separated multiples of the real dataset (default 1,10)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    parser.add_argument("--big-runs", type=int, help="runs per figure at scales above 1× (default: --runs)")
    parser.add_argument("--skip-peer", action="store_true", help="do not run benchmarks/peer_dlt.py")
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke check: {QUICK_ORDERS:,} orders, {QUICK_HISTORY_DAYS} days, 1 run"
    )
    parser.add_argument("--orders", type=int, help=f"orders at 1× (default {REAL_ORDERS:,})")
    parser.add_argument("--events", type=int, help=f"events at 1× (default {REAL_EVENTS})")
    parser.add_argument("--history-days", type=int, help=f"days of order history (default {HISTORY_DAYS})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--view-repeats", type=int, default=50, help="timed runs of each DataLens query (default 50)")
    parser.add_argument("--dlt-python", help="interpreter for peer_dlt.py (default: benchmarks/.venv-dlt, built once)")
    parser.add_argument("--workdir", type=Path, default=BENCH_DIR / ".work", help="warehouses and logs")
    parser.add_argument("--keep", action="store_true", help="keep every run's warehouse, not only the last")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run of missed targets")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "RESULTS.md", help="where to write the report")
    args = parser.parse_args(argv)
    quick = args.quick
    args.orders = args.orders or (QUICK_ORDERS if quick else REAL_ORDERS)
    args.events = args.events or (QUICK_EVENTS if quick else REAL_EVENTS)
    args.history_days = args.history_days or (QUICK_HISTORY_DAYS if quick else HISTORY_DAYS)
    if quick and "--runs" not in " ".join(argv or sys.argv[1:]):
        args.runs = 1
    args.big_runs = args.big_runs or args.runs
    args.scales = sorted({int(s) for s in args.scale.split(",") if s.strip()})
    if not args.scales or min(args.scales) < 1 or min(args.runs, args.big_runs) < 1:
        parser.error("--scale needs positive integers and --runs at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:])
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results: list[ScaleResult] = []
    for position, scale in enumerate(args.scales):
        results.append(bench_scale(scale, args, work, with_peer=position == 0 and not args.skip_peer))
        # Keep what is measured so far, should a later (larger) scale fail.
        partial, _ = report(args, results, [], None, command.strip() + "  (partial: views not yet timed)")
        args.results.write_text(partial + "\n", encoding="utf-8")
    largest = results[-1]
    say(f"[{largest.scale}×] timing DataLens queries ({args.view_repeats} runs each) …")
    view_rows = views.bench(largest.warehouse, ORG, args.view_repeats) if largest.warehouse else []
    view_parts = views.parts(largest.warehouse) if largest.warehouse else []
    markdown, text = report(args, results, view_rows, largest.scale, command.strip(), view_parts)
    args.results.write_text(markdown + "\n", encoding="utf-8")
    print()
    print(text)
    print(f"\nwritten: {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
