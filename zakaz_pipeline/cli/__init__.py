"""``zakaz``: a thin command line over the Dagster definitions.

Runs execute in this process against the Dagster instance in ``DAGSTER_HOME`` (default
``.zakaz/dagster_home``), so they appear in the UI next to scheduled runs. Settings are
checked before anything is fetched; a bad value exits with status 2 and a message that
names the variable, a failed run with status 1.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import NoReturn

from zakaz_pipeline.cli.demo import simulator_command
from zakaz_pipeline.cli.parser import build_parser
from zakaz_pipeline.settings import ConfigError, debug_enabled, load_dotenv


def main(argv: Sequence[str] | None = None) -> int:
    """Every failure ends in a few plain lines on stderr naming the cause: exit 2 for a
    setting to fix (the message names the variable), 1 for a failed or stopped command.
    ``--debug`` or ``ZAKAZ_DEBUG=1`` adds the traceback and Dagster's own output.
    Variables come from the environment, then from ``./.env`` for those it does not set."""
    load_dotenv()
    args = build_parser().parse_args(argv)
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
        if args.command is simulator_command:  # the way to stop it
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


def command() -> NoReturn:
    """The console script: ``main``, then an exit without the interpreter's last collection.

    That collection walks every object Dagster, SQLAlchemy and chDB loaded: 0.7 s of a
    7 s tick, measured, spent freeing memory the process gives back anyway. By then the
    command has committed, closed and flushed what it wrote (runs, the warehouse, its
    output); ``gc.freeze`` leaves only the walk out, atexit handlers still run."""
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()
    sys.exit(status)


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
    from zakaz_pipeline.errors import exception_line
    from zakaz_pipeline.qtickets.client import QticketsError
    from zakaz_pipeline.qtickets.fields import UpstreamDataError
    from zakaz_pipeline.settings import process_secrets

    text = exception_line(exc, process_secrets())
    if isinstance(exc, QticketsError):
        return f"the Qtickets API failed: {text}"
    if isinstance(exc, UpstreamDataError):
        return text
    return f"{type(exc).__name__}: {text}"


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
