"""Seeded fault injection: a simulated API that misbehaves the same way for the same seed.

A ``FaultPlan`` says which faults to inject and how often. The server keeps one
``FaultInjector`` per plan, whose ``random.Random(seed)`` takes every decision in the
order requests arrive, so the same plan and the same requests give the same faults: a
run that failed is replayed from its spec (``FaultPlan.parse(plan.spec())``).

Kinds, each chosen for a request with probability ``rate`` (among the kinds that make
sense for that request):

- ``429``: Too Many Requests with ``Retry-After: retry_after``.
- ``5xx``: a burst; this request and the next ``burst - 1`` answer 500, 502 or 503.
- ``slow``: the answer waits ``slow_seconds``, meant to outlast the client's read timeout.
- ``reset``: the connection is reset without an answer.
- ``truncate``: full headers and ``Content-Length``, half the body, then the connection closes.
- ``badjson``: 200 with an HTML page instead of JSON, as a proxy or DDoS filter answers.
- ``drift``: before an order list is answered, the account changes as a live shop's does
  while a scan pages (see ``drift``).
- ``extra``: the answer's objects carry fields no client knows and the documented
  polymorphic shapes vary, with the same meaning (see ``vary_shapes``).
- ``vanish``: before an order list is answered, an order leaves the account altogether (no
  public record shows one doing so, nor that it cannot): every order after it moves one
  place back in the list, as a page-number scan must notice (see ``vanish``).

``revoke_after`` revokes the token after that many requests: every later request is
answered 401 until the server's ``restore_token()``.

A plan also sets the pace of a remote API, with or without faults: ``latency_ms`` delays
every answer (``jitter_ms`` spreads each delay uniformly by up to that much either way,
from its own seeded generator, so pacing never shifts the fault decisions), and
``max_per_page`` caps the items a list page really holds, whatever ``perPage`` asks:
``seed=1,latency_ms=80,jitter_ms=20,max_per_page=100``.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from zakaz_pipeline.simulator.shop import SimulatedAccount

KINDS = ("429", "5xx", "slow", "reset", "truncate", "badjson", "drift", "extra", "vanish")
# Faults that any GET of the API may meet; the server adds "drift" and "extra" where they apply.
REQUEST_KINDS = frozenset({"429", "5xx", "slow", "reset", "truncate", "badjson"})
ERROR_STATUSES = (500, 502, 503)
# Past the client's default read timeout (60 s): lower both for quick runs.
DEFAULT_SLOW_SECONDS = 65.0
PROXY_PAGE = (
    b"<!DOCTYPE html><html><head><title>DDoS-Guard</title></head>"
    b"<body><h1>Checking your browser before accessing qtickets.ru</h1></body></html>"
)
AMOUNT_KEYS = frozenset(
    {
        "price",
        "original_price",
        "ticket_original_price",
        "discount_value",
        "ticket_amount",
        "service_fee_amount",
        "refunded_amount",
        "refunded_deduction_amount",
        "default_price",
    }
)
# The empty forms each polymorphic field is seen in; any of them means "nothing".
EMPTY_FORMS: dict[str, tuple[Any, ...]] = {"utm": ([], {}), "custom": ("", {}), "fields": ([], {})}


@dataclass(frozen=True)
class FaultPlan:
    """Which faults to inject, how often, and the seed that makes them reproducible."""

    seed: int
    rate: float = 0.0
    kinds: Collection[str] = frozenset()  # any collection of kind names; kept as a frozenset
    revoke_after: int | None = None
    retry_after: int = 1
    burst: int = 3
    slow_seconds: float = DEFAULT_SLOW_SECONDS
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    max_per_page: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.kinds, str):
            raise TypeError("kinds is a set of kind names, not a string (FaultPlan.parse reads specs)")
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, got {self.rate}")
        if self.kinds and not self.rate:
            raise ValueError("kinds are given but rate is 0, so nothing would be injected: set rate")
        if self.rate and not self.kinds:
            raise ValueError(f"rate={self.rate} needs kinds, e.g. kinds=429+5xx")
        if self.revoke_after is not None and self.revoke_after < 0:
            raise ValueError(f"revoke_after must be 0 or more, got {self.revoke_after}")
        if self.retry_after < 0:
            raise ValueError(f"retry_after must be 0 or more seconds, got {self.retry_after}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst}")
        if not (math.isfinite(self.slow_seconds) and self.slow_seconds > 0):
            raise ValueError(f"slow_seconds must be a positive number, got {self.slow_seconds}")
        if not (math.isfinite(self.latency_ms) and self.latency_ms >= 0):
            raise ValueError(f"latency_ms must be 0 or more milliseconds, got {self.latency_ms}")
        if not (math.isfinite(self.jitter_ms) and 0 <= self.jitter_ms <= self.latency_ms):
            raise ValueError(f"jitter_ms must be between 0 and latency_ms ({self.latency_ms:g}), got {self.jitter_ms}")
        if self.max_per_page is not None and self.max_per_page < 1:
            raise ValueError(f"max_per_page must be at least 1, got {self.max_per_page}")

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """A plan from ``key=value`` items separated by commas, kinds joined by ``+``:
        ``seed=7,rate=0.2,kinds=429+5xx+slow,revoke_after=40,slow_seconds=1.5``."""
        values: dict[str, Any] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            key, sep, raw = (text.strip() for text in item.partition("="))
            if not sep:
                raise ValueError(f"fault spec item {item!r} is not key=value")
            if key not in _PARSERS:
                raise ValueError(f"unknown fault spec key {key!r}; known: {', '.join(_PARSERS)}")
            if key in values:
                raise ValueError(f"fault spec key {key!r} is given twice")
            values[key] = _PARSERS[key](key, raw)
        if "seed" not in values:
            raise ValueError(f"fault spec {spec!r} needs seed=N, so that its faults can be replayed")
        return cls(**values)

    def paced(
        self, *, latency_ms: float | None = None, jitter_ms: float | None = None, max_per_page: int | None = None
    ) -> FaultPlan:
        """This plan with the pace given (``zakaz simulator --latency-ms … --max-per-page …``
        over a ``--faults`` spec); what is not given stays as the plan has it."""
        return dataclasses.replace(
            self,
            latency_ms=self.latency_ms if latency_ms is None else latency_ms,
            jitter_ms=self.jitter_ms if jitter_ms is None else jitter_ms,
            max_per_page=self.max_per_page if max_per_page is None else max_per_page,
        )

    def spec(self) -> str:
        """The spec ``parse`` reads back into this very plan."""
        items = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        items["kinds"] = "+".join(kind for kind in KINDS if kind in self.kinds)
        return ",".join(f"{key}={value}" for key, value in items.items() if value is not None)


def _int(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"fault spec {key}={raw!r}: expected a whole number") from None


def _float(key: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"fault spec {key}={raw!r}: expected a number") from None


def _kinds(key: str, raw: str) -> frozenset[str]:
    return frozenset(kind.strip() for kind in raw.split("+") if kind.strip())


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "seed": _int,
    "rate": _float,
    "kinds": _kinds,
    "revoke_after": _int,
    "retry_after": _int,
    "burst": _int,
    "slow_seconds": _float,
    "latency_ms": _float,
    "jitter_ms": _float,
    "max_per_page": _int,
}


@dataclass(frozen=True)
class Fault:
    """One decision. ``status`` is set for faults answered instead of the API (429,
    5xx, a revoked token); ``seed`` drives the choices a drift or extra fault makes."""

    kind: str
    plan: FaultPlan
    status: int | None = None
    seed: int = 0


class FaultInjector:
    """The decisions of one plan, in request order. Not thread-safe: the server calls it
    under its lock, which also fixes the order of concurrent requests."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(plan.seed)
        self._requests = 0
        self._burst_left = 0
        self._revoked = False
        # Its own generator (seeded from the plan's): jitter on or off, the faults stay the same.
        self._pace_rng = random.Random(f"pace-{plan.seed}")

    def latency(self) -> float:
        """Seconds the next answer waits, as a remote API's round trip would take."""
        plan = self.plan
        if not plan.latency_ms:
            return 0.0
        jitter = self._pace_rng.uniform(-plan.jitter_ms, plan.jitter_ms) if plan.jitter_ms else 0.0
        return (plan.latency_ms + jitter) / 1000

    def restore_token(self) -> None:
        self._revoked = False

    def decide(self, applicable: frozenset[str]) -> Fault | None:
        """The fault for the next request, given the kinds that make sense for it. Every
        request counts towards ``revoke_after``; the token is revoked once."""
        self._requests += 1
        if self.plan.revoke_after is not None and self._requests == self.plan.revoke_after + 1:
            self._revoked = True
        if self._revoked:
            return self._count(Fault("revoke", self.plan, status=401))
        if not applicable:
            return None
        if self._burst_left:
            self._burst_left -= 1
            return self._count(Fault("5xx", self.plan, status=self._rng.choice(ERROR_STATUSES)))
        if self._rng.random() >= self.plan.rate:
            return None
        candidates = [kind for kind in KINDS if kind in self.plan.kinds and kind in applicable]
        if not candidates:
            return None
        kind = self._rng.choice(candidates)
        status = None
        if kind == "5xx":
            self._burst_left = self.plan.burst - 1
            status = self._rng.choice(ERROR_STATUSES)
        elif kind == "429":
            status = 429
        return self._count(Fault(kind, self.plan, status=status, seed=self._rng.getrandbits(32)))

    def _count(self, fault: Fault) -> Fault:
        self.counts[fault.kind] += 1
        return fault


def drift(account: SimulatedAccount, rng: random.Random) -> str:
    """One change a live shop makes while a scan pages: a new paid order, a refunded or
    cancelled ticket, a cancelled order or a late payment. The order is any of the
    account's, behind the scan or ahead of it; the account's own methods keep seats and
    the ground truth consistent. Returns what changed, for the debug log."""
    with account.lock:
        for change in rng.sample(_CHANGES, len(_CHANGES)):
            try:
                return change(account, rng)
            except ValueError:  # nothing this change applies to: try another
                continue
    return "no change applies to this account"


def vanish(account: SimulatedAccount, rng: random.Random) -> str:
    """An order (any but the newest, whose id the next sale continues from) leaves the account."""
    with account.lock:
        if len(account.orders) < 2:
            return "no order can leave this account"
        order = rng.choice(account.orders[:-1])
        account.erase_order(order["id"])
    return f"order {order['id']} left the account"


def _new_order(account: SimulatedAccount, rng: random.Random) -> str:
    return f"new paid order {account.place_order(rng)['id']}"


def _refund(account: SimulatedAccount, rng: random.Random) -> str:
    order, basket = _pick(rng, _live_tickets(account, paid=True))
    account.refund_basket(order["id"], basket["id"])
    return f"refunded ticket {basket['id']} of order {order['id']}"


def _cancel_ticket(account: SimulatedAccount, rng: random.Random) -> str:
    order, basket = _pick(rng, _live_tickets(account, paid=False))
    account.cancel_basket(order["id"], basket["id"])
    return f"cancelled ticket {basket['id']} of order {order['id']}"


def _cancel_order(account: SimulatedAccount, rng: random.Random) -> str:
    order = _pick(rng, [order for order in account.orders if order["deleted_at"] is None])
    account.cancel_order(order["id"])
    return f"cancelled order {order['id']}"


def _pay(account: SimulatedAccount, rng: random.Random) -> str:
    order = _pick(rng, [o for o in account.orders if not o["payed"] and o["deleted_at"] is None])
    account.pay_order(order["id"])
    return f"paid pending order {order['id']}"


def _live_tickets(account: SimulatedAccount, *, paid: bool) -> list[tuple[dict, dict]]:
    """Tickets neither cancelled nor refunded, of orders not cancelled (and paid, if asked)."""
    return [
        (order, basket)
        for order in account.orders
        if order["deleted_at"] is None and (order["payed"] or not paid)
        for basket in order["baskets"]
        if basket["deleted_at"] is None and basket["refunded_at"] is None
    ]


def _pick(rng: random.Random, candidates: list[Any]) -> Any:
    if not candidates:
        raise ValueError("no candidate")
    return rng.choice(candidates)


_CHANGES: tuple[Callable[[SimulatedAccount, random.Random], str], ...] = (
    _new_order,
    _refund,
    _cancel_ticket,
    _cancel_order,
    _pay,
)


def vary_shapes(value: Any, rng: random.Random) -> Any:
    """A decoded answer as a newer, quirkier API might send it, with the same meaning:
    every object with an ``id`` gains fields no client knows; whole amounts may come as
    floats (``390.0``); empty ``utm`` / ``custom`` / ``fields`` switch between their
    documented empty forms; ``reserved`` may come as 0/1. Changes ``value`` in place."""
    if isinstance(value, list):
        for item in value:
            vary_shapes(item, rng)
    elif isinstance(value, dict):
        for key, item in value.items():
            value[key] = _varied(key, item, rng)
        if "id" in value:
            value.setdefault("labels", [])
            value.setdefault("loyalty", None)
            value.setdefault("meta", {"revision": rng.randint(1, 99), "source": "api"})
    return value


def _varied(key: str, value: Any, rng: random.Random) -> Any:
    if key in AMOUNT_KEYS and type(value) is int and rng.random() < 0.5:
        return float(value)
    if key == "reserved" and isinstance(value, bool) and rng.random() < 0.5:
        return int(value)
    forms = EMPTY_FORMS.get(key)
    if forms is not None and any(value == form and type(value) is type(form) for form in forms):
        return type(rng.choice(forms))()  # a fresh empty value, never the shared one
    return vary_shapes(value, rng)
