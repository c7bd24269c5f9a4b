"""The registry: a view is one file, and everything that names views reads it there — the
DDL, the contract, the checks, the assets, the definer's grants, the measures and the field
list; a warehouse whose views older code built converges to the files' views; a view file
that breaks the rules is refused, naming itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from zakaz_pipeline.warehouse import registry
from zakaz_pipeline.warehouse.access import VIEW_SOURCES
from zakaz_pipeline.warehouse.contract import (
    CONTRACT_FILE,
    column_descriptions,
    describe_comments,
    describe_schema,
    schema_contract,
)
from zakaz_pipeline.warehouse.schema import ensure_schema, render
from zakaz_pipeline_tests.harness import TZ

PACKAGE = Path(registry.__file__).resolve().parents[1]
NEW_VIEW = "v_city_seats_on_sale"
NEW_VIEW_SQL = """-- Seats on sale per city: a view the registry's test adds, as a developer would.
-- measures: events, tickets_total, tickets_left = SUM
CREATE OR REPLACE VIEW v_city_seats_on_sale
(
    org           LowCardinality(String) COMMENT 'the Qtickets account (ORG_NAME)',
    city          LowCardinality(Nullable(String)) COMMENT 'the events'' city; NULL: unknown',
    events        UInt64 COMMENT 'events with shows on sale',
    tickets_total UInt64 COMMENT 'capacity of their shows on sale',
    tickets_left  UInt64 COMMENT 'free seats of their shows on sale'
)
DEFINER = {definer} SQL SECURITY DEFINER
AS SELECT
    l.org AS org, l.city AS city, count() AS events,
    sum(assumeNotNull(l.tickets_total)) AS tickets_total, sum(assumeNotNull(l.tickets_left)) AS tickets_left
FROM v_sales_latest AS l
WHERE l.tickets_total IS NOT NULL
GROUP BY l.org, l.city
COMMENT 'DataLens: seats on sale per city, as of the newest snapshot ({timezone})';
"""
# (show, event, city, capacity, free, on sale) in fact_qtickets_inventory_latest
SHOWS = [(1, 10, "Томск", 100, 40, True), (2, 10, "Томск", 50, 50, True), (3, 11, "Омск", 30, 0, True),
         (4, 12, "Омск", 20, 5, False)]  # fmt: skip

# Run in a process whose zakaz_pipeline is the copy holding the new view: what each part of
# the package makes of it, as JSON.
EVERY_READER = """
import json, sys
import zakaz_pipeline
from zakaz_pipeline.warehouse import quality
from zakaz_pipeline.warehouse.connection import open_client, parse_target
from zakaz_pipeline.warehouse.contract import column_descriptions, describe_comments, describe_schema, schema_contract
from zakaz_pipeline.warehouse.schema import ensure_schema

path, name, zone, mode = sys.argv[1:5]
with open_client(parse_target("chdb://" + path, "zakaz")) as client:
    found = {"package": zakaz_pipeline.__file__, "done": ensure_schema(client, timezone=zone)}
    found |= {
        "described": describe_schema(client), "contract": schema_contract(zone),
        "comments": describe_comments(client), "descriptions": column_descriptions(zone),
        "again": ensure_schema(client, timezone=zone),
    }
    if mode == "new":
        from zakaz_pipeline.warehouse.datalens import MEASURES, fields_markdown, view_answers_under_datalens_settings
        client.command(sys.argv[5])
        found |= {
            "rows": client.query(f"SELECT org, city, events, tickets_total, tickets_left FROM {name} ORDER BY city").result_rows,
            "schema_check": quality.schema_matches(client, name, zone).passed,
            "datalens_check": view_answers_under_datalens_settings(client, name).passed,
            "measures": MEASURES.get(name), "doc": fields_markdown(),
        }
if mode == "new":
    from zakaz_pipeline.defs.assets.views import view_assets
    from zakaz_pipeline.defs.checks import RULES
    from zakaz_pipeline.warehouse.access import VIEW_DEFINER, planned_grants
    grants = planned_grants("zakaz")
    found |= {
        "definer": sorted(table for _, _, table in grants[VIEW_DEFINER]),
        "reader": sorted(table for _, _, table in grants["zakaz_reader"]),
        "checks": sorted(rule.name for rule in RULES if rule.asset == name),
        "assets": {
            spec.key.to_user_string(): [spec.description, sorted(dep.asset_key.to_user_string() for dep in spec.deps)]
            for spec in view_assets().specs
        },
    }
print(json.dumps(found, default=str))
"""


def in_copy(root: Path, warehouse: Path, mode: str, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", EVERY_READER, str(warehouse), NEW_VIEW, TZ, mode, *extra],
        capture_output=True, text=True, timeout=180, check=False, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = orjson.loads(done.stdout.splitlines()[-1])
    assert Path(found["package"]).is_relative_to(root), "the copy, not the installed package, was imported"
    return found


def test_a_new_view_is_one_file_and_every_part_of_the_package_reads_it(tmp_path) -> None:
    """A copy of the package plus one view file: the schema step creates it after the view it
    reads; the contract, the schema and DataLens checks, the view asset (deps from what it
    reads), the definer's and the reader's grants, the measures and the field list all hold
    it, with no other edit. Editing the view it reads re-creates both, and the contract
    follows the edit."""
    root = tmp_path / "copy"
    shutil.copytree(PACKAGE, root / "zakaz_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "zakaz_pipeline" / "warehouse" / "views" / f"{NEW_VIEW}.sql").write_text(NEW_VIEW_SQL, encoding="utf-8")
    values = ", ".join(
        f"('o', {show}, {event}, 'e{event}', '{city}', now(), {total}, {free}, {on_sale})"
        for show, event, city, total, free, on_sale in SHOWS
    )
    insert = (
        "INSERT INTO fact_qtickets_inventory_latest "
        f"(org, show_id, event_id, event_name, city, snapshot_ts, tickets_total, tickets_left, on_sale) VALUES {values}"
    )
    found = in_copy(root, tmp_path / "warehouse", "new", insert)

    views = [f"view {view.name}" for view in registry.views()]
    assert NEW_VIEW not in views and f"view {NEW_VIEW}" in found["done"] and found["again"] == []
    assert found["done"].index(f"view {NEW_VIEW}") > found["done"].index("view v_sales_latest")
    assert found["described"][NEW_VIEW] == found["contract"][NEW_VIEW] == {
        "org": "LowCardinality(String)", "city": "LowCardinality(Nullable(String))",
        "events": "UInt64", "tickets_total": "UInt64", "tickets_left": "UInt64",
    }  # fmt: skip
    assert found["comments"][NEW_VIEW] == found["descriptions"][NEW_VIEW]
    assert found["comments"][NEW_VIEW]["city"] == "the events' city; NULL: unknown"
    assert found["schema_check"] and found["datalens_check"]
    on_sale = [(event, city, total, free) for _, event, city, total, free, selling in SHOWS if selling]
    assert found["rows"] == [
        ["o", city, len({e for e, c, _, _ in on_sale if c == city}),
         sum(t for _, c, t, _ in on_sale if c == city), sum(f for _, c, _, f in on_sale if c == city)]
        for city in sorted({city for _, city, _, _ in on_sale})
    ]  # fmt: skip

    assert sorted(found["checks"]) == ["columns_match_contract", "views_answer_under_datalens_settings"]
    description = "DataLens: seats on sale per city, as of the newest snapshot (ZAKAZ_TIMEZONE)"
    assert found["assets"][NEW_VIEW] == [description, ["v_sales_latest"]]
    assert "v_sales_latest" not in VIEW_SOURCES and "v_sales_latest" in found["definer"], "the definer reads it now"
    assert NEW_VIEW in found["reader"]
    assert found["measures"] == {"events": "SUM", "tickets_total": "SUM", "tickets_left": "SUM"}
    assert (
        f"### `{NEW_VIEW}`" in found["doc"]
        and "| `events` | `UInt64` | events with shows on sale | SUM |" in found["doc"]
    )

    source = root / "zakaz_pipeline" / "warehouse" / "views" / "v_sales_latest.sql"
    text = source.read_text(encoding="utf-8")
    assert "'tickets sold, all time'" in text
    source.write_text(text.replace("'tickets sold, all time'", "'tickets sold since the first sale'"), encoding="utf-8")
    edited = in_copy(root, tmp_path / "warehouse", "edited")
    assert edited["done"] == ["view v_sales_latest", f"view {NEW_VIEW}"], "the view and what reads it, in that order"
    assert edited["again"] == []
    latest = edited["comments"]["v_sales_latest"]
    assert latest["tickets_sold_total"] == "tickets sold since the first sale"
    assert latest == edited["descriptions"]["v_sales_latest"]


def test_a_warehouse_whose_views_older_code_built_gets_the_files_views(client) -> None:
    """The migrations used to create the views: a warehouse they built holds every view as
    the newest (007) wrote it, with a COMMENT naming only its zone, or an older definition
    (002's dashboard: no declared types, the current stock on every day). The next process
    to open it creates every view again from its file, and then nothing more."""
    for view in registry.views():
        description = render(view.description, TZ).replace("'", "''")
        client.command(f"{render(view.body, TZ)}\nCOMMENT '{description}'")
    client.command(
        "CREATE OR REPLACE VIEW v_qtickets_sales_dashboard AS SELECT f.*, inv.tickets_total, inv.tickets_left "
        "FROM fact_qtickets_sales_daily AS f LEFT JOIN (SELECT org, event_id, sum(tickets_total) AS tickets_total, "
        "sum(tickets_left) AS tickets_left FROM fact_qtickets_inventory_latest GROUP BY org, event_id) AS inv "
        "ON inv.org = f.org AND inv.event_id = f.event_id"
    )
    assert "tickets_total" in describe_schema(client)["v_qtickets_sales_dashboard"]

    assert ensure_schema(client, timezone=TZ) == [f"view {view.name}" for view in registry.views()]
    assert ensure_schema(client, timezone=TZ) == []
    schema, comments = describe_schema(client), describe_comments(client)
    for view in registry.views():
        assert schema[view.name] == schema_contract(TZ)[view.name], view.name
        assert comments[view.name] == column_descriptions(TZ)[view.name], view.name
    stored = dict(
        client.query("SELECT name, comment FROM system.tables WHERE database = currentDatabase()").result_rows
    )
    assert all(
        stored[view.name].startswith(render(view.description, TZ) + " [definition ") for view in registry.views()
    )


def test_every_view_comes_after_what_it_reads_and_the_tables_are_the_migrations() -> None:
    seen: set[str] = set()
    for view in registry.views():
        assert set(view.sources) <= seen | set(registry.tables()), f"{view.name} comes before a view it reads"
        seen.add(view.name)
    tables = {name for name in schema_contract() if name not in seen}
    assert tables == {*registry.tables(), "zakaz_schema_history"}, f"{CONTRACT_FILE} holds the migrations' tables"
    assert registry.relations() == registry.tables() + tuple(view.name for view in registry.views())


GOOD = NEW_VIEW_SQL
KNOWN = {*registry.tables(), "v_sales_latest"}


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        (GOOD.replace("VIEW v_city_seats_on_sale", "VIEW v_other"), "holds one statement, CREATE OR REPLACE VIEW"),
        (GOOD + "SELECT 1;\n", "holds one statement"),
        (GOOD.replace("\n(\n    org ", "\nAS SELECT 1\n(\n    org ", 1), "its columns declared"),
        (GOOD.replace("\nCOMMENT 'DataLens", "\n-- 'DataLens"), "ends with COMMENT"),
        (GOOD.replace("DEFINER = {definer} SQL SECURITY DEFINER\n", ""), "runs as its definer"),
        (GOOD.replace("events, tickets_total", "event, tickets_total"), "measures name no column of the view: event"),
        (
            GOOD.replace("    events        UInt64 COMMENT 'events with shows on sale',", "    events,"),
            "cannot read the column",
        ),
    ],
)
def test_a_view_file_that_breaks_the_rules_is_refused_naming_itself(text: str, refusal: str) -> None:
    with pytest.raises(ValueError, match=refusal) as refused:
        registry.read_view(NEW_VIEW, text, KNOWN)
    assert f"warehouse/views/{NEW_VIEW}.sql" in str(refused.value)


def test_a_view_reads_what_its_from_and_join_name_never_a_name_in_a_string() -> None:
    view = registry.read_view(NEW_VIEW, GOOD, KNOWN)
    assert view.sources == ("v_sales_latest",)
    assert [column.name for column in view.columns] == ["org", "city", "events", "tickets_total", "tickets_left"]
    assert view.description == "DataLens: seats on sale per city, as of the newest snapshot ({timezone})"
    quoted = GOOD.replace("WHERE l.", "WHERE l.org != 'FROM dim_events' -- JOIN dim_shows\nAND l.")
    assert "'FROM dim_events' -- JOIN dim_shows" in quoted
    assert registry.read_view(NEW_VIEW, quoted, KNOWN).sources == ("v_sales_latest",)
