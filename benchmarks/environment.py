"""What every process the harness starts shares: the repository's paths, the benchmark's
fixed credentials and zone, the environment each subprocess gets, and the progress line.

Every subprocess starts from the harness's own environment minus any ``QTICKETS_*``,
``CLICKHOUSE_*``, ``ZAKAZ_*`` or ``DAGSTER_*`` variable, so a developer's shell can never
point a benchmark at a real account or warehouse.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from benchmarks import measure

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TOKEN = "bench-token-0123456789"
PII_KEY = "bench-pii-key-0123456789"
ORG = "bench"
TIMEZONE = "Europe/Moscow"
CLI_MODULE = "zakaz_pipeline.cli"  # what `zakaz` runs: the harness measures the real command


def today() -> dt.date:
    """The seller's today: the tick and the partition count are counted in its zone."""
    return dt.datetime.now(ZoneInfo(TIMEZONE)).date()


def tick_dates() -> list[str]:
    """A 15-minute tick's window, as the schedule asks for it: yesterday and today."""
    day = today()
    return ["--from", (day - dt.timedelta(days=1)).isoformat(), "--to", day.isoformat()]


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
    """Run this interpreter on ``argv`` and read the JSON line it prints last."""
    measured = measure.run([sys.executable, *argv], env=env or clean_env(), cwd=REPO, log_dir=log_dir, name=name)
    measured.check(name)
    return orjson.loads(measured.stdout.strip().splitlines()[-1])


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)
