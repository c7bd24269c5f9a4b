"""The warehouse layer on the real embedded ClickHouse engine: schema, atomic slices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from zakaz_pipeline.warehouse import writes
from zakaz_pipeline.warehouse.connection import WarehouseConfigError, parse_target
from zakaz_pipeline.warehouse.schema import current_version, ensure_schema, migrations
from zakaz_pipeline.warehouse.writes import Slice, SliceOutOfBounds, replace_slice

D1, D2, D3 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)


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
