"""Asset checks on a real synced warehouse: they pass on good data, and each fails, with
the right severity, on the bad data it exists to catch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from dagster import AssetCheckSeverity, AssetSelection, materialize

from zakaz_pipeline.defs.assets.common import table as table_metadata
from zakaz_pipeline.defs.checks import AUDIT_AS_ADMIN, RULES, SHARED_STEPS, CheckScope, asset_checks, value_text
from zakaz_pipeline.defs.jobs import partition_range_tags
from zakaz_pipeline.defs.resources import QualityResource
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse import quality
from zakaz_pipeline.warehouse.access import (
    EFFECTIVE_GRANTS_SQL,
    READER_TIMEZONE_SQL,
    USERS,
    access_problems,
    grantee_of,
    planned_grants,
    reader_tables,
    reader_timezone_problems,
)
from zakaz_pipeline.warehouse.contract import (
    DATALENS_DOC,
    column_descriptions,
    describe_comments,
    describe_schema,
    schema_contract,
)
from zakaz_pipeline.warehouse.datalens import FIELDS_BEGIN, FIELDS_END, fields_markdown
from zakaz_pipeline.warehouse.schema import ensure_schema
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.harness import ALL_ASSETS, ORG, definitions, history, pipeline_resources, run, run_checks

ORDERS = "stg_qtickets_api_orders_raw"


@pytest.fixture(scope="module")
def account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=21, orders=500, events=6, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)


@pytest.fixture(scope="module")
def server(account: SimulatedAccount) -> Iterator[SimulatorServer]:
    with SimulatorServer(account, token=TOKEN) as running:
        yield running


@pytest.fixture
def synced(server, account, warehouse, instance):
    """A warehouse after a full-history run that ran every check on the way."""
    first, last = history(account)
    return run(server, warehouse, instance, first, last, checks=True)


def outcomes(result) -> dict[str, tuple[bool, AssetCheckSeverity, dict]]:
    return {
        f"{e.asset_key.to_user_string()}.{e.check_name}": (
            e.passed,
            e.severity,
            {k: v.value for k, v in e.metadata.items()},
        )
        for e in result.get_asset_check_evaluations()
    }


def test_every_check_runs_with_the_sync_and_passes_on_good_data(synced) -> None:
    found = outcomes(synced)
    expected = {f"{rule.asset}.{rule.name}" for rule in RULES} - {"v_qtickets_sales_dashboard.warehouse_access"}
    assert set(found) == expected, "every check but the server-only access check evaluates in the run"
    failed_errors = [name for name, (passed, severity, _) in found.items() if not passed and severity.value == "ERROR"]
    assert failed_errors == []
    # Numbers with their unit in the label, so that the UI plots them across runs.
    assert found[f"{ORDERS}.no_duplicate_tickets"][2]["value (rows)"] == 0
    assert isinstance(found[f"{ORDERS}.paid_orders_fresh"][2]["value (hours)"], float)
    assert found["fact_qtickets_sales_daily.matches_raw"][2]["value (days)"] == 0
    numeric = [
        name for name, (_, _, metadata) in found.items() if any(label.startswith("value (") for label in metadata)
    ]
    assert len(numeric) >= 15, numeric


def test_every_asset_has_a_schema_check_and_blocking_guards_before_the_facts() -> None:
    by_asset: dict[str, set[str]] = {}
    for rule in RULES:
        by_asset.setdefault(rule.asset, set()).add(rule.name)
    assert all("columns_match_contract" in names for names in by_asset.values())
    blocking = {f"{r.asset}.{r.name}" for r in RULES if r.blocking}
    assert {f"{ORDERS}.no_duplicate_tickets", f"{ORDERS}.no_negative_amounts", f"{ORDERS}.keys_present"} <= blocking


def test_checks_are_one_step_per_asset_or_per_declared_group_built_from_the_rules() -> None:
    """One multi_asset_check (one step) per asset, except the declared groups (the two
    dimensions of one scan; the views and the monitoring tables), whose steps hold no
    blocking rule: a blocking check shares no step with what it guards."""
    by_step = {
        checks.node_def.name: {key.asset_key.to_user_string() for key in checks.check_keys} for checks in asset_checks
    }
    for step, assets in by_step.items():
        if len(assets) > 1:
            assert {SHARED_STEPS.get(asset) for asset in assets} == {step}
        else:
            assert step == SHARED_STEPS.get(next(iter(assets)), f"{next(iter(assets))}_checks")
    assert sorted(a for assets in by_step.values() for a in assets) == sorted({rule.asset for rule in RULES})
    graph = definitions().resolve_asset_graph()
    for assets in by_step.values():
        guarded = {r.asset for r in RULES if r.blocking and r.asset in assets}
        for asset in guarded:
            below = {key.to_user_string() for key in AssetSelection.assets(asset).downstream().resolve(graph)} - {asset}
            assert not below & assets, f"{asset}'s blocking checks share a step with what they guard"
    specs = {key.to_user_string(): c.get_spec_for_check_key(key) for c in asset_checks for key in c.check_keys}
    assert {name: spec.blocking for name, spec in specs.items()} == {f"{r.asset}:{r.name}": r.blocking for r in RULES}


def test_a_check_that_raises_does_not_hide_the_others_of_its_asset(synced, server, warehouse, instance) -> None:
    with warehouse.get_client() as client:
        client.command("DROP TABLE fact_qtickets_inventory_latest")
    result = run_checks(server, warehouse, instance)
    found = outcomes(result)
    latest = "fact_qtickets_inventory_latest"
    assert not result.success
    assert found[f"{latest}.columns_match_contract"][:2] == (False, AssetCheckSeverity.ERROR)
    assert value_text(found[f"{latest}.columns_match_contract"][2]) == "missing"
    assert f"{latest}.no_duplicate_shows" not in found and f"{latest}.tickets_left_within_total" not in found
    assert found["dim_shows.no_duplicate_shows"][0], "other assets' checks still answer"


def test_bad_rows_fail_the_checks_that_guard_against_them(synced, server, warehouse, instance) -> None:
    with warehouse.get_client() as client:
        counted = f"org = '{ORG}' AND {quality.COUNTED_IN_FACTS} AND refunded_at IS NULL"
        client.command(f"INSERT INTO {ORDERS} SELECT * FROM {ORDERS} WHERE {counted} LIMIT 1")
        client.command(
            f"INSERT INTO {ORDERS} SELECT * REPLACE (toDecimal64(-1, 2) AS price, basket_id + 10000000 AS basket_id) "
            f"FROM {ORDERS} WHERE {counted} LIMIT 1"
        )
        client.command(
            "INSERT INTO stg_qtickets_api_inventory_raw SELECT org, snapshot_ts, event_id, show_id, 1, 5 "
            "FROM stg_qtickets_api_inventory_raw LIMIT 1"
        )
        client.command("ALTER TABLE dim_events DROP COLUMN place_address")
    found = outcomes(run_checks(server, warehouse, instance))
    for name in (
        f"{ORDERS}.no_duplicate_tickets",
        f"{ORDERS}.no_negative_amounts",
        "fact_qtickets_sales_daily.matches_raw",
        "stg_qtickets_api_inventory_raw.tickets_left_within_total",
        "dim_events.columns_match_contract",
    ):
        passed, severity, _ = found[name]
        assert not passed and severity == AssetCheckSeverity.ERROR, name
    assert value_text(found[f"{ORDERS}.no_duplicate_tickets"][2]) == "1 rows"
    assert "missing place_address" in value_text(found["dim_events.columns_match_contract"][2])
    assert found["dim_shows.columns_match_contract"][0]


def _tick(server, warehouse, instance, day: dt.date):
    return materialize(
        [*ALL_ASSETS, *asset_checks],
        selection=AssetSelection.all() | AssetSelection.all_asset_checks(),
        resources=pipeline_resources(server, warehouse),
        instance=instance,
        tags=partition_range_tags(day, day),
        raise_on_error=False,
    )


def test_a_failing_blocking_check_of_a_tick_stops_the_facts(synced, server, account, warehouse, instance) -> None:
    """The API answers a ticket of the tick's day without its show: the raw day is written,
    its blocking keys_present fails, and the fact is not rebuilt from it."""
    with warehouse.get_client() as client:
        day, order_id = client.query(
            f"SELECT sales_date, any(order_id) FROM {ORDERS} WHERE org = '{ORG}' GROUP BY sales_date "
            "ORDER BY sales_date DESC LIMIT 1"
        ).result_rows[0]
    basket = account.order(order_id)["baskets"][0]
    show_id = basket["show_id"]
    with account.lock:
        basket["show_id"], account.revision = 0, account.revision + 1
    try:
        result = _tick(server, warehouse, instance, day)
    finally:
        with account.lock:
            basket["show_id"], account.revision = show_id, account.revision + 1
    assert not result.success
    written = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert ORDERS in written
    assert "fact_qtickets_sales_daily" not in written
    found = outcomes(result)[f"{ORDERS}.keys_present"]
    assert found[:2] == (False, AssetCheckSeverity.ERROR) and value_text(found[2]) == "1 rows"


def test_a_tick_reads_its_own_days_and_the_full_checks_read_all(synced, server, account, warehouse, instance) -> None:
    """A ticket repeated on a day the tick did not write is not the tick's to find (it was
    checked when its day was written); the checks job over every day (``zakaz check``, the
    nightly schedule) finds it, also when the copy sits on another day than the original."""
    with warehouse.get_client() as client:
        old = client.query(f"SELECT min(sales_date) FROM {ORDERS} WHERE org = '{ORG}'").result_rows[0][0]
        client.command(
            f"INSERT INTO {ORDERS} SELECT * FROM {ORDERS} WHERE org = '{ORG}' AND sales_date = '{old}' LIMIT 1"
        )
        client.command(  # the subquery: in the outer WHERE, sales_date would be the replaced one
            f"INSERT INTO {ORDERS} SELECT * REPLACE (sales_date + 1 AS sales_date) "
            f"FROM (SELECT * FROM {ORDERS} WHERE org = '{ORG}' AND sales_date = '{old}' LIMIT 1 OFFSET 1)"
        )
    day = account.now.date()
    assert old < day - dt.timedelta(days=1)
    tick = _tick(server, warehouse, instance, day)
    assert tick.success and outcomes(tick)[f"{ORDERS}.no_duplicate_tickets"][0]
    everything = outcomes(run_checks(server, warehouse, instance))
    found = everything[f"{ORDERS}.no_duplicate_tickets"]
    assert found[:2] == (False, AssetCheckSeverity.ERROR) and value_text(found[2]) == "2 rows"


def test_freshness_warns_then_errors_by_age(synced, server, warehouse, instance) -> None:
    fresh = outcomes(run_checks(server, warehouse, instance, orders_warn_hours=1000, orders_error_hours=2000))
    assert fresh[f"{ORDERS}.paid_orders_fresh"][0]
    warn = outcomes(run_checks(server, warehouse, instance, orders_warn_hours=0.0001, orders_error_hours=2000))
    assert warn[f"{ORDERS}.paid_orders_fresh"][:2] == (False, AssetCheckSeverity.WARN)
    error = outcomes(run_checks(server, warehouse, instance, orders_warn_hours=0.0001, orders_error_hours=0.0002))
    assert error[f"{ORDERS}.paid_orders_fresh"][:2] == (False, AssetCheckSeverity.ERROR)
    stale = outcomes(run_checks(server, warehouse, instance, inventory_warn_hours=0.0001))
    assert stale["stg_qtickets_api_inventory_raw.snapshot_fresh"][:2] == (False, AssetCheckSeverity.WARN)


@pytest.mark.parametrize(("tickets_now", "passed"), [(4, False), (5, True), (12, True)])
def test_volume_warns_on_a_drop_over_half_vs_the_same_weekday(client, tickets_now, passed) -> None:
    ensure_schema(client)
    day = dt.date(2026, 3, 10)
    rows = [(day - dt.timedelta(days=7), 10), (day, tickets_now), (day - dt.timedelta(days=1), 100)]
    client.insert(
        ORDERS,
        [[ORG] * 3, [d for d, _ in rows], [1, 2, 3], [1, 2, 3], [q for _, q in rows], [True] * 3],
        column_names=["org", "sales_date", "order_id", "basket_id", "quantity", "payed"],
        column_oriented=True,
    )
    finding = quality.weekday_volume(client, ORG, day, max_drop=0.5)
    assert finding.passed is passed
    assert finding.severity == quality.Severity.WARN


def test_schema_contract_is_what_the_migrations_build(client) -> None:
    ensure_schema(client)
    assert describe_schema(client) == schema_contract()
    assert describe_comments(client) == column_descriptions(), "regenerate: python -m zakaz_pipeline.warehouse.contract"


def test_every_column_means_something_in_the_catalog_and_the_datalens_docs() -> None:
    """A column's meaning is written once (its COMMENT in a migration or a view file) and reaches
    Dagster's catalog and docs/DATALENS.md, the places an analyst looks (DataLens never reads
    COMMENTs)."""
    described = column_descriptions()
    for table, columns in schema_contract().items():
        if table == "zakaz_schema_history":
            continue
        blank = [name for name in columns if not described[table][name]]
        assert not blank, f"{table}: columns without a COMMENT: {blank}"
        catalog = table_metadata(table)["dagster/column_schema"].columns
        assert [(c.name, c.description) for c in catalog] == list(described[table].items())
    doc = DATALENS_DOC.read_text(encoding="utf-8")
    generated = doc.split(FIELDS_BEGIN, 1)[1].split(FIELDS_END, 1)[0]
    expected = fields_markdown()
    assert generated.strip() == expected.strip(), "regenerate: python -m zakaz_pipeline.warehouse.contract"
    assert "DataLens reads as a float" in doc.split(FIELDS_BEGIN, 1)[0]


def test_access_rules_flag_missing_users_and_excess_privileges() -> None:
    db = "zakaz"
    plan = planned_grants(db)
    good = {
        user: [{"access_type": a, "database": d, "table": t} for a, d, t in plan[grantee_of(user)]]
        for user in USERS
        if user != "admin"
    }
    assert access_problems(db, USERS, good) == []
    raw = {"access_type": "SELECT", "database": db, "table": ORDERS}
    bad = good | {
        "datalens_reader": [*good["datalens_reader"][1:], raw],
        "etl_writer": [*good["etl_writer"], {"access_type": "CREATE USER", "database": None, "table": None}],
    }
    problems = access_problems(db, [u for u in USERS if u != "backup_user"], bad)
    assert "user backup_user is missing" in problems
    assert f"datalens_reader lacks SELECT on {db}.{reader_tables()[0]}" in problems
    assert f"datalens_reader has SELECT on {db}.{ORDERS} beyond need" in problems
    assert "etl_writer has CREATE USER on *.* beyond need" in problems


def test_the_access_check_of_a_user_that_may_not_list_users_is_skipped_with_how_to_audit(client) -> None:
    """etl_writer holds no SHOW USERS, so in the pipeline's runs the audit cannot read
    system.users: the check says so (skipped, never passed). chDB's own user lacks SHOW USERS
    too, so the server path is exercised on it as it would run as etl_writer."""
    access = next(rule for rule in RULES if rule.name == "warehouse_access").evaluate
    finding = access(client, QualityResource(org=ORG), CheckScope(database=client.database, embedded=False))
    assert finding.skipped == AUDIT_AS_ADMIN and "CLICKHOUSE_URL" in finding.skipped
    embedded = access(client, QualityResource(org=ORG), CheckScope(database=client.database, embedded=True))
    assert "embedded engine" in embedded.skipped


def test_the_readers_session_zone_must_be_the_views() -> None:
    assert reader_timezone_problems("Europe/Moscow", "Europe/Moscow") == []
    (stale,) = reader_timezone_problems("UTC", "Europe/Moscow")
    assert "session_timezone 'UTC'" in stale and "Europe/Moscow" in stale and "zakaz bootstrap" in stale
    assert "session_timezone none" in reader_timezone_problems(None, "Europe/Moscow")[0]


def test_access_audit_sql_parses_and_names_real_system_columns(client) -> None:
    """The embedded engine cannot run the audit (no access management), but its parser and
    system tables are the server's: the query is valid and every column it reads exists."""
    assert client.query("SELECT formatQuery(%(sql)s)", parameters={"sql": EFFECTIVE_GRANTS_SQL}).result_rows
    zone_sql = READER_TIMEZONE_SQL.replace("%(profile)s", "'zakaz_reader_profile'")
    assert client.query("SELECT formatQuery(%(sql)s)", parameters={"sql": zone_sql}).result_rows
    columns = client.query(
        "SELECT table, name FROM system.columns WHERE database = 'system' "
        "AND table IN ('users', 'role_grants', 'grants', 'settings_profile_elements')"
    ).result_rows
    available = {(table, name) for table, name in columns}
    needed = {("users", "name"), ("role_grants", "user_name"), ("role_grants", "granted_role_name")}
    needed |= {
        ("grants", c) for c in ("user_name", "role_name", "access_type", "database", "table", "is_partial_revoke")
    }
    needed |= {("settings_profile_elements", c) for c in ("profile_name", "setting_name", "value")}
    assert needed <= available
