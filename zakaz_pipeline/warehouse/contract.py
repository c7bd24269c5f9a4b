"""The schema contract: every table and view with its columns and types, and what each
column means.

The schema check compares a live warehouse with it, so a column dropped or retyped by
hand, or a migration that never ran, shows up as a failed check rather than as a wrong
dashboard. A view's columns, types and meanings are read from its file (``registry.py``).
A table's are what its migrations leave, which only a database can tell: they are kept as
data in ``schema_contract.json`` and ``column_descriptions.json``, and a test keeps them
equal to what the migrations build; after a new migration, regenerate them with ``python -m
zakaz_pipeline.warehouse.contract``, which also writes the DataLens field list
(``docs/DATALENS.md``, ``datalens.fields_markdown``).

The views' timestamps are in ``ZAKAZ_TIMEZONE``, so their types name it: they say
``DateTime('{timezone}')`` and ``schema_contract(timezone)`` fills in the configured zone.

A column's meaning is written once, as its COMMENT (a table's in its migration, a view's in
its file); the places that cannot ask ClickHouse read it here: Dagster's catalog
(``defs/assets/common.table``) and the DataLens field list.
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
from zakaz_pipeline.warehouse import registry

CONTRACT_FILE = "schema_contract.json"
DESCRIPTIONS_FILE = "column_descriptions.json"
DATALENS_DOC = Path(__file__).resolve().parents[2] / "docs" / "DATALENS.md"
# The contract is built with views rendered in a zone no table uses, then written with the
# placeholder in its place.
CONTRACT_BUILD_TIMEZONE = "Pacific/Chatham"

Schema = dict[str, dict[str, str]]  # table → column → type, in column order


def describe_schema(client: Client) -> Schema:
    """Columns and types of every table and view of the connected database (staging excluded)."""
    return _columns(client, "type")


def describe_comments(client: Client) -> Schema:
    """Column COMMENTs of every table and view of the connected database (staging excluded)."""
    return _columns(client, "comment")


def _columns(client: Client, attribute: str) -> Schema:
    rows = client.query(
        f"SELECT table, name, {attribute} FROM system.columns "
        "WHERE database = currentDatabase() AND NOT startsWith(table, '_stage_') ORDER BY table, position"
    ).result_rows
    found: Schema = {}
    for table, name, value in rows:
        found.setdefault(table, {})[name] = value
    return found


@functools.cache
def schema_contract(timezone: str = DEFAULT_TIMEZONE) -> Schema:
    """The contract with the views' time zone filled in."""
    views = {view.name: {c.name: c.type for c in view.columns} for view in registry.views()}
    return _read(CONTRACT_FILE, timezone) | _filled(views, timezone)


@functools.cache
def column_descriptions(timezone: str = DEFAULT_TIMEZONE) -> Schema:
    """Table → column → its meaning ('' where there is nothing to add to the name)."""
    views = {view.name: {c.name: c.comment for c in view.columns} for view in registry.views()}
    return _read(DESCRIPTIONS_FILE, timezone) | _filled(views, timezone)


def _read(name: str, timezone: str) -> Schema:
    text = resources.files("zakaz_pipeline.warehouse").joinpath(name).read_text(encoding="utf-8")
    return _filled(json.loads(text), timezone)


def _filled(data: Schema, timezone: str) -> Schema:
    return {
        table: {column: value.replace("{timezone}", timezone) for column, value in columns.items()}
        for table, columns in data.items()
    }


def build_contract() -> tuple[Schema, Schema]:
    """The tables the migrations build and their column comments, read from a scratch embedded
    warehouse (the views, read from their files, left out), with the build's zone as the placeholder."""
    from zakaz_pipeline.warehouse.connection import open_client, parse_target
    from zakaz_pipeline.warehouse.schema import ensure_schema

    with tempfile.TemporaryDirectory() as scratch:
        target = parse_target(f"chdb://{Path(scratch) / 'warehouse'}", f"contract_{uuid.uuid4().hex[:8]}")
        with open_client(target) as client:
            ensure_schema(client, timezone=CONTRACT_BUILD_TIMEZONE)
            schema, comments = describe_schema(client), describe_comments(client)
    return _placeholder(schema), _placeholder(comments)


def _placeholder(data: Schema) -> Schema:
    views = {view.name for view in registry.views()}
    return {
        table: {name: value.replace(CONTRACT_BUILD_TIMEZONE, "{timezone}") for name, value in columns.items()}
        for table, columns in data.items()
        if table not in views
    }


def main() -> int:
    """Write the tables' contract and descriptions, and the DataLens field list."""
    from zakaz_pipeline.warehouse.datalens import write_fields_doc

    schema, comments = build_contract()
    for name, data in ((CONTRACT_FILE, schema), (DESCRIPTIONS_FILE, comments)):
        path = Path(str(resources.files("zakaz_pipeline.warehouse").joinpath(name)))
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        sys.stderr.write(f"wrote {path}\n")
    sys.stderr.write(f"wrote {write_fields_doc(DATALENS_DOC)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
