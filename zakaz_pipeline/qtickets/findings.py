"""What this account's API was found to do: the facts every run reads to pick how it fetches.

The public record leaves open whether ``/orders`` honours a ``where`` on ``payed_at``,
``updated_at`` or ``id`` (one real account answered 503 ``UNKNOWN_ERROR``), how many items
a page holds, and how seats are answered. ``zakaz probe`` (``probe.py``) finds out with a
few read-only requests; a run that finds something new (a filter ignored, a payment made
longer after its order than any seen) records it too. Nothing here is assumed: a value
not yet found is ``unknown``, and the strategies treat it as the safe case.

- ``orders_strategy``: ``filtered`` (payment-time windows, keyset paging) only when both
  the ``payed_at`` and the ``id`` filter were seen honoured; otherwise ``scan`` (pages by
  number, every row checked locally, ``paid_orders.py``).
- ``late_changes_strategy``: ``filtered`` (``updated_at >= since``) only when the
  ``updated_at`` and ``id`` filters were seen honoured; otherwise a rolling scan.
- ``payment_lag``: the longest time seen between an order's creation and its payment. A
  scan for the orders paid on a day reads the orders created from that long before it
  (ids ascend with creation), so the longest lag bounds what a day's scan must read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson

FILTERS = ("payed_at", "updated_at", "id")
VERDICTS = ("honoured", "ignored", "refused", "unknown")
STRATEGIES = ("auto", "filtered", "scan")
# The least lag a scan allows for, however short the longest one seen: a reservation holds an
# order unpaid for a day (``reserved_to``), and a first sample is small.
MIN_PAYMENT_LAG = dt.timedelta(days=3)


@dataclass(frozen=True)
class Findings:
    probed_at: str = ""
    orders_per_page: int | None = None
    events_per_page: int | None = None
    orders_total: int | None = None
    filters: dict[str, str] = field(default_factory=lambda: dict.fromkeys(FILTERS, "unknown"))
    codes: dict[str, str] = field(default_factory=dict)  # filter → the API's code when refused
    seats: str = "unknown"  # flat, list, nested
    tariffs: bool | None = None
    quotas: bool | None = None
    offsets: tuple[str, ...] = ()
    first_sale: str | None = None
    payment_lag_seconds: int = 0

    @property
    def known(self) -> bool:
        return bool(self.probed_at)

    def orders_strategy(self) -> str:
        return "filtered" if self.honours("payed_at", "id") else "scan"

    def late_changes_strategy(self) -> str:
        return "filtered" if self.honours("updated_at", "id") else "scan"

    def honours(self, *filters: str) -> bool:
        return all(self.filters.get(name) == "honoured" for name in filters)

    @property
    def payment_lag(self) -> dt.timedelta:
        """How far before a day a scan for that day's payments starts reading."""
        return max(MIN_PAYMENT_LAG, dt.timedelta(seconds=self.payment_lag_seconds))

    def with_filter(self, name: str, verdict: str, code: str | None = None) -> Findings:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        codes = {key: value for key, value in self.codes.items() if key != name} | ({name: code} if code else {})
        return dataclasses.replace(self, filters={**self.filters, name: verdict}, codes=codes)

    def with_lag(self, lag: dt.timedelta) -> Findings:
        return dataclasses.replace(self, payment_lag_seconds=max(self.payment_lag_seconds, int(lag.total_seconds())))

    def verdict(self, name: str) -> str:
        """``honoured``, ``ignored``, ``refused (UNKNOWN_ERROR)`` or ``unknown``."""
        verdict = self.filters.get(name, "unknown")
        return f"{verdict} ({self.codes[name]})" if name in self.codes else verdict

    def to_json(self) -> str:
        return orjson.dumps(dataclasses.asdict(self)).decode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Findings:
        data: dict[str, Any] = orjson.loads(raw)
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        if "offsets" in values:
            values["offsets"] = tuple(values["offsets"])
        return cls(**values)


def chosen_strategy(setting: str, findings: Findings) -> str:
    """``QTICKETS_ORDERS_STRATEGY`` (``auto``, ``filtered``, ``scan``) resolved: ``auto`` is the findings'."""
    if setting not in STRATEGIES:
        raise ValueError(f"QTICKETS_ORDERS_STRATEGY must be one of {', '.join(STRATEGIES)}, not {setting!r}")
    return findings.orders_strategy() if setting == "auto" else setting
