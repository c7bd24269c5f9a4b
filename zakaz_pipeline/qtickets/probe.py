"""First contact with an account's API: a few read-only requests that find out what the
public record leaves open (``findings.py``), each recorded with its answer.

Every request is a GET, and there are at most ``MAX_REQUESTS`` of them, retries aside:
the oldest and the newest page of ``/orders`` (the token, the real page size and total,
ascending ids, timestamp offsets, the first sale, payment lags), one request for each
filter kind on ``/orders`` whose rows are then held against the filter (a filter chosen
so that an ignored one cannot pass for honoured: its rows would be the oldest page's,
which the condition excludes), one page of ``/events`` and one show's seats (the answer's
shape, tariff copies of a seat, personal quotas). A refused filter is told from an
outage by the client itself (``QticketsFilterRefused``).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from zakaz_pipeline.qtickets.client import (
    ListPage,
    QticketsAuthError,
    QticketsClient,
    QticketsError,
    QticketsFilterRefused,
    flat_seats,
)
from zakaz_pipeline.qtickets.filters import Condition, failed, shape, where
from zakaz_pipeline.qtickets.findings import Findings
from zakaz_pipeline.qtickets.rules import parse_ts, show_is_on_sale

MAX_REQUESTS = 8
SEAT_PROBES = 2  # shows whose seats are read: a tariff show may sit beside plain ones
TIMESTAMPS = ("created_at", "updated_at", "payed_at", "deleted_at")
SEAT_PROBE_FIELDS = ("id", "root_id", "zone_id", "zone_root_id", "max_quantity", "free_quantity", "disabled", "spread")
T = TypeVar("T")


@dataclass(frozen=True)
class ProbeStep:
    """One request and what it said: ``status`` 200 or the API's error status (``None``: no answer)."""

    request: str
    status: int | None
    note: str
    seconds: float


@dataclass
class ProbeReport:
    findings: Findings
    steps: list[ProbeStep] = field(default_factory=list)
    seconds: float = 0.0  # the probe's wall time (the filter kinds are asked side by side)

    def verdict(self) -> list[str]:
        """The findings in a few lines, ending with the strategy a run will use."""
        f = self.findings
        if f.orders_total is None:
            return ["the API did not answer GET orders: nothing could be found out; run the probe again later"]
        pages = f"{f.orders_per_page or '?'} orders and {f.events_per_page or '?'} events a page"
        return [
            f"token accepted; {f.orders_total} orders; {pages}",
            "filters on /orders: " + ", ".join(f"{name} {f.verdict(name)}" for name in f.filters),
            f"seats: {f.seats}; tariff copies: {_yes_no(f.tariffs)}; personal quotas: {_yes_no(f.quotas)}",
            "timestamp offsets: " + (", ".join(f.offsets) or "none seen"),
            f"first sale: {f.first_sale or 'none on the oldest page'}; longest payment lag seen: "
            f"{dt.timedelta(seconds=f.payment_lag_seconds)}",
            f"orders strategy: {f.orders_strategy()}; late changes: {f.late_changes_strategy()}",
        ]


def probe(client: QticketsClient, *, now: dt.datetime | None = None) -> ProbeReport:
    """Probe the account behind ``client``; a refused token raises ``QticketsAuthError``.
    Without an answer to the first request (an outage) the findings stay unknown."""
    now, started = now or dt.datetime.now(dt.UTC), time.monotonic()
    report = ProbeReport(Findings(probed_at=now.replace(microsecond=0).isoformat()))
    run = _Recorder(report)
    oldest = run("GET orders page 1", lambda: client.list_page("orders", 1), _page_note)
    if oldest is None:
        return report
    per_page = oldest.per_page or len(oldest.items)
    total = oldest.total if oldest.total is not None else len(oldest.items)
    last_number = max(1, -(-total // max(per_page, 1)))
    sample = list(oldest.items)
    if last_number > 1:
        newest = run(f"GET orders page {last_number}", lambda: client.list_page("orders", last_number), _page_note)
        sample += newest.items if newest is not None else []
    report.findings = _from_orders(report.findings, per_page, total, oldest.items, sample)
    probes = _filter_probes(oldest.items, sample, now)
    assert client.limiter is not None
    # Side by side: a refused filter costs its retries and a control request, each kind alike.
    for (name, _), (step, verdict, code) in zip(
        probes, client.limiter.map(lambda probe: _filter_probe(client, *probe), probes), strict=True
    ):
        report.steps.append(step)
        report.findings = report.findings.with_filter(name, verdict, code)
    _probe_events_and_seats(run, client, report, now)
    report.seconds = time.monotonic() - started
    return report


class _Recorder:
    """Runs each request, timing it and recording its answer; an error other than a refused
    token becomes a step with its status rather than ending the probe."""

    def __init__(self, report: ProbeReport) -> None:
        self.report = report

    def __call__(self, request: str, call: Callable[[], T], note: Callable[[T], str]) -> T | None:
        started = time.monotonic()
        try:
            result = call()
        except QticketsAuthError:
            raise
        except QticketsError as exc:
            self.report.steps.append(ProbeStep(request, exc.status, _error_note(exc), time.monotonic() - started))
            return None
        self.report.steps.append(ProbeStep(request, 200, note(result), time.monotonic() - started))
        return result


def _from_orders(
    findings: Findings, per_page: int, total: int, oldest: list[dict[str, Any]], sample: list[dict[str, Any]]
) -> Findings:
    lags = [paid - created for paid, created in _paid_and_created(sample)]
    first_paid = min(_stamps(oldest, "payed_at"), default=None)
    findings = replace(
        findings,
        orders_per_page=per_page,
        orders_total=total,
        offsets=tuple(sorted({_offset(moment) for key in TIMESTAMPS for moment in _stamps(sample, key)})),
        first_sale=first_paid.isoformat() if first_paid else None,
    )
    return findings.with_lag(max(lags, default=dt.timedelta(0)))


def _filter_probes(
    oldest: list[dict[str, Any]], sample: list[dict[str, Any]], now: dt.datetime
) -> list[tuple[str, Condition]]:
    """One condition per filter kind that the oldest page's orders do not meet, so rows
    that come back despite it expose an ignored filter."""

    def after_oldest(key: str) -> dt.datetime:
        newest = max(_stamps(sample, key), default=now)
        oldest_page = max(_stamps(oldest, key), default=None)
        return max(newest, oldest_page + dt.timedelta(seconds=1)) if oldest_page else newest

    return [
        ("payed_at", where("payed_at", ">=", after_oldest("payed_at"))),
        ("updated_at", where("updated_at", ">=", after_oldest("updated_at"))),
        ("id", where("id", ">", oldest[-1]["id"] if oldest else 0)),
    ]


def _filter_probe(client: QticketsClient, name: str, condition: Condition) -> tuple[ProbeStep, str, str | None]:
    """One filter kind's request, and its verdict: its rows held against the filter
    (``honoured`` or ``ignored``), ``refused`` with the API's code, ``unknown`` on an outage."""
    request, started = f"GET orders where {shape([condition])}", time.monotonic()
    try:
        page = client.list_page("orders", 1, conditions=[condition])
    except QticketsFilterRefused as exc:
        step = ProbeStep(request, exc.status, _error_note(exc), time.monotonic() - started)
        return step, "refused", exc.code or f"HTTP {exc.status}"
    except QticketsAuthError:
        raise
    except QticketsError as exc:
        return ProbeStep(request, exc.status, _error_note(exc), time.monotonic() - started), "unknown", None
    misses = [item for item in page.items if failed([condition], item)]
    verdict = "ignored" if misses else "honoured"
    note = f"{_page_note(page)}; {len(misses)} rows outside the filter: {verdict}"
    return ProbeStep(request, 200, note, time.monotonic() - started), verdict, None


def _probe_events_and_seats(run: _Recorder, client: QticketsClient, report: ProbeReport, now: dt.datetime) -> None:
    events = run("GET events page 1", lambda: client.list_page("events", 1), _page_note)
    if events is None:
        return
    report.findings = replace(report.findings, events_per_page=events.per_page or len(events.items))
    body = {"select": list(SEAT_PROBE_FIELDS), "flat": True}
    for show_id in _shows(events.items, now)[:SEAT_PROBES]:
        path = f"shows/{show_id}/seats"
        answer = run(f"GET {path} (flat)", functools.partial(client.get, path, body), _seats_note)
        if answer is not None:
            report.findings = _from_seats(report.findings, answer)


def _shows(events: Iterable[Mapping[str, Any]], now: dt.datetime) -> list[int]:
    """Shows on sale first (their seats are what inventory reads), then the others."""
    shows = [(event, show) for event in events for show in event.get("shows") or []]
    on_sale = [show["id"] for event, show in shows if show_is_on_sale(event, show, now)]
    return on_sale + [show["id"] for _, show in shows if show["id"] not in on_sale]


def _from_seats(findings: Findings, answer: Any) -> Findings:
    """The seats' shape, and whether any show read so far lists a seat per tariff or has quotas."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if isinstance(data, list):
        seats, kind = data, "list"
    elif isinstance(data, dict):
        seats = flat_seats(data)
        nested = any(isinstance(v, dict) and isinstance(v.get("seats"), dict) for v in data.values())
        kind = "nested" if nested else "flat"
    else:
        return replace(findings, seats=f"unexpected ({type(data).__name__})")
    roots = [str(seat.get("root_id") or seat.get("id")) for seat in seats]
    copies = len(set(roots)) < len(roots) or any(
        str(seat.get("id")) != root for seat, root in zip(seats, roots, strict=True)
    )
    quotas = any(isinstance(seat.get("spread"), dict) and seat["spread"].get("users") for seat in seats)
    kinds = kind if findings.seats in ("unknown", kind) else f"{findings.seats}, {kind}"
    return replace(
        findings, seats=kinds, tariffs=bool(findings.tariffs) or copies, quotas=bool(findings.quotas) or quotas
    )


def _stamps(orders: Iterable[Mapping[str, Any]], key: str) -> list[dt.datetime]:
    return [moment for order in orders if (moment := parse_ts(order.get(key))) is not None]


def _paid_and_created(orders: Iterable[Mapping[str, Any]]) -> list[tuple[dt.datetime, dt.datetime]]:
    pairs = ((parse_ts(order.get("payed_at")), parse_ts(order.get("created_at"))) for order in orders)
    return [(paid, created) for paid, created in pairs if paid is not None and created is not None]


def _offset(moment: dt.datetime) -> str:
    """``+03:00``, as the API writes it."""
    return moment.isoformat()[-6:] if moment.utcoffset() else "+00:00"


def _page_note(page: ListPage) -> str:
    return f"{len(page.items)} items, perPage {page.per_page}, total {page.total}"


def _seats_note(answer: Any) -> str:
    data = answer.get("data") if isinstance(answer, dict) else None
    return f"{len(data) if isinstance(data, dict | list) else 0} entries"


def _error_note(exc: QticketsError) -> str:
    code = exc.code or (f"HTTP {exc.status}" if exc.status else "no answer")
    return f"{code} {str(exc).split(': ', 1)[-1]}"[:160]


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"
