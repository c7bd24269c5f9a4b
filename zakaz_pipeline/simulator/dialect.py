"""What a Qtickets server may do where the public record leaves it open: the simulator
speaks each variant, so the pipeline is tested against all of them, not one guess.

- ``filters`` on ``GET /orders`` (``QTICKETS_API.md``, "Filtering /orders by date is
  unproven"): ``honoured`` (the model the pipeline was first built on), ``ignored`` (every
  ``where`` and ``orderBy`` dropped: page N of all orders, ascending id, as unknown query
  parameters are treated), or ``refused`` (a condition on a date or on ``id`` is answered
  ``503 UNKNOWN_ERROR``, the only answer such a request has on record; conditions on other
  columns, such as ``event_id``, are honoured).
- ``real_paging``: a page holds 50 orders or 10 events, whatever ``perPage`` asks (the
  parameter is undocumented; every real answer on record had those sizes).
- ``tariffs``: every seat is answered once per tariff (``full`` and ``preferential``), as
  in the vendor's own example: ``"id": "full_<seat>"``,
  ``"root_id": "<seat>"``, ``"zone_id": "full_<zone>"``, ``zone_root_id``, each copy with
  the physical seat's quantities and its own price.

``GET /events`` honours its filters in every dialect (a filtered ``/events`` answered 200
on the day the date-filtered ``/orders`` did not).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FILTER_MODES = ("honoured", "ignored", "refused")
# Columns whose filters on /orders no public record shows working.
UNPROVEN_COLUMNS = frozenset({"payed_at", "updated_at", "created_at", "deleted_at", "id"})
REAL_PAGE_SIZES = {"orders": 50, "events": 10}
TARIFFS = (("full", 1, 1), ("preferential", 1, 2))  # name, price × numerator ÷ denominator


@dataclass(frozen=True)
class ApiDialect:
    filters: str = "honoured"
    real_paging: bool = False
    tariffs: bool = False

    def __post_init__(self) -> None:
        if self.filters not in FILTER_MODES:
            raise ValueError(f"filters must be one of {', '.join(FILTER_MODES)}, not {self.filters!r}")

    def describe(self) -> str:
        extras = [name for name, on in (("real paging", self.real_paging), ("tariffs", self.tariffs)) if on]
        return ", ".join([f"filters {self.filters}", *extras])

    def refuses(self, resource: str, filtered: Iterable[str], ordered: Iterable[str]) -> bool:
        """Whether a list request on ``resource`` filtering and ordering by these columns gets the 503."""
        unproven = (UNPROVEN_COLUMNS & set(filtered)) | (UNPROVEN_COLUMNS - {"id"}) & set(ordered)
        return resource == "orders" and self.filters == "refused" and bool(unproven)

    def ignores_filters(self, resource: str) -> bool:
        return resource == "orders" and self.filters == "ignored"

    def page_size(self, resource: str) -> int | None:
        """The items a page really holds, when the dialect fixes it; ``None``: as asked."""
        return REAL_PAGE_SIZES[resource] if self.real_paging else None


def tariff_copies(seat: dict) -> list[dict]:
    """A physical seat as a tariff show answers it: one entry per tariff, same quantities."""
    return [
        {
            **seat,
            "id": f"{name}_{seat['id']}",
            "root_id": seat["id"],
            "zone_id": f"{name}_{seat['zone_id']}",
            "zone_root_id": seat["zone_id"],
            "price": seat["price"] * numerator // denominator,
            "multiprice_code": name,
        }
        for name, numerator, denominator in TARIFFS
    ]


def plain_seat(seat: dict) -> dict:
    """A seat of a show without tariffs: its own root."""
    return {**seat, "root_id": seat["id"], "zone_root_id": seat["zone_id"]}
