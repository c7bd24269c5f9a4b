"""The schema contract: every table and view the migrations create, with its columns and
types, kept as data in ``schema_contract.json``.

The schema check compares a live warehouse with it, so a column dropped or retyped by
hand, or a migration that never ran, shows up as a failed check rather than as a wrong
dashboard. A test keeps the file equal to what the migrations build; after a new
migration, regenerate it with ``python -m zakaz_pipeline.warehouse.contract``.

The views' timestamps are in ``ZAKAZ_TIMEZONE``, so their types name it: the file says
``DateTime('{timezone}')`` and ``schema_contract(timezone)`` fills in the configured zone.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
import uuid
from importlib import resources
from pathlib import Path

from clickhouse_connect.driver.client import Client

from zakaz_pipeline.timezone import DEFAULT_TIMEZONE

CONTRACT_FILE = "schema_contract.json"
# The contract is built with views rendered in a zone no table uses, then written with the
# placeholder in its place.
CONTRACT_BUILD_TIMEZONE = "Pacific/Chatham"

Schema = dict[str, dict[str, str]]  # table → column → type, in column order


def describe_schema(client: Client) -> Schema:
    """Columns and types of every table and view of the connected database (staging excluded)."""
    rows = client.query(
        "SELECT table, name, type FROM system.columns "
        "WHERE database = currentDatabase() AND NOT startsWith(table, '_stage_') ORDER BY table, position"
    ).result_rows
    schema: Schema = {}
    for table, name, kind in rows:
        schema.setdefault(table, {})[name] = kind
    return schema


@functools.cache
def schema_contract(timezone: str = DEFAULT_TIMEZONE) -> Schema:
    """The contract with the views' time zone filled in."""
    text = resources.files("zakaz_pipeline.warehouse").joinpath(CONTRACT_FILE).read_text(encoding="utf-8")
    contract: Schema = json.loads(text)
    return {
        table: {name: kind.replace("{timezone}", timezone) for name, kind in columns.items()}
        for table, columns in contract.items()
    }


def build_contract() -> Schema:
    """The schema the migrations build, read from a scratch embedded warehouse."""
    from zakaz_pipeline.warehouse.connection import open_client, parse_target
    from zakaz_pipeline.warehouse.schema import ensure_schema

    with tempfile.TemporaryDirectory() as scratch:
        target = parse_target(f"chdb://{Path(scratch) / 'warehouse'}", f"contract_{uuid.uuid4().hex[:8]}")
        with open_client(target) as client:
            ensure_schema(client, timezone=CONTRACT_BUILD_TIMEZONE)
            schema = describe_schema(client)
    zone = f"'{CONTRACT_BUILD_TIMEZONE}'"
    return {
        table: {name: kind.replace(zone, "'{timezone}'") for name, kind in columns.items()}
        for table, columns in schema.items()
    }


def main() -> int:
    path = Path(str(resources.files("zakaz_pipeline.warehouse").joinpath(CONTRACT_FILE)))
    path.write_text(json.dumps(build_contract(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.stderr.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
