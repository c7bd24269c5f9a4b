"""``zakaz probe``: first contact with a real account's API, read-only.

A handful of GET requests (``qtickets/probe.py``), each printed with its status and time,
then a short verdict: what the API does with each filter on ``/orders``, its real page
sizes, how seats are answered, timestamp offsets, the first sale and the strategy runs
will fetch orders with. The findings are recorded in the Dagster instance
(``DAGSTER_HOME``) as an observation of ``qtickets_api``, where every run and sensor reads
them, and the first sale's day becomes ``QTICKETS_HISTORY_START`` in ``./.env`` for the
commands after it (a history from the default 2021-01-01 is thousands of empty daily
partitions), unless the environment sets the variable itself. The token never appears in
what is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt

from zakaz_pipeline.cli.preflight import check_api_reachable
from zakaz_pipeline.qtickets.client import QticketsAuthError, QticketsClient
from zakaz_pipeline.qtickets.probe import ProbeReport, probe
from zakaz_pipeline.settings import DOTENV, ConfigError, Settings, set_in_environment, write_dotenv

HISTORY_START = "QTICKETS_HISTORY_START"
PROBE_READ_TIMEOUT = 30.0
PROBE_RETRIES = 2


def probe_command(args: argparse.Namespace) -> int:
    """Exit 0 with findings recorded; 1 when the API answered nothing to find out from."""
    settings = Settings.from_env(need_secrets=False)
    if not settings.token:
        raise ConfigError("QTICKETS_TOKEN is not set: set it to the seller's Qtickets API token")
    check_api_reachable(settings)
    with QticketsClient(
        base_url=settings.base_url,
        token=settings.token,
        read_timeout=PROBE_READ_TIMEOUT,
        max_retries=PROBE_RETRIES,
    ) as client:
        try:
            report = probe(client)
        except QticketsAuthError as exc:
            raise ConfigError(str(exc)) from None
    print(_steps(report))
    print("\n".join(report.verdict()))
    if not report.findings.known or report.findings.orders_total is None:
        return 1
    print(_history_start(report, settings, record=args.record))
    if args.record:
        where = _record(report, settings)
        print(f"findings recorded for every run and sensor: {where}")
    return 0


def _steps(report: ProbeReport) -> str:
    lines = [f"{len(report.steps)} requests (retries and controls not counted), {report.seconds:.1f} s:"]
    for step in report.steps:
        status = str(step.status) if step.status is not None else "---"
        lines.append(f"  {status:>3}  {step.request:<38} {step.seconds:5.2f} s  {step.note}")
    return "\n".join(lines)


def _history_start(report: ProbeReport, settings: Settings, *, record: bool) -> str:
    """What the first sale says of ``QTICKETS_HISTORY_START``; with ``record`` it is written
    to ``./.env`` (where the environment does not set it: an exported value wins anyway)."""
    first_sale = report.findings.first_sale
    if not first_sale:
        return "first sale: none on the oldest page of orders; keep QTICKETS_HISTORY_START as it is"
    day = dt.datetime.fromisoformat(first_sale).astimezone(settings.tz).date()
    if day == settings.history_start:
        return f"QTICKETS_HISTORY_START={day} is the account's first sale day"
    was = (
        f"it was {settings.history_start}, {abs((day - settings.history_start).days)} days "
        f"{'before' if day > settings.history_start else 'after'} it"
    )
    if not record or set_in_environment(HISTORY_START):
        where = "the environment sets it" if record else "--no-record writes nothing"
        return f"set {HISTORY_START}={day} (the first sale, in {settings.timezone}); {was} ({where})"
    write_dotenv(HISTORY_START, day.isoformat(), DOTENV)
    return (
        f"{HISTORY_START}={day} (the first sale, in {settings.timezone}) written to {DOTENV.resolve()} for the "
        f"next commands; {was}"
    )


def _record(report: ProbeReport, settings: Settings) -> str:
    from zakaz_pipeline.defs.api_findings import observation
    from zakaz_pipeline.runtime.instance import open_instance

    instance = open_instance()
    instance.report_runless_asset_event(observation(report.findings, settings.org, "zakaz probe"))
    return f"Dagster instance in {instance.root_directory} (asset qtickets_api)"
