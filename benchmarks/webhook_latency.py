"""Webhook delivery to dashboard (issue 16): how long after Qtickets' webhook gets its 200
a new sale shows in ``v_sales_latest``, with the Dagster daemon doing the work.

``python -m benchmarks.webhook_latency --workdir DIR`` is the measured process; it prints one
JSON line (``webhook_runs.py`` runs it). In order:

1. a simulated account (3,000 orders, 15 events, 120 days: the demo's) served over HTTP on
   loopback from a thread of this process, and one ``zakaz sync`` of its whole history into a
   fresh embedded warehouse and ``DAGSTER_HOME``;
2. ``zakaz webhooks`` on a free loopback port, and ``dagster-daemon run`` on that home with
   ``ZAKAZ_SCHEDULE_RUNNING`` unset — the 15-minute schedule and the late-change sensor stay
   stopped, so only the webhook path can bring a new sale in — and ``qtickets_webhooks``
   started (``dagster sensor start``) at its interval ``ZAKAZ_WEBHOOKS_INTERVAL``; the
   orders start once the daemon has ticked that sensor;
3. ``--orders`` new paid orders placed one every ``--every`` seconds through the account's own
   ``place_order`` (a one-ticket order taken now), each delivered by the simulator's
   ``WebhookSender`` (signed, ``created`` then ``payed``, no misbehaviour);
4. "visible": this process polls ``v_sales_latest`` every ``--poll`` seconds through a
   short-lived open that takes the warehouse's file lock as the pipeline does
   (``warehouse/connection.py``), so runs and polls take turns. Order *k* of event *E* is
   visible once ``tickets_sold_total`` of *E* reaches the baseline (read before the first
   order) plus the tickets of the orders of *E* placed up to *k*: nothing else changes the
   account, so that is exactly "this sale is on the dashboard". Its latency is the poll's
   answer time minus the moment the first delivery of the order got its 200 (both
   ``time.monotonic()`` in this process), an upper bound by at most one poll interval and
   the lock wait;
5. after the last sale is visible (or ``--settle`` seconds after the last order: those not
   seen count as missing), every process started here is stopped, the run records of the
   sensor's runs are read from the home, and ``v_sales_latest`` is reconciled per event
   against the account's ground truth (``zakaz_pipeline_tests/truth.py``).

Loopback only; every wait is bounded, so the process stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from benchmarks import measure
from benchmarks.environment import CLI_MODULE, ORG, TIMEZONE, TOKEN, sync_env
from benchmarks.views import percentile

SECRET = "bench-webhook-secret-0123456789"
SENSOR = "qtickets_webhooks"
LATEST_SQL = "SELECT event_id, tickets_sold_total, revenue_total FROM v_sales_latest WHERE org = %(org)s"
START_TIMEOUT_SECONDS = 180
STOP_GRACE_SECONDS = 20


@dataclass
class Sale:
    """One placed order and what the poller must see for it."""

    order_id: int
    event_id: int
    tickets: int
    needed: int  # tickets_sold_total of its event once this sale (and those before it) are in
    placed_at: float
    delivered_at: float | None = None
    seen_at: float | None = None
    unseen_at: float | None = None  # the last poll before seen_at that did not show it


@dataclass
class Service:
    """A child process in a process group of its own, stopped whole (runs and code servers too)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        while _group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def start(name: str, argv: list[str], env: Mapping[str, str], logs: Path) -> Service:
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, env=dict(env), cwd=logs, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    return Service(name, process, log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, ready: Any, services: list[Service], timeout: float = START_TIMEOUT_SECONDS) -> float:
    """Poll ``ready()`` until true; seconds it took. Fails when a service dies or time runs out."""
    began = time.monotonic()
    while not ready():
        for service in services:
            if not service.alive():
                raise RuntimeError(f"{service.name} exited ({service.process.returncode}); see {service.log}")
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s; see {', '.join(str(s.log) for s in services)}")
        time.sleep(0.5)
    return time.monotonic() - began


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def sensor_ticks(home: Path) -> int:
    """How many ticks the daemon has recorded for the webhook sensor so far."""
    from dagster import DagsterInstance
    from dagster._core.definitions.run_request import InstigatorType

    with DagsterInstance.from_config(str(home)) as instance:
        states = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
                  if s.instigator_name == SENSOR]  # fmt: skip
        return sum(len(instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=5)) for s in states)


def sensor_runs(home: Path) -> list[dict[str, Any]]:
    """The runs the webhook sensor requested: queued → started → ended, from the run records."""
    from dagster import DagsterInstance, RunsFilter

    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records(RunsFilter(tags={"dagster/sensor_name": SENSOR}))
    return [
        {
            "status": record.dagster_run.status.value,
            "queued_s": (record.start_time - record.create_timestamp.timestamp()) if record.start_time else None,
            "run_s": (record.end_time - record.start_time) if record.start_time and record.end_time else None,
        }
        for record in records
    ]


@contextlib.contextmanager
def warehouse(path: Path) -> Iterator[Any]:
    """A short-lived client on the embedded warehouse: takes and releases its file lock."""
    from zakaz_pipeline.warehouse.connection import open_client, parse_target

    with open_client(parse_target(f"chdb://{path}"), create_database=False) as client:
        yield client


def latest(path: Path) -> dict[int, tuple[int, Decimal]]:
    """``v_sales_latest`` per event: (tickets_sold_total, revenue_total)."""
    with warehouse(path) as client:
        rows = client.query(LATEST_SQL, parameters={"org": ORG}).result_rows
    return {int(event): (int(tickets), Decimal(revenue)) for event, tickets, revenue in rows}


def truth_by_event(account: Any) -> dict[int, tuple[int, Decimal]]:
    """The account's ground truth summed per event over every day."""
    from zakaz_pipeline_tests import truth

    totals: dict[int, tuple[int, Decimal]] = {}
    for (_day, event), cell in truth.daily_sales(account, TIMEZONE).items():
        tickets, revenue = totals.get(event, (0, Decimal(0)))
        totals[event] = (tickets + cell.tickets_sold, revenue + cell.revenue)
    return totals


@dataclass
class Shop:
    """Places the benchmark's orders from a thread of its own, so a poll waiting for the
    warehouse's lock never delays a sale."""

    account: Any
    baseline: dict[int, tuple[int, Decimal]]
    count: int
    every: float
    seed: int
    sales: list[Sale] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        rng, tz = random.Random(f"{self.seed}:webhook-bench"), ZoneInfo(TIMEZONE)
        placed: dict[int, int] = {}
        began = time.monotonic()
        for k in range(self.count):
            time.sleep(max(0.0, began + k * self.every - time.monotonic()))
            with self.account.lock:
                now = dt.datetime.now(tz)
                if now > self.account.now:
                    self.account.advance(now)
                order = self.account.place_order(rng)
            event, tickets = order["event_id"], len(order["baskets"])
            placed[event] = placed.get(event, 0) + tickets
            needed = self.baseline.get(event, (0, Decimal(0)))[0] + placed[event]
            self.sales.append(Sale(order["id"], event, tickets, needed, time.monotonic()))
        self.done.set()


def first_200s(sender: Any) -> dict[int, float]:
    """Per order, when its first delivery got a 200 (monotonic)."""
    delivered: dict[int, float] = {}
    for attempt in list(sender.stats.attempts):
        if attempt.status == 200:
            delivered.setdefault(attempt.order_id, attempt.sent_at)
    return delivered


def poll_until_seen(path: Path, shop: Shop, sender: Any, poll: float, settle: float) -> int:
    """Poll ``v_sales_latest`` until every sale is visible or ``settle`` s after the last order; the poll count."""
    polls, settle_deadline = 0, None
    while True:
        began = time.monotonic()
        totals = latest(path)
        answered = time.monotonic()
        polls += 1
        delivered = first_200s(sender)
        sales = list(shop.sales)
        for sale in sales:
            sale.delivered_at = sale.delivered_at or delivered.get(sale.order_id)
            if sale.seen_at is None:
                if totals.get(sale.event_id, (0, Decimal(0)))[0] >= sale.needed:
                    sale.seen_at = answered
                else:
                    sale.unseen_at = answered
        if shop.done.is_set():
            settle_deadline = settle_deadline or time.monotonic() + settle
            if all(s.seen_at is not None for s in shop.sales) or time.monotonic() > settle_deadline:
                return polls
        time.sleep(max(0.0, began + poll - time.monotonic()))


def summarize(sales: list[Sale]) -> dict[str, Any]:
    latencies = [s.seen_at - s.delivered_at for s in sales if s.seen_at is not None and s.delivered_at is not None]
    resolution = [s.seen_at - s.unseen_at for s in sales if s.seen_at is not None and s.unseen_at is not None]
    missing = [s.order_id for s in sales if s.seen_at is None or s.delivered_at is None]
    # A sale never seen counts as infinitely late: p95 is then honest about it.
    ranked = latencies + [float("inf")] * len(missing)

    def finite(value: float) -> float | None:  # JSON has no infinity: None, with ``missing`` saying why
        return None if value == float("inf") else value

    return {
        "sales": len(sales),
        "seen": len(latencies),
        "missing": missing,
        "latencies_s": [round(x, 2) for x in latencies],
        "p50_s": finite(statistics.median(ranked)) if ranked else None,
        "p95_s": finite(percentile(ranked, 0.95)) if ranked else None,
        "max_s": finite(max(ranked)) if ranked else None,
        "min_s": min(latencies) if latencies else None,
        "resolution_p50_s": statistics.median(resolution) if resolution else None,
        "deliver_p50_s": statistics.median(
            s.delivered_at - s.placed_at for s in sales if s.delivered_at is not None
        ) if any(s.delivered_at is not None for s in sales) else None,
    }  # fmt: skip


def measure_latency(args: argparse.Namespace) -> dict[str, Any]:
    from zakaz_pipeline.cli.ui import write_workspace
    from zakaz_pipeline.simulator.server import SimulatorServer
    from zakaz_pipeline.simulator.shop import SimulatedAccount
    from zakaz_pipeline.simulator.webhooks import WebhookSender

    work, logs = args.workdir.resolve(), args.workdir.resolve() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    account = SimulatedAccount.generate(
        seed=args.seed, orders=args.account_orders, events=args.events, history_days=args.history_days
    )
    first = account.first_payment_date(TIMEZONE).isoformat()
    services: list[Service] = []
    with SimulatorServer(account, token=TOKEN) as server:
        port = free_port()
        home = work / "dagster_home"
        env = sync_env(server.base_url, work, first) | {
            "QTICKETS_WEBHOOK_SECRET": SECRET,
            "ZAKAZ_WEBHOOK_QUEUE": str(work / "webhooks.sqlite"),
            "ZAKAZ_WEBHOOKS_INTERVAL": str(args.sensor_interval),
            # as the CLI and the compose deployment set them for the daemon's runs
            "DAGSTER_EVENT_BATCH_SIZE": "1000",
            "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
        }
        synced = measure.run(
            [sys.executable, "-m", CLI_MODULE, "sync", "--from", first], env=env, cwd=work, log_dir=logs,
            name="initial-sync", timeout=900,
        ).check("the initial zakaz sync")  # fmt: skip
        workspace = write_workspace(work)
        try:
            services.append(start("receiver", [sys.executable, "-m", CLI_MODULE, "webhooks", "--port", str(port)],
                                  env, logs))  # fmt: skip
            wait_for("zakaz webhooks", lambda: healthy(f"http://127.0.0.1:{port}/healthz"), services)
            subprocess.run(
                [str(Path(sys.executable).parent / "dagster"), "sensor", "start", SENSOR, "-w", str(workspace)],
                env=env, cwd=work, check=True, capture_output=True, timeout=START_TIMEOUT_SECONDS,
            )  # fmt: skip
            daemon = [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(workspace),
                      "--log-level", "warning"]  # fmt: skip
            services.append(start("dagster-daemon", daemon, env, logs))
            daemon_ready = wait_for("the daemon's first webhook-sensor tick", lambda: sensor_ticks(home) > 0, services)
            baseline = latest(work / "warehouse")
            shop = Shop(account, baseline, args.orders, args.every, args.seed)
            url = f"http://127.0.0.1:{port}/qtickets/webhook"
            with WebhookSender(account, url=url, secret=SECRET) as sender:
                began = time.monotonic()
                placing = threading.Thread(target=shop.run, name="bench-shop", daemon=True)
                placing.start()
                polls = poll_until_seen(work / "warehouse", shop, sender, args.poll, args.settle)
                placing.join()
                measured_s = time.monotonic() - began
        finally:
            for service in reversed(services):
                service.stop()
    load = os.getloadavg()  # the machine is shared: say how busy it was
    final, expected = latest(work / "warehouse"), truth_by_event(account)
    return {
        **summarize(shop.sales),
        "orders": args.orders,
        "every_s": args.every,
        "poll_s": args.poll,
        "polls": polls,
        "sensor_interval_s": args.sensor_interval,
        "account_orders": args.account_orders,
        "events": args.events,
        "history_days": args.history_days,
        "initial_sync_s": round(synced.seconds, 1),
        "daemon_ready_s": round(daemon_ready, 1),
        "measured_s": round(measured_s, 1),
        "runs": sensor_runs(home),
        "load_avg": [round(x, 1) for x in load],
        "cpus": os.cpu_count(),
        "reconciled": {str(k): [v[0], str(v[1])] for k, v in final.items()}
        == {str(k): [v[0], str(v[1])] for k, v in expected.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="a fresh folder: warehouse, DAGSTER_HOME, logs")
    parser.add_argument("--orders", type=int, default=50, help="new paid orders delivered by webhook (default 50)")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between two orders (default 3)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between two polls of v_sales_latest")
    parser.add_argument("--settle", type=float, default=300.0, help="wait at most this long after the last order")
    parser.add_argument("--sensor-interval", type=int, default=20, help="ZAKAZ_WEBHOOKS_INTERVAL (default 20)")
    parser.add_argument("--account-orders", type=int, default=3000)
    parser.add_argument("--events", type=int, default=15)
    parser.add_argument("--history-days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sys.stdout.write(orjson.dumps(measure_latency(args)).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
