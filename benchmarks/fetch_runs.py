"""The simulator's serving rate and the raw-fetch floor as the harness runs them: each a
``python -m benchmarks.fetch`` subprocess printing one JSON line (see fetch.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.environment import TOKEN, python_json, say
from benchmarks.results import ScaleResult


def bench_fetch(result: ScaleResult, args: argparse.Namespace, base_url: str, logs: Path) -> None:
    """One cold scan (it encodes every order), ``--runs`` warm scans, then ``--runs`` floors."""
    base = ["--base-url", base_url, "--token", TOKEN]
    result.serve_cold = python_json(["-m", "benchmarks.fetch", "serve", *base], logs, "serve-cold")
    for i in range(args.runs):
        result.serve.append(python_json(["-m", "benchmarks.fetch", "serve", *base], logs, f"serve-{i}"))
    say(f"[{result.scale}×] simulator serves {result.fig('serve_orders').median:,.0f} orders/s (warm)")
    first = result.dataset["first_sale_day"]
    for i in range(args.runs):
        result.floor.append(
            python_json(["-m", "benchmarks.fetch", "floor", *base, "--from", first], logs, f"floor-{i}")
        )
        say(f"[{result.scale}×] floor run {i + 1}: {result.floor[-1]['seconds']:.1f} s")
