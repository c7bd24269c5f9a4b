"""DataLens's session, and whether a view answers under it as under ClickHouse's defaults.

DataLens sends every data query with these settings (Yandex DataLens docs, "Creating a
ClickHouse connection": all data requests run with ``join_use_nulls`` enabled; the
connection's Readonly field is 2 for our reader). A view whose stored structure was
computed without ``join_use_nulls`` fails there with Code 80, or returns other rows; the
asset check ``views_answer_under_datalens_settings`` runs this comparison after every
materialization of a view, so a new view cannot break the dashboards unnoticed.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from zakaz_pipeline.errors import exception_line
from zakaz_pipeline.warehouse.quality import Finding

DATALENS_SETTINGS: dict[str, Any] = {
    "join_use_nulls": 1,
    "readonly": 2,
    "max_execution_time": 70,
    "send_progress_in_http_headers": 0,
}


def view_answers_under_datalens_settings(client: Client, view: str) -> Finding:
    """Same column names and types (``DESCRIBE (SELECT * …)`` builds the view's whole
    structure, which is where Code 80 is raised) and the same row count under DataLens's session as under
    the defaults. Row values are left to the tests: the views read ``now()``, so two
    queries a moment apart may legitimately differ in a minute count."""
    try:
        default = _shape(client, view, {})
        datalens = _shape(client, view, DATALENS_SETTINGS)
    except DatabaseError as exc:
        return Finding(False, "query failed", "answers under DataLens's settings", note=exception_line(exc))
    problems = []
    if default[0] != datalens[0]:
        changed = [f"{n}: {a} vs {b}" for (n, a), (_, b) in zip(default[0], datalens[0], strict=False) if a != b]
        problems.append("column types differ: " + ("; ".join(changed) or "other columns"))
    if default[1] != datalens[1]:
        problems.append(f"{default[1]} rows by default, {datalens[1]} under DataLens's settings")
    return Finding(
        not problems,
        "; ".join(problems) or f"{default[1]} rows, {len(default[0])} columns alike",
        "same types and rows as by default",
    )


def _shape(client: Client, view: str, settings: dict[str, Any]) -> tuple[list[tuple[str, str]], int]:
    columns = client.query(f"DESCRIBE (SELECT * FROM {view})", settings=settings).result_rows
    rows = client.query(f"SELECT count() FROM {view}", settings=settings).result_rows[0][0]
    return [(str(row[0]), str(row[1])) for row in columns], int(rows)
