"""HTTP client for the Qtickets seller REST API.

Retries are urllib3's (429 honouring Retry-After, 5xx, connection errors, read timeouts),
never a loop of our own. List endpoints are read with keyset paging: every request asks
for page 1 of ``id > <last id seen>`` ordered by id. Unlike page numbers, this cannot
repeat or skip an order when orders are created or changed while a scan is paging, and
it costs the server the same for the last page as for the first.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://qtickets.ru/api/rest/v1"
RETRY_STATUSES = (429, 500, 502, 503, 504)
SEAT_FIELDS = ("id", "zone_id", "admission", "max_quantity", "free_quantity", "disabled")


class QticketsError(RuntimeError):
    """The API answered with an error that retrying will not fix."""


class QticketsAuthError(QticketsError):
    """The token was refused; raised with a message that never contains the token."""


class QticketsRequestError(QticketsError):
    """The API refused the request itself (4xx other than 429): a retry would be refused too."""


Condition = Mapping[str, Any]


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
    read_timeout: float = 60.0
    max_retries: int = 6
    backoff_factor: float = 0.5
    session: requests.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.token:
            raise QticketsAuthError(
                "QTICKETS_TOKEN is empty: set it to the seller's API token (Qtickets: Settings → API) before syncing."
            )
        self.base_url = self.base_url.rstrip("/")
        self.session = _build_session(self.token, self.max_retries, self.backoff_factor)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` with an optional JSON body and return the decoded answer."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            response = self.session.get(
                url,
                data=orjson.dumps(body) if body is not None else None,
                timeout=(self.connect_timeout, self.read_timeout),
            )
        except requests.exceptions.RetryError as exc:
            raise QticketsError(
                f"GET {path}: gave up after {self.max_retries} retries ({exc.__class__.__name__})"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise QticketsError(f"GET {path}: {exc.__class__.__name__}: cannot reach {self.base_url}") from None
        _raise_for_status(path, response)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise QticketsError(f"GET {path}: the answer is not valid JSON ({exc})") from None

    def iter_pages(
        self, path: str, conditions: Sequence[Condition] = (), *, per_page: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the items of a list endpoint page by page, in ascending id order."""
        last_id: int | None = None
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
            if last_id is not None and ids[0] <= last_id or ids != sorted(ids):
                raise QticketsError(
                    f"GET {path}: the server ignored the id filter or order (ids {ids[0]}…{ids[-1]} after {last_id}); "
                    "refusing to page on, which could repeat or lose items"
                )
            yield items
            if total is not None and total <= len(items):
                return
            last_id = ids[-1]

    def iter_orders(self, conditions: Sequence[Condition] = ()) -> Iterator[list[dict[str, Any]]]:
        return self.iter_pages("orders", conditions)

    def iter_paid_orders(self, start: dt.datetime, end: dt.datetime) -> Iterator[list[dict[str, Any]]]:
        """Orders whose payment time falls in ``[start, end)``: one scan for any range."""
        return self.iter_orders([where("payed_at", ">=", start), where("payed_at", "<", end)])

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


def _build_session(token: str, max_retries: int, backoff_factor: float) -> requests.Session:
    retry = Retry(
        total=max_retries,
        connect=max_retries,
        read=max_retries,
        status=max_retries,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_factor,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=True,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=8)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "zakaz-pipeline",
        }
    )
    return session


def _raise_for_status(path: str, response: requests.Response) -> None:
    if response.status_code == 200:
        return
    detail = _error_text(response)
    if response.status_code in (401, 403):
        raise QticketsAuthError(
            f"Qtickets refused the token (HTTP {response.status_code}: {detail}). "
            "Check QTICKETS_TOKEN: it must be a valid API token of this seller account, "
            "and QTICKETS_BASE_URL must be the account's API address."
        )
    if 400 <= response.status_code < 500:
        raise QticketsRequestError(
            f"GET {path}: HTTP {response.status_code}: {detail} (is QTICKETS_BASE_URL the account's API address?)"
        )
    raise QticketsError(f"GET {path}: HTTP {response.status_code}: {detail}")


def _error_text(response: requests.Response) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.reason or "no details"
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])[:200]
    return response.reason or "no details"


def _list_answer(path: str, answer: Any) -> tuple[list[dict[str, Any]], int | None]:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise QticketsError(f"GET {path}: expected {{'data': [...], 'paging': ...}}, got {type(answer).__name__}")
    paging = answer.get("paging")
    total = paging.get("total") if isinstance(paging, dict) else None
    return answer["data"], total if isinstance(total, int) else None
