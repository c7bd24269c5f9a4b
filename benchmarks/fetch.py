"""What reading the API costs, with nothing else done: the floor a sync cannot beat.

``python -m benchmarks.fetch floor --base-url URL --token T --from DAY`` pages through every
order paid since ``DAY`` with the project's ``QticketsClient.iter_paid_orders`` over the
sync's own payment windows (the very requests the sync makes), then every event, then the
seats of each show on sale, parsing the JSON and keeping nothing, one request at a time
(``--max-in-flight 1``, the default): the sequential floor. ``serve`` measures the simulator instead: a keyset scan of
every order over one keep-alive connection, reading the bytes without parsing them (the
last order id is found with a regular expression), so the figure is the server's rate.
Each prints one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import re
import sys
import time
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import orjson

from benchmarks import environment
from zakaz_pipeline.qtickets.client import QticketsClient
from zakaz_pipeline.qtickets.concurrency import payment_windows
from zakaz_pipeline.qtickets.filters import where
from zakaz_pipeline.qtickets.rules import show_is_on_sale

TIMEZONE = ZoneInfo(environment.TIMEZONE)
# Every order of the simulator starts with {"id":N,"uniqid":…}; baskets never carry uniqid.
_ORDER_ID = re.compile(rb'\{"id":(\d+),"uniqid"')
_REMAINING = re.compile(rb'"total":(\d+)\}\}$')


def floor(base_url: str, token: str, first: dt.date, per_page: int, max_in_flight: int) -> dict[str, object]:
    start = dt.datetime.combine(first, dt.time(), tzinfo=TIMEZONE)
    # The sync's range: through the end of today (the last daily partition).
    end = dt.datetime.combine(dt.datetime.now(TIMEZONE).date() + dt.timedelta(days=1), dt.time(), tzinfo=TIMEZONE)
    orders = tickets = pages = 0
    began = time.perf_counter()
    with QticketsClient(base_url, token, per_page=per_page, max_in_flight=max_in_flight) as client:
        for page in client.iter_paid_orders(start, end, windows=payment_windows(start, end, TIMEZONE)):
            pages += 1
            orders += len(page)
            tickets += sum(len(order["baskets"]) for order in page)
        orders_seconds = time.perf_counter() - began
        events = [event for page in client.iter_events() for event in page]
        now = dt.datetime.now(dt.UTC)
        on_sale = [show["id"] for event in events for show in event["shows"] if show_is_on_sale(event, show, now)]
        seats = sum(len(show) for show in client.seats_of(on_sale))
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "orders_seconds": orders_seconds,
        "orders": orders,
        "tickets": tickets,
        "pages": pages,
        "events": len(events),
        "shows_on_sale": len(on_sale),
        "seats": seats,
    }


def serve_rate(base_url: str, token: str, per_page: int) -> dict[str, object]:
    """Keyset scan of all orders, as the client pages them, over raw ``http.client``."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    last_id: int | None = None
    pages = orders = size = 0
    began = time.perf_counter()
    while True:
        conditions = [] if last_id is None else [where("id", ">", last_id)]
        body = orjson.dumps({"where": conditions, "orderBy": {"id": "asc"}, "page": 1, "perPage": per_page})
        connection.request("GET", f"{url.path}/orders", body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {data[:200]!r}")
        ids = _ORDER_ID.findall(data)
        if not ids:
            break
        pages += 1
        orders += len(ids)
        size += len(data)
        last_id = int(ids[-1])
        remaining = _REMAINING.search(data)  # paging.total: what was left after the last id, as the client stops
        if remaining is None or int(remaining[1]) <= len(ids):
            break
    seconds = time.perf_counter() - began
    connection.close()
    return {"seconds": seconds, "pages": pages, "orders": orders, "megabytes": size / 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("floor", "serve"))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--from", dest="first", type=dt.date.fromisoformat, help="first sales day (floor)")
    parser.add_argument("--per-page", type=int, default=QticketsClient.per_page)
    parser.add_argument("--max-in-flight", type=int, default=1, help="floor: requests at once (default 1)")
    args = parser.parse_args(argv)
    if args.mode == "floor":
        if args.first is None:
            parser.error("floor needs --from")
        result = floor(args.base_url, args.token, args.first, args.per_page, args.max_in_flight)
    else:
        result = serve_rate(args.base_url, args.token, args.per_page)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
