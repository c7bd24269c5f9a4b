"""The views as DataLens reads them: a client with exactly DataLens's session settings
queries every ``v_*`` view of a warehouse synced from the simulator over HTTP, and gets the
same rows as ClickHouse's default session, in any session time zone, and the simulator's
ground truth, with NULL (never an epoch, 0 or '') where a value does not exist; the sum of
every measure of every view is the ground truth's total, under any date filter; and a date
filter as DataLens writes it (a naive ``toDateTime('…')``) means what the chart shows on a
server whose zone is not the reporting zone."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dagster import AssetCheckSeverity

from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse import quality, registry
from zakaz_pipeline.warehouse.bootstrap import reader_settings
from zakaz_pipeline.warehouse.datalens import KEYS, MEASURES, SUM
from zakaz_pipeline.warehouse.schema import ensure_schema, on_cluster, view_statements
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.harness import TZ, history, run, run_checks

# What DataLens sends with every data query: its open-source ClickHouse connector
# (datalens-tech/datalens-backend, dl_connector_clickhouse, ch_commons.get_ch_settings);
# readonly 2 is the connection's setting for our reader. No max_execution_time.
DATALENS = {
    "join_use_nulls": 1, "readonly": 2, "send_progress_in_http_headers": 0, "output_format_json_quote_denormals": 1
}  # fmt: skip
SALES_MEASURES = ("orders", "tickets_sold", "gross_revenue", "refunded_amount", "revenue")
AT_ONE_SNAPSHOT = "SUM over shows at one snapshot_ts"  # how a stock aggregates (views/v_inventory_history.sql)
# 25 hours apart: "today" differs between the two sessions at every hour of the day.
FAR_ZONES = ("Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Minutes since the newest data tick on while the two sessions query; compared apart.
MOVING = {"v_qtickets_freshness": "minutes_since_data"}


@pytest.fixture
def account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=12, orders=500, events=8, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)


@pytest.fixture
def server(account: SimulatedAccount) -> Iterator[SimulatorServer]:
    with SimulatorServer(account, token=TOKEN) as running:
        yield running


def views(client) -> list[str]:
    """Every view of the database: a view added later is held to the contract too."""
    rows = client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'View' AND startsWith(name, 'v_')"
        " ORDER BY name"
    ).result_rows
    return [name for (name,) in rows]


def utc(value: Any) -> Any:
    """chDB hands a non-Nullable DateTime('zone') back naive in UTC, a server aware: compare instants."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value


def read(client, view: str, settings: dict[str, Any]) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """Column types and rows (as dicts, in a stable order) of ``view`` in one session."""
    described = client.query(f"DESCRIBE (SELECT * FROM {view})", settings=settings).result_rows
    moving = MOVING.get(view)
    columns = ", ".join(f"`{row[0]}`" for row in described if row[0] != moving)
    result = client.query(f"SELECT {columns} FROM {view} ORDER BY ALL", settings=settings)
    rows = [{k: utc(v) for k, v in zip(result.column_names, row, strict=True)} for row in result.result_rows]
    return [(str(row[0]), str(row[1])) for row in described], rows


def as_datalens(client, view: str) -> list[dict[str, Any]]:
    """The view's rows under DataLens's settings, after checking they equal the default session's."""
    types, rows = read(client, view, DATALENS)
    assert read(client, view, {}) == (types, rows), f"{view} answers differently under DataLens's settings"
    return rows


def test_every_view_answers_alike_under_datalens_settings_and_matches_the_ground_truth(
    server, account, warehouse, instance
) -> None:
    first, last = history(account)
    run(server, warehouse, instance, first, last)
    expected = truth.daily_sales(account, TZ)
    inventory = truth.show_inventory(account)
    event_of_show = {show["id"]: event["id"] for event in account.events for show in event["shows"]}
    on_sale: dict[int, tuple[int, int]] = {}
    for show_id, (total, left) in inventory.items():
        event_total, event_left = on_sale.get(event_of_show[show_id], (0, 0))
        on_sale[event_of_show[show_id]] = (event_total + total, event_left + left)
    sold = {event for _, event in expected}
    # an event with sales but none of its shows on sale, and one with sales missing from dim_events
    assert sold - on_sale.keys(), "the data set should have an event with sales and nothing on sale"
    unnamed = max(sold & on_sale.keys())
    names = {event["id"]: event["name"] for event in account.events} | {unnamed: None}
    cities = {event["id"]: event["city"]["name"] for event in account.events}
    today = dt.datetime.now(ZoneInfo(TZ)).date()

    with warehouse.get_client() as client:
        client.command("DELETE FROM dim_events WHERE event_id = %(e)s", parameters={"e": unnamed})
        assert {"v_inventory_history", "v_show_sell_through"} <= set(views(client))
        rows = {view: as_datalens(client, view) for view in views(client)}

    dashboard = {(r["sales_date"], r["event_id"]): r for r in rows["v_qtickets_sales_dashboard"]}
    assert {key: truth.DailySales(*(row[c] for c in truth.DailySales.__dataclass_fields__)) for key, row in
            dashboard.items()} == expected  # fmt: skip
    for (_, event), row in dashboard.items():
        assert (row["event_name"], row["city"]) == (names[event], cities[event])
    assert {(r["sales_date"], r["event_id"]): r for r in rows["v_sales_14d"]} == {
        key: row for key, row in dashboard.items() if key[0] > today - dt.timedelta(days=14)
    }

    # one row per event with sales or with shows on sale now
    latest = {r["event_id"]: r for r in rows["v_sales_latest"]}
    assert latest.keys() == sold | on_sale.keys()
    for event, row in latest.items():
        days = {day: sales for (day, ev), sales in expected.items() if ev == event}
        assert row["event_name"] == names[event] and row["city"] == cities[event]
        assert (row["inventory_snapshot_ts"] is None) == (event not in on_sale)
        assert (row["tickets_total"], row["tickets_left"]) == on_sale.get(event, (None, None))
        if not days:
            assert row["last_sales_date"] is None and row["tickets_sold_total"] == 0 and row["revenue_total"] == 0
            continue
        assert row["last_sales_date"] == max(days)
        assert row["tickets_sold_total"] == sum(s.tickets_sold for s in days.values())
        assert row["revenue_total"] == sum((s.revenue for s in days.values()), Decimal(0))
        assert row["tickets_sold_today"] == sum(s.tickets_sold for d, s in days.items() if d == today)
        assert row["tickets_sold_7d"] == sum(
            s.tickets_sold for d, s in days.items() if d > today - dt.timedelta(days=7)
        )
        assert row["revenue_7d"] == sum((s.revenue for d, s in days.items() if d > today - dt.timedelta(days=7)),
                                        Decimal(0))  # fmt: skip

    fresh = {r["source"]: r for r in rows["v_qtickets_freshness"]}
    newest_sale = max(dt.datetime.fromisoformat(o["payed_at"]) for o in account.orders if o["payed_at"])
    assert fresh["stg_qtickets_api_orders_raw"]["last_data_at"] == newest_sale.astimezone(dt.UTC)

    history_rows = rows["v_inventory_history"]
    assert {r["show_id"]: (r["tickets_total"], r["tickets_left"]) for r in history_rows} == inventory
    assert all(r["sold_since_previous"] is None and r["event_id"] == event_of_show[r["show_id"]] for r in history_rows)
    through = {r["show_id"]: r for r in rows["v_show_sell_through"]}
    assert through.keys() == inventory.keys()
    assert all(r["tickets_sold_7d"] is None and r["projected_sellout_date"] is None for r in through.values())

    # nothing stands in for a missing value: no epoch, and no '' for a name or city
    for view, view_rows in rows.items():
        for row in view_rows:
            assert all(utc(v) != EPOCH for v in row.values() if isinstance(v, dt.datetime)), view
            assert all(row.get(column) != "" for column in ("event_name", "city")), view
    assert any(r["event_name"] is None for r in rows["v_qtickets_sales_dashboard"])
    assert any(r["tickets_total"] is None for r in rows["v_sales_latest"])


def summed(client, view: str, columns: Iterable[str], where: str = "1") -> dict[str, Any]:
    """``SUM`` of each column over the rows ``where`` selects, as a DataLens chart asks it."""
    names = list(columns)
    sql = f"SELECT {', '.join(f'sum(`{c}`)' for c in names)} FROM {view} WHERE {where}"
    return dict(zip(names, client.query(sql, settings=DATALENS).result_rows[0], strict=True))


def sales_totals(cells: Iterable[truth.DailySales]) -> dict[str, Any]:
    cells = list(cells)
    return {name: sum((getattr(cell, name) for cell in cells), start=type(getattr(cells[0], name))(0))
            for name in SALES_MEASURES}  # fmt: skip


def test_every_measure_of_every_view_sums_to_the_ground_truth_under_any_date_filter(
    small_server, small_account, warehouse, instance
) -> None:
    """An analyst's natural aggregation, SUM, of every measure MEASURES calls summable, over a
    view's rows as DataLens asks it (and under a date filter as DataLens writes one,
    ``toDate32('…')``), equals the ground truth's total. The daily view no longer repeats the
    event's current seats on every day (summed, they counted the same seats once per day)."""
    run(small_server, warehouse, instance, *history(small_account))
    expected = truth.daily_sales(small_account, TZ)
    inventory = truth.show_inventory(small_account)
    today = dt.datetime.now(ZoneInfo(TZ)).date()
    days = sorted({day for day, _ in expected})
    middle = days[len(days) // 2]
    seats = {
        "tickets_total": sum(t for t, _ in inventory.values()),
        "tickets_left": sum(x for _, x in inventory.values()),
    }
    assert seats["tickets_total"] > seats["tickets_left"] > 0, "some seats sold, some on sale"

    def sales_since(first: dt.date) -> dict[str, Any]:
        return sales_totals(cell for (day, _), cell in expected.items() if day >= first)

    def sold_within(first: dt.date, last: dt.date = today) -> dict[str, Any]:
        cells = [cell for (day, _), cell in expected.items() if first <= day <= last]
        totals = sales_totals(cells) if cells else dict.fromkeys(SALES_MEASURES, 0)
        return {"tickets_sold": totals["tickets_sold"], "revenue": totals["revenue"]}

    windows = {"today": (today, today), "yesterday": (today - dt.timedelta(days=1),) * 2,
               "7d": (today - dt.timedelta(days=6), today), "total": (days[0], today)}  # fmt: skip
    checked: dict[str, list[tuple[str, str, Any, Any]]] = {}
    with warehouse.get_client() as client:
        for view in ("v_qtickets_sales_dashboard", "v_sales_14d"):
            first = days[0] if view == "v_qtickets_sales_dashboard" else today - dt.timedelta(days=13)
            for since in (first, max(first, middle)):
                got = summed(client, view, SALES_MEASURES, f"sales_date >= toDate32('{since.isoformat()}')")
                want = sales_since(since)
                checked.setdefault(view, []).extend((view, c, got[c], want[c]) for c in SALES_MEASURES)
        latest = summed(client, "v_sales_latest", [c for c, how in MEASURES["v_sales_latest"].items() if how == SUM])
        for window, (first, last) in windows.items():
            for measure, value in sold_within(first, last).items():
                checked.setdefault("v_sales_latest", []).append(
                    ("v_sales_latest", f"{measure}_{window}", latest[f"{measure}_{window}"], value)
                )
        checked["v_sales_latest"] += [("v_sales_latest", c, latest[c], seats[c]) for c in seats]
        through = summed(client, "v_show_sell_through", ("capacity", "tickets_sold", "tickets_left"))
        sold = seats["tickets_total"] - seats["tickets_left"]
        checked["v_show_sell_through"] = [
            ("v_show_sell_through", "capacity", through["capacity"], seats["tickets_total"]),
            ("v_show_sell_through", "tickets_left", through["tickets_left"], seats["tickets_left"]),
            ("v_show_sell_through", "tickets_sold", through["tickets_sold"], sold),
        ]
        snapshot = summed(client, "v_inventory_history", ("tickets_total", "tickets_left", "tickets_sold"))
        checked["v_inventory_history"] = [
            ("v_inventory_history", c, snapshot[c], want) for c, want in (*seats.items(), ("tickets_sold", sold))
        ]
    mismatched = [(view, column, got, want) for rows in checked.values() for view, column, got, want in rows
                  if got != want]  # fmt: skip
    assert not mismatched, mismatched
    for view in ("v_qtickets_sales_dashboard", "v_sales_14d", "v_sales_latest"):
        summable = {c for c, how in MEASURES[view].items() if how == SUM}
        assert summable == {column for _, column, _, _ in checked[view]}, f"{view}: a SUM measure with no truth"
    # one sync, one snapshot: the stock sums over shows at that snapshot are the seats on sale
    assert {c for c, how in MEASURES["v_inventory_history"].items() if how.startswith(AT_ONE_SNAPSHOT)} == {
        column for _, column, _, _ in checked["v_inventory_history"]
    }


NUMBER = re.compile(r"^(?:LowCardinality\()?(?:Nullable\()?(?:U?Int\d+|Float\d+|Decimal)")


def test_every_number_of_every_view_is_a_key_or_says_how_it_aggregates(client) -> None:
    """A number DataLens may sum is either a key or listed in MEASURES, so a measure that
    cannot be summed (a current stock on a daily row) cannot be added unnoticed: a new SUM
    measure must be held against the ground truth above."""
    for view in views(client):
        described = client.query(f"DESCRIBE (SELECT * FROM {view})").result_rows
        numbers = {str(row[0]) for row in described if NUMBER.match(str(row[1]))} - set(KEYS)
        assert numbers <= MEASURES[view].keys(), f"{view}: {sorted(numbers - MEASURES[view].keys())} unclassified"
        assert MEASURES[view].keys() <= {str(row[0]) for row in described}, view
    assert not {"tickets_total", "tickets_left"} & MEASURES["v_qtickets_sales_dashboard"].keys()


def reader_profile() -> dict[str, Any]:
    """The settings ``zakaz bootstrap`` gives DataLens's user, as a server applies them to its session."""
    parsed = {}
    for item in reader_settings(TZ):
        name, value = re.fullmatch(r"(\w+) = ('[^']*'|\d+)(?: MAX \d+)?", item).groups()
        parsed[name] = value.strip("'") if value.startswith("'") else int(value)
    return parsed


def test_a_naive_datalens_datetime_filter_means_what_the_chart_shows_on_a_server_in_another_zone(
    small_server, small_account, warehouse, instance
) -> None:
    """DataLens shows a ``DateTime('zone')`` in its zone and sends a filter value as a naive
    ``toDateTime('YYYY-MM-DDTHH:MM:SS')`` (its ClickHouse literalizer), read in the session's
    zone. On a server in another zone than the views' (a UTC server, Moscow views), "≥ the
    newest snapshot as displayed" found nothing; under the reader's settings profile, which
    sets the session zone to ZAKAZ_TIMEZONE, it finds every show of that snapshot whatever
    the server's zone."""
    run(small_server, warehouse, instance, *history(small_account))
    on_sale = truth.show_inventory(small_account)
    with warehouse.get_client() as client:
        shown = client.query("SELECT toString(max(snapshot_ts)) FROM v_inventory_history").result_rows[0][0]
        literal = f"toDateTime('{dt.datetime.fromisoformat(shown).isoformat()}')"
        for view in ("v_inventory_history", "v_show_sell_through"):
            sql = f"SELECT count() FROM {view} WHERE snapshot_ts >= {literal}"
            server = {"session_timezone": "UTC"}
            assert client.query(sql, settings=server | DATALENS).result_rows[0][0] == 0, "the shift, reproduced"
            for zone in (*FAR_ZONES, TZ):
                session = {"session_timezone": zone} | reader_profile() | DATALENS
                assert client.query(sql, settings=session).result_rows[0][0] == len(on_sale), (view, zone)
                # what DataLens asks the server to learn a naive column's zone
                assert client.query("SELECT timezone()", settings=session).result_rows[0][0] == TZ


def test_views_do_not_depend_on_the_session_time_zone(small_server, small_account, warehouse, instance) -> None:
    run(small_server, warehouse, instance, *history(small_account))
    with warehouse.get_client() as client:
        for view in views(client):
            answers = [read(client, view, DATALENS | {"session_timezone": zone}) for zone in FAR_ZONES]
            assert all(answer == answers[0] for answer in answers), f"{view} depends on the session time zone"
            # DataLens shows a time in its column's zone: every one names the reporting zone
            times = [
                row[1] for row in client.query(f"DESCRIBE (SELECT * FROM {view})").result_rows if "DateTime" in row[1]
            ]
            assert all(f"DateTime('{TZ}')" in kind or f"DateTime64(3, '{TZ}')" in kind for kind in times), (view, times)


def observe(account: SimulatedAccount) -> truth.Observation:
    return dt.datetime.now(dt.UTC), truth.show_inventory(account)


def redate(client, moments: list[dt.datetime]) -> None:
    """Give the snapshots, oldest first, the times ``moments``: ticks seconds apart stand
    for 15-minute snapshots spread over days. Rows and order stay as the pipeline wrote them."""
    stored = [ts for (ts,) in client.query(
        "SELECT DISTINCT snapshot_ts FROM stg_qtickets_api_inventory_raw ORDER BY snapshot_ts").result_rows]  # fmt: skip
    assert len(stored) == len(moments)
    client.command(
        "INSERT INTO stg_qtickets_api_inventory_raw SELECT * REPLACE "
        "(transform(snapshot_ts, arrayMap(t -> toDateTime(t, 'UTC'), %(old)s), "
        "arrayMap(t -> toDateTime(t, 'UTC'), %(new)s)) AS snapshot_ts) FROM stg_qtickets_api_inventory_raw",
        parameters={"old": stored, "new": [m.astimezone(dt.UTC).replace(tzinfo=None) for m in moments]},
    )
    client.command(
        "DELETE FROM stg_qtickets_api_inventory_raw WHERE snapshot_ts IN %(old)s",
        parameters={"old": stored},
    )


def test_sell_through_reconciles_with_the_simulator_after_ticks_that_sell_seats(
    server, account, warehouse, instance
) -> None:
    """A full sync, then three ticks (yesterday + today) with seats sold (but not on one
    show) and one order cancelled in between; each tick appends a snapshot, and the truth records the
    simulator's seats at that moment."""
    rng = random.Random(7)
    run(server, warehouse, instance, *history(account))
    observed = [observe(account)]
    unsold = {min(observed[0][1])}  # a show on sale that sells nothing: its pace is zero
    for tick in range(3):
        account.advance(account.now + dt.timedelta(minutes=1))  # the same shows on sale at any hour
        placed = [account.place_order(rng, skip_shows=unsold) for _ in range(25)]
        if tick == 1:
            account.cancel_order(placed[0]["id"])
        today = account.now.astimezone(ZoneInfo(TZ)).date()
        run(server, warehouse, instance, today - dt.timedelta(days=1), today)
        observed.append(observe(account))

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for offsets in ((dt.timedelta(days=9, hours=3), dt.timedelta(days=5), dt.timedelta(hours=20), dt.timedelta(hours=2)),
                    (dt.timedelta(days=3), dt.timedelta(days=2), dt.timedelta(hours=30), dt.timedelta(hours=1))):  # fmt: skip
        moments = [now - offset for offset in offsets]
        timeline = [(moment, shows) for moment, (_, shows) in zip(moments, observed, strict=True)]
        summable = [c for c, how in MEASURES["v_show_sell_through"].items() if how == SUM]
        with warehouse.get_client() as client:
            redate(client, moments)
            history_rows = as_datalens(client, "v_inventory_history")
            through = {r["show_id"]: r for r in as_datalens(client, "v_show_sell_through")}
            through_sums = summed(client, "v_show_sell_through", summable)
            since_sum = summed(client, "v_inventory_history", ["sold_since_previous"])["sold_since_previous"]
            stocks = client.query(
                "SELECT snapshot_ts, sum(tickets_total), sum(tickets_left), sum(tickets_sold) FROM v_inventory_history "
                "GROUP BY snapshot_ts",
                settings=DATALENS,
            ).result_rows
        expected_history = truth.inventory_history(timeline)
        # the history's stock adds up over the shows of each snapshot; its flow over all of them
        assert {utc(moment): tuple(sums) for moment, *sums in stocks} == {
            moment: tuple(sum(getattr(row, c) for (_, at), row in expected_history.items() if at == moment)
                          for c in ("tickets_total", "tickets_left", "tickets_sold"))
            for moment in moments
        }  # fmt: skip
        changes = [row.sold_since_previous for row in expected_history.values() if row.sold_since_previous is not None]
        assert since_sum == sum(changes)
        assert {
            (r["show_id"], r["snapshot_ts"]): truth.SnapshotRow(
                r["tickets_total"], r["tickets_left"], r["tickets_sold"], r["sold_since_previous"]
            )
            for r in history_rows
        } == expected_history
        expected = truth.sell_through(account, timeline, dt.datetime.now(dt.UTC), TZ)
        assert through.keys() == expected.keys()
        for show_id, want in expected.items():
            row = through[show_id]
            got = (row["event_id"], row["capacity"], row["tickets_sold"], row["tickets_left"], row["tickets_sold_1d"],
                   row["tickets_sold_7d"], row["days_until_show"], row["projected_sellout_date"])  # fmt: skip
            assert got == (want.event_id, want.capacity, want.tickets_sold, want.tickets_left, want.tickets_sold_1d,
                           want.tickets_sold_7d, want.days_until_show, want.projected_sellout_date), show_id  # fmt: skip
            assert row["pace_per_day"] == (None if want.pace_per_day is None else round(want.pace_per_day, 2))
            assert row["pct_sold"] == (round(100 * want.tickets_sold / want.capacity, 1) if want.capacity else None)
        # every summable measure of the sell-through adds up to the truth's total over the shows
        assert set(summable) <= set(truth.SellThrough.__dataclass_fields__), "a SUM measure with no truth"
        for column in summable:
            values = [getattr(want, column) for want in expected.values()]
            values = [round(v, 2) if column == "pace_per_day" else v for v in values if v is not None]
            want_sum = sum(values) if values else None
            assert through_sums[column] == (want_sum if column != "pace_per_day" else pytest.approx(want_sum)), column
        # the ticks really sold seats, gave some back, and left some shows without sales
        assert any(row.sold_since_previous and row.sold_since_previous > 0 for row in expected_history.values())
        assert any(want.pace_per_day and want.projected_sellout_date for want in expected.values())
        assert any(want.pace_per_day == 0 and want.projected_sellout_date is None for want in expected.values())


def test_datalens_check_passes_on_a_fresh_sync_and_fails_for_a_view_broken_under_join_use_nulls(
    small_server, small_account, warehouse, instance
) -> None:
    result = run(small_server, warehouse, instance, *history(small_account), checks=True)
    evaluations = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "views_answer_under_datalens_settings"
    ]
    with warehouse.get_client() as client:
        assert {e.asset_key.to_user_string() for e in evaluations} == set(views(client))
        assert all(e.passed for e in evaluations)
        # a view as 002 wrote the dashboard: a JOIN whose types follow the creating session
        client.command(
            "CREATE OR REPLACE VIEW v_sales_14d AS SELECT f.*, e.event_name FROM fact_qtickets_sales_daily AS f "
            "LEFT JOIN dim_events AS e ON e.org = f.org AND e.event_id = f.event_id"
        )
    outcome = {
        e.asset_key.to_user_string(): e
        for e in run_checks(small_server, warehouse, instance).get_asset_check_evaluations()
        if e.check_name == "views_answer_under_datalens_settings"
    }
    broken = outcome.pop("v_sales_14d")
    assert not broken.passed and broken.severity == AssetCheckSeverity.ERROR
    assert "Code: 80" in (broken.description or "")
    assert all(e.passed for e in outcome.values())


def test_views_are_re_rendered_when_the_time_zone_changes(client) -> None:
    """Every view speaks ZAKAZ_TIMEZONE: a process naming another zone re-creates each, a
    view after those it reads, once; the views then answer in that zone."""
    names = [view.name for view in registry.views()]
    assert set(names) == set(views(client)) and all("{timezone}" in view.body for view in registry.views())
    assert ensure_schema(client, timezone=TZ) == []
    assert ensure_schema(client, timezone="Asia/Tokyo") == [f"view {name}" for name in names]
    assert ensure_schema(client, timezone="Asia/Tokyo") == []
    assert all(quality.schema_matches(client, name, "Asia/Tokyo").passed for name in names)
    assert not quality.schema_matches(client, "v_sales_latest", TZ).passed
    with pytest.raises(ValueError, match="ZAKAZ_TIMEZONE"):
        ensure_schema(client, timezone="Europe/Moscow'; DROP TABLE dim_events; --")


def test_every_view_statement_passes_the_server_parser_plain_and_on_cluster(client) -> None:
    for ddl, _ in view_statements(TZ).values():
        for sql in (ddl, on_cluster(ddl, "zakaz_cluster")):
            assert client.query("SELECT formatQuery(%(sql)s)", parameters={"sql": sql}).result_rows[0][0]
