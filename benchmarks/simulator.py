"""A benchmark dataset served from its own process, so that its memory and CPU never
count toward the pipeline's.

``python -m benchmarks.simulator --orders N --events M --history-days D`` generates the
account once (``zakaz simulator`` always generates 120 days of history; a seller with
123k orders has about two years), serves it on a free port and prints one JSON line
describing it (base URL, first sale day, sizes, generation time). It serves until its
standard input closes, so it can never outlive the harness that started it.

``--latency-ms`` and ``--max-per-page`` give it a remote API's pace (the "API pace"
section); ``--api-filters``, ``--real-paging`` and ``--tariffs`` the API's dialect
(``zakaz_pipeline/simulator/dialect.py``, as ``zakaz simulator`` takes them). Each line
``peak`` read from standard input is answered with one JSON line, ``{"peak_in_flight": N,
"requests": R, "kinds": {...}}``: the most requests it held at once, how many it answered,
and those by kind (``orders``, ``events``, ``seats``, ``other``; ``refused`` counts the
answers that were not 200), since the last such line.
"""

from __future__ import annotations

import argparse
import gc
import re
import resource
import sys
import threading
import time
from collections import Counter

import orjson

from benchmarks.environment import TIMEZONE
from zakaz_pipeline.simulator.dialect import FILTER_MODES, ApiDialect
from zakaz_pipeline.simulator.faults import FaultPlan
from zakaz_pipeline.simulator.server import RequestRecord, SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount

_SEATS = re.compile(r"^/shows/\d+/seats$")


def describe(account: SimulatedAccount) -> dict[str, object]:
    paid = [order for order in account.orders if order["payed_at"]]
    shows = [show for event in account.events for show in event["shows"]]
    seated = {show_id for show_id, seats in account.seats.items() if any(not s["admission"] for s in seats)}
    return {
        "orders": len(account.orders),
        "paid_orders": len(paid),
        "tickets": sum(len(order["baskets"]) for order in account.orders),
        "paid_tickets": sum(len(order["baskets"]) for order in paid),
        "events": len(account.events),
        "shows": len(shows),
        "seated_shows": len(seated),
        "seats": sum(len(seats) for seats in account.seats.values()),
        "first_sale_day": account.first_payment_date(TIMEZONE).isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--history-days", type=int, default=730)
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="every answer waits this long")
    parser.add_argument("--max-per-page", type=int, help="a list page holds at most this many items")
    parser.add_argument("--api-filters", choices=FILTER_MODES, default="honoured", help="what /orders does with where")
    parser.add_argument("--real-paging", action="store_true", help="50 orders, 10 events a page whatever perPage asks")
    parser.add_argument("--tariffs", action="store_true", help="every seat answered once per tariff")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    account = SimulatedAccount.generate(
        seed=args.seed, orders=args.orders, events=args.events, history_days=args.history_days
    )
    generate_seconds = time.perf_counter() - started
    facts = describe(account)
    gc.freeze()  # the account lives as long as the process: keep the collector off it
    pace = FaultPlan(seed=args.seed, latency_ms=args.latency_ms, max_per_page=args.max_per_page)
    dialect = ApiDialect(filters=args.api_filters, real_paging=args.real_paging, tariffs=args.tariffs)
    server = SimulatorServer(account, token=args.token, port=args.port, faults=pace, dialect=dialect)
    server.requests = _Counted()  # a benchmark sends ~10⁵ requests: count them, keep no log
    server.start()
    ready = {
        "base_url": server.base_url,
        "generate_seconds": round(generate_seconds, 2),
        "history_days": args.history_days,
        "dialect": dialect.describe(),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **facts,
    }
    sys.stdout.write(orjson.dumps(ready).decode() + "\n")
    sys.stdout.flush()
    stop = threading.Event()
    threading.Thread(target=_answer_until_eof, args=(server, stop), daemon=True).start()
    stop.wait()
    server.stop()
    return 0


def _answer_until_eof(server: SimulatorServer, stop: threading.Event) -> None:
    requests = server.requests
    assert isinstance(requests, _Counted)
    for line in sys.stdin:
        if line.strip() == "peak":
            count, kinds = requests.take()
            answer = {"peak_in_flight": server.reset_peak_in_flight(), "requests": count, "kinds": kinds}
            sys.stdout.write(orjson.dumps(answer).decode() + "\n")
            sys.stdout.flush()
    stop.set()


class _Counted(list[RequestRecord]):
    """A request log that keeps only how many requests were answered since it was last
    asked, and how many of each kind (``kind``)."""

    def __init__(self) -> None:
        super().__init__()
        self._count = 0
        self._kinds: Counter[str] = Counter()
        self._lock = threading.Lock()

    def append(self, item: RequestRecord) -> None:
        with self._lock:
            self._count += 1
            self._kinds[kind(item.path)] += 1
            if item.status != 200:
                self._kinds["refused"] += 1

    def take(self) -> tuple[int, dict[str, int]]:
        with self._lock:
            count, kinds = self._count, dict(self._kinds)
            self._count, self._kinds = 0, Counter()
            return count, kinds


def kind(path: str) -> str:
    """What a request read: an ``orders`` or ``events`` list page, a show's ``seats``, or ``other``."""
    if path in ("/orders", "/events"):
        return path[1:]
    return "seats" if _SEATS.match(path) else "other"


if __name__ == "__main__":
    raise SystemExit(main())
