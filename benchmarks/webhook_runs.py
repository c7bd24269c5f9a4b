"""Runs ``webhook_latency.py`` (the measured process) and renders its section of RESULTS.md.

The section stands alone (no scale, no dataset of the scales'), so ``python -m benchmarks
--only webhooks`` can measure it by itself and put it into an existing RESULTS.md in place of
its previous version, leaving every other section as it was.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
from pathlib import Path
from typing import Any

from benchmarks.environment import python_json, say
from benchmarks.machine import machine
from benchmarks.tables import markdown_table

TITLE = "## Webhook delivery to dashboard"
TARGET_P95_S = 60.0  # issue 16: p95 ≤ 60 s from the delivery's 200 to the sale in v_sales_latest


def bench_webhooks(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One measured run of ``--webhook-orders`` deliveries on a fresh folder under ``work``."""
    run_dir = work / "webhooks"
    shutil.rmtree(run_dir, ignore_errors=True)
    say(
        f"[webhooks] {args.webhook_orders} orders, one every {args.webhook_every:g} s, "
        "each delivered by webhook to zakaz webhooks, the daemon's sensor bringing it in …"
    )
    argv = [
        "-m", "benchmarks.webhook_latency", "--workdir", str(run_dir), "--orders", str(args.webhook_orders),
        "--every", str(args.webhook_every), "--seed", str(args.seed),
    ]  # fmt: skip
    result = python_json(argv, run_dir / "logs", "webhook-latency")
    say(
        f"[webhooks] p50 {_s(result['p50_s'])}, p95 {_s(result['p95_s'])} over {result['seen']}/{result['sales']} sales"
    )
    return result


def target_row(result: dict[str, Any]) -> list[str]:
    """figure | median | min–max | target | status — as in the targets table."""
    p95 = result["p95_s"]
    return [
        f"webhook delivery → v_sales_latest p95 (p50 {_s(result['p50_s'])})",
        _s(p95),
        f"{_s(result['min_s'])}–{_s(result['max_s'])}",
        f"≤ {TARGET_P95_S:.0f} s",
        "**MET**" if p95 is not None and p95 <= TARGET_P95_S else "**MISSED**",
    ]


def section(result: dict[str, Any], note: str = "") -> list[str]:
    runs = result["runs"]
    queued = sorted(r["queued_s"] for r in runs if r["queued_s"] is not None)
    took = sorted(r["run_s"] for r in runs if r["run_s"] is not None)
    row = target_row(result)
    figures = [f"{result['seen']} / {result['sales']}", _s(result["p50_s"]), row[1], _s(result["min_s"]),
               _s(result["max_s"]), row[3], row[4]]  # fmt: skip
    statuses = ", ".join(f"{n} {s}" for s, n in _count(r["status"] for r in runs).items())
    return [
        TITLE,
        "",
        (
            f"{result['orders']} new paid one-ticket orders, one every {result['every_s']:g} s, each delivered "
            "as a signed Qtickets webhook (`created`, then `payed`) by the simulator's `WebhookSender` to "
            "`zakaz webhooks` on loopback, after one `zakaz sync` of the account's history "
            f"({result['account_orders']:,} orders, {result['events']} events, {result['history_days']} days; "
            f"{result['initial_sync_s']:.0f} s) into a fresh embedded warehouse. `dagster-daemon run` on that "
            "warehouse's fresh `DAGSTER_HOME` with the 15-minute schedule and the late-change sensor stopped "
            "(`ZAKAZ_SCHEDULE_RUNNING` unset), so only the webhook path brings a sale in, and `qtickets_webhooks` "
            f"started at its interval ({result['sensor_interval_s']} s); the first order went out once the daemon "
            f"had ticked that sensor ({result['daemon_ready_s']:.0f} s after it started)."
        ),
        "",
        (
            "**Visible** means: the harness polls `v_sales_latest` every "
            f"{result['poll_s']:g} s through a short-lived open that takes the warehouse's file lock as the "
            "pipeline does (`warehouse/connection.py`), and a sale counts as visible once its event's "
            "`tickets_sold_total` reaches the total read before the first order plus the tickets of that event's "
            "orders placed up to it (nothing else changes the account). Latency = that poll's answer minus the "
            "moment the order's first delivery got its 200, both on this process's monotonic clock: an upper "
            f"bound, late by at most one poll and its wait for the lock (median gap to the last poll that did not "
            f"show it: {_s(result['resolution_p50_s'])}). A sale never seen within the bounded wait counts as "
            "infinitely late."
        ),
        "",
        markdown_table(["sales seen", "p50", "p95", "min", "max", "target", "status"], [figures]),
        "",
        (
            f"The sensor requested {len(runs)} run(s) of the late-change job ({statuses or 'none'}); from the "
            "sensor's request to the run's start (the run queue, one run at a time on the embedded warehouse, and "
            f"the run process's launch) median {_median(queued)}, each run median {_median(took)} from start to "
            "end (fetch, write, checks, views); the rest of a latency is the wait for the sensor's next tick. From placing an order to its first 200: median "
            f"{_ms(result['deliver_p50_s'])}. After the last sale, `v_sales_latest` per event "
            + ("equals" if result["reconciled"] else "**does not equal**")
            + " the simulator's ground truth."
        ),
        "",
        (
            f"Machine load: 1/5/15-minute load average {'/'.join(map(str, result['load_avg']))} on "
            f"{result['cpus']} CPUs when the measurement ended — shared with other work, so these are figures of a "
            "busy machine, not a quiet one."
        ),
        *([f"\n{note}"] if note else []),
        "",
    ]


def write_webhooks(results: Path, result: dict[str, Any], command: str = "") -> None:
    """Put the section into ``results`` in place of its previous version (or at its end)."""
    note = (
        f"Written by `{command}` on {machine()['date']}, alone: the other sections are an earlier run's."
        if command
        else ""
    )
    existing = results.read_text(encoding="utf-8") if results.exists() else "# zakaz benchmarks\n"
    results.write_text(splice(existing, section(result, note)), encoding="utf-8")


def splice(existing: str, lines: list[str]) -> str:
    """``existing`` RESULTS.md with this section replaced (or appended): nothing else changes."""
    block = "\n".join(lines).rstrip("\n") + "\n"
    pattern = re.compile(rf"^{re.escape(TITLE)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(existing):
        return pattern.sub(lambda _: block + "\n", existing, count=1).rstrip("\n") + "\n"
    return existing.rstrip("\n") + "\n\n" + block


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _median(values: list[float]) -> str:
    return _s(statistics.median(values)) if values else "—"


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def _s(value: float | None) -> str:
    if value is None:
        return "—"
    return "never" if value == float("inf") else f"{value:.1f} s"
