"""What the warehouse holds, read from the package's SQL files: its tables and its views.

A table holds state and evolves by ``ALTER``, so it lives in the numbered migrations
(``sql/``), applied once each in order. A view holds none: it is written once, whole, in
``views/<name>.sql``, and ``schema.ensure_schema`` creates it again whenever its file's
rendering changes. Everything else that names the tables or the views reads them here —
the schema contract, the asset checks, the view assets, the definer's grants, the DataLens
field list — so a new view is one file (and its test).

A view file holds exactly one ``CREATE OR REPLACE VIEW <file name>`` that declares its
columns with their types and COMMENTs (the DataLens contract: types that no session
changes, a meaning for every field), runs as ``DEFINER = {definer} SQL SECURITY DEFINER``
and ends with ``COMMENT '…'``, its description. ``{timezone}`` stands for ``ZAKAZ_TIMEZONE``.
Its ``--`` lines say why it is built as it is; a line ``-- measures: a, b = SUM`` says how
fields aggregate (``datalens.MEASURES``, docs/DATALENS.md). What a view reads (its
sources: the tables and views named after a ``FROM`` or ``JOIN``) orders the views, a view
after those it reads, and is what the definer may SELECT; a test holds it against
ClickHouse's own analyzer.
"""

from __future__ import annotations

import functools
import graphlib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

PACKAGE = "zakaz_pipeline.warehouse"
TIMEZONE_PLACEHOLDER = "{timezone}"
DEFINER_PLACEHOLDER = "{definer}"
DEFINER_CLAUSE = f"DEFINER = {DEFINER_PLACEHOLDER} SQL SECURITY DEFINER"
TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)")
DROPPED = re.compile(r"^DROP TABLE IF EXISTS (\w+)")
VIEW_HEAD = re.compile(r"^CREATE OR REPLACE VIEW (\w+)\s*\(")
STRING = r"'(?:[^'\\]|''|\\.)*'"
DESCRIPTION = re.compile(rf"\s+COMMENT\s+({STRING})\s*$", re.DOTALL)
COLUMN = re.compile(rf"^(\w+)\s+(.+?)(?:\s+COMMENT\s+({STRING}))?$", re.DOTALL)
TOKEN = re.compile(rf"{STRING}|[(),]|[^'(),]+")
LITERAL_OR_REMARK = re.compile(rf"{STRING}|--[^\n]*")
READ = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)\b", re.IGNORECASE)
MEASURES = re.compile(r"^--\s*measures:\s*(.+?)\s+=\s+(.+?)\s*$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as declared, {timezone} unrendered
    comment: str


@dataclass(frozen=True)
class View:
    name: str
    body: str  # the CREATE OR REPLACE VIEW without its COMMENT, {timezone} and {definer} unrendered
    description: str  # its COMMENT, {timezone} unrendered
    columns: tuple[Column, ...]
    measures: dict[str, str]  # field → how it aggregates; every other field is a dimension
    sources: tuple[str, ...]  # the tables and views it reads


def split_statements(sql: str) -> tuple[str, ...]:
    """Statements end with ``;`` at the end of a line; ``--`` lines are comments."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    chunks = "\n".join(lines).split(";\n")
    return tuple(chunk.strip().rstrip(";").strip() for chunk in chunks if chunk.strip().rstrip(";").strip())


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """The migrations shipped with this code, in version order."""
    found = []
    for entry in _sql_files("sql"):
        stem = entry.name.removesuffix(".sql")
        if stem[:3].isdigit():
            found.append(Migration(int(stem[:3]), stem[4:], split_statements(entry.read_text(encoding="utf-8"))))
    return tuple(sorted(found, key=lambda m: m.version))


def current_version() -> int:
    return migrations()[-1].version


@functools.cache
def tables() -> tuple[str, ...]:
    """The tables the migrations leave (a table dropped and created again counts once)."""
    present: set[str] = set()
    for statement in (s for migration in migrations() for s in migration.statements):
        if created := TABLE.match(statement):
            present.add(created.group(1))
        elif dropped := DROPPED.match(statement):
            present.discard(dropped.group(1))
    return tuple(sorted(present))


@functools.cache
def views() -> tuple[View, ...]:
    """Every view, each after the views it reads (otherwise by name)."""
    files = {entry.name.removesuffix(".sql"): entry for entry in _sql_files("views")}
    known = set(tables()) | set(files)
    found = {name: read_view(name, entry.read_text(encoding="utf-8"), known) for name, entry in files.items()}
    order = graphlib.TopologicalSorter({name: [s for s in v.sources if s in found] for name, v in found.items()})
    order.prepare()
    ordered = []
    while order.is_active():
        ready = sorted(order.get_ready())
        ordered += [found[name] for name in ready]
        order.done(*ready)
    return tuple(ordered)


def relations() -> tuple[str, ...]:
    """Every table and view: what the checks hold to the contract."""
    return tables() + tuple(v.name for v in views())


def shown(text: str) -> str:
    """``text`` (a description, a comment, a type) with the setting that fills its zone, for
    readers who see no rendered view: the catalog and docs/DATALENS.md."""
    return text.replace(TIMEZONE_PLACEHOLDER, "ZAKAZ_TIMEZONE")


def _sql_files(folder: str) -> list[Traversable]:
    root = resources.files(PACKAGE).joinpath(folder)
    return sorted((entry for entry in root.iterdir() if entry.name.endswith(".sql")), key=lambda e: e.name)


def read_view(name: str, text: str, known: set[str]) -> View:
    """The view of ``views/<name>.sql``; a file that breaks the rules above is refused, naming it."""
    where = f"warehouse/views/{name}.sql"
    statements = split_statements(text)
    head = VIEW_HEAD.match(statements[0]) if len(statements) == 1 else None
    if head is None or head.group(1) != name:
        raise ValueError(f"{where}: holds one statement, CREATE OR REPLACE VIEW {name} (its columns declared)")
    statement = statements[0]
    described = DESCRIPTION.search(statement)
    if described is None:
        raise ValueError(f"{where}: ends with COMMENT '…', the view's description")
    body = statement[: described.start()]
    if DEFINER_CLAUSE not in body:
        raise ValueError(f"{where}: runs as its definer, {DEFINER_CLAUSE}")
    declared, select = _declared(body, head.end() - 1)
    columns = tuple(_column(entry, where) for entry in declared)
    read = {found for found in READ.findall(LITERAL_OR_REMARK.sub("''", select)) if found in known and found != name}
    return View(
        name, body, _unquoted(described.group(1)), columns, _measures(text, columns, where), tuple(sorted(read))
    )


def _declared(text: str, start: int) -> tuple[list[str], str]:
    """The entries of the parenthesised list at ``start``, split at its own commas (quotes and
    nested parentheses respected), and the text after it."""
    entries: list[str] = []
    current, depth = "", 0
    for token in TOKEN.finditer(text, start):
        piece = token.group()
        depth += {"(": 1, ")": -1}.get(piece, 0)
        if depth == 0:
            return [*entries, current.strip()], text[token.end() :]
        if depth == 1 and piece == ",":
            entries.append(current.strip())
            current = ""
        elif depth > 1 or piece != "(":  # not the list's own opening parenthesis
            current += piece
    raise ValueError(f"unbalanced parentheses in {text[start : start + 60]!r}")


def _column(entry: str, where: str) -> Column:
    found = COLUMN.match(entry)
    if found is None:
        raise ValueError(f"{where}: cannot read the column {entry[:60]!r} (name Type COMMENT '…')")
    name, kind, comment = found.groups()
    return Column(name, " ".join(kind.split()), _unquoted(comment) if comment else "")


def _measures(text: str, columns: tuple[Column, ...], where: str) -> dict[str, str]:
    measures: dict[str, str] = {}
    for line in text.splitlines():
        if found := MEASURES.match(line.strip()):
            measures |= dict.fromkeys((name.strip() for name in found.group(1).split(",")), found.group(2))
    unknown = sorted(set(measures) - {column.name for column in columns})
    if unknown:
        raise ValueError(f"{where}: measures name no column of the view: {', '.join(unknown)}")
    return measures


def _unquoted(literal: str) -> str:
    """A SQL string literal's text (``''`` and backslash escapes undone)."""
    return re.sub(r"''|\\(.)", lambda m: m.group(1) or "'", literal[1:-1], flags=re.DOTALL)
