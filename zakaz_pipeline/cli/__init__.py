"""``zakaz``: a thin command line over the Dagster definitions.

Runs execute in this process against the Dagster instance in ``DAGSTER_HOME`` (default
``.zakaz/dagster_home``), so they appear in the UI next to scheduled runs. Settings are
checked before anything is fetched; a bad value exits with status 2 and a message that
names the variable, a failed run with status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from zakaz_pipeline.config import LOCAL_STATE_DIR, ConfigError, Settings, debug_enabled, env_value, timezone_from
from zakaz_pipeline.preflight import check_reachable, check_token, check_warehouse_exists
from zakaz_pipeline.qtickets.rules import DEFAULT_TIMEZONE

if TYPE_CHECKING:
    from zakaz_pipeline.qtickets.simulator.faults import FaultPlan

log = logging.getLogger("zakaz")

DEMO_TOKEN = "demo-token"
DEMO_PII_KEY = "demo-pii-key-not-for-production"
LIVE_SHOP_JOURNAL = "live_shop.jsonl"  # with --ui, in the demo's folder: one JSON line per change the shop made


def main(argv: Sequence[str] | None = None) -> int:
    """Every failure ends in a few plain lines on stderr naming the cause: exit 2 for a
    setting to fix (the message names the variable), 1 for a failed or stopped command.
    ``--debug`` or ``ZAKAZ_DEBUG=1`` adds the traceback and Dagster's own output."""
    args = _parser().parse_args(argv)
    if getattr(args, "debug", False):
        os.environ["ZAKAZ_DEBUG"] = "1"
    debug = debug_enabled()
    _configure_logging(debug)
    signal.signal(signal.SIGTERM, _stop)
    try:
        return args.command(args)
    except ConfigError as exc:
        _say(str(exc), debug)
        return 2
    except KeyboardInterrupt:
        if args.command is _simulator:  # the way to stop it
            return 0
        _say(
            "stopped before the end (Ctrl-C or a kill): no day was half-written (each is replaced whole or not at "
            "all); run the command again to finish",
            debug,
        )
        return 1
    except Exception as exc:  # noqa: BLE001 - the last resort that keeps tracebacks behind --debug
        hint = "" if debug else "\n(run again with --debug or ZAKAZ_DEBUG=1 for the traceback)"
        _say(_cause(exc) + hint, debug)
        return 1


def _stop(signum: int, _frame: object) -> None:
    """SIGTERM (a kill, a stopped container) ends a command as Ctrl-C does: the run is
    marked failed or canceled in Dagster and the message says so, rather than a silent death."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _say(message: str, debug: bool = False) -> None:
    """The message, after the traceback of the exception being handled when debugging."""
    if debug:
        traceback.print_exc(file=sys.stderr)
    print(f"zakaz: {message}", file=sys.stderr)


def _cause(exc: Exception) -> str:
    """One line naming what failed, without secrets: API and warehouse errors are already
    worded for people; anything else gets its type and first line."""
    from zakaz_pipeline.defs.alerts import env_secrets, first_line
    from zakaz_pipeline.qtickets.client import QticketsError

    secrets = (*env_secrets(os.environ), _url_password(os.environ.get("CLICKHOUSE_ADMIN_URL", "")))
    text = first_line(str(exc), [secret for secret in secrets if secret]) or type(exc).__name__
    if isinstance(exc, QticketsError):
        return f"the Qtickets API failed: {text}"
    return f"{type(exc).__name__}: {text}"


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def _configure_logging(debug: bool) -> None:
    """Our own progress at INFO (DEBUG with ``--debug``); libraries (alembic, urllib3, …)
    only when they warn."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("zakaz", "zakaz_pipeline"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:
        # Their retry and driver warnings ("Unexpected Http Driver Exception") precede our own
        # message on a refused connection and read like errors while a retry is still under way.
        logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
        logging.getLogger("urllib3").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zakaz", description="Qtickets → ClickHouse analytics pipeline")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    sim = commands.add_parser("simulator", help="serve a fake Qtickets API with synthetic data")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument(
        "--faults",
        type=_fault_plan,
        default=os.environ.get("QTICKETS_SIMULATOR_FAULTS") or None,
        metavar="SPEC",
        help="inject seeded faults, e.g. seed=7,rate=0.2,kinds=429+5xx+slow+reset+truncate+badjson+drift+extra,"
        "revoke_after=40,slow_seconds=1.5 (default QTICKETS_SIMULATOR_FAULTS)",
    )
    _add_dataset_arguments(sim)
    sim.set_defaults(command=_simulator)

    demo = commands.add_parser("demo", help="simulator + full sync into an embedded warehouse + summary")
    demo.add_argument(
        "--path", type=Path, default=LOCAL_STATE_DIR, help="where the demo keeps its warehouse and Dagster home"
    )
    demo.add_argument(
        "--ui",
        action="store_true",
        help="then keep a live shop selling and serve the Dagster UI and daemon on it until Ctrl-C",
    )
    demo.add_argument("--ui-port", type=int, default=3000, help="the Dagster UI's port with --ui (default 3000)")
    demo.add_argument(
        "--shop-every", type=_positive_seconds, default=5.0, metavar="SECONDS",
        help="with --ui, the live shop makes one change (mostly a new order) this often (default 5)",
    )  # fmt: skip
    _add_dataset_arguments(demo)
    demo.set_defaults(command=_demo)

    sync = commands.add_parser("sync", help="sync the configured Qtickets account into the warehouse")
    sync.add_argument("--from", dest="first", type=_date, help="first sales day (default QTICKETS_HISTORY_START)")
    sync.add_argument("--to", dest="last", type=_date, help="last sales day, inclusive (default today)")
    sync.add_argument("--dry-run", action="store_true", help="fetch and transform, write nothing, print counts")
    sync.set_defaults(command=_sync)

    bootstrap = commands.add_parser(
        "bootstrap", help="create the database, tables, views, roles, users and grants (as admin); idempotent"
    )
    bootstrap.add_argument("--rotate-passwords", action="store_true", help="also reset existing users' passwords")
    bootstrap.set_defaults(command=_bootstrap)

    check = commands.add_parser("check", help="run every asset check against the warehouse; non-zero on ERROR")
    check.set_defaults(command=_check)
    debug_help = "on failure show the traceback and Dagster's own log (also ZAKAZ_DEBUG=1)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    for command in commands.choices.values():  # also after the command: `zakaz sync --debug`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return parser


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--orders", type=int, default=3000, help="number of orders to generate")
    parser.add_argument("--events", type=int, default=15, help="number of events to generate")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be above 0 seconds")
    return seconds


def _fault_plan(spec: str) -> FaultPlan:
    """argparse shows an ArgumentTypeError's own words; a ValueError it would hide."""
    from zakaz_pipeline.qtickets.simulator.faults import FaultPlan

    try:
        return FaultPlan.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _simulator(args: argparse.Namespace) -> int:
    from zakaz_pipeline.qtickets.simulator.server import serve_forever

    token = os.environ.get("QTICKETS_TOKEN", "").strip() or DEMO_TOKEN
    serve_forever(
        port=args.port, orders=args.orders, events=args.events, seed=args.seed, token=token, faults=args.faults
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    """With the default ``--path`` the demo fills the default warehouse and Dagster home,
    so a plain ``dagster dev`` in this folder shows it. The daily partitions start at the
    account's first sale (``QTICKETS_HISTORY_START``), and the sync covers exactly them,
    as a seller's first backfill would. With ``--ui`` a live shop keeps selling from before
    the sync (so the newest sale is seconds old when the checks run) and the Dagster UI and
    daemon then run on the demo with the API, token, PII key and warehouse wired in."""
    from zakaz_pipeline.qtickets.simulator.account import SimulatedAccount
    from zakaz_pipeline.qtickets.simulator.live import LiveShop
    from zakaz_pipeline.qtickets.simulator.server import SimulatorServer

    path = args.path.resolve()
    timezone = timezone_from(env_value(os.environ, "ZAKAZ_TIMEZONE", DEFAULT_TIMEZONE)).key
    account = SimulatedAccount.generate(seed=args.seed, orders=args.orders, events=args.events)
    first = account.first_payment_date(timezone)
    os.environ.update(
        QTICKETS_TOKEN=DEMO_TOKEN,
        ZAKAZ_PII_KEY=DEMO_PII_KEY,
        CLICKHOUSE_URL=f"chdb://{path / 'warehouse'}",
        QTICKETS_HISTORY_START=first.isoformat(),
    )
    os.environ.setdefault("DAGSTER_HOME", str(path / "dagster_home"))
    if args.ui:
        from zakaz_pipeline.demo_ui import DEMO_CADENCE

        os.environ["ZAKAZ_SCHEDULE_RUNNING"] = "1"
        for name, value in DEMO_CADENCE.items():
            os.environ.setdefault(name, value)
    with SimulatorServer(account, token=DEMO_TOKEN) as server, contextlib.ExitStack() as shop:
        os.environ["QTICKETS_BASE_URL"] = server.base_url
        log.info(
            "simulator with %d orders and %d events at %s", len(account.orders), len(account.events), server.base_url
        )
        if args.ui:
            journal = path / LIVE_SHOP_JOURNAL
            journal.unlink(missing_ok=True)
            shop.enter_context(
                LiveShop(account, seed=args.seed, interval=args.shop_every, timezone=timezone, journal=journal)
            )
        status = _sync(argparse.Namespace(first=first, last=None, dry_run=False))
        if status == 0 and args.ui:
            return _serve_ui(path, args.ui_port)
    if status == 0:
        print(f"\nOpen the Dagster UI on this demo:\n  {_ui_command(path)}\nor run `zakaz demo --ui`.")
    return status


def _serve_ui(path: Path, port: int) -> int:
    from zakaz_pipeline.demo_ui import UiError, serve_ui

    try:
        status = serve_ui(path, host="127.0.0.1", port=port, env=os.environ)
    except UiError as exc:
        print(f"zakaz: {exc}", file=sys.stderr)
        return 1
    print("demo stopped", flush=True)
    return status


def _ui_command(path: Path) -> str:
    """The settings a UI needs to show this demo (no secrets: the demo's own token and
    key are not needed to look, only to run)."""
    start = f"QTICKETS_HISTORY_START={os.environ['QTICKETS_HISTORY_START']}"
    if path == LOCAL_STATE_DIR.resolve():
        return f"{start} dagster dev   (in this folder)"
    return (
        f"{start} DAGSTER_HOME={os.environ['DAGSTER_HOME']} CLICKHOUSE_URL={os.environ['CLICKHOUSE_URL']} dagster dev"
    )


def _sync(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    today = dt.datetime.now(settings.tz).date()
    first, last = args.first or settings.history_start, args.last or today
    if first > last:
        raise ConfigError(f"--from {first} is after --to {last}")
    if first < settings.history_start:
        raise ConfigError(
            f"--from {first} is before QTICKETS_HISTORY_START={settings.history_start}, the first sales day"
        )
    check_reachable(settings)
    try:
        expected = check_token(settings, *_sales_window(first, last, settings))
    except ConfigError as exc:
        if not args.dry_run:
            from zakaz_pipeline.runner import record_refused_start

            record_refused_start(settings, first, last, str(exc))
        raise
    if expected is not None:
        log.info("%d paid orders to fetch for sales days %s … %s", expected, first, last)
    if args.dry_run:
        from zakaz_pipeline.dry_run import dry_run

        print(dry_run(settings, first, last).table())
        return 0
    from zakaz_pipeline.runner import run_sync

    outcome = run_sync(settings, first, last)
    print(outcome.table())
    return 0 if outcome.success else 1


def _sales_window(first: dt.date, last: dt.date, settings: Settings) -> tuple[dt.datetime, dt.datetime]:
    """``[first 00:00, the day after last 00:00)`` in the reporting time zone."""
    tz = settings.tz
    return dt.datetime.combine(first, dt.time(), tz), dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)


def _bootstrap(args: argparse.Namespace) -> int:
    """Admin credentials come from CLICKHOUSE_ADMIN_URL (else CLICKHOUSE_URL); users' passwords
    from CLICKHOUSE_ETL_PASSWORD, CLICKHOUSE_DATALENS_PASSWORD, CLICKHOUSE_BACKUP_PASSWORD (or *_FILE),
    their networks from CLICKHOUSE_ETL_NETWORKS / CLICKHOUSE_DATALENS_NETWORKS; the TLS pair
    ClickHouse serves (CLICKHOUSE_TLS_CERT / _KEY) is checked when set. Any of these wrong: exit 2."""
    from zakaz_pipeline.warehouse.bootstrap import BootstrapError, bootstrap
    from zakaz_pipeline.warehouse.connection import WarehouseConfigError, parse_target

    settings = Settings.from_env(need_secrets=False)
    url = os.environ.get("CLICKHOUSE_ADMIN_URL", "").strip() or settings.clickhouse_url
    cluster = os.environ.get("CLICKHOUSE_CLUSTER", "").strip()
    try:
        target = parse_target(url, settings.clickhouse_database)
        lines = bootstrap(target, cluster=cluster, rotate_passwords=args.rotate_passwords)
    except (BootstrapError, WarehouseConfigError) as exc:
        message = str(exc).replace("CLICKHOUSE_URL", "CLICKHOUSE_ADMIN_URL / CLICKHOUSE_URL")
        if "CLICKHOUSE_" not in message:  # a server that does not answer: name what points at it
            message = f"CLICKHOUSE_ADMIN_URL / CLICKHOUSE_URL: {message}"
        raise ConfigError(message) from None
    print(f"bootstrap of {target.describe()}" + (f" on cluster {cluster}" if cluster else ""))
    print("\n".join(f"  {line}" for line in lines))
    return 0


def _check(args: argparse.Namespace) -> int:
    """Checks read the warehouse only: no Qtickets token or PII key is needed, and a
    warehouse that is not there is an error (exit 2), never created."""
    settings = Settings.from_env(need_secrets=False)
    check_warehouse_exists(settings)
    from zakaz_pipeline.check_report import run_checks

    report = run_checks(settings)
    print(report.table())
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
