"""Versioned, idempotent DDL for every table and view.

Migrations are the numbered files in ``sql/`` (``001_core_tables.sql``, …), applied in
order and recorded in ``zakaz_schema_history`` once all their statements ran. Each
statement is idempotent (``IF NOT EXISTS`` / ``OR REPLACE``), or the migration is as a
whole: a table rebuilt by ``DROP TABLE IF EXISTS``, ``CREATE`` and an ``INSERT … SELECT``
that recomputes it from other tables. A migration interrupted half way is simply applied
again from its first statement. A change to the schema is a new file, never an edit of an
applied one.

The DataLens views run as their definer (``DEFINER = {definer} SQL SECURITY DEFINER``), so a
reader granted the views alone can read them: on a server ``{definer}`` is rendered as
``zakaz_view_definer`` (``warehouse/access.py``, created by ``zakaz bootstrap`` before the
schema), on the embedded engine, which has no users, as ``CURRENT_USER``.

The DataLens views speak the reporting time zone (``ZAKAZ_TIMEZONE``): their DDL names it
as ``{timezone}``, rendered here from the caller's setting, and each such view carries a
COMMENT naming the zone it was rendered with. A migration's DDL is fixed once applied, but
the setting can change: after the migrations, every view whose stored COMMENT differs from
its newest rendered definition is created again (one query to ``system.tables`` when nothing
changed). So a server moved to another ``ZAKAZ_TIMEZONE`` gets its views re-rendered the
first time a process opens the warehouse, and no session or server time zone enters them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client

from zakaz_pipeline.timezone import DEFAULT_TIMEZONE
from zakaz_pipeline.warehouse.access import VIEW_DEFINER
from zakaz_pipeline.warehouse.writes import append_rows

log = logging.getLogger(__name__)

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS zakaz_schema_history
(
    version    UInt32,
    name       String,
    applied_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""
STALE_STAGING_HOURS = 6


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def migrations() -> list[Migration]:
    """The migrations shipped with this code, in version order."""
    found = []
    for entry in resources.files("zakaz_pipeline.warehouse").joinpath("sql").iterdir():
        stem, _, ext = entry.name.partition(".")
        if ext != "sql" or not stem[:3].isdigit():
            continue
        found.append(Migration(int(stem[:3]), stem[4:], split_statements(entry.read_text(encoding="utf-8"))))
    return sorted(found, key=lambda m: m.version)


def split_statements(sql: str) -> tuple[str, ...]:
    """Statements end with ``;`` at the end of a line; ``--`` lines are comments."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    chunks = "\n".join(lines).split(";\n")
    return tuple(chunk.strip().rstrip(";").strip() for chunk in chunks if chunk.strip().rstrip(";").strip())


CREATE_CLAUSE = re.compile(
    r"^(CREATE (?:TABLE|DATABASE) IF NOT EXISTS \w+|CREATE OR REPLACE VIEW \w+|ALTER TABLE \w+(?=\s+COMMENT COLUMN\b))"
)
DROP_CLAUSE = re.compile(r"^(DROP TABLE IF EXISTS \w+)(?: SYNC)?$")
INSERT_SELECT = re.compile(r"^INSERT INTO \w+\s*\([\w\s,]+\)\s*SELECT\b")
MERGE_TREE = re.compile(r"ENGINE = (Replacing|Summing|Aggregating|Collapsing)?MergeTree\b")


def on_cluster(statement: str, cluster: str) -> str:
    """The statement for every node of ``cluster``: ``ON CLUSTER`` and a Replicated engine.

    A seller who outgrows one server sets ``CLICKHOUSE_CLUSTER`` and the same migrations
    build replicated tables; the server's ``{shard}``/``{replica}`` macros and default
    replica path name each replica. A ``DROP`` waits (``SYNC``) until every replica has
    left its replication path, so the ``CREATE`` that follows can take the path again even
    when it names no ``{uuid}``. An ``INSERT … SELECT`` runs as it is, on one node: it
    writes a Replicated table, whose replicas fetch the rows.
    """
    if not cluster:
        return statement
    statement = statement.strip()
    if INSERT_SELECT.match(statement):
        return statement
    if DROP_CLAUSE.match(statement):
        return DROP_CLAUSE.sub(rf"\1 ON CLUSTER '{cluster}' SYNC", statement)
    rendered, found = CREATE_CLAUSE.subn(rf"\1 ON CLUSTER '{cluster}'", statement, count=1)
    if not found:
        raise ValueError(
            "cannot run on a cluster, not a CREATE … IF NOT EXISTS / OR REPLACE, ALTER TABLE (column comments), "
            f"DROP TABLE IF EXISTS or INSERT INTO … SELECT: {statement[:80]}"
        )
    return MERGE_TREE.sub(r"ENGINE = Replicated\1MergeTree", rendered)


def current_version() -> int:
    return migrations()[-1].version


TIMEZONE_PLACEHOLDER = "{timezone}"
DEFINER_PLACEHOLDER = "{definer}"
TIMEZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*$")
DEFINER_NAME = re.compile(r"^(?:CURRENT_USER|[A-Za-z_][A-Za-z0-9_]*)$")
EMBEDDED_DEFINER = "CURRENT_USER"
VIEW_NAME = re.compile(r"^CREATE OR REPLACE VIEW (\w+)")
VIEW_COMMENT = re.compile(r"\sCOMMENT '((?:[^'\\]|'')*)'\s*$")


def checked_timezone(timezone: str) -> str:
    """``timezone`` if it is an IANA zone name, which alone may be pasted into SQL."""
    if not TIMEZONE_NAME.match(timezone):
        raise ValueError(f"ZAKAZ_TIMEZONE={timezone!r} is not an IANA time zone name (e.g. Europe/Moscow)")
    return timezone


def render(statement: str, timezone: str, definer: str = EMBEDDED_DEFINER) -> str:
    """``statement`` with ``{timezone}`` replaced by the IANA zone ``timezone`` and
    ``{definer}`` by the user the views run as."""
    if not DEFINER_NAME.match(definer):
        raise ValueError(f"{definer!r} cannot define views: a user name or CURRENT_USER")
    return statement.replace(TIMEZONE_PLACEHOLDER, checked_timezone(timezone)).replace(DEFINER_PLACEHOLDER, definer)


def newest_views() -> dict[str, str]:
    """Each view's newest definition (unrendered), by name."""
    newest: dict[str, str] = {}
    for migration in migrations():
        for statement in migration.statements:
            if found := VIEW_NAME.match(statement):
                newest[found.group(1)] = statement
    return newest


def zoned_views(timezone: str, definer: str = EMBEDDED_DEFINER) -> dict[str, tuple[str, str]]:
    """Each view whose newest definition names the time zone: (rendered DDL, its COMMENT)."""
    views = {}
    for name, statement in newest_views().items():
        comment = VIEW_COMMENT.search(statement)
        if TIMEZONE_PLACEHOLDER in statement and comment:
            views[name] = (render(statement, timezone, definer), render(comment.group(1).replace("''", "'"), timezone))
    return views


def ensure_schema(
    client: Client, cluster: str = "", timezone: str | None = None, definer: str = EMBEDDED_DEFINER
) -> list[str]:
    """Apply the migrations the connected database lacks, their views rendered in
    ``timezone`` (the configured ``ZAKAZ_TIMEZONE``, which every process passes: a
    process naming another zone would re-render them back) and run as ``definer`` (see
    :func:`view_definer`), and re-render views left in another zone; return the names of the
    migrations applied and of the views re-rendered."""
    timezone = timezone or DEFAULT_TIMEZONE
    if cluster:
        client.command(on_cluster(f"CREATE DATABASE IF NOT EXISTS {client.database}", cluster))
    client.command(on_cluster(HISTORY_DDL, cluster))
    applied = {row[0] for row in client.query("SELECT version FROM zakaz_schema_history").result_rows}
    done = []
    for migration in migrations():
        if migration.version in applied:
            continue
        for statement in migration.statements:
            client.command(on_cluster(render(statement, timezone, definer), cluster))
        append_rows(client, "zakaz_schema_history", [{"version": [migration.version], "name": [migration.name]}])
        log.info("applied warehouse migration %03d %s", migration.version, migration.name)
        done.append(f"{migration.version:03d}_{migration.name}")
    done += _rerender_views(client, cluster, timezone, definer)
    _drop_stale_staging(client)
    return done


def view_definer(embedded: bool) -> str:
    """Who the views run as: the server's least-privileged definer, or on the embedded
    engine (no users, no grants) the one user there is."""
    return EMBEDDED_DEFINER if embedded else VIEW_DEFINER


def _rerender_views(client: Client, cluster: str, timezone: str, definer: str) -> list[str]:
    """Views rendered in another time zone (their COMMENT names it) are created again."""
    views = zoned_views(timezone, definer)
    if not views:
        return []
    rows = client.query(
        "SELECT name, comment FROM system.tables WHERE database = currentDatabase() AND name IN %(names)s",
        parameters={"names": list(views)},
    ).result_rows
    stored: dict[str, str] = {row[0]: row[1] for row in rows}
    stale = [name for name, (_, comment) in views.items() if name in stored and stored[name] != comment]
    for name in stale:
        client.command(on_cluster(views[name][0], cluster))
        log.info("re-rendered view %s in %s", name, timezone)
    return [f"view {name} in {timezone}" for name in stale]


def _drop_stale_staging(client: Client) -> None:
    """Staging tables left behind by a process that died between create and drop."""
    stale = client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, '_stage_') "
        "AND metadata_modification_time < now() - INTERVAL %(hours)s HOUR",
        parameters={"hours": STALE_STAGING_HOURS},
    ).result_rows
    for (name,) in stale:
        client.command(f"DROP TABLE IF EXISTS {name} SYNC")
        log.info("dropped stale staging table %s", name)
