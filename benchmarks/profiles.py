"""Where a missed target's time goes: one full sync and one tick under cProfile, summed into
labelled buckets and the top entries by cumulative and own time."""

from __future__ import annotations

import os
import pstats
import shutil
import sys
from pathlib import Path

from benchmarks import measure
from benchmarks.environment import CLI_MODULE, REPO, say, sync_env, tick_dates
from benchmarks.results import ScaleResult
from benchmarks.targets import TARGETS

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
    ("Dagster: open the instance (storage imports, SQLite)", lambda f, n: n == "open_instance"),
    ("chDB: engine start (loads every part)", lambda f, n: n == "_open_handle" and "chdb_backend" in f),
    ("pandas import (asked for by pyarrow)", lambda f, n: n == "<module>" and f.endswith("pandas/__init__.py")),
    ("warehouse inserts (Arrow)", lambda f, n: n == "insert_arrow" and "clickhouse_connect" in f),
    ("rows → Arrow tables", lambda f, n: n == "arrow_table"),
    ("warehouse queries/commands", lambda f, n: n in ("command", "query") and "clickhouse_connect/driver/client" in f),
    ("chdb query calls", lambda f, n: "chdb" in f and n == "query"),
    ("record run in warehouse", lambda f, n: n == "record_in_warehouse"),
    ("summary query", lambda f, n: n == "warehouse_summary"),
)


def needs_profile(result: ScaleResult) -> bool:
    """Profile only at 1×, and only where the sync, its memory or the tick missed its target."""
    sync, floor, tick = result.fig("sync_s"), result.fig("floor_s"), result.fig("tick_s")
    slow = sync and floor and sync.median / floor.median > TARGETS["sync_vs_floor"]
    heavy = sync and result.fig("sync_rss").median > TARGETS["rss_mb"]
    slow_tick = result.scale == 1 and tick and tick.median > TARGETS["tick_s"]
    return bool(result.scale == 1 and (slow or heavy or slow_tick))


def profile_sync(result: ScaleResult, base_url: str, work: Path, logs: Path) -> None:
    """One full sync and one tick under cProfile (the CLI as it runs, on fresh state)."""
    first = result.dataset["first_sale_day"]
    run_dir = work / f"x{result.scale}" / "profile"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    for name, dates in (("full sync", ["--from", first]), ("tick", tick_dates())):
        profile_run(result, name, dates, base_url, run_dir, logs)
    if not os.environ.get("BENCH_KEEP_PROFILE"):
        shutil.rmtree(run_dir / "warehouse", ignore_errors=True)


def profile_run(result: ScaleResult, name: str, dates: list[str], base_url: str, run_dir: Path, logs: Path) -> None:
    """``zakaz sync`` over ``dates`` once under cProfile on ``run_dir``'s warehouse, summarized into ``result``."""
    out = run_dir / f"{name.replace(' ', '-')}.prof"
    say(f"[{result.scale}×] profiling the {name} under cProfile …")
    measured = measure.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", CLI_MODULE, "sync", *dates],
        env=sync_env(base_url, run_dir, result.dataset["first_sale_day"]), cwd=run_dir, log_dir=logs,
        name=f"profile-{name.replace(' ', '-')}",
    ).check(f"profiled {name}")  # fmt: skip
    result.profiles.append((f"{name} ({measured.seconds:.1f} s under cProfile)", summarize_profile(out)))


def _where(key: tuple[str, int, str]) -> str:
    file, line, name = key
    if file == "~":
        return name
    for marker in ("site-packages/", str(REPO) + "/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{file}:{line}({name})"


def summarize_profile(path: Path, top: int = 30) -> str:
    """The buckets, then the ``top`` entries by cumulative time and 15 by own time."""
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
