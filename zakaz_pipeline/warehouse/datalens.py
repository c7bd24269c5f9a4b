"""DataLens's session, whether a view answers under it as under ClickHouse's defaults, and
how an analyst aggregates each field.

DataLens sends every data query with the settings below (its open-source ClickHouse
connector, datalens-tech/datalens-backend, ``get_ch_settings``; readonly 2 is the
connection's setting for our reader). It sends no ``max_execution_time``: it stops waiting
after its own HTTP timeout, and our reader's settings profile stops the query. It never
reads column COMMENTs: a field's meaning reaches the analyst through ``docs/DATALENS.md``,
written here from the view files (``registry.py``). A view whose stored structure was computed
without ``join_use_nulls`` fails under DataLens's session with Code 80, or returns other
rows; the asset check ``views_answer_under_datalens_settings`` runs this comparison after
every materialization of a view, so a new view cannot break the dashboards unnoticed.

``MEASURES`` says how each number of each view adds up, as the view's file says (its
``-- measures:`` lines). Most are plain sums: over any rows and any filter, the SUM is the
total of those rows (a test holds every one against the simulator's ground truth). The
stock of seats in the inventory history sums over shows at one snapshot, never over time; a
ratio is recomputed from the sums it divides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from zakaz_pipeline.errors import exception_line
from zakaz_pipeline.warehouse import registry
from zakaz_pipeline.warehouse.quality import Finding

DATALENS_SETTINGS: dict[str, Any] = {
    "join_use_nulls": 1,
    "readonly": 2,
    "send_progress_in_http_headers": 0,
    "output_format_json_quote_denormals": 1,
}

SUM = "SUM"
# view → numeric (and newest-moment) field → how it aggregates; every other field is a dimension.
MEASURES: dict[str, dict[str, str]] = {view.name: view.measures for view in registry.views()}
KEYS = ("event_id", "show_id")  # numbers that identify, never measure
FIELDS_BEGIN = "<!-- fields: written by `python -m zakaz_pipeline.warehouse.contract`; do not edit below -->"
FIELDS_END = "<!-- fields: end -->"


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


def fields_markdown() -> str:
    """Every view, what it is and reads, and its fields: type, meaning (its COMMENT) and how
    to aggregate."""
    parts = []
    for view in sorted(registry.views(), key=lambda v: v.name):
        reads = ", ".join(f"`{source}`" for source in view.sources)
        parts += [f"### `{view.name}`", "", f"{registry.shown(view.description)}. Reads {reads}.", ""]
        parts += ["| field | type | meaning | aggregate |", "| --- | --- | --- | --- |"]
        for column in view.columns:
            meaning = column.comment.replace("|", "\\|")
            aggregate = view.measures.get(column.name, "")
            parts.append(registry.shown(f"| `{column.name}` | `{column.type}` | {meaning} | {aggregate} |"))
        parts.append("")
    return "\n".join(parts)


def write_fields_doc(doc: Path) -> Path:
    """Replace the generated part of ``doc`` (between the two markers) with the field list."""
    text = doc.read_text(encoding="utf-8")
    head, _, rest = text.partition(FIELDS_BEGIN)
    _, _, tail = rest.partition(FIELDS_END)
    doc.write_text(f"{head}{FIELDS_BEGIN}\n\n{fields_markdown()}\n{FIELDS_END}{tail}", encoding="utf-8")
    return doc
