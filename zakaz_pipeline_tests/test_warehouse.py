"""The warehouse layer on the real embedded ClickHouse engine: schema, atomic slices."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from dagster import AssetSelection

from zakaz_pipeline.warehouse import quality, registry, writes
from zakaz_pipeline.warehouse.arrow import contract_types
from zakaz_pipeline.warehouse.connection import WarehouseConfigError, parse_target
from zakaz_pipeline.warehouse.contract import schema_contract
from zakaz_pipeline.warehouse.registry import current_version, migrations
from zakaz_pipeline.warehouse.schema import ensure_schema
from zakaz_pipeline.warehouse.writes import Slice, SliceOutOfBounds, replace_slice
from zakaz_pipeline_tests.harness import ORG, history, run

# The fact is partitioned by month: slices of it are whole months, D1…D3 start three of them.
D1, D2, D3 = dt.date(2024, 3, 1), dt.date(2024, 4, 1), dt.date(2024, 5, 1)


def facts(org: str, day: dt.date, event_ids: list[int], revenue: str = "10.00") -> dict[str, list]:
    n = len(event_ids)
    return {
        "sales_date": [day] * n, "org": [org] * n, "event_id": event_ids, "city": ["Томск"] * n,
        "orders": [1] * n, "tickets_sold": [2] * n, "gross_revenue": [Decimal(revenue)] * n,
        "refunded_amount": [Decimal(0)] * n, "revenue": [Decimal(revenue)] * n,
    }  # fmt: skip


def table_rows(client, org: str | None = None) -> list[tuple]:
    where = "WHERE org = %(org)s" if org else ""
    return client.query(
        f"SELECT org, sales_date, event_id, revenue FROM fact_qtickets_sales_daily {where} ORDER BY org, sales_date, event_id",
        parameters={"org": org},
    ).result_rows


def daily(org: str, start: dt.date, end: dt.date) -> Slice:
    return Slice("fact_qtickets_sales_daily", org, "sales_date", start, end)


def test_schema_is_versioned_and_idempotent(client) -> None:
    assert ensure_schema(client) == []  # the resource already applied everything
    versions = [m.version for m in migrations()]
    assert versions == sorted(set(versions)) and versions[-1] == current_version()
    applied = client.query("SELECT count(), max(version) FROM zakaz_schema_history FINAL").result_rows[0]
    assert applied == (len(versions), current_version())
    tables = {
        row[0] for row in client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows
    }
    assert {
        "stg_qtickets_api_orders_raw",
        "stg_qtickets_api_inventory_raw",
        "dim_events",
        "dim_shows",
        "fact_qtickets_sales_daily",
        "fact_qtickets_inventory_latest",
        "v_qtickets_sales_dashboard",
    } <= tables


def test_replacing_days_touches_only_those_days_and_that_org(client) -> None:
    replace_slice(client, daily("a", D1, D3), [facts("a", D1, [1, 2]), facts("a", D2, [1])])
    replace_slice(client, daily("b", D1, D2), [facts("b", D1, [7])])
    # a re-run of day 2 of org a: one event changes, another appears
    replace_slice(client, daily("a", D2, D3), [facts("a", D2, [1, 3], revenue="99.50")])
    assert table_rows(client) == [
        ("a", D1, 1, Decimal("10.00")), ("a", D1, 2, Decimal("10.00")),
        ("a", D2, 1, Decimal("99.50")), ("a", D2, 3, Decimal("99.50")),
        ("b", D1, 7, Decimal("10.00")),
    ]  # fmt: skip


def test_rerun_with_same_rows_changes_nothing(client) -> None:
    batch = facts("a", D1, [1, 2, 3])
    replace_slice(client, daily("a", D1, D2), [batch])
    before = table_rows(client)
    replace_slice(client, daily("a", D1, D2), [batch])
    assert table_rows(client) == before


def test_a_day_that_lost_all_rows_is_emptied(client) -> None:
    replace_slice(client, daily("a", D1, D3), [facts("a", D1, [1]), facts("a", D2, [1])])
    replace_slice(client, daily("a", D1, D3), [facts("a", D1, [1])])
    assert [row[1] for row in table_rows(client)] == [D1]


def test_a_failing_stream_leaves_the_old_day_intact(client) -> None:
    replace_slice(client, daily("a", D1, D2), [facts("a", D1, [1, 2])])
    before = table_rows(client)

    def broken() -> Iterator[dict]:
        yield facts("a", D1, [5])
        raise ConnectionError("API went away mid-scan")

    with pytest.raises(ConnectionError):
        replace_slice(client, daily("a", D1, D2), broken())
    assert table_rows(client) == before
    leftovers = client.query(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() AND startsWith(name, '_stage_')"
    )
    assert leftovers.result_rows[0][0] == 0


def test_rows_outside_the_slice_are_refused(client) -> None:
    replace_slice(client, daily("a", D1, D3), [facts("a", D1, [1]), facts("a", D2, [1])])
    with pytest.raises(SliceOutOfBounds):
        replace_slice(client, daily("a", D1, D2), [facts("a", D2, [9])])
    with pytest.raises(SliceOutOfBounds):
        replace_slice(client, daily("a", D1, D2), [facts("other", D1, [9])])
    assert [row[2] for row in table_rows(client)] == [1, 1]


def test_a_day_of_a_monthly_partition_is_refused_with_the_rest_of_its_month(client) -> None:
    replace_slice(client, daily("a", D1, D2), [facts("a", D1, [1]), facts("a", D1 + dt.timedelta(days=9), [1])])
    with pytest.raises(SliceOutOfBounds, match="partitioned more coarsely"):
        replace_slice(client, daily("a", D1, D1 + dt.timedelta(days=1)), [facts("a", D1, [5])])
    assert [row[2] for row in table_rows(client)] == [1, 1]


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (dt.date(2024, 3, 5), dt.date(2024, 3, 6), (dt.date(2024, 3, 1), dt.date(2024, 4, 1))),
        (dt.date(2024, 2, 29), dt.date(2024, 3, 1), (dt.date(2024, 2, 1), dt.date(2024, 3, 1))),
        (dt.date(2023, 12, 31), dt.date(2024, 1, 2), (dt.date(2023, 12, 1), dt.date(2024, 2, 1))),
        (dt.date(2024, 3, 1), dt.date(2024, 4, 1), (dt.date(2024, 3, 1), dt.date(2024, 4, 1))),
    ],
)
def test_a_slice_widens_to_the_whole_months_of_its_days(start, end, months) -> None:
    widened = daily("a", start, end).whole_months()
    assert (widened.start, widened.end) == months
    assert (widened.table, widened.org, widened.day_column) == ("fact_qtickets_sales_daily", "a", "sales_date")


def test_server_url_is_parsed_and_password_hidden() -> None:
    target = parse_target("https://etl_writer:s3cr%40t@ch.example.com:8443", "zakaz")
    assert (target.host, target.port, target.secure, target.username, target.password) == (
        "ch.example.com", 8443, True, "etl_writer", "s3cr@t",
    )  # fmt: skip
    assert "s3cr" not in repr(target) and "s3cr" not in target.describe()


@pytest.mark.parametrize(
    ("url", "database", "fragment"),
    [
        ("", "zakaz", "CLICKHOUSE_URL is empty"),
        ("chdb://", "zakaz", "needs a directory"),
        ("mysql://u:p@h:1", "zakaz", "must start with chdb://"),
        ("http://u:topsecret@h:notaport", "zakaz", "malformed"),
        ("chdb:///tmp/x", "drop table; --", "CLICKHOUSE_DATABASE"),
    ],
)
def test_bad_warehouse_settings_are_explained(url: str, database: str, fragment: str) -> None:
    with pytest.raises(WarehouseConfigError, match=fragment) as info:
        parse_target(url, database)
    assert "topsecret" not in str(info.value)


def test_a_partition_doubled_by_a_concurrent_replace_is_replaced_again(client) -> None:
    """Two concurrent REPLACEs of one partition can both keep their parts (seen with three
    runs at once); the writer's check finds the doubled partition and replaces it again."""
    replace_slice(client, daily("a", D1, D3), [facts("a", D1, [1, 2]), facts("a", D2, [1])])
    client.insert("fact_qtickets_sales_daily", [list(v) for v in facts("a", D1, [1, 2]).values()],
                  column_names=list(facts("a", D1, [1, 2])), column_oriented=True)  # fmt: skip
    client.command("CREATE TABLE stage_d1 AS fact_qtickets_sales_daily")
    client.insert("stage_d1", [list(v) for v in facts("a", D1, [1, 2]).values()],
                  column_names=list(facts("a", D1, [1, 2])), column_oriented=True)  # fmt: skip
    doubled = client.query(
        "SELECT DISTINCT _partition_id FROM fact_qtickets_sales_daily WHERE sales_date = %(d)s", parameters={"d": D1}
    ).result_rows[0][0]
    assert len(table_rows(client)) == 5
    writes._repair_doubled(client, "stage_d1", "fact_qtickets_sales_daily", [doubled])
    assert [row[1:3] for row in table_rows(client)] == [(D1, 1), (D1, 2), (D2, 1)]


FACT_ROWS_SQL = "SELECT * EXCEPT loaded_at FROM fact_qtickets_sales_daily ORDER BY org, sales_date, event_id"
FACT_LAYOUT_SQL = """
SELECT
    (SELECT partition_key FROM system.tables WHERE database = currentDatabase() AND name = 'fact_qtickets_sales_daily'),
    (SELECT groupUniqArray(partition) FROM system.parts
     WHERE database = currentDatabase() AND table = 'fact_qtickets_sales_daily' AND active)
"""


def test_migration_004_partitions_a_filled_fact_by_month_with_the_same_rows(
    small_server, small_account, warehouse, instance, monkeypatch
) -> None:
    """A warehouse synced under migrations 001–003 (the fact written day by day by
    ``models.sales_daily()``) gets monthly partitions and exactly the same fact rows from
    004's recompute, for every org; replaying 004 from its first statement changes nothing.
    The views, which read tables of later migrations, are created after them."""
    shipped = migrations()
    monthly = next(m for m in shipped if m.version == 4)
    with monkeypatch.context() as patch:
        patch.setattr(registry, "migrations", lambda: tuple(m for m in shipped if m.version < monthly.version))
        patch.setattr(registry, "views", tuple)
        run(
            small_server,
            warehouse,
            instance,
            *history(small_account),
            AssetSelection.all() - AssetSelection.groups("bi"),
        )
    with warehouse.get_client() as client:
        key, partitions = client.query(FACT_LAYOUT_SQL).result_rows[0]
        assert key == "(org, sales_date)" and len(partitions) > 31  # by day: more than any month has days
        for table in ("stg_qtickets_api_orders_raw", "dim_events"):  # a second org, its fact still to compute
            client.command(
                f"INSERT INTO {table} SELECT * REPLACE ('other' AS org) FROM {table}",
                settings=writes.NO_PARTITION_LIMIT,
            )
        ours = client.query(FACT_ROWS_SQL).result_rows
        assert ours and {row[1] for row in ours} == {ORG}

        newer = [f"migration {m.version:03d}_{m.name}" for m in shipped if m.version >= monthly.version]
        assert ensure_schema(client) == newer + [f"view {view.name}" for view in registry.views()]
        computed = client.query(FACT_ROWS_SQL).result_rows
        assert [row for row in computed if row[1] == ORG] == ours
        assert [row[:1] + row[2:] for row in computed if row[1] == "other"] == [row[:1] + row[2:] for row in ours]
        key, partitions = client.query(FACT_LAYOUT_SQL).result_rows[0]
        months = {(org, day.year * 100 + day.month) for day, org, *_ in computed}
        assert key == "(org, toYYYYMM(sales_date))" and sorted(partitions) == sorted(f"('{o}',{m})" for o, m in months)

        for statement in monthly.statements:
            client.command(statement)
        assert client.query(FACT_ROWS_SQL).result_rows == computed
        assert client.query("SELECT count() FROM v_sales_latest").result_rows[0][0] > 0
        newest = "SELECT org, max(sale_ts) FROM stg_qtickets_api_orders_raw GROUP BY org ORDER BY org"
        fresh = "SELECT org, last_data_at FROM v_qtickets_freshness WHERE source = 'stg_qtickets_api_orders_raw' ORDER BY org"
        assert client.query(fresh).result_rows == client.query(newest).result_rows


def test_every_column_type_of_every_table_has_its_arrow_type() -> None:
    tables = {name: columns for name, columns in schema_contract().items() if not name.startswith("v_")}
    sent = contract_types(tables)
    assert sent["Decimal(18, 2)"] == "decimal128(18, 2)" and sent["Nullable(DateTime('UTC'))"] == "timestamp[s, tz=UTC]"
    assert sent["Array(String)"] == "list<item: string>" and sent["LowCardinality(String)"] == "string"


def test_an_arrow_insert_keeps_every_value_exactly(client) -> None:
    """Kopecks, NULLs, UTC instants given in another zone, days and flags arrive as given."""
    moscow = dt.timezone(dt.timedelta(hours=3))
    paid = dt.datetime(2024, 3, 31, 23, 30, 5, tzinfo=moscow)
    batch = {
        "org": [ORG, ORG], "sales_date": [D1, D2], "order_id": [1, 2**63], "basket_id": [1, 2], "event_id": [5, 6],
        "show_id": [7, 8], "seat_id": ["A-1;2", ""], "zone_id": ["A", ""], "seat_row": ["1", ""],
        "seat_place": ["2", ""], "seat_name": ["Ряд 1, место 2", ""], "quantity": [1, 3], "sale_ts": [paid, paid],
        "payed": [True, False], "order_created_at": [None, paid], "refunded_at": [paid, None],
        "refunded_amount": [Decimal("0.01"), Decimal("1234567890123456.99")], "price": [Decimal("0.00"), Decimal("10.50")],
        "currency": ["RUB", "RUB"], "discount_id": [None, 9],
    }  # fmt: skip
    writes.append_rows(client, "stg_qtickets_api_orders_raw", [batch])
    got = client.query(
        "SELECT order_id, sale_ts, payed, order_created_at, refunded_at, refunded_amount, price, discount_id, seat_name "
        "FROM stg_qtickets_api_orders_raw WHERE org = %(org)s ORDER BY order_id",
        parameters={"org": ORG},
    ).result_rows
    utc = paid.astimezone(dt.UTC).replace(tzinfo=None)
    assert [(r[0], r[1].replace(tzinfo=None), *r[2:]) for r in got] == [
        (1, utc, True, None, got[0][4], Decimal("0.01"), Decimal("0.00"), None, "Ряд 1, место 2"),
        (2**63, utc, False, got[1][3], None, Decimal("1234567890123456.99"), Decimal("10.50"), 9, ""),
    ]
    assert got[0][4].replace(tzinfo=None) == utc and got[1][3].replace(tzinfo=None) == utc


# A process of its own: this one has long imported pandas (the DataLens and benchmark tests use it).
FRESH_PROCESS_INSERT = """
import datetime as dt, json, sys
from decimal import Decimal
from zakaz_pipeline.warehouse import writes
from zakaz_pipeline.warehouse.connection import open_client, parse_target
from zakaz_pipeline.warehouse.schema import ensure_schema
with open_client(parse_target("chdb://" + sys.argv[1])) as client:
    ensure_schema(client, timezone="Europe/Moscow")
    batch = {
        "sales_date": [dt.date(2024, 3, 1)], "org": ["o"], "event_id": [1], "city": ["Томск"], "orders": [1],
        "tickets_sold": [2], "gross_revenue": [Decimal("10.01")], "refunded_amount": [Decimal(0)], "revenue": [Decimal("10.01")],
    }
    writes.append_rows(client, "fact_qtickets_sales_daily", [batch])
    revenue = str(client.query("SELECT sum(revenue) FROM fact_qtickets_sales_daily").result_rows[0][0])
    loaded = "pandas" in sys.modules
import pyarrow as pa
frame = pa.table({"revenue": pa.array([Decimal("10.01")], type=pa.decimal128(18, 2))}).to_pandas()
print(json.dumps({"pandas_loaded": loaded, "revenue": revenue, "to_pandas": str(frame["revenue"][0])}))
"""


def test_schema_inserts_and_queries_do_not_load_pandas_and_pyarrow_still_can(tmp_path: Path) -> None:
    """pyarrow's pandas probe is answered without importing pandas (a third of a tick's fixed
    cost), and a later ``to_pandas`` still works: if pyarrow changes how it probes, this fails."""
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_INSERT, str(tmp_path / "warehouse")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert orjson.loads(done.stdout.splitlines()[-1]) == {
        "pandas_loaded": False,
        "revenue": "10.01",
        "to_pandas": "10.01",
    }


def test_a_value_of_the_wrong_type_fails_the_insert_instead_of_being_coerced(client) -> None:
    batch = facts(ORG, D1, [1])
    batch["revenue"] = ["ten roubles"]
    with pytest.raises((TypeError, ValueError, pa.ArrowException)):
        writes.append_rows(client, "fact_qtickets_sales_daily", [batch])
    assert table_rows(client, ORG) == []


@pytest.mark.parametrize("keys_per_pass", [1_000_000, 3, 1])
def test_duplicates_are_counted_alike_in_one_pass_or_split_by_hash(client, monkeypatch, keys_per_pass) -> None:
    """A long history is checked in hash passes of bounded memory; every repeated key falls
    in one pass, so the count is the same however many passes."""
    monkeypatch.setattr(quality, "KEYS_PER_PASS", keys_per_pass)
    writes.append_rows(
        client, "fact_qtickets_sales_daily", [facts(ORG, D1, [1, 2, 3, 4, 5, 6, 7]), facts(ORG, D1, [2, 4, 4])]
    )
    finding = quality.no_duplicates(client, "fact_qtickets_sales_daily", "sales_date, event_id", ORG)
    assert (finding.passed, finding.value) == (False, 3)
