"""``zakaz demo`` and ``zakaz simulator``: the fake Qtickets shop, synced or served alone.

The demo serves a generated account on a free port, syncs its whole history into an
embedded warehouse as a seller's first backfill would, and prints the summary; with
``--ui`` a live shop keeps selling, the simulator delivers its changes as signed webhooks to
the demo's receiver (``zakaz webhooks``, secret ``DEMO_WEBHOOK_SECRET``), and the Dagster UI
and daemon run on it (``cli/ui.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from zakaz_pipeline.cli.sync import sync_command
from zakaz_pipeline.cli.ui import write_workspace
from zakaz_pipeline.settings import ConfigError, Settings, environment

if TYPE_CHECKING:
    from zakaz_pipeline.simulator.faults import FaultPlan
    from zakaz_pipeline.simulator.webhooks import WebhookPlan

log = logging.getLogger("zakaz")

DEMO_TOKEN = "demo-token"
DEMO_PII_KEY = "demo-pii-key-not-for-production"
# With --ui the simulator signs its webhooks with this and the demo's receiver checks it.
DEMO_WEBHOOK_SECRET = "demo-webhook-secret-not-for-production"
WEBHOOK_QUEUE = "webhooks.sqlite"  # with --ui, in the demo's folder
LIVE_SHOP_JOURNAL = "live_shop.jsonl"  # with --ui, in the demo's folder: one JSON line per change the shop made


def simulator_command(args: argparse.Namespace) -> int:
    """Serve the fake API until Ctrl-C; the token is QTICKETS_TOKEN's, else the demo's."""
    from zakaz_pipeline.simulator.dialect import ApiDialect
    from zakaz_pipeline.simulator.server import serve_forever

    token = Settings.from_env(need_secrets=False).token or DEMO_TOKEN
    dialect = ApiDialect(filters=args.api_filters, real_paging=args.real_paging, tariffs=args.tariffs)
    serve_forever(
        port=args.port,
        orders=args.orders,
        events=args.events,
        seed=args.seed,
        token=token,
        faults=_paced_plan(args),
        dialect=dialect,
    )
    return 0


def _paced_plan(args: argparse.Namespace) -> FaultPlan | None:
    """``--faults`` with ``--latency-ms`` / ``--jitter-ms`` / ``--max-per-page`` over it; the
    pace alone is a plan without faults, seeded by ``--seed`` (the jitter's draws)."""
    from zakaz_pipeline.simulator.faults import FaultPlan

    pace = {"latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms, "max_per_page": args.max_per_page}
    if all(value is None for value in pace.values()):
        return args.faults
    try:
        return (args.faults or FaultPlan(seed=args.seed)).paced(**pace)
    except ValueError as exc:
        raise ConfigError(f"zakaz simulator --latency-ms/--jitter-ms/--max-per-page: {exc}") from None


def demo_command(args: argparse.Namespace) -> int:
    """With the default ``--path`` the demo fills the default warehouse and Dagster home
    (``.zakaz``); it prints the command that shows it in the Dagster UI. The daily partitions start at the
    account's first sale (``QTICKETS_HISTORY_START``), and the sync covers exactly them,
    as a seller's first backfill would. With ``--ui`` a live shop keeps selling from before
    the sync (so the newest sale is seconds old when the checks run) and the Dagster UI and
    daemon then run on the demo with the API, token, PII key and warehouse wired in."""
    from zakaz_pipeline.simulator.live import LiveShop
    from zakaz_pipeline.simulator.server import SimulatorServer
    from zakaz_pipeline.simulator.shop import SimulatedAccount
    from zakaz_pipeline.simulator.webhooks import WebhookSender

    path = args.path.resolve()
    timezone = Settings.from_env(need_secrets=False).timezone
    account = SimulatedAccount.generate(seed=args.seed, orders=args.orders, events=args.events)
    first = account.first_payment_date(timezone)
    wired = _demo_environment(path, first.isoformat(), ui=args.ui)
    with SimulatorServer(account, token=DEMO_TOKEN) as server, contextlib.ExitStack() as shop:
        os.environ["QTICKETS_BASE_URL"] = server.base_url
        log.info(
            "simulator with %d orders and %d events at %s", len(account.orders), len(account.events), server.base_url
        )
        webhooks_port = _free_port() if args.ui else 0
        if args.ui:
            journal = path / LIVE_SHOP_JOURNAL
            journal.unlink(missing_ok=True)
            # Listening before the shop's first change: every change is delivered (the ones
            # made before the receiver is up are retried on the vendor's schedule).
            shop.enter_context(
                WebhookSender(
                    account,
                    url=f"http://127.0.0.1:{webhooks_port}/qtickets/webhook",
                    secret=DEMO_WEBHOOK_SECRET,
                    plan=_demo_webhook_plan(args.seed),
                )
            )
            shop.enter_context(
                LiveShop(account, seed=args.seed, interval=args.shop_every, timezone=timezone, journal=journal)
            )
        else:
            # The shop's newest sale is made now, as the live shop's first change is: the
            # freshness check (newest paid order under 2 h old) then passes, as on a shop
            # that sells, rather than on how long ago the generated history happens to end.
            LiveShop(account, seed=args.seed, interval=args.shop_every, timezone=timezone).step()
        status = sync_command(argparse.Namespace(first=first, last=None, dry_run=False))
        if status == 0 and args.ui:
            return _serve_ui(path, args.ui_port, webhooks_port)
    if status == 0:
        print(
            f"\nThe Dagster UI on this demo's data (Ctrl-C stops it):\n  {ui_command(path, wired)}\n"
            "or `zakaz demo --ui`: a live shop, with the schedule and sensors running."
        )
    return status


def _demo_environment(path: Path, history_start: str, *, ui: bool) -> dict[str, str]:
    """The demo's own token, PII key, warehouse and first day (and with ``--ui`` the
    running schedule at a cadence a person can watch) written for the sync (which reads
    them back as its settings) and the UI's children; returns the warehouse, first day and
    Dagster home it wired."""
    wired = {"CLICKHOUSE_URL": f"chdb://{path / 'warehouse'}", "QTICKETS_HISTORY_START": history_start}
    os.environ.update(QTICKETS_TOKEN=DEMO_TOKEN, ZAKAZ_PII_KEY=DEMO_PII_KEY, **wired)
    wired["DAGSTER_HOME"] = os.environ.setdefault("DAGSTER_HOME", str(path / "dagster_home"))
    if ui:
        from zakaz_pipeline.cli.ui import DEMO_CADENCE

        os.environ["ZAKAZ_SCHEDULE_RUNNING"] = "1"
        for name, value in DEMO_CADENCE.items():
            os.environ.setdefault(name, value)
        # The receiver (a child of the UI) and the webhook sensors read the same secret and queue.
        os.environ.update(QTICKETS_WEBHOOK_SECRET=DEMO_WEBHOOK_SECRET, ZAKAZ_WEBHOOK_QUEUE=str(path / WEBHOOK_QUEUE))
    return wired


def _demo_webhook_plan(seed: int) -> WebhookPlan:
    """A few deliveries twice, late (20 s) or signed wrongly, as a real account's would be:
    the receiver refuses the bad ones and Qtickets' retry (1 s later) gets through."""
    from zakaz_pipeline.simulator.webhooks import WebhookPlan

    return WebhookPlan(seed=seed, duplicate=0.05, late=0.05, bad_signature=0.02, late_seconds=20)


def _free_port() -> int:
    """A port for the demo's webhook receiver: the sender needs its URL before the UI starts it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_ui(path: Path, port: int, webhooks_port: int) -> int:
    from zakaz_pipeline.cli.ui import UiError, serve_ui

    try:
        status = serve_ui(path, host="127.0.0.1", port=port, env=environment(), webhooks_port=webhooks_port)
    except UiError as exc:
        print(f"zakaz: {exc}", file=sys.stderr)
        return 1
    print("demo stopped", flush=True)
    return status


def ui_command(path: Path, wired: dict[str, str]) -> str:
    """The Dagster webserver on this demo, as one line for a shell in any folder: this
    environment's own executable (no activated venv needed; Dagster calls ``dagster dev``
    superseded), and the settings a UI needs to show the demo (no secrets: the demo's own
    token and key are not needed to look, only to run)."""
    webserver = Path(sys.executable).parent / "dagster-webserver"
    settings = {name: wired[name] for name in ("DAGSTER_HOME", "CLICKHOUSE_URL", "QTICKETS_HISTORY_START")}
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in settings.items())
    return f"{assignments} {shlex.quote(str(webserver))} -w {shlex.quote(str(write_workspace(path)))}"
