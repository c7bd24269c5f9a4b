"""What each path of the simulated ``/api/rest/v1`` answers, given a parsed request.

Order and event lists with ``where`` / ``orderBy`` / paging, one order or event, a
show's seats in the API's three shapes, and the API's error bodies. Kept apart from the
HTTP server (``server.py``) so that what the API says and how it is said over a socket
(tokens, injected faults, resets) can be read and changed separately; nothing here knows
about sockets or faults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

from zakaz_pipeline.simulator.dialect import ApiDialect, plain_seat, tariff_copies
from zakaz_pipeline.simulator.querying import (
    Collection,
    QueryError,
    compile_condition,
    parse_conditions,
    parse_order_by,
)
from zakaz_pipeline.simulator.shop import SimulatedAccount

API_ROOT = "/api/rest/v1"
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = {"orders": 50, "events": 10}
ORDER_COLUMNS = (
    "id",
    "uniqid",
    "payed",
    "payed_at",
    "client_id",
    "client",
    "site_id",
    "site",
    "payment_id",
    "payment_type_id",
    "payment_card_number",
    "payment_url",
    "cancel_url",
    "basket_user_id",
    "backend_user_id",
    "access_code_id",
    "discount_id",
    "promo_code_id",
    "reserved",
    "reserved_to",
    "reserve_extended",
    "event_id",
    "price",
    "original_price",
    "currency_id",
    "utm",
    "custom",
    "fields",
    "baskets",
    "refunds",
    "integrations",
    "created_at",
    "updated_at",
    "deleted_at",
)
EVENT_COLUMNS = (
    "id",
    "is_active",
    "name",
    "scheme_id",
    "currency_id",
    "place_name",
    "place_address",
    "place_description",
    "city_id",
    "description",
    "site_url",
    "external_id",
    "ticket_id",
    "mail_template_id",
    "age",
    "shows",
    "payments",
    "poster",
    "event_type_id",
    "city",
    "ticket",
    "mail_template",
    "slug",
    "place_coordinates",
    "url",
    "created_at",
    "updated_at",
    "deleted_at",
)
SEAT_COLUMNS = (
    "id",
    "root_id",
    "zone_root_id",
    "multiprice_code",
    "zone_id",
    "row",
    "place",
    "admission",
    "max_quantity",
    "free_quantity",
    "ordered_quantity",
    "payed_quantity",
    "in_basket_quantity",
    "available",
    "disabled",
    "price",
    "currency_id",
)
_ITEM = re.compile(r"^/(orders|events)/(\d+)$")
_SEATS = re.compile(r"^/shows/(\d+)/seats$")


@dataclass(frozen=True)
class Response:
    """An answer; ``delay`` and ``transport`` (``reset`` or ``truncate``) are faults the
    handler carries out on the socket."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    delay: float = 0.0
    transport: str | None = None


# What the real API answers for a route it does not know: its site's HTML page, not JSON.
NOT_FOUND_PAGE = (
    "<!DOCTYPE html> <html> <head> <title>Страница не найдена 404 – Qtickets</title> </head>"
    " <body><h1>404</h1><p>Страница не найдена</p></body> </html>"
).encode()
# The API's own codes on record (``QTICKETS_API.md``, ``errors.json``), for the errors its
# application answers; injected faults (an overloaded proxy) carry none.
CODES = {404: "RESOURCE_NOT_FOUND", 503: "UNKNOWN_ERROR"}


class ApiError(Exception):
    """An answer other than 200, with the API's error body ``{"error", "status", "code", "info"}``."""

    def __init__(self, status: int, message: str, *, info: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.info = info
        self.code = CODES.get(status)


def error_response(
    status: int,
    message: str,
    headers: tuple[tuple[str, str], ...] = (),
    *,
    code: str | None = None,
    info: dict | None = None,
) -> Response:
    """An answer with the API's error body ``{"error", "status", "code", "info"}`` (those given)."""
    body: dict = {"error": message, "status": status}
    if code is not None:
        body["code"] = code
    if info is not None:
        body["info"] = info
    return Response(status, orjson.dumps(body), headers)


def not_found_page() -> Response:
    return Response(404, NOT_FOUND_PAGE, content_type="text/html; charset=UTF-8")


def answers_objects(path: str) -> bool:
    """Whether ``path`` (relative to the API root) answers API objects: a list, one item or seats."""
    return path in ("/orders", "/events") or bool(_ITEM.match(path) or _SEATS.match(path))


class ApiEndpoints:
    """The answers of one ``SimulatedAccount``; callers need not hold its lock."""

    def __init__(
        self, account: SimulatedAccount, *, max_per_page: int | None = None, dialect: ApiDialect | None = None
    ) -> None:
        self.account = account
        # What a page really holds whatever ``perPage`` asks (a remote API's cap); None: MAX_PER_PAGE.
        self.max_per_page = max_per_page
        self.dialect = dialect or ApiDialect()
        self._collections = {"orders": Collection(ORDER_COLUMNS), "events": Collection(EVENT_COLUMNS)}
        self._encoded = _EncodedItems()

    def route(self, method: str, path: str, full_path: str, query: dict[str, str], body: dict | None) -> Response:
        """The 200 answer to an authorized request (``path`` relative to the API root);
        ApiError for what the real API refuses."""
        if method not in ("GET", "HEAD"):
            raise ApiError(405, f"Method {method} is not allowed")
        if not full_path.startswith(API_ROOT + "/"):
            return not_found_page()
        params = {**query, **(body or {})}
        with self.account.lock:
            if path in ("/orders", "/events"):
                return Response(200, self._list(path[1:], params, query))
            if match := _ITEM.match(path):
                payload = {"data": self._item(match.group(1), int(match.group(2)))}
            elif match := _SEATS.match(path):
                payload = {"data": self._seats(int(match.group(1)), params, query)}
            else:
                return not_found_page()
            return Response(200, orjson.dumps(payload))

    def _list(self, resource: str, params: dict[str, Any], query: dict[str, str]) -> bytes:
        collection = self._collections[resource]
        try:
            conditions = parse_conditions(_param(params, query, "where"), collection.columns)
            order_by = parse_order_by(_param(params, query, "orderBy"), collection.columns)
        except QueryError as error:
            raise ApiError(400, str(error)) from error
        if self.dialect.refuses(resource, [c.column for c in conditions], [column for column, _ in order_by]):
            raise ApiError(503, "unknown error")
        if self.dialect.ignores_filters(resource):
            conditions, order_by = [], [("id", False)]
        page = _positive_int(params.get("page", 1), "page")
        asked = _positive_int(params.get("perPage", DEFAULT_PER_PAGE[resource]), "perPage")
        per_page = self.dialect.page_size(resource) or min(asked, MAX_PER_PAGE, self.max_per_page or MAX_PER_PAGE)
        items = self.account.orders if resource == "orders" else self.account.events
        try:
            data, total = collection.select(
                items,
                revision=self.account.revision,
                conditions=conditions,
                order_by=order_by,
                page=page,
                per_page=per_page,
            )
        except QueryError as error:
            raise ApiError(400, str(error)) from error
        paging = {"perPage": per_page, "currentPage": page, "total": total}
        # Byte for byte what orjson.dumps({"data": data, "paging": paging}) gives, with each
        # item encoded once per account revision: a scan of 10⁶ orders is then mostly joins.
        items_json = self._encoded.join(data, self.account.revision)
        return b'{"data":[' + items_json + b'],"paging":' + orjson.dumps(paging) + b"}"

    def _item(self, resource: str, item_id: int) -> dict:
        try:
            return self.account.order(item_id) if resource == "orders" else self.account.event(item_id)
        except KeyError as error:
            name = resource[:-1].capitalize()
            raise ApiError(404, f'Resource "{name}" not found', info={"id": item_id, "resource": name}) from error

    def _seats(self, show_id: int, params: dict[str, Any], query: dict[str, str]) -> Any:
        """Seats of a show: flat dict, flat list (show ids divisible by 3; no real answer
        shows one, a client that accepts it loses nothing) or nested by zone
        (``{zone: {"zone_id", "seats": {...}}}``) when ``flat`` is not asked for; a tariff
        show (``ApiDialect.tariffs``) answers each seat once per tariff."""
        if show_id not in self.account.seats:
            raise ApiError(404, 'Resource "Show" not found', info={"id": show_id, "resource": "Show"})
        try:
            predicates = [compile_condition(c) for c in parse_conditions(_param(params, query, "where"), SEAT_COLUMNS)]
        except QueryError as error:
            raise ApiError(400, str(error)) from error
        select = _param(params, query, "select")
        if select is not None and not isinstance(select, list):
            raise ApiError(400, "select must be a list of seat fields")
        keep = {"id", *select} if select else None

        def view(seat: dict) -> dict:
            return seat if keep is None else {k: v for k, v in seat.items() if k in keep}

        offered = [copy for seat in self.account.seats[show_id] for copy in _offers(seat, self.dialect.tariffs)]
        matching = [seat for seat in offered if all(p(seat) for p in predicates)]
        if not _flag(params.get("flat")):
            zones: dict[str, dict] = {}
            for seat in matching:
                zone = zones.setdefault(seat["zone_id"], {"zone_id": seat["zone_id"], "seats": {}})
                zone["seats"][seat["id"]] = view(seat)
            return zones
        if show_id % 3 == 0:
            return [view(seat) for seat in matching]
        return {seat["id"]: view(seat) for seat in matching}


def _offers(seat: dict, tariffs: bool) -> list[dict]:
    return tariff_copies(seat) if tariffs else [plain_seat(seat)]


class _EncodedItems:
    """The JSON of each listed item, kept while the account's revision is unchanged
    (every mutation bumps it, so nothing stale is ever served). The encodings sit end to
    end in one buffer: kept as separate ``bytes`` they would cost about 2.5 times their
    size in allocator slack. Entries hold the item itself so that an id() reused by a new
    object can never match. Callers hold the account's lock."""

    def __init__(self) -> None:
        self._revision: int | None = None
        self._buffer = bytearray()
        self._spans: dict[int, tuple[dict, int, int]] = {}

    def join(self, items: list[dict], revision: int) -> bytes:
        """``b",".join`` of the items' JSON."""
        if revision != self._revision:
            self._buffer, self._spans, self._revision = bytearray(), {}, revision
        spans, buffer = self._spans, self._buffer
        for item in items:
            span = spans.get(id(item))
            if span is None or span[0] is not item:
                start = len(buffer)
                buffer += orjson.dumps(item)
                spans[id(item)] = (item, start, len(buffer))
        with memoryview(buffer) as view:
            return b",".join([view[spans[id(item)][1] : spans[id(item)][2]] for item in items])


def json_body(raw: bytes) -> dict | None:
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, "Request body is not valid JSON") from error
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def _param(params: dict[str, Any], query: dict[str, str], name: str) -> Any:
    """A structured parameter: from the body as is, from the query string as JSON."""
    value = params.get(name)
    if isinstance(value, str) and query.get(name) == value:
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise ApiError(400, f"{name} must be JSON") from error
    return value


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as error:
        raise ApiError(400, f"{name} must be a positive integer") from error
    if number < 1 or isinstance(value, bool):
        raise ApiError(400, f"{name} must be a positive integer")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)
