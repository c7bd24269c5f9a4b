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

Lists are read two ways. Keyset paging (``iter_pages``: page 1 of ``id > <last id seen>``
ordered by id) cannot repeat or skip an order while orders change, but stands on the API
honouring ``where``, which no public record shows for ``/orders`` by date or id; every
row it returns is therefore checked against the conditions asked (``filters.py``), and a
filter found ignored raises ``QticketsFilterIgnored``. Page numbers (``list_page``) need no
filter at all; ``order_list.py`` scans them. Which one a run uses is the findings'
(``findings.py``, ``paid_orders.py``).

An error names the API's own answer (``{"error", "status", "code"}``: ``HTTP 503
UNKNOWN_ERROR``) and the request's shape. A filtered request that keeps failing with 5xx
while the same request without its filter is answered has its filter refused
(``QticketsFilterRefused``), which no amount of retrying fixes: an API error with its own
code is concluded so within seconds (``get``), not retried for minutes as an outage.

Requests of one client share a ``RequestLimiter`` (``concurrency.py``): at most
``max_in_flight`` at once, every 429 pausing them all. A paid-order range given as
payment-time windows is scanned window by window side by side, each a keyset scan.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
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
from zakaz_pipeline.qtickets.filters import Condition, columns, failed, paid_between, shape
from zakaz_pipeline.transport import retry_policy

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://qtickets.ru/api/rest/v1"
DEFAULT_READ_TIMEOUT = 60.0
SEAT_FIELDS = ("id", "root_id", "zone_id", "admission", "max_quantity", "free_quantity", "disabled")
EVENTS_PER_PAGE = 50
# A filtered request answered 5xx is retried this often before the unfiltered control request.
FILTERED_RETRIES = 2


class QticketsError(RuntimeError):
    """The API answered with an error that retrying will not fix; ``status`` and ``code``
    are the API's own when it gave them."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class QticketsAuthError(QticketsError):
    """The token was refused; raised with a message that never contains the token."""


class QticketsRequestError(QticketsError):
    """The API refused the request itself (4xx other than 429): a retry would be refused too."""


class QticketsFilterRefused(QticketsRequestError):
    """A filtered list request is answered with an error while the same request without
    the filter is answered: the API does not accept that filter, now or on a retry."""

    def __init__(self, message: str, *, filters: Sequence[str], status: int | None, code: str | None) -> None:
        super().__init__(message, status=status, code=code)
        self.filters = list(filters)


class QticketsFilterIgnored(QticketsError):
    """Rows came back that the request's own filter excludes: the server did not apply it."""

    def __init__(self, message: str, *, filters: Sequence[str]) -> None:
        super().__init__(message)
        self.filters = list(filters)


class QticketsTransientError(QticketsError):
    """An answer that a later attempt will likely not repeat (a 200 that is not JSON,
    such as a proxy's page): worth re-running the step, not worth a loop in the client."""


# A scan's pages: a generator, which its reader closes when it stops early (an error's
# traceback would otherwise keep it, and the threads of a windowed scan, waiting).
Pages = Generator[list[dict[str, Any]], None, None]
PageCallback = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ListPage:
    """One answer of a list endpoint: its items and ``paging`` (``perPage``, ``total``)."""

    items: list[dict[str, Any]]
    number: int
    per_page: int | None
    total: int | None


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
    _retry: PausingRetry = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.token:
            raise QticketsAuthError(
                "QTICKETS_TOKEN is empty: set it to the seller's API token (Qtickets: Settings → API) before syncing."
            )
        self.base_url = self.base_url.rstrip("/")
        if self.limiter is None:
            self.limiter = RequestLimiter(self.max_in_flight)
        self._retry = _retry(self.max_retries, self.backoff_factor, self.limiter)
        self.pool = _build_pool(self.token, self._retry, self.limiter)

    def close(self) -> None:
        self.pool.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` with an optional JSON body and return the decoded answer.

        A request with a ``where`` that keeps failing with 5xx is told apart from an outage
        by the same request without it (``QticketsFilterRefused`` when that one is answered):
        after ``FILTERED_RETRIES`` and one more try when the error is the API's own (a body
        with its ``code``), after the full retries when it is not (a proxy's 502, say)."""
        conditions = (body or {}).get("where") or []
        quick = min(FILTERED_RETRIES, self.max_retries)
        if not conditions:
            return self._answer(path, body, self.max_retries)
        try:
            return self._answer(path, body, quick)
        except QticketsError as exc:
            if exc.status != 429 and not _server_error(exc):
                raise
            if exc.code and _server_error(exc) and self._answers_unfiltered(path, body):
                return self._confirm_refusal(path, body, conditions, quick)  # the API's own error: few retries
        try:
            return self._answer(path, body, self.max_retries)  # perhaps an outage or a pace: the full retries
        except QticketsError as exc:
            if _server_error(exc) and self._answers_unfiltered(path, body):
                raise _refused(path, conditions, exc) from None
            raise

    def _confirm_refusal(
        self, path: str, body: Mapping[str, Any] | None, conditions: Sequence[Condition], quick: int
    ) -> Any:
        """The filtered request once more, now that the API answered without the filter: a
        burst of errors that happened to cover it passes now; a refusal fails again."""
        try:
            return self._answer(path, body, quick)
        except QticketsError as exc:
            if not _server_error(exc):
                raise
            raise _refused(path, conditions, exc) from None

    def _answers_unfiltered(self, path: str, body: Mapping[str, Any] | None) -> bool:
        control = {key: value for key, value in (body or {}).items() if key not in ("where", "orderBy")}
        try:
            self._answer(path, control | {"page": 1}, min(FILTERED_RETRIES, self.max_retries))
        except QticketsError:
            return False
        return True

    def _answer(self, path: str, body: Mapping[str, Any] | None, retries: int) -> Any:
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
                    retries=self._retry.new(total=retries, connect=retries, read=retries, status=retries),
                )
        except MaxRetryError as exc:
            raise QticketsError(f"GET {path}: gave up after {retries} retries ({self._failure(exc.reason)})") from None
        except HTTPError as exc:
            raise QticketsError(f"GET {path}: {self._failure(exc)}") from None
        _raise_for_status(path, body, response, retries)
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

    def list_page(
        self, path: str, number: int, *, conditions: Sequence[Condition] = (), per_page: int | None = None
    ) -> ListPage:
        """Page ``number`` of a list endpoint by page number, ascending id (no keyset)."""
        body: dict[str, Any] = {"orderBy": {"id": "asc"}, "page": number, "perPage": per_page or self.per_page}
        if conditions:
            body["where"] = list(conditions)
        answer = self.get(path, body)
        items, paging = _list_answer(path, answer)
        return ListPage(items, number, _paging_int(paging, "perPage"), _paging_int(paging, "total"))

    def iter_pages(
        self,
        path: str,
        conditions: Sequence[Condition] = (),
        *,
        per_page: int | None = None,
        on_page: PageCallback | None = None,
        dropped: Counter[str] | None = None,
    ) -> Pages:
        """Yield the items of a list endpoint page by page, in ascending id order, keyset-paged.

        Every item is held against ``conditions``: one that fails them is left out and
        counted in ``dropped`` by the filter it fails; a page none of whose items meet
        them, or ids that do not ascend past the last page's, mean the server ignores the
        filter: ``QticketsFilterIgnored`` (paging on would repeat, lose or never end).

        ``on_page(fetched, expected)`` follows every page: items so far, and the items
        the scan will have in all by the API's ``paging.total`` (each keyset request counts
        what is left after the last id, so fetched + that count; ``None`` when it is not said).
        """
        last_id: int | None = None
        fetched = 0
        while True:
            page_conditions = list(conditions)
            if last_id is not None:
                page_conditions.append({"column": "id", "operator": ">", "value": last_id})
            answer = self.get(
                path,
                {
                    "where": page_conditions,
                    "orderBy": {"id": "asc"},
                    "page": 1,
                    "perPage": per_page or self.per_page,
                },
            )
            items, paging = _list_answer(path, answer)
            total = _paging_int(paging, "total")
            if not items:
                return
            ids = [item["id"] for item in items]
            if (last_id is not None and ids[0] <= last_id) or ids != sorted(ids):
                raise QticketsFilterIgnored(
                    f"GET {path}: the API ignored the id filter or order (ids {ids[0]}…{ids[-1]} after {last_id}); "
                    "paging on could repeat or lose items",
                    filters=["id"],
                )
            kept = _verified(path, items, conditions, dropped)
            fetched += len(items)
            if on_page is not None:
                on_page(fetched, None if total is None else fetched - len(items) + total)
            yield kept
            if total is not None and total <= len(items):
                return
            last_id = ids[-1]

    def iter_orders(
        self, conditions: Sequence[Condition] = (), *, dropped: Counter[str] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        return self.iter_pages("orders", conditions, dropped=dropped)

    def iter_paid_orders(
        self,
        start: dt.datetime,
        end: dt.datetime,
        *,
        on_page: PageCallback | None = None,
        windows: Sequence[tuple[dt.datetime, dt.datetime]] | None = None,
        dropped: Counter[str] | None = None,
    ) -> Pages:
        """Orders whose payment time falls in ``[start, end)``, by the API's filter (each row
        checked, see ``iter_pages``): one scan for any range, or with ``windows`` (disjoint
        half-open ranges covering it, ``payment_windows``) one keyset scan per window, up to
        ``max_in_flight`` side by side, pages in arrival order. ``on_page`` then gets the
        orders fetched over all windows and ``None`` (ask ``count_paid_orders`` for the
        range's total)."""
        if windows is None:
            return self.iter_pages("orders", paid_between(start, end), on_page=on_page, dropped=dropped)
        _check_windows(start, end, windows)

        def scan(low: dt.datetime, high: dt.datetime) -> Callable[[], Iterator[list[dict[str, Any]]]]:
            return lambda: self.iter_pages("orders", paid_between(low, high), dropped=dropped)

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
            "orders", {"where": paid_between(start, end), "orderBy": {"id": "asc"}, "page": 1, "perPage": 1}
        )
        return _paging_int(_list_answer("orders", answer)[1], "total")

    def iter_events(self) -> Iterator[list[dict[str, Any]]]:
        """Every event, by page number: no filter is needed, so none is trusted. Pages are
        asked ``EVENTS_PER_PAGE`` at a time: an event carries its hall's scheme (~140 KB)."""
        from zakaz_pipeline.qtickets.page_scan import PageScan  # built on this client

        yield from PageScan(self, "events", per_page=EVENTS_PER_PAGE).pages()

    def show_seats(self, show_id: int) -> list[dict[str, Any]]:
        """Seat entries of one show with the fields inventory needs, asked ``flat``: a dict
        keyed by seat id (the documented answer), a list, or, should ``flat`` be ignored,
        zones each holding ``seats``. A seat may be listed once per tariff (``root_id``)."""
        answer = self.get(f"shows/{show_id}/seats", {"select": list(SEAT_FIELDS), "flat": True})
        data = answer.get("data") if isinstance(answer, dict) else None
        if isinstance(data, list):
            return data
        if isinstance(data, dict):
            return flat_seats(data)
        raise QticketsError(f"GET shows/{show_id}/seats: unexpected answer shape ({type(data).__name__})")


def flat_seats(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Seat entries of a seats answer's ``data`` dict, flat (keyed by seat id) or nested
    (keyed by zone, each ``{"zone_id", "seats": {seat id: seat}}``)."""
    seats: list[dict[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(value.get("seats"), dict) and "max_quantity" not in value:
            seats.extend(dict(seat, id=seat.get("id", seat_id)) for seat_id, seat in value["seats"].items())
        elif isinstance(value, dict):
            seats.append(dict(value, id=value.get("id", key)))
    return seats


def _check_windows(start: dt.datetime, end: dt.datetime, windows: Sequence[tuple[dt.datetime, dt.datetime]]) -> None:
    """Windows that overlap or leave a gap would repeat or lose orders: refuse them."""
    bounds = [start] + [edge for window in windows for edge in window] + [end]
    if not windows or any(low != high for low, high in zip(bounds[::2], bounds[1::2], strict=True)):
        raise ValueError(f"payment windows must cover [{start}, {end}) end to end without gaps or overlaps")


def _refused(path: str, conditions: Sequence[Condition], exc: QticketsError) -> QticketsFilterRefused:
    return QticketsFilterRefused(
        f"GET {path} with where {shape(conditions)}: the API refuses this filter "
        f"(HTTP {exc.status} {exc.code or 'without a code'}) and answers the same request without it",
        filters=columns(conditions),
        status=exc.status,
        code=exc.code,
    )


def _server_error(exc: QticketsError) -> bool:
    """An answer of 5xx, the kind a refused filter gets (a 429 is a pace, not a refusal)."""
    return exc.status is not None and exc.status >= 500


def _retry(max_retries: int, backoff_factor: float, limiter: RequestLimiter) -> PausingRetry:
    """urllib3's policy; the last answer is handed back once retries are spent, so its body
    (the API's ``code``) reaches the error."""
    retry = retry_policy(
        "GET", max_retries, backoff_factor, jitter=True, raise_on_status=False, retry_class=PausingRetry
    )
    assert isinstance(retry, PausingRetry)
    retry.limiter = limiter
    return retry


def _build_pool(token: str, retry: PausingRetry, limiter: RequestLimiter) -> urllib3.PoolManager:
    headers = {
        # gzip as requests asked for it: JSON pages shrink about tenfold on the wire.
        **urllib3.make_headers(accept_encoding="gzip,deflate", user_agent="zakaz-pipeline"),
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    # One kept-alive connection per request that may travel at once.
    return urllib3.PoolManager(maxsize=max(8, limiter.max_in_flight), retries=retry, headers=headers)


def _raise_for_status(
    path: str, body: Mapping[str, Any] | None, response: urllib3.BaseHTTPResponse, retries: int
) -> None:
    """An error naming the API's answer (``HTTP 503 UNKNOWN_ERROR: unknown error``) and,
    for a filtered list, the filter's shape; a status still failing after the retries says so."""
    status = response.status
    if status == 200:
        return
    code, detail = _error_body(response)
    answer = f"HTTP {status}{f' {code}' if code else ''}: {detail}"
    if status in (401, 403):
        raise QticketsAuthError(
            f"Qtickets refused the token ({answer}). "
            "Check QTICKETS_TOKEN: it must be a valid API token of this seller account, "
            "and QTICKETS_BASE_URL must be the account's API address.",
            status=status,
            code=code,
        )
    request = f"GET {path}" + (f" with where {shape(body['where'])}" if body and body.get("where") else "")
    if 400 <= status < 500 and status != 429:
        raise QticketsRequestError(
            f"{request}: {answer} (is QTICKETS_BASE_URL the account's API address?)", status=status, code=code
        )
    given_up = f"gave up after {retries} retries ({answer})" if retries else answer
    raise QticketsError(f"{request}: {given_up}", status=status, code=code)


def _error_body(response: urllib3.BaseHTTPResponse) -> tuple[str | None, str]:
    """The API's ``code`` and ``error`` of an error answer; an HTML page (an unknown route) has neither."""
    try:
        body = orjson.loads(response.data)
    except orjson.JSONDecodeError:
        kind = "an HTML page" if "html" in _content_type(response) else _content_type(response)
        return None, f"{response.reason or 'no details'} ({kind})"
    if not isinstance(body, dict):
        return None, response.reason or "no details"
    code = str(body["code"])[:60] if body.get("code") else None
    return code, str(body.get("error") or response.reason or "no details")[:200]


def _content_type(response: urllib3.BaseHTTPResponse) -> str:
    return response.headers.get("Content-Type") or "no Content-Type"


def _list_answer(path: str, answer: Any) -> tuple[list[dict[str, Any]], Mapping[str, Any]]:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise QticketsError(f"GET {path}: expected {{'data': [...], 'paging': ...}}, got {type(answer).__name__}")
    paging = answer.get("paging")
    return answer["data"], paging if isinstance(paging, dict) else {}


def _paging_int(paging: Mapping[str, Any], key: str) -> int | None:
    value = paging.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _verified(
    path: str, items: list[dict[str, Any]], conditions: Sequence[Condition], dropped: Counter[str] | None
) -> list[dict[str, Any]]:
    """The items that meet ``conditions``; the rest are counted in ``dropped`` by filter.
    A page of nothing but such rows is a filter the API ignores: ``QticketsFilterIgnored``."""
    if not conditions:
        return items
    kept: list[dict[str, Any]] = []
    missed: Counter[str] = Counter()
    for item in items:
        misses = failed(conditions, item)
        if misses:
            missed.update(misses)
        else:
            kept.append(item)
    if missed and dropped is not None:
        dropped.update(missed)
    if not kept:
        raise QticketsFilterIgnored(
            f"GET {path}: the API ignored the filter on {', '.join(missed)}: a whole page of "
            f"{len(items)} rows outside what was asked ({shape(conditions)})",
            filters=list(missed),
        )
    return kept
