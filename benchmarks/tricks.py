"""The three performance tricks the pipeline keeps, each measured against its absence.

Each is explicit where it lives and holds under any executor (it changes no data and
shares nothing between steps):

- **collector paused per orders page** (``defs/assets/orders.py``, ``_flattened``): parsing
  and flattening a page allocates ~1 M short-lived acyclic objects; with the cyclic
  collector on, those allocations trigger collections that rescan the whole heap of a run
  process (Dagster, SQLAlchemy, chDB's bindings);
- **pyarrow's pandas probe answered without pandas** (``warehouse/arrow.py``): the first
  ``pa.array`` imports pandas only to ask whether a list might be a DataFrame;
- **no last collection at exit** (``zakaz_pipeline.cli.command``: ``gc.freeze``): the
  interpreter's final collection walks every object the command loaded, to free memory the
  process hands back anyway.

Each variant runs in its own process, ``--runs`` times, alternating; the medians go into
RESULTS.md ("Kept tricks"). ``python -m benchmarks --only tricks`` runs them alone;
``python -m benchmarks.tricks <trick> <on|off>`` is one measurement (a JSON line).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks import measure
from benchmarks.environment import REPO, clean_env, say
from benchmarks.machine import machine
from benchmarks.splice import splice_section

TITLE = "## Kept tricks"
PAGE_ORDERS = 500  # a page as the fetch hands it over: 50–500 orders by dialect
TRICKS = ("collector", "pandas_probe", "exit_collection")


def _heap_of_a_run() -> Any:
    """What a run process holds before its first page: Dagster and the sync's definitions."""
    from zakaz_pipeline.definitions import build_definitions
    from zakaz_pipeline.settings import Settings

    settings = Settings.from_env({"QTICKETS_TOKEN": "bench-token", "ZAKAZ_PII_KEY": "bench-pii-key-0123456789"})
    return build_definitions(settings).resolve_job_def("qtickets_sync")


def collector(on: bool) -> dict[str, Any]:
    """Seconds to parse and flatten a 1× history's orders page by page inside a run's heap."""
    import datetime as dt
    import functools
    from zoneinfo import ZoneInfo

    from zakaz_pipeline.qtickets.rows import ticket_columns
    from zakaz_pipeline.simulator.shop import SimulatedAccount

    job = _heap_of_a_run()
    moscow = ZoneInfo("Europe/Moscow")
    now = dt.datetime(2026, 6, 1, 12, tzinfo=moscow)  # a fixed day: both variants flatten the same orders
    account = SimulatedAccount.generate(seed=1, orders=123_000, events=221, history_days=730, now=now)
    orders = account.orders
    pages = [orjson.dumps(orders[at : at + PAGE_ORDERS]) for at in range(0, len(orders), PAGE_ORDERS)]
    del account, orders
    gc.collect()
    flatten = functools.partial(ticket_columns, org="bench", tz=moscow, pii_key=b"bench-pii-key")
    began = time.perf_counter()
    tickets = 0
    for raw in pages:
        if on:
            gc.disable()
        columns = flatten(orjson.loads(raw))
        tickets += len(next(iter(columns.values())))
        gc.enable()
    seconds = time.perf_counter() - began
    assert job is not None and tickets > 0
    return {"seconds": round(seconds, 3), "pages": len(pages), "tickets": tickets}


def pandas_probe(on: bool) -> dict[str, Any]:
    """Seconds of the first Arrow batch a writing process makes, and whether pandas was loaded."""
    import pyarrow as pa

    if on:
        from zakaz_pipeline.warehouse import arrow  # noqa: F401 - its import answers the probe
    began = time.perf_counter()
    pa.array([1, 2, 3], type=pa.int64())  # typed, as every batch the warehouse writes
    return {"seconds": round(time.perf_counter() - began, 3), "pandas_loaded": "pandas" in sys.modules}


def exit_collection(on: bool) -> dict[str, Any]:
    """Nothing to report from inside: the process's whole wall time, taken from outside,
    differs only in its exit (``on``: ``gc.freeze`` first, as ``zakaz`` exits)."""
    _heap_of_a_run()
    if on:
        gc.freeze()
    return {}


def run_trick(trick: str, on: bool, logs: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.tricks", trick, "on" if on else "off"]
    measured = measure.run(argv, env=clean_env(), cwd=REPO, log_dir=logs, name=f"{trick}-{'on' if on else 'off'}")
    measured.check(f"trick {trick}")
    result = orjson.loads(measured.stdout.strip().splitlines()[-1])
    return {**result, "process_seconds": round(measured.seconds, 3), "rss_mb": round(measured.rss_mb, 1)}


def bench_tricks(runs: int, work: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    logs = work / "logs" / "tricks"
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for trick in TRICKS:
        say(f"[tricks] {trick}: {runs} run(s) with and without")
        results[trick] = {"on": [], "off": []}
        for _ in range(runs):
            for on in (True, False):
                results[trick]["on" if on else "off"].append(run_trick(trick, on, logs))
    return results


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def section(results: dict[str, dict[str, list[dict[str, Any]]]], command: str) -> list[str]:
    facts = machine()
    runs = len(results["collector"]["on"])
    collector, probe, exit_ = results["collector"], results["pandas_probe"], results["exit_collection"]
    pages, tickets = collector["on"][0]["pages"], collector["on"][0]["tickets"]
    return [
        TITLE,
        "",
        f"Written by `{command}` on {facts['date']}; each variant in its own process, medians of {runs} "
        "alternating run(s). Where each trick lives and why: benchmarks/tricks.py.",
        "",
        "| trick | with | without | what it saves |",
        "|---|---|---|---|",
        f"| collector paused per orders page ({pages} pages of {PAGE_ORDERS}, {tickets:,} ticket rows, "
        f"in a run's heap) | {_median(collector['on'], 'seconds'):.2f} s | "
        f"{_median(collector['off'], 'seconds'):.2f} s | parse + flatten time of a 1× history |",
        f"| pandas probe answered (first `pa.array`) | {_median(probe['on'], 'seconds'):.3f} s, "
        f"{_median(probe['on'], 'rss_mb'):.0f} MB, pandas loaded: {probe['on'][0]['pandas_loaded']} | "
        f"{_median(probe['off'], 'seconds'):.3f} s, {_median(probe['off'], 'rss_mb'):.0f} MB, "
        f"pandas loaded: {probe['off'][0]['pandas_loaded']} | a writing process's first batch and its memory |",
        f"| no last collection at exit (process with the sync's definitions loaded) | "
        f"{_median(exit_['on'], 'process_seconds'):.2f} s | {_median(exit_['off'], 'process_seconds'):.2f} s | "
        "the exit of every `zakaz` command |",
    ]


def write_tricks(results_path: Path, results: dict[str, dict[str, list[dict[str, Any]]]], command: str) -> None:
    existing = results_path.read_text(encoding="utf-8") if results_path.exists() else "# zakaz benchmarks\n"
    results_path.write_text(
        splice_section(existing, TITLE, section(results, command), after="## Raw-fetch floor"), encoding="utf-8"
    )


def main(argv: list[str]) -> None:
    trick, variant = argv
    if trick not in TRICKS or variant not in ("on", "off"):
        raise SystemExit(f"usage: python -m benchmarks.tricks {{{','.join(TRICKS)}}} {{on,off}}")
    result = globals()[trick](variant == "on")
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
