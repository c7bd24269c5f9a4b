"""Asset checks: the warehouse's guarantees, enforced on every run and shown in the UI.

Each ``Rule`` pairs an asset with a rule of ``warehouse.quality``. Blocking ERROR rules
guard what flows on: a failed one stops the run before the facts are rebuilt from bad
rows. Every asset also has ``columns_match_contract`` (its table or view against the
schema contract). The rules are one ``multi_asset_check`` (one step) per asset, or per
group of assets that no blocking rule orders (the two dimensions of one scan; the DataLens
views and the monitoring tables they read), so that a tick is not mostly step overhead.

In a run over some days (a tick, a backfill) the row rules of the daily tables read only
those days (the fact's: their whole months, as it is rewritten); ``zakaz check`` and the
nightly schedule (the ``qtickets_checks`` job) and unpartitioned runs read every day.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetSelection,
    define_asset_job,
    multi_asset_check,
)

from zakaz_pipeline.defs.resources import QualityResource
from zakaz_pipeline.errors import exception_line
from zakaz_pipeline.warehouse import quality, registry, writes
from zakaz_pipeline.warehouse.access import server_access_problems
from zakaz_pipeline.warehouse.datalens import view_answers_under_datalens_settings
from zakaz_pipeline.warehouse.quality import Days, Finding

ORDERS = "stg_qtickets_api_orders_raw"
INVENTORY = "stg_qtickets_api_inventory_raw"
SALES = "fact_qtickets_sales_daily"
INVENTORY_LATEST = "fact_qtickets_inventory_latest"
DASHBOARD = "v_qtickets_sales_dashboard"
VIEWS = tuple(view.name for view in registry.views())
CHECKED_TABLES = registry.relations()

SCOPED_DAYS = 31
ACCESS_DENIED = "(ACCESS_DENIED)"  # ClickHouse's error name for a missing privilege (code 497)
AUDIT_AS_ADMIN = (
    "this user may not list users and grants (etl_writer holds only what the pipeline uses); "
    "zakaz check with CLICKHOUSE_URL set to admin's URL audits them"
)
Evaluate = Callable[[Client, QualityResource, "CheckScope"], Finding]


@dataclass(frozen=True)
class CheckScope:
    database: str
    embedded: bool
    days: tuple[dt.date, dt.date] | None = None  # the run's sales days [start, end), None for all

    def of(self, column: str, *, whole_months: bool = False) -> Days | None:
        """The run's days in ``column``; None (every day) for a run of more than a month,
        which reads about as much either way."""
        if self.days is None or (self.days[1] - self.days[0]).days > SCOPED_DAYS:
            return None
        start, end = writes.whole_months(*self.days) if whole_months else self.days
        return Days(column, start, end)


def run_days(context: AssetCheckExecutionContext) -> tuple[dt.date, dt.date] | None:
    """The sales days ``[start, end)`` of the run this check is part of, if it has partitions."""
    if context.has_partition_key_range:
        keys = context.partition_key_range
        first, last = keys.start, keys.end
    elif context.has_partition_key:
        first = last = context.partition_key
    else:
        return None
    return dt.date.fromisoformat(first), dt.date.fromisoformat(last) + dt.timedelta(days=1)


@dataclass(frozen=True)
class Rule:
    asset: str
    name: str
    description: str
    evaluate: Evaluate
    blocking: bool = False


def _bad_rows(table: str, condition: str) -> Evaluate:
    return lambda client, q, scope: quality.no_rows_where(client, table, condition, q.org, _days_of(table, scope))


def _unique(table: str, key: str) -> Evaluate:
    return lambda client, q, scope: quality.no_duplicates(client, table, key, q.org, _days_of(table, scope))


def _days_of(table: str, scope: CheckScope) -> Days | None:
    """The days a row rule on ``table`` reads: the run's for the daily tables, else all."""
    if table == ORDERS:
        return scope.of("sales_date")
    if table == SALES:
        return scope.of("sales_date", whole_months=True)
    return None


def _matches_contract(table: str) -> Evaluate:
    return lambda client, q, _: quality.schema_matches(client, table, q.timezone)


def _answers_under_datalens(view: str) -> Evaluate:
    return lambda client, _q, _scope: view_answers_under_datalens_settings(client, view)


def _yesterday(q: QualityResource) -> dt.date:
    return dt.datetime.now(ZoneInfo(q.timezone)).date() - dt.timedelta(days=1)


def _access(client: Client, q: QualityResource, scope: CheckScope) -> Finding:
    if scope.embedded:
        return Finding(True, "", "", skipped=EMBEDDED_SKIPS)
    try:
        problems = server_access_problems(client, scope.database, q.timezone, allow_wide_networks=q.allow_wide_networks)
    except DatabaseError as exc:
        if ACCESS_DENIED in str(exc):  # the pipeline's own user may not list users, by design
            return Finding(True, "", "", skipped=AUDIT_AS_ADMIN)
        return Finding(False, "cannot read users and grants", "run as admin", note=exception_line(exc))
    return Finding(not problems, "; ".join(problems) or "ok", "users and grants as in docs/DEPLOY.md")


RULES = (
    Rule("dim_events", "keys_present", "Every event has an id.", _bad_rows("dim_events", "event_id = 0"), True),
    Rule("dim_events", "no_duplicate_events", "One row per event.", _unique("dim_events", "event_id"), True),
    Rule("dim_shows", "keys_present", "Every show has an id and an event.",
         _bad_rows("dim_shows", "show_id = 0 OR event_id = 0"), True),
    Rule("dim_shows", "no_duplicate_shows", "One row per show.", _unique("dim_shows", "show_id"), True),
    Rule(ORDERS, "keys_present", "Every ticket has its order, basket, event and show ids.",
         _bad_rows(ORDERS, "order_id = 0 OR basket_id = 0 OR event_id = 0 OR show_id = 0"), True),
    Rule(ORDERS, "no_negative_amounts", "Prices, refunds and discounts are never negative.",
         _bad_rows(ORDERS, "price < 0 OR original_price < 0 OR refunded_amount < 0 OR discount_value < 0 "
                           "OR service_fee_amount < 0 OR refunded_deduction_amount < 0"), True),
    Rule(ORDERS, "no_duplicate_tickets", "Each basket (ticket) is stored once.",
         _unique(ORDERS, "order_id, basket_id"), True),
    Rule(ORDERS, "paid_orders_fresh", "The newest paid order is recent: WARN past 2 h, ERROR past 48 h (configurable).",
         lambda c, q, _: quality.age_hours(
             c, ORDERS, "sale_ts", q.org, q.orders_warn_hours, q.orders_error_hours, newest_day="sales_date")),
    Rule(ORDERS, "daily_volume", "Yesterday's paid tickets did not drop by more than half vs a week earlier.",
         lambda c, q, _: quality.weekday_volume(c, q.org, _yesterday(q), q.volume_max_drop)),
    Rule(INVENTORY, "tickets_left_within_total", "0 ≤ tickets_left ≤ tickets_total in every snapshot.",
         _bad_rows(INVENTORY, "tickets_left > tickets_total"), True),
    Rule(INVENTORY, "snapshot_fresh", "The newest inventory snapshot is under 2 h old (configurable).",
         lambda c, q, _: quality.age_hours(c, INVENTORY, "snapshot_ts", q.org, q.inventory_warn_hours)),
    Rule(SALES, "keys_present", "Every daily row has an event.", _bad_rows(SALES, "event_id = 0"), True),
    Rule(SALES, "no_negative_values", "Revenue, refunds and gross are never negative.",
         _bad_rows(SALES, "gross_revenue < 0 OR refunded_amount < 0 OR revenue < 0"), True),
    Rule(SALES, "no_duplicate_days", "One row per day and event.", _unique(SALES, "sales_date, event_id"), True),
    Rule(SALES, "matches_raw", "Per day, tickets, gross, refunds and revenue equal the raw tickets' sums.",
         lambda c, q, scope: quality.fact_matches_raw(c, q.org, _days_of(SALES, scope)), True),
    Rule(INVENTORY_LATEST, "tickets_left_within_total", "0 ≤ tickets_left ≤ tickets_total for every show.",
         _bad_rows(INVENTORY_LATEST, "tickets_left > tickets_total"), True),
    Rule(INVENTORY_LATEST, "no_duplicate_shows", "One row per show.", _unique(INVENTORY_LATEST, "show_id"), True),
    Rule(DASHBOARD, "returns_rows", "The DataLens dashboard view returns rows.",
         lambda c, q, _: quality.view_has_rows(c, DASHBOARD, q.org)),
    Rule(DASHBOARD, "warehouse_access",
         "Server users, least-privilege grants and DataLens's session zone (skipped on the embedded engine, and "
         "for a user that may not list users: zakaz check as admin audits them).", _access),
    *(
        Rule(table, "columns_match_contract", f"{table} exists with the contract's columns and types.",
             _matches_contract(table))
        for table in CHECKED_TABLES
    ),
    *(
        Rule(view, "views_answer_under_datalens_settings",
             f"{view} answers under DataLens's session (join_use_nulls = 1, readonly = 2, …) with the same "
             "column types and rows as by default.",
             _answers_under_datalens(view))
        for view in VIEWS
    ),
)  # fmt: skip


SKIPPED_PREFIX = "skipped "


def skipped_message(key: AssetCheckKey, reason: str) -> str:
    """The log line a skipped check writes: Dagster records no result for it (the UI shows it
    skipped), so this line is how ``zakaz check`` learns the reason."""
    return f"{SKIPPED_PREFIX}{key.to_user_string()}: {reason}"


def skipped_reasons(messages: Iterable[str]) -> dict[str, str]:
    """``asset:check`` → reason, from a run's log lines written by :func:`skipped_message`."""
    found = (m[len(SKIPPED_PREFIX) :].split(": ", 1) for m in messages if m.startswith(SKIPPED_PREFIX))
    return {parts[0]: parts[1] for parts in found if len(parts) == 2}


def _step_checks(step: str, rules: Sequence[Rule]) -> AssetChecksDefinition:
    """The rules of one step as one ``multi_asset_check``: one step, one connection.

    Each spec keeps its own ``blocking``: Dagster fails the step after it has yielded every
    result when a blocking one failed with ERROR, and only then holds back what is
    downstream. A rule that raises does not hide the others: they still report, and the
    step then fails with its error (the check has no result: ``NOT RUN`` in ``zakaz check``).
    """
    specs = [AssetCheckSpec(r.name, asset=r.asset, description=r.description, blocking=r.blocking) for r in rules]

    @multi_asset_check(specs=specs, name=step, can_subset=True, required_resource_keys={"warehouse", "quality"})
    def _checks(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        warehouse = context.resources.warehouse
        scope = CheckScope(warehouse.database, warehouse.target.embedded, run_days(context))
        selected = {(key.asset_key.to_user_string(), key.name) for key in context.selected_asset_check_keys}
        crashed: list[Exception] = []
        with warehouse.get_client() as client:
            for rule in (r for r in rules if (r.asset, r.name) in selected):
                try:
                    finding = rule.evaluate(client, context.resources.quality, scope)
                except Exception as exc:  # noqa: BLE001 - re-raised below, once the other rules have answered
                    context.log.error("%s.%s did not finish: %s", rule.asset, rule.name, exception_line(exc))
                    crashed.append(exc)
                    continue
                if finding.skipped:
                    key = AssetCheckKey(AssetKey(rule.asset), rule.name)
                    context.log.info(skipped_message(key, finding.skipped))
                    continue
                yield _result(rule.asset, rule.name, finding)
        if crashed:
            raise crashed[0]

    return _checks


def _result(asset: str, name: str, finding: Finding) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=finding.passed,
        severity=AssetCheckSeverity(finding.severity.value),
        description=finding.note or None,
        metadata={**check_value(finding), "threshold": finding.threshold},
    )


VALUE = "value"


def check_value(finding: Finding) -> dict[str, int | float | str]:
    """A number under a label with its unit (``value (hours)``): the UI plots it across runs;
    anything else (``missing``, a list of problems) as text under ``value``."""
    number = isinstance(finding.value, int | float) and not isinstance(finding.value, bool)
    if number and finding.unit:
        return {f"{VALUE} ({finding.unit})": finding.value}
    return {VALUE: str(finding.value)}


def value_text(metadata: Mapping[str, object]) -> str:
    """What ``check_value`` recorded, as text with its unit: ``4.04 hours``, ``missing``."""
    for label, value in metadata.items():
        if label == VALUE:
            return str(value)
        if label.startswith(f"{VALUE} ("):
            return f"{value} {label[len(VALUE) + 2 : -1]}"
    return ""


# Assets whose rules share a step; no blocking rule of one orders another of its step.
SHARED_STEPS = {
    "dim_events": "qtickets_events_checks",
    "dim_shows": "qtickets_events_checks",
    **dict.fromkeys((*VIEWS, "meta_job_runs", "meta_webhooks"), "datalens_views_checks"),
}


def _rules_by_step(rules: Iterable[Rule]) -> dict[str, list[Rule]]:
    by_step: dict[str, list[Rule]] = {}
    for rule in rules:
        by_step.setdefault(SHARED_STEPS.get(rule.asset, f"{rule.asset}_checks"), []).append(rule)
    return by_step


EMBEDDED_SKIPS = "the embedded engine (chDB) has no users or grants to check"
# Rules that cannot apply on the embedded engine, and why: its code location leaves them out,
# rather than planning them in every run (the UI would show them "In progress" while any run
# is going, then "Skipped"); ``zakaz check`` lists them as skipped with this reason.
SERVER_ONLY = {(DASHBOARD, "warehouse_access"): EMBEDDED_SKIPS}


def checks_for(*, embedded: bool) -> list[AssetChecksDefinition]:
    """The checks a code location defines: every rule, less ``SERVER_ONLY`` on the embedded engine."""
    rules = [rule for rule in RULES if not (embedded and (rule.asset, rule.name) in SERVER_ONLY)]
    return [_step_checks(step, step_rules) for step, step_rules in _rules_by_step(rules).items()]


asset_checks = checks_for(embedded=False)

qtickets_checks_job = define_asset_job(
    "qtickets_checks",
    selection=AssetSelection.all_asset_checks(),
    description="Every asset check against the warehouse, without fetching or writing anything.",
)
