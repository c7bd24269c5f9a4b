"""Data-quality rules evaluated inside ClickHouse; each answers a ``Finding``.

They know tables and SQL, not Dagster: ``defs/checks.py`` turns them into asset checks
(what the UI shows and runs enforce), and ``zakaz check`` runs those checks. A row rule
reads one org's rows across all days (``zakaz check``: a bad row in an old day is as wrong
as one in today's; the nightly ``qtickets_checks_daily`` run), or only the ``Days`` a
run wrote: a 15-minute tick replaces two days, and every other day was checked when it
was written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from clickhouse_connect.driver.client import Client

from zakaz_pipeline.timezone import DEFAULT_TIMEZONE
from zakaz_pipeline.warehouse.contract import describe_schema, schema_contract

# Keys one pass of the duplicate check aggregates (~25 MB of hash table for two UInt64s).
KEYS_PER_PASS = 500_000


class Severity(StrEnum):
    ERROR = "ERROR"
    WARN = "WARN"


@dataclass(frozen=True)
class Finding:
    """What a rule saw: ``value`` against ``threshold``, and how bad a failure is. A numeric
    ``value`` is in ``unit`` (rows, hours, days), so that runs' values can be compared over time."""

    passed: bool
    value: Any
    threshold: str
    severity: Severity = Severity.ERROR
    note: str = ""
    skipped: str = ""
    unit: str = ""


@dataclass(frozen=True)
class Days:
    """The sales days ``[start, end)`` a rule looks at, in ``column``."""

    column: str
    start: dt.date
    end: dt.date

    def predicate(self) -> str:
        return f" AND {self.column} >= %(start)s AND {self.column} < %(end)s"

    def parameters(self) -> dict[str, dt.date]:
        return {"start": self.start, "end": self.end}

    def describe(self) -> str:
        return f" on days [{self.start}, {self.end})"


def _scoped(org: str, days: Days | None) -> tuple[str, dict[str, Any]]:
    """The WHERE clause and parameters of one org's rows, on ``days`` when given."""
    if days is None:
        return "org = %(org)s", {"org": org}
    return "org = %(org)s" + days.predicate(), {"org": org, **days.parameters()}


def no_rows_where(client: Client, table: str, condition: str, org: str, days: Days | None = None) -> Finding:
    """Rows matching ``condition`` must not exist."""
    where, parameters = _scoped(org, days)
    bad = client.query(f"SELECT count() FROM {table} WHERE {where} AND ({condition})", parameters=parameters)
    found = int(bad.result_rows[0][0])
    return Finding(
        found == 0, found, "0 rows", note=f"rows where {condition}{days.describe() if days else ''}", unit="rows"
    )


def no_duplicates(client: Client, table: str, key: str, org: str, days: Days | None = None) -> Finding:
    """Each ``key`` appears once (e.g. one row per ticket). Counted as the extra rows of
    repeated keys by a GROUP BY, not as ``count() - uniqExact(key)``: measured on 2.57 M
    tickets, the exact set took 460 MB and the aggregation 130 MB, and was faster. Over a
    whole history the keys are split by hash into passes of ``KEYS_PER_PASS`` rows, so the
    aggregation's memory stays that of ~0.5 M keys however long the history (a key always
    falls in one pass). On ``days``, keys repeated within them: a key repeated across a
    written and an older day (a ticket whose payment day moved) is the nightly full check's
    to find, as counting the written keys on every day reads every part of the table."""
    where, parameters = _scoped(org, days)
    rows = int(client.query(f"SELECT count() FROM {table} WHERE {where}", parameters=parameters).result_rows[0][0])
    passes = max(1, -(-rows // KEYS_PER_PASS))
    extra = 0
    for bucket in range(passes):
        in_pass = f" AND modulo(cityHash64({key}), {passes}) = {bucket}" if passes > 1 else ""
        extra += int(
            client.query(
                f"SELECT sum(rows - 1) FROM (SELECT count() AS rows FROM {table} WHERE {where}{in_pass} "
                f"GROUP BY {key} HAVING rows > 1)",
                parameters=parameters,
            ).result_rows[0][0]
        )
    return Finding(
        extra == 0,
        extra,
        "0 duplicates",
        note=f"rows repeating ({key}){days.describe() if days else ''}",
        unit="rows",
    )


def age_hours(
    client: Client,
    table: str,
    column: str,
    org: str,
    warn_hours: float,
    error_hours: float | None = None,
    *,
    newest_day: str | None = None,
) -> Finding:
    """Hours since the newest ``column`` value: WARN past ``warn_hours``, ERROR past ``error_hours``.

    ``newest_day`` names the table's day column (part of its partition key, the local day
    of ``column``): the newest value is then read from the newest day alone, whose bound
    ClickHouse takes from part metadata, instead of from every part of the history."""
    where = "org = %(org)s"
    if newest_day is not None:
        where += f" AND {newest_day} = (SELECT max({newest_day}) FROM {table} WHERE org = %(org)s)"
    newest, rows = client.query(
        f"SELECT max({column}), count() FROM {table} WHERE {where}", parameters={"org": org}
    ).result_rows[0]
    limits = f"warn > {warn_hours:g} h" + (f", error > {error_hours:g} h" if error_hours is not None else "")
    if not rows:
        return Finding(False, "no rows", limits, Severity.ERROR if error_hours is not None else Severity.WARN)
    hours = (dt.datetime.now(dt.UTC) - _utc(newest)).total_seconds() / 3600
    note = f"newest {column} {_utc(newest).isoformat()}"
    if error_hours is not None and hours > error_hours:
        return Finding(False, round(hours, 2), limits, Severity.ERROR, note=note, unit="hours")
    return Finding(hours <= warn_hours, round(hours, 2), limits, Severity.WARN, note=note, unit="hours")


def weekday_volume(client: Client, org: str, day: dt.date, max_drop: float) -> Finding:
    """Paid tickets of ``day`` against the same weekday a week earlier."""
    week_before = day - dt.timedelta(days=7)
    rows = client.query(
        "SELECT sales_date, sum(quantity) FROM stg_qtickets_api_orders_raw "
        "WHERE org = %(org)s AND sales_date IN (%(day)s, %(before)s) AND payed GROUP BY sales_date",
        parameters={"org": org, "day": day, "before": week_before},
    ).result_rows
    tickets = {row[0]: int(row[1]) for row in rows}
    now, before = tickets.get(day, 0), tickets.get(week_before, 0)
    threshold = f"drop ≤ {max_drop:.0%} vs {week_before}"  # value: the drop in %, negative for growth
    if before == 0:
        note = f"{day}: {now} tickets; none a week earlier"
        return Finding(True, "none a week earlier", threshold, Severity.WARN, note=note)
    drop = 1 - now / before
    note = f"{day}: {now} tickets, {week_before}: {before}"
    return Finding(drop <= max_drop, round(drop * 100, 1), threshold, Severity.WARN, note=note, unit="% drop")


COUNTED_IN_FACTS = "payed AND order_deleted_at IS NULL AND basket_deleted_at IS NULL"
"""Raw tickets that the daily sales fact sums: paid, neither order nor ticket deleted."""

# Sold tickets per day recomputed from raw by docs/ARCHITECTURE.md's definition, independently of the fact's SQL.
FACT_VS_RAW_SQL = f"""
SELECT count()
FROM
(
    SELECT sales_date, sum(tickets_sold) AS tickets, sum(gross_revenue) AS gross, sum(refunded_amount) AS refunded,
           sum(revenue) AS revenue
    FROM fact_qtickets_sales_daily WHERE {{where}} GROUP BY sales_date
) AS f
FULL OUTER JOIN
(
    SELECT sales_date,
           sumIf(quantity, refunded_at IS NULL) AS tickets,
           sum(price) AS gross,
           sum(refunded_amount) AS refunded,
           sum(price) - sum(refunded_amount) AS revenue
    FROM stg_qtickets_api_orders_raw
    WHERE {{where}} AND {COUNTED_IN_FACTS}
    GROUP BY sales_date
) AS r USING (sales_date)
WHERE f.tickets != r.tickets OR f.gross != r.gross OR f.refunded != r.refunded OR f.revenue != r.revenue
SETTINGS join_use_nulls = 1
"""


def fact_matches_raw(client: Client, org: str, days: Days | None = None) -> Finding:
    """Days whose fact totals (tickets, gross, refunds, revenue) differ from the raw tickets."""
    where, parameters = _scoped(org, days)
    differ = int(client.query(FACT_VS_RAW_SQL.replace("{where}", where), parameters=parameters).result_rows[0][0])
    note = f"days where the fact's sums differ from raw{days.describe() if days else ''}"
    return Finding(differ == 0, differ, "0 days differ", note=note, unit="days")


def view_has_rows(client: Client, view: str, org: str) -> Finding:
    rows = client.query(f"SELECT count() FROM {view} WHERE org = %(org)s", parameters={"org": org}).result_rows[0][0]
    return Finding(rows > 0, int(rows), "> 0 rows", unit="rows")


def schema_matches(client: Client, table: str, timezone: str = DEFAULT_TIMEZONE) -> Finding:
    """The table or view has exactly the contract's columns and types (views in ``timezone``)."""
    expected = schema_contract(timezone)[table]
    actual = describe_schema(client).get(table)
    if actual is None:
        return Finding(False, "missing", "exists with the contract's columns")
    problems = _column_differences(expected, actual)
    return Finding(not problems, "; ".join(problems) or "ok", f"{len(expected)} columns as in the contract")


def _column_differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    problems = [f"missing {name}" for name in expected if name not in actual]
    problems += [f"unexpected {name}" for name in actual if name not in expected]
    problems += [
        f"{name} is {actual[name]}, expected {kind}"
        for name, kind in expected.items()
        if name in actual and actual[name] != kind
    ]
    return problems


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
