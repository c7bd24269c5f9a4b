"""``zakaz bootstrap``: database, tables, views, roles, users and grants on a server.

Everything is idempotent: the schema migrations are applied once each, roles and users
are created when missing (an existing user keeps its password unless asked to rotate
it), and grants are re-asserted every time (GRANT of a held privilege changes nothing).
Passwords never travel as text: a user is created with ``sha256_hash`` of a salted
password computed here, so neither the query log nor this command's output holds it.

Least privilege, one role per purpose (the users get exactly one role each):
- ``zakaz_writer`` → ``etl_writer``: what the pipeline does on its database (read, insert,
  create/alter/drop its tables and staging tables, replace partitions) and reading the
  user list so the access check can audit it; nothing on other databases;
- ``zakaz_reader`` → ``datalens_reader``: SELECT on the views, dimensions and facts only
  (no ticket-level raw table), and a read-only settings profile;
- ``zakaz_backup`` → ``backup_user``: BACKUP of the database, and what RESTORE needs to
  recreate it.
``admin`` is the server's bootstrap user (infra/clickhouse/users.d), defined in config.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

from zakaz_pipeline.warehouse.access import reader_tables
from zakaz_pipeline.warehouse.connection import WarehouseTarget, open_client
from zakaz_pipeline.warehouse.schema import current_version, ensure_schema


class BootstrapError(ValueError):
    """A password is missing or unreadable; the message names the variable, never a value."""


@dataclass(frozen=True)
class Account:
    user: str
    role: str
    password_env: str


ACCOUNTS = (
    Account("etl_writer", "zakaz_writer", "CLICKHOUSE_ETL_PASSWORD"),
    Account("datalens_reader", "zakaz_reader", "CLICKHOUSE_DATALENS_PASSWORD"),
    Account("backup_user", "zakaz_backup", "CLICKHOUSE_BACKUP_PASSWORD"),
)
# readonly = 2: no writes and no DDL, while DataLens may still pass query settings.
READER_PROFILE = "zakaz_reader_profile"
WRITER_PRIVILEGES = (
    "SELECT, INSERT, ALTER, CREATE TABLE, CREATE VIEW, DROP TABLE, DROP VIEW, TRUNCATE, OPTIMIZE, "
    "SHOW TABLES, SHOW COLUMNS"
)
RESTORE_PRIVILEGES = "CREATE DATABASE, CREATE TABLE, CREATE VIEW, INSERT, SHOW TABLES"


@dataclass(frozen=True)
class Statement:
    """One statement; ``shown`` is what may be printed (the SQL minus any secret)."""

    sql: str
    shown: str = ""

    def __str__(self) -> str:
        return self.shown or self.sql


@dataclass(frozen=True)
class Creation:
    """A named access entity and the statement that creates it if missing."""

    kind: str  # role, settings profile
    name: str
    statement: Statement


@dataclass
class AccessPlan:
    entities: list[Creation] = field(default_factory=list)
    users: dict[str, list[Statement]] = field(default_factory=dict)  # user → statements creating it
    passwords: dict[str, Statement] = field(default_factory=dict)  # user → password rotation
    grants: list[Statement] = field(default_factory=list)


def grant_statements(database: str) -> list[Statement]:
    reader = [f"GRANT SELECT ON {database}.{table} TO zakaz_reader" for table in reader_tables()]
    return [
        Statement(sql)
        for sql in (
            f"GRANT {WRITER_PRIVILEGES} ON {database}.* TO zakaz_writer",
            f"GRANT CREATE DATABASE ON {database}.* TO zakaz_writer",
            "GRANT CREATE TEMPORARY TABLE ON *.* TO zakaz_writer",
            "GRANT SHOW USERS, SHOW ROLES ON *.* TO zakaz_writer",
            *reader,
            f"GRANT BACKUP ON {database}.* TO zakaz_backup",
            f"GRANT {RESTORE_PRIVILEGES} ON {database}.* TO zakaz_backup",
        )
    ]


def access_plan(database: str, passwords: Mapping[str, str], *, cluster: str = "") -> AccessPlan:
    """Every statement that sets up roles, users and grants (creation is IF NOT EXISTS)."""
    on = f" ON CLUSTER '{cluster}'" if cluster else ""
    plan = AccessPlan()
    plan.entities = [
        Creation("role", account.role, Statement(f"CREATE ROLE IF NOT EXISTS {account.role}{on}"))
        for account in ACCOUNTS
    ]
    plan.entities.append(
        Creation(
            "settings profile",
            READER_PROFILE,
            Statement(
                f"CREATE SETTINGS PROFILE IF NOT EXISTS {READER_PROFILE}{on} SETTINGS readonly = 2 TO zakaz_reader"
            ),
        )
    )
    for account in ACCOUNTS:
        identified = _identified(passwords[account.user])
        shown = "IDENTIFIED WITH sha256_hash BY '***' SALT '***'"
        create = (
            f"CREATE USER IF NOT EXISTS {account.user}{on} {{}} DEFAULT ROLE {account.role} DEFAULT DATABASE {database}"
        )
        plan.users[account.user] = [
            Statement(create.format(identified), create.format(shown)),
            Statement(f"GRANT{on} {account.role} TO {account.user}"),
            Statement(f"ALTER USER {account.user}{on} DEFAULT ROLE {account.role}"),
        ]
        plan.passwords[account.user] = Statement(
            f"ALTER USER {account.user}{on} {identified}", f"ALTER USER {account.user}{on} {shown}"
        )
    plan.grants = [Statement(_on_cluster_grant(s.sql, on)) for s in grant_statements(database)]
    return plan


def read_passwords(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each password from ``<VAR>`` or from the file named by ``<VAR>_FILE`` (Docker secrets)."""
    env = os.environ if env is None else env
    found, problems = {}, []
    for account in ACCOUNTS:
        value = env.get(account.password_env, "")
        path = env.get(f"{account.password_env}_FILE", "")
        if not value and path:
            try:
                with open(path, encoding="utf-8") as handle:
                    value = handle.read().strip()
            except OSError as exc:
                problems.append(f"{account.password_env}_FILE cannot be read ({exc.strerror})")
                continue
        if len(value) < 12:
            problems.append(
                f"{account.password_env} (or {account.password_env}_FILE) must hold a password of 12+ chars"
            )
        found[account.user] = value
    if problems:
        raise BootstrapError("cannot set up users:\n  - " + "\n  - ".join(problems))
    return found


def apply_access(client: Client, plan: AccessPlan, *, rotate_passwords: bool = False) -> list[str]:
    """Run the plan; return one line per change or confirmation, secrets masked."""
    report = []
    existing = {("role", row[0]) for row in client.query("SELECT name FROM system.roles").result_rows} | {
        ("settings profile", row[0]) for row in client.query("SELECT name FROM system.settings_profiles").result_rows
    }
    existing_users = {row[0] for row in client.query("SELECT name FROM system.users").result_rows}
    for entity in plan.entities:
        client.command(entity.statement.sql)
        known = (entity.kind, entity.name) in existing
        report.append(f"exists   {entity.kind} {entity.name}" if known else f"created  {entity.statement}")
    for user, statements in plan.users.items():
        for statement in statements:
            client.command(statement.sql)
        report.append(f"exists   user {user}" if user in existing_users else f"created  {statements[0]}")
        if user in existing_users and rotate_passwords:
            client.command(plan.passwords[user].sql)
            report.append(f"changed  {plan.passwords[user]}")
    for statement in plan.grants:
        client.command(statement.sql)
        report.append(f"granted  {statement}")
    return report


def bootstrap(target: WarehouseTarget, *, cluster: str = "", rotate_passwords: bool = False) -> list[str]:
    """Schema first (so grants name existing tables), then roles, users and grants."""
    passwords = {} if target.embedded else read_passwords()
    with open_client(target) as client:
        applied = ensure_schema(client, cluster)
        lines = [f"applied  migration {name}" for name in applied] or [
            f"exists   schema at version {current_version():03d}"
        ]
        if target.embedded:
            return [*lines, "skipped  roles, users and grants: the embedded engine (chDB) has no access management"]
        plan = access_plan(target.database, passwords, cluster=cluster)
        return lines + apply_access(client, plan, rotate_passwords=rotate_passwords)


def _identified(password: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.sha256((password + salt).encode()).hexdigest()
    return f"IDENTIFIED WITH sha256_hash BY '{digest}' SALT '{salt}'"


def _on_cluster_grant(sql: str, on: str) -> str:
    """``GRANT ON CLUSTER 'c' … ON db.* TO …``: the cluster clause follows the keyword."""
    return sql.replace("GRANT ", f"GRANT{on} ", 1) if on else sql
