"""Halls: the seats (or admission zones) an event's shows sell, and how the API shows them.

A seat plan is shared by all shows of an event; the seats of each show, the hall's
``scheme_properties`` and the seat names printed on tickets are all derived from it,
so the generator and the account's new orders name a seat the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from zakaz_pipeline.simulator.reference_data import ADMISSION_ZONES, SEATED_ZONE_TITLES


@dataclass(frozen=True)
class SeatPlan:
    """One seat (or admission zone) of a hall, shared by all shows of an event."""

    seat_id: str
    zone_id: str
    row: str
    place: str
    name: str
    admission: bool
    max_quantity: int
    disabled: bool
    level: int  # index into the event's price levels


def seated_hall(rng: random.Random) -> tuple[list[SeatPlan], list[int]]:
    """A theatre: a parterre, sometimes a balcony, three price levels by row, a few
    disabled seats and sometimes a closed row."""
    levels = sorted(rng.sample((700, 900, 1200, 1500, 1800, 2500, 3000), 3), reverse=True)
    zones = [("PARTERRE", rng.randint(5, 14), rng.randint(10, 20))]
    balcony_rows = rng.choice((0, 0, 2, 3, 4))
    if balcony_rows:
        zones.append(("BALCONY", balcony_rows, rng.randint(10, 20)))
    closed_row = zones[0][1] if rng.random() < 0.3 else None
    hall = []
    for zone, rows, places in zones:
        for row in range(1, rows + 1):
            level = 2 if zone == "BALCONY" else (0 if row <= 3 else 1)
            for place in range(1, places + 1):
                disabled = (zone == "PARTERRE" and row == closed_row) or rng.random() < 0.03
                name = seated_name(zone, row, place)
                hall.append(
                    SeatPlan(f"{zone}-{row};{place}", zone, str(row), str(place), name, False, 1, disabled, level)
                )
    return hall, levels


def admission_hall(rng: random.Random) -> tuple[list[SeatPlan], list[int]]:
    """An exhibition: two to four admission zones of 50–500 places, one price each."""
    zones = sorted(rng.sample(range(len(ADMISSION_ZONES)), rng.randint(2, 4)))
    hall, levels = [], []
    for level, zone_index in enumerate(zones):
        zone, name, prices = ADMISSION_ZONES[zone_index]
        hall.append(SeatPlan(f"{zone}-1;1", zone, "1", "1", name, True, rng.randint(50, 500), False, level))
        levels.append(rng.choice(prices))
    return hall, levels


def seated_name(zone: str, row: int | str, place: int | str) -> str:
    return f"{SEATED_ZONE_TITLES[zone]}, ряд {row}, место {place}"


def seat_name(seat: dict) -> str:
    """A seat's ticket name, as generation gave it: the zone's title for admission."""
    if seat["admission"]:
        return next(title for zone, title, _ in ADMISSION_ZONES if zone == seat["zone_id"])
    return seated_name(seat["zone_id"], seat["row"], seat["place"])


def scheme_properties(hall: list[SeatPlan], admission: bool, prices: list[dict]) -> dict:
    """A small hall description with the real nesting (admin zones, zones, seats)."""
    zones = list(dict.fromkeys(seat.zone_id for seat in hall))
    if admission:
        return {
            "admin": {
                "zones": {z: {"opened": "0", "was_opened": "1", "rows": {"1": {"was_opened": "1"}}} for z in zones}
            },
            "zones": {
                seat.zone_id: {"disabled": "0", "spread": {"enabled": ""}, "price_id": str(prices[seat.level]["id"])}
                for seat in hall
            },
            "seats": {seat.seat_id: {"max_quantity": "", "hot": "", "show_free_quantity": ""} for seat in hall},
        }
    rows: dict[str, dict[str, int]] = {}
    for seat in hall:
        rows.setdefault(seat.zone_id, {})[seat.row] = seat.level
    return {
        "admin": {
            "zones": {
                z: {"opened": "0", "was_opened": "1", "rows": {r: {"opened": "0"} for r in rows[z]}} for z in zones
            }
        },
        "zones": {
            z: {
                "disabled": "0",
                "label": "",
                "rows": {r: {"disabled": "0", "price_id": str(prices[level]["id"])} for r, level in rows[z].items()},
            }
            for z in zones
        },
        "seats": {seat.seat_id: {"disabled": "1"} for seat in hall if seat.disabled},
    }


def seat_dict(seat: SeatPlan, price: int) -> dict:
    return {
        "id": seat.seat_id,
        "zone_id": seat.zone_id,
        "row": seat.row,
        "place": seat.place,
        "admission": seat.admission,
        "max_quantity": seat.max_quantity,
        "free_quantity": seat.max_quantity,
        "ordered_quantity": 0,
        "payed_quantity": 0,
        "in_basket_quantity": 0,
        "available": not seat.disabled,
        "disabled": seat.disabled,
        "price": price,
        "currency_id": "RUB",
    }
