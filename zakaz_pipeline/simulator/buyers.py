"""Buyers: a seeded pool of clients with the real data's quirks, the buyer of an
existing order (a returning customer of the live shop), and how a buyer reads in JSON.

Apart from the orders because the pool is drawn once per account while orders are drawn
millions of times; the orders only pick from it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from zakaz_pipeline.simulator.reference_data import FEMALE_NAMES, MALE_NAMES


@dataclass(frozen=True)
class Client:
    id: int
    email: str
    details_id: int
    name: str
    surname: str | None
    phone: str


def client_pool(rng: random.Random, size: int) -> list[Client]:
    """A pool of buyers; a few are second accounts of another buyer whose e-mail differs
    only in letter case, as happens in real data."""
    pool: list[Client] = []
    for i in range(size):
        if pool and rng.random() < 0.03:
            twin = pool[rng.randrange(len(pool))]
            local, domain = twin.email.split("@")
            pool.append(
                Client(
                    1020000 + 13 * i,
                    f"{local.capitalize()}@{domain.capitalize()}",
                    790000 + 7 * i,
                    twin.name,
                    twin.surname,
                    twin.phone,
                )
            )
            continue
        name, surname = rng.choice(MALE_NAMES if rng.random() < 0.5 else FEMALE_NAMES)
        pool.append(
            Client(
                1020000 + 13 * i,
                f"buyer{i + 1}@example.com",
                790000 + 7 * i,
                name,
                None if rng.random() < 0.08 else surname,
                f"+7900{i + 1:07d}",
            )
        )
    return pool


def client_of(order: dict) -> Client:
    """The buyer of an existing order, to buy again."""
    client = order["client"]
    details = client["details"]
    return Client(client["id"], client["email"], details["id"], details["name"], details["surname"], details["phone"])


def client_json(client: Client) -> dict:
    """The buyer as an order's ``client`` object."""
    return {
        "id": client.id,
        "email": client.email,
        "details": {
            "id": client.details_id,
            "name": client.name,
            "middlename": None,
            "surname": client.surname,
            "phone": client.phone,
            "vk_id": "",
            "facebook_id": "",
        },
    }


def holder_fields(guest: Client) -> dict:
    """A ticket's holder fields, in the API's order (a private guest: no legal entity)."""
    return {
        "client_email": guest.email,
        "client_phone": guest.phone,
        "client_name": guest.name,
        "client_surname": guest.surname or "",
        "client_middlename": None,
        "organization_name": None,
        "legal_name": None,
        "work_position": None,
        "inn": None,
        "kpp": None,
    }
