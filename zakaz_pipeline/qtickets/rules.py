"""Business definitions shared by the pipeline and the simulator's ground truth.

They are written once, here, because the warehouse SQL and the simulator's independent
reckoning must agree on what a sold ticket or a show on sale is; see docs/ARCHITECTURE.md, "Definitions".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")
"""Money is exact to the cent (kopeck): what the API's amounts resolve to and the warehouse stores."""


def parse_ts(value: str | dt.datetime | None) -> dt.datetime | None:
    """An aware datetime from a Qtickets timestamp (ISO-8601 with offset) or a warehouse
    value (stored in UTC, which some drivers hand back without a zone); empty is None."""
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(value)


def require_ts(value: str | dt.datetime | None) -> dt.datetime:
    """``parse_ts`` of a timestamp the record must have (its absence is a broken answer)."""
    moment = parse_ts(value)
    if moment is None:
        raise ValueError("a required timestamp is empty")
    return moment


def show_is_on_sale(event: Mapping[str, Any], show: Mapping[str, Any], now: dt.datetime) -> bool:
    """A show is on sale when its event and itself are active and not deleted and sales
    have not closed yet (``sale_finish_date``, else ``finish_date``, is after ``now``)."""
    if not event.get("is_active") or event.get("deleted_at"):
        return False
    if not show.get("is_active") or show.get("deleted_at"):
        return False
    closes = parse_ts(show.get("sale_finish_date")) or parse_ts(show.get("finish_date"))
    return closes is None or closes > now
