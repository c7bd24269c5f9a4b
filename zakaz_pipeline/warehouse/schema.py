"""Bringing a database to what the registry describes: the tables' migrations, then the views.

Migrations are the numbered files in ``sql/`` (``001_core_tables.sql``, …), applied in
order and recorded in ``zakaz_schema_history`` once all their statements ran. Each
statement is idempotent (``IF NOT EXISTS``), or the migration is as a whole: a table
rebuilt by ``DROP TABLE IF EXISTS``, ``CREATE`` and an ``INSERT … SELECT`` that recomputes
it from other tables. A migration interrupted half way is simply applied again from its
first statement. A change to a table is a new file, never an edit of an applied one.

The views hold no state: each is one file of ``views/`` (``registry.py``), and after the
migrations every view whose stored definition differs from its file's rendering is created
again, a view after those it reads. The rendering fills in ``{timezone}`` (``ZAKAZ_TIMEZONE``,
so no session or server zone enters a view) and ``{definer}``: on a server
``zakaz_view_definer`` (``warehouse/access.py``, created by ``zakaz bootstrap`` before the
schema), on the embedded engine, which has no users, ``CURRENT_USER``. Each view's COMMENT is
its description followed by a fingerprint of its rendered DDL and of the views it reads. So
after a view file is edited or ``ZAKAZ_TIMEZONE`` changes, and on a warehouse whose views
older code built (its migrations created them), the first process to open the warehouse
brings its views to the files; when nothing changed that costs one query to
``system.tables``. A view whose file is deleted stays until a migration drops it.
"""

from __future__ import annotations

import hashlib
import logging
import re

from clickhouse_connect.driver.client import Client

from zakaz_pipeline.timezone import DEFAULT_TIMEZONE
from zakaz_pipeline.warehouse import registry
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
FINGERPRINT_LENGTH = 12


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


TIMEZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*$")
DEFINER_NAME = re.compile(r"^(?:CURRENT_USER|[A-Za-z_][A-Za-z0-9_]*)$")
EMBEDDED_DEFINER = "CURRENT_USER"


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
    rendered = statement.replace(registry.TIMEZONE_PLACEHOLDER, checked_timezone(timezone))
    return rendered.replace(registry.DEFINER_PLACEHOLDER, definer)


def view_statements(timezone: str, definer: str = EMBEDDED_DEFINER) -> dict[str, tuple[str, str]]:
    """Each view of the registry, a view after those it reads: (its DDL as rendered for
    ``timezone`` and ``definer``, the COMMENT that DDL leaves). The COMMENT ends with a
    fingerprint of the rendered DDL and of the fingerprints of the views it reads, so a view
    whose source changed is created again after it."""
    made: dict[str, tuple[str, str]] = {}
    fingerprints: dict[str, str] = {}
    for view in registry.views():
        body, description = render(view.body, timezone, definer).rstrip(), render(view.description, timezone)
        read = [fingerprints[source] for source in view.sources if source in fingerprints]
        digest = hashlib.sha256("\n".join([body, description, *read]).encode()).hexdigest()[:FINGERPRINT_LENGTH]
        fingerprints[view.name] = digest
        comment = f"{description} [definition {digest}]"
        made[view.name] = (f"{body}\nCOMMENT {_quoted(comment)}", comment)
    return made


def ensure_schema(
    client: Client, cluster: str = "", timezone: str | None = None, definer: str = EMBEDDED_DEFINER
) -> list[str]:
    """Apply the migrations the connected database lacks, then create the views it lacks or
    holds in another definition, rendered in ``timezone`` (the configured ``ZAKAZ_TIMEZONE``,
    which every process passes: a process naming another zone would re-render them back) and
    run as ``definer`` (see :func:`view_definer`); return what was done (``migration
    001_core_tables``, ``view v_sales_14d``)."""
    timezone = timezone or DEFAULT_TIMEZONE
    if cluster:
        client.command(on_cluster(f"CREATE DATABASE IF NOT EXISTS {client.database}", cluster))
    client.command(on_cluster(HISTORY_DDL, cluster))
    applied = {row[0] for row in client.query("SELECT version FROM zakaz_schema_history").result_rows}
    done = []
    for migration in registry.migrations():
        if migration.version in applied:
            continue
        for statement in migration.statements:
            client.command(on_cluster(statement, cluster))
        append_rows(client, "zakaz_schema_history", [{"version": [migration.version], "name": [migration.name]}])
        log.info("applied warehouse migration %03d %s", migration.version, migration.name)
        done.append(f"migration {migration.version:03d}_{migration.name}")
    done += _ensure_views(client, cluster, timezone, definer)
    _drop_stale_staging(client)
    return done


def view_definer(embedded: bool) -> str:
    """Who the views run as: the server's least-privileged definer, or on the embedded
    engine (no users, no grants) the one user there is."""
    return EMBEDDED_DEFINER if embedded else VIEW_DEFINER


def _ensure_views(client: Client, cluster: str, timezone: str, definer: str) -> list[str]:
    """Views missing, or whose stored COMMENT is not their file's rendering, are created again."""
    views = view_statements(timezone, definer)
    rows = client.query(
        "SELECT name, comment FROM system.tables WHERE database = currentDatabase() AND name IN %(names)s",
        parameters={"names": list(views)},
    ).result_rows
    stored: dict[str, str] = {row[0]: row[1] for row in rows}
    changed = [name for name, (_, comment) in views.items() if stored.get(name) != comment]
    for name in changed:
        client.command(on_cluster(views[name][0], cluster))
        log.info("created view %s in %s", name, timezone)
    return [f"view {name}" for name in changed]


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


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
