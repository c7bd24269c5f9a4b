"""The performance harness: ``python -m benchmarks`` (or ``python benchmarks/run.py``).

First the "API pace" sections (a simulator at a remote API's pace, in the dialect that
honours filters, then in the one the real record shows: ``pace_runs.py``, ``refused_runs.py``).
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

if __package__ in (None, ""):  # run as a script: import from the repository, not from benchmarks/
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import shlex

from benchmarks import views
from benchmarks.environment import BENCH_DIR, ORG, python_json, say
from benchmarks.fetch_runs import bench_fetch
from benchmarks.pace_runs import bench_pace
from benchmarks.peer_runs import bench_peer
from benchmarks.profiles import needs_profile, profile_sync
from benchmarks.refused_runs import bench_refused, write_refused
from benchmarks.report import report
from benchmarks.results import ScaleResult
from benchmarks.simulator_process import Simulator
from benchmarks.sync_runs import bench_sync, bench_tick
from benchmarks.tricks import bench_tricks, write_tricks
from benchmarks.webhook_runs import bench_webhooks, write_webhooks

REAL_ORDERS, REAL_EVENTS, HISTORY_DAYS = 123_000, 221, 730
QUICK_ORDERS, QUICK_EVENTS, QUICK_HISTORY_DAYS = 12_000, 40, 120


def bench_scale(scale: int, args: argparse.Namespace, work: Path, with_peer: bool) -> ScaleResult:
    """Every figure of one scale, against one simulator process that is stopped afterwards."""
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
        bench_fetch(result, args, simulator.base_url, logs)
        run_dir = bench_sync(result, args, simulator.base_url, work, logs)
        bench_tick(result, args, simulator.base_url, run_dir, logs)
        if with_peer:
            bench_peer(result, args, simulator.base_url, work, logs)
        if needs_profile(result) and not args.no_profile:
            profile_sync(result, simulator.base_url, work, logs)
        result.simulator_rss_mb = simulator.rss_mb()
    finally:
        simulator.stop()
    result.counts = python_json(["-m", "benchmarks.views", "counts", "--path", str(result.warehouse)], logs, "counts")
    return result


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
    parser.add_argument(
        "--only",
        choices=("webhooks", "refused", "tricks"),
        help="measure one section alone and put it into the existing --results file",
    )
    parser.add_argument("--skip-webhooks", action="store_true", help='skip "Webhook delivery to dashboard"')
    parser.add_argument("--webhook-orders", type=int, default=50, help="orders delivered by webhook (default 50)")
    parser.add_argument("--webhook-every", type=float, default=3.0, help="seconds between them (default 3)")
    parser.add_argument("--skip-pace", action="store_true", help='skip the "API pace" section')
    parser.add_argument("--skip-zero-latency", action="store_true", help="only the API pace section")
    parser.add_argument("--pace-latency-ms", type=float, default=80.0, help="API pace: ms a request (default 80)")
    parser.add_argument("--pace-max-per-page", type=int, default=100, help="API pace: items a page (default 100)")
    parser.add_argument(
        "--skip-refused", action="store_true", help='skip "API pace, filters refused" (the real record\'s dialect)'
    )
    parser.add_argument(
        "--refused-variant-days", type=int, help="its tick again over this much history (default: a quarter of it)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.orders = args.orders or (QUICK_ORDERS if quick else REAL_ORDERS)
    args.events = args.events or (QUICK_EVENTS if quick else REAL_EVENTS)
    args.history_days = args.history_days or (QUICK_HISTORY_DAYS if quick else HISTORY_DAYS)
    if quick and "--runs" not in " ".join(argv or sys.argv[1:]):
        args.runs = 1
    args.big_runs = args.big_runs or args.runs
    args.refused_variant_days = args.refused_variant_days or max(1, args.history_days // 4)
    args.scales = sorted({int(s) for s in args.scale.split(",") if s.strip()})
    if not args.scales or min(args.scales) < 1 or min(args.runs, args.big_runs) < 1:
        parser.error("--scale needs positive integers and --runs at least 1")
    if not 0 < args.refused_variant_days < args.history_days:
        parser.error("--refused-variant-days must be at least 1 and less than --history-days")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:])
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.only == "webhooks":
        write_webhooks(args.results, bench_webhooks(args, work), command.strip())
        print(f"\nwritten: {args.results} (its webhook section; the others unchanged)")
        return 0
    if args.only == "tricks":
        write_tricks(args.results, bench_tricks(args.runs, work), command.strip())
        print(f"\nwritten: {args.results} (its kept tricks section; the others unchanged)")
        return 0
    if args.only == "refused":
        write_refused(args.results, bench_refused(args, work), command.strip())
        print(f"\nwritten: {args.results} (its API pace, filters refused section and rows; the others unchanged)")
        return 0
    pace = None if args.skip_pace else bench_pace(args, work)
    refused = None if args.skip_refused else bench_refused(args, work)
    results: list[ScaleResult] = []
    for position, scale in enumerate([] if args.skip_zero_latency else args.scales):
        results.append(bench_scale(scale, args, work, with_peer=position == 0 and not args.skip_peer))
        # Keep what is measured so far, should a later (larger) scale fail.
        partial, _ = report(
            args, results, [], None, command.strip() + "  (partial: views not yet timed)", pace=pace, refused=refused
        )
        args.results.write_text(partial + "\n", encoding="utf-8")
    largest = results[-1] if results else None
    view_rows: list = []
    view_parts: list = []
    if largest is not None and largest.warehouse:
        say(f"[{largest.scale}×] timing DataLens queries ({args.view_repeats} runs each) …")
        view_rows, view_parts = views.bench(largest.warehouse, ORG, args.view_repeats), views.parts(largest.warehouse)
    scale = largest.scale if largest is not None else None
    markdown, text = report(args, results, view_rows, scale, command.strip(), view_parts, pace=pace, refused=refused)
    args.results.write_text(markdown + "\n", encoding="utf-8")
    if not args.skip_webhooks:
        write_webhooks(args.results, bench_webhooks(args, work))
    print()
    print(text)
    print(f"\nwritten: {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
