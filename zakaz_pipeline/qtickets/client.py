"""HTTP client for the Qtickets seller REST API.

Retries are urllib3's (429 honouring Retry-After, 5xx, connection errors and resets, read
timeouts, truncated bodies; the policy is ``transport.retry_policy``, shared with alert
delivery), never a loop of our own. The transport is a plain urllib3
``PoolManager`` reading each body in full (``preload_content=True``), because then the
body is read inside urllib3's retry handling and a connection that breaks mid-body is
retried like one that breaks before the headers; ``requests`` reads bodies after its
retries are over. A 200 whose body is not JSON (a proxy's HTML page) raises
``QticketsTransientError`` for the step's retry policy: the client does not loop.

The token travels only in the ``Authorization`` header: urllib3 logs URLs, never
headers, and no message of ours contains it.

List endpoints are read with keyset paging: every request asks for page 1 of
``id > <last id seen>`` ordered by id. Unlike page numbers, this cannot repeat or skip an
order when orders are created or changed while a scan is paging, and it costs the server
the same for the last page as for the first.

Requests of one client share a ``RequestLimiter`` (``concurrency.py``): at most
``max_in_flight`` at once, every 429 pausing them all. A paid-order range given as
payment-time windows is scanned window by window side by side, each a keyset scan.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)

from zakaz_pipeline.qtickets.concurrency import (
    DEFAULT_MAX_IN_FLIGHT,
    PausingRetry,
    RequestLimiter,
    pages_side_by_side,
)
from zakaz_pipeline.transport import retry_policy

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://qtickets.ru/api/rest/v1"
DEFAULT_READ_TIMEOUT = 60.0
SEAT_FIELDS = ("id", "zone_id", "admission", "max_quantity", "free_quantity", "disabled")


class QticketsError(RuntimeError):
    """The API answered with an error that retrying will not fix."""


class QticketsAuthError(QticketsError):
    """The token was refused; raised with a message that never contains the token."""


class QticketsRequestError(QticketsError):
    """The API refused the request itself (4xx other than 429): a retry would be refused too."""


class QticketsTransientError(QticketsError):
    """An answer that a later attempt will likely not repeat (a 200 that is not JSON,
    such as a proxy's page): worth re-running the step, not worth a loop in the client."""


Condition = Mapping[str, Any]
# A scan's pages: a generator, which its reader closes when it stops early (an error's
# traceback would otherwise keep it, and the threads of a windowed scan, waiting).
Pages = Generator[list[dict[str, Any]], None, None]
PageCallback = Callable[[int, int | None], None]


def where(column: str, operator: str, value: Any = None) -> dict[str, Any]:
    """One ``where`` condition in the API's shape; datetimes become ISO-8601 with offset."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime in a condition on {column!r}: give it a time zone")
        value = value.isoformat()
    condition: dict[str, Any] = {"column": column, "operator": operator}
    if operator not in ("null", "not null"):
        condition["value"] = value
    return condition


@dataclass
class QticketsClient:
    """A session bound to one seller account.

    ``per_page`` is a request, not a promise: the server may answer with fewer items per
    page, and paging stays correct because it follows the ids it received.
    """

    base_url: str
    token: str = field(repr=False)
    per_page: int = 500
    connect_timeout: float = 5.0
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_retries: int = 6
    backoff_factor: float = 0.5
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    # Shared by every client of one run (the resource hands the same one to each step).
    limiter: RequestLimiter | None = field(default=None, repr=False)
    pool: urllib3.PoolManager = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.token:
            raise QticketsAuthError(
                "QTICKETS_TOKEN is empty: set it to the seller's API token (Qtickets: Settings → API) before syncing."
            )
        self.base_url = self.base_url.rstrip("/")
        if self.limiter is None:
            self.limiter = RequestLimiter(self.max_in_flight)
        self.pool = _build_pool(self.token, self.max_retries, self.backoff_factor, self.limiter)

    def close(self) -> None:
        self.pool.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` with an optional JSON body and return the decoded answer."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        assert self.limiter is not None  # set in __post_init__
        try:
            with self.limiter.slot():
                response = self.pool.request(
                    "GET",
                    url,
                    body=orjson.dumps(body) if body is not None else None,
                    timeout=urllib3.Timeout(connect=self.connect_timeout, read=self.read_timeout),
                    preload_content=True,
                )
        except MaxRetryError as exc:
            raise QticketsError(
                f"GET {path}: gave up after {self.max_retries} retries ({self._failure(exc.reason)})"
            ) from None
        except HTTPError as exc:
            raise QticketsError(f"GET {path}: {self._failure(exc)}") from None
        _raise_for_status(path, response)
        try:
            return orjson.loads(response.data)
        except orjson.JSONDecodeError:
            raise QticketsTransientError(
                f"GET {path}: the answer was not valid JSON ({_content_type(response)}, {len(response.data)} bytes); "
                "a proxy or an overloaded API answers so, a later attempt usually succeeds"
            ) from None

    def _failure(self, reason: Exception | None) -> str:
        """What went wrong, in words, without urllib3's text (which repeats the whole URL)."""
        if isinstance(reason, ResponseError):
            return str(reason)  # "too many 503 error responses"
        if isinstance(reason, NewConnectionError | ConnectTimeoutError):
            return f"{type(reason).__name__}: cannot reach {self.base_url}"
        if isinstance(reason, ReadTimeoutError):
            return f"no answer within the read timeout of {self.read_timeout:g} s"
        if isinstance(reason, ProtocolError):
            return "the connection broke: reset, or closed before the whole answer arrived"
        return f"{type(reason).__name__} talking to {self.base_url}"

    def iter_pages(
        self,
        path: str,
        conditions: Sequence[Condition] = (),
        *,
        per_page: int | None = None,
        on_page: PageCallback | None = None,
    ) -> Pages:
        """Yield the items of a list endpoint page by page, in ascending id order.

        ``on_page(fetched, expected)`` follows every page: items so far, and the items
        the scan will have in all by the API's ``paging.total`` (each keyset request counts
        what is left after the last id, so fetched + that count; ``None`` when it is not said).
        """
        last_id: int | None = None
        fetched = 0
        while True:
            page_conditions = list(conditions)
            if last_id is not None:
                page_conditions.append(where("id", ">", last_id))
            answer = self.get(
                path,
                {
                    "where": page_conditions,
                    "orderBy": {"id": "asc"},
                    "page": 1,
                    "perPage": per_page or self.per_page,
                },
            )
            items, total = _list_answer(path, answer)
            if not items:
                return
            ids = [item["id"] for item in items]
            if (last_id is not None and ids[0] <= last_id) or ids != sorted(ids):
                raise QticketsError(
                    f"GET {path}: the server ignored the id filter or order (ids {ids[0]}…{ids[-1]} after {last_id}); "
                    "refusing to page on, which could repeat or lose items"
                )
            fetched += len(items)
            if on_page is not None:
                on_page(fetched, None if total is None else fetched - len(items) + total)
            yield items
            if total is not None and total <= len(items):
                return
            last_id = ids[-1]

    def iter_orders(self, conditions: Sequence[Condition] = ()) -> Iterator[list[dict[str, Any]]]:
        return self.iter_pages("orders", conditions)

    def iter_paid_orders(
        self,
        start: dt.datetime,
        end: dt.datetime,
        *,
        on_page: PageCallback | None = None,
        windows: Sequence[tuple[dt.datetime, dt.datetime]] | None = None,
    ) -> Pages:
        """Orders whose payment time falls in ``[start, end)``: one scan for any range, or
        with ``windows`` (disjoint half-open ranges covering it, ``payment_windows``) one
        keyset scan per window, up to ``max_in_flight`` side by side, pages in arrival
        order. ``on_page`` then gets the orders fetched over all windows and ``None``
        (ask ``count_paid_orders`` for the range's total)."""
        if windows is None:
            return self.iter_pages("orders", _paid_between(start, end), on_page=on_page)
        _check_windows(start, end, windows)

        def scan(low: dt.datetime, high: dt.datetime) -> Callable[[], Iterator[list[dict[str, Any]]]]:
            return lambda: self.iter_pages("orders", _paid_between(low, high))

        def pages() -> Pages:
            fetched = 0
            assert self.limiter is not None
            for page in pages_side_by_side([scan(low, high) for low, high in windows], self.limiter.max_in_flight):
                fetched += len(page)
                if on_page is not None:
                    on_page(fetched, None)
                yield page

        return pages()

    def seats_of(self, show_ids: Sequence[int]) -> list[list[dict[str, Any]]]:
        """``show_seats`` of each show, up to ``max_in_flight`` requests side by side."""
        assert self.limiter is not None
        return self.limiter.map(self.show_seats, show_ids)

    def count_paid_orders(self, start: dt.datetime, end: dt.datetime) -> int | None:
        """The API's count of orders paid in ``[start, end)`` (``paging.total``), from one
        request asking for one order: a cheap authenticated read."""
        answer = self.get(
            "orders", {"where": _paid_between(start, end), "orderBy": {"id": "asc"}, "page": 1, "perPage": 1}
        )
        return _list_answer("orders", answer)[1]

    def iter_events(self) -> Iterator[list[dict[str, Any]]]:
        return self.iter_pages("events")

    def show_seats(self, show_id: int) -> list[dict[str, Any]]:
        """Seats of one show, flat, with the fields inventory needs. The API answers a
        dict keyed by seat id or a list."""
        answer = self.get(f"shows/{show_id}/seats", {"select": list(SEAT_FIELDS), "flat": True})
        data = answer.get("data") if isinstance(answer, dict) else None
        if isinstance(data, dict):
            return [dict(seat, id=seat.get("id", seat_id)) for seat_id, seat in data.items()]
        if isinstance(data, list):
            return data
        raise QticketsError(f"GET shows/{show_id}/seats: unexpected answer shape ({type(data).__name__})")


def _paid_between(start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    return [where("payed_at", ">=", start), where("payed_at", "<", end)]


def _check_windows(start: dt.datetime, end: dt.datetime, windows: Sequence[tuple[dt.datetime, dt.datetime]]) -> None:
    """Windows that overlap or leave a gap would repeat or lose orders: refuse them."""
    bounds = [start] + [edge for window in windows for edge in window] + [end]
    if not windows or any(low != high for low, high in zip(bounds[::2], bounds[1::2], strict=True)):
        raise ValueError(f"payment windows must cover [{start}, {end}) end to end without gaps or overlaps")


def _build_pool(token: str, max_retries: int, backoff_factor: float, limiter: RequestLimiter) -> urllib3.PoolManager:
    retry = retry_policy("GET", max_retries, backoff_factor, jitter=True, retry_class=PausingRetry)
    assert isinstance(retry, PausingRetry)
    retry.limiter = limiter
    headers = {
        # gzip as requests asked for it: JSON pages shrink about tenfold on the wire.
        **urllib3.make_headers(accept_encoding="gzip,deflate", user_agent="zakaz-pipeline"),
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    # One kept-alive connection per request that may travel at once.
    return urllib3.PoolManager(maxsize=max(8, limiter.max_in_flight), retries=retry, headers=headers)


def _raise_for_status(path: str, response: urllib3.BaseHTTPResponse) -> None:
    if response.status == 200:
        return
    detail = _error_text(response)
    if response.status in (401, 403):
        raise QticketsAuthError(
            f"Qtickets refused the token (HTTP {response.status}: {detail}). "
            "Check QTICKETS_TOKEN: it must be a valid API token of this seller account, "
            "and QTICKETS_BASE_URL must be the account's API address."
        )
    if 400 <= response.status < 500:
        raise QticketsRequestError(
            f"GET {path}: HTTP {response.status}: {detail} (is QTICKETS_BASE_URL the account's API address?)"
        )
    raise QticketsError(f"GET {path}: HTTP {response.status}: {detail}")


def _error_text(response: urllib3.BaseHTTPResponse) -> str:
    try:
        body = orjson.loads(response.data)
    except orjson.JSONDecodeError:
        return response.reason or "no details"
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])[:200]
    return response.reason or "no details"


def _content_type(response: urllib3.BaseHTTPResponse) -> str:
    return response.headers.get("Content-Type") or "no Content-Type"


def _list_answer(path: str, answer: Any) -> tuple[list[dict[str, Any]], int | None]:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise QticketsError(f"GET {path}: expected {{'data': [...], 'paging': ...}}, got {type(answer).__name__}")
    paging = answer.get("paging")
    total = paging.get("total") if isinstance(paging, dict) else None
    return answer["data"], total if isinstance(total, int) else None
