"""The ``zakaz`` command line: its subcommands, their flags, and which function runs each.

Each subcommand's module keeps Dagster, chDB and the simulator behind imports inside its
functions, so parsing (and ``--help``) stays fast and a bad flag is refused at once.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from zakaz_pipeline.cli.bootstrap import bootstrap_command
from zakaz_pipeline.cli.check import check_command
from zakaz_pipeline.cli.demo import demo_command, simulator_command
from zakaz_pipeline.cli.probe import probe_command
from zakaz_pipeline.cli.sync import sync_command
from zakaz_pipeline.cli.webhooks import MAX_CONNECTIONS, REQUEST_SECONDS, webhooks_command
from zakaz_pipeline.settings import LOCAL_STATE_DIR, simulator_faults

if TYPE_CHECKING:
    from zakaz_pipeline.simulator.faults import FaultPlan

N = TypeVar("N", int, float)
DEBUG_HELP = "on failure show the traceback and Dagster's own log (also ZAKAZ_DEBUG=1)"
# What each command's --help says of the variables it reads (docs/CONFIGURATION.md has them all).
WHERE = "Variables are read from the environment, then from ./.env for those it does not set (.env.example lists them)."
WAREHOUSE = "CLICKHOUSE_URL (default chdb://$PWD/.zakaz/warehouse), CLICKHOUSE_DATABASE (default zakaz)"
ENVIRONMENT = {
    "sync": f"Required: QTICKETS_TOKEN (the seller's API token), ZAKAZ_PII_KEY (at least 16 characters). "
    f"Also read: QTICKETS_BASE_URL, QTICKETS_HISTORY_START (the first sales day: `zakaz probe` finds it), "
    f"{WAREHOUSE}, ORG_NAME, ZAKAZ_TIMEZONE, DAGSTER_HOME.",
    "probe": "Required: QTICKETS_TOKEN. Also read: QTICKETS_BASE_URL, ZAKAZ_TIMEZONE, DAGSTER_HOME (where the "
    "findings are recorded). The first sale is written to ./.env as QTICKETS_HISTORY_START unless the environment "
    "sets that variable itself.",
    "bootstrap": f"Required on a server: CLICKHOUSE_ADMIN_URL (else CLICKHOUSE_URL), CLICKHOUSE_ETL_PASSWORD, "
    f"CLICKHOUSE_DATALENS_PASSWORD, CLICKHOUSE_BACKUP_PASSWORD (or *_FILE). Also read: {WAREHOUSE}, "
    f"CLICKHOUSE_ETL_NETWORKS, CLICKHOUSE_DATALENS_NETWORKS, CLICKHOUSE_TLS_CERT / _KEY, ZAKAZ_TIMEZONE.",
    "check": f"Required: none (no token). Read: {WAREHOUSE}, which must hold a synced warehouse; ORG_NAME, "
    "ZAKAZ_TIMEZONE, the ZAKAZ_*_HOURS thresholds, DAGSTER_HOME.",
    "webhooks": "Required: QTICKETS_WEBHOOK_SECRET (at least 16 characters). Also read: ZAKAZ_WEBHOOK_QUEUE, "
    "ZAKAZ_WEBHOOK_MAX_BYTES, ZAKAZ_WEBHOOK_RETENTION_DAYS, ZAKAZ_TIMEZONE.",
}


def build_parser() -> argparse.ArgumentParser:
    """``args.command`` of the parsed arguments is the function that runs the subcommand."""
    parser = argparse.ArgumentParser(prog="zakaz", description="Qtickets → ClickHouse analytics pipeline")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_simulator(commands)
    _add_demo(commands)
    sync = commands.add_parser("sync", help="sync the configured Qtickets account into the warehouse")
    sync.add_argument("--from", dest="first", type=_date, help="first sales day (default QTICKETS_HISTORY_START)")
    sync.add_argument("--to", dest="last", type=_date, help="last sales day, inclusive (default today)")
    sync.add_argument("--dry-run", action="store_true", help="fetch and transform, write nothing, print counts")
    sync.set_defaults(command=sync_command)
    probe = commands.add_parser(
        "probe",
        help="first contact with the account's API: a few read-only requests, what its filters and pages do, "
        "the strategy runs will use (recorded for them)",
    )
    probe.add_argument(
        "--no-record", dest="record", action="store_false", help="print the findings only, record nothing"
    )
    probe.set_defaults(command=probe_command)
    bootstrap = commands.add_parser(
        "bootstrap", help="create the database, tables, views, roles, users and grants (as admin); idempotent"
    )
    bootstrap.add_argument("--rotate-passwords", action="store_true", help="also reset existing users' passwords")
    bootstrap.set_defaults(command=bootstrap_command)
    check = commands.add_parser("check", help="run every asset check against the warehouse; non-zero on ERROR")
    check.set_defaults(command=check_command)
    webhooks = commands.add_parser(
        "webhooks", help="receive Qtickets webhooks (POST /qtickets/webhook) into the queue the webhook sensor reads"
    )
    webhooks.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    webhooks.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090; 0: a free one)")
    webhooks.add_argument(
        "--max-connections", type=_connections, default=MAX_CONNECTIONS, metavar="N",
        help=f"open connections served at once; past them a request is answered 503 (default {MAX_CONNECTIONS})",
    )  # fmt: skip
    webhooks.add_argument(
        "--request-timeout", type=_request_seconds, default=REQUEST_SECONDS, metavar="SECONDS",
        help=f"close a connection that has not sent a whole request in this time (default {REQUEST_SECONDS:g})",
    )  # fmt: skip
    webhooks.set_defaults(command=webhooks_command)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.epilog = WHERE
    for name, command in commands.choices.items():  # also after the command: `zakaz sync --debug`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        if name in ENVIRONMENT:
            command.epilog = f"Environment. {ENVIRONMENT[name]} {WHERE}"
    return parser


def _add_simulator(commands: argparse._SubParsersAction) -> None:
    sim = commands.add_parser("simulator", help="serve a fake Qtickets API with synthetic data")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument(
        "--faults",
        type=_fault_plan,
        default=simulator_faults(),
        metavar="SPEC",
        help="inject seeded faults, e.g. seed=7,rate=0.2,kinds=429+5xx+slow+reset+truncate+badjson+drift+extra,"
        "revoke_after=40,slow_seconds=1.5 (default QTICKETS_SIMULATOR_FAULTS)",
    )
    sim.add_argument(
        "--latency-ms", type=_non_negative, metavar="N",
        help="answer every request after N ms, as a remote API would (also latency_ms= in --faults)",
    )  # fmt: skip
    sim.add_argument(
        "--jitter-ms", type=_non_negative, metavar="N",
        help="spread each latency by up to N ms either way, seeded (also jitter_ms= in --faults)",
    )  # fmt: skip
    sim.add_argument(
        "--max-per-page", type=_positive_int, metavar="N",
        help="serve at most N items a list page, whatever perPage asks (also max_per_page= in --faults)",
    )  # fmt: skip
    sim.add_argument(
        "--api-filters", choices=("honoured", "ignored", "refused"), default="honoured",
        help="what GET /orders does with a where on dates or id: honour it (default), ignore it, "
        "or refuse it with 503 UNKNOWN_ERROR as the one public record of a real account shows",
    )  # fmt: skip
    sim.add_argument(
        "--real-paging", action="store_true",
        help="pages of 50 orders and 10 events whatever perPage asks, as real answers hold",
    )  # fmt: skip
    sim.add_argument(
        "--tariffs", action="store_true",
        help="answer each seat once per tariff (full, preferential), each copy with the seat's root_id",
    )  # fmt: skip
    _add_dataset_arguments(sim)
    sim.set_defaults(command=simulator_command)


def _add_demo(commands: argparse._SubParsersAction) -> None:
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
    demo.set_defaults(command=demo_command)


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--orders", type=int, default=3000, help="number of orders to generate")
    parser.add_argument("--events", type=int, default=15, help="number of events to generate")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _number(convert: Callable[[str], N], kind: str, allowed: Callable[[N], bool], bound: str) -> Callable[[str], N]:
    """An argparse ``type`` for a number within a bound; its errors name the value (NaN is never allowed)."""

    def parse(value: str) -> N:
        try:
            number = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not {kind}") from None
        if not allowed(number):
            raise argparse.ArgumentTypeError(f"{value!r} must be {bound}")
        return number

    return parse


_positive_seconds = _number(float, "a number of seconds", lambda seconds: seconds > 0, "above 0 seconds")
_non_negative = _number(float, "a number", lambda number: number >= 0, "0 or more")
_positive_int = _number(int, "a whole number", lambda number: number >= 1, "at least 1")
_connections = _number(int, "a whole number", lambda number: 2 <= number <= 10_000, "from 2 to 10000")
_request_seconds = _number(
    float, "a number of seconds", lambda seconds: 0.1 <= seconds <= 600, "from 0.1 to 600 seconds"
)


def _fault_plan(spec: str) -> FaultPlan:
    """argparse shows an ArgumentTypeError's own words; a ValueError it would hide."""
    from zakaz_pipeline.simulator.faults import FaultPlan

    try:
        return FaultPlan.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
