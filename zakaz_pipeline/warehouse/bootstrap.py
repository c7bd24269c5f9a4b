"""``zakaz bootstrap``: database, tables, views, roles, users and grants on a server.

Everything is idempotent: the schema migrations are applied once each, a view is created
when its file's rendering is not what the warehouse holds, roles and users are created
when missing (an existing user keeps its password unless asked to rotate it), and grants
are re-asserted every time (GRANT of a held privilege changes nothing). Passwords never
travel as text: a user is created with ``sha256_hash`` of a salted password computed
here, so neither the query log nor this command's output holds it.

Least privilege, one role per purpose (the users get exactly one role each), the
privileges listed once in ``access.planned_grants``, which the access check audits:
- ``zakaz_writer`` → ``etl_writer``: what the pipeline does on its database (read, insert,
  create/alter/drop its tables, views and staging tables, replace partitions) and defining
  views as ``zakaz_view_definer``; nothing on other databases, no user list;
- ``zakaz_reader`` → ``datalens_reader``: SELECT on the views, dimensions and facts only
  (no ticket-level raw table), and a read-only settings profile in ``ZAKAZ_TIMEZONE``;
- ``zakaz_backup`` → ``backup_user``: BACKUP of the database, nothing else (a restore is
  admin's);
- ``zakaz_view_definer``, the user the DataLens views run as: SELECT on what they read,
  and no host to log in from. It is created before the schema, whose views name it.
``admin`` is the server's bootstrap user (infra/clickhouse/users.d), defined in config.

Where each user may connect from (``HOST IP``) is part of the plan too, re-asserted on
every run with ``ALTER USER … HOST`` so a changed network list applies to existing users:
``datalens_reader`` from DataLens's published ranges (``CLICKHOUSE_DATALENS_NETWORKS``),
``etl_writer`` from the stack's network (``CLICKHOUSE_ETL_NETWORKS``; compose passes its
fixed subnet), ``backup_user`` from inside the ClickHouse container only. Every network is
parsed by :mod:`ipaddress` and written back in its canonical form, so nothing but a valid
CIDR reaches the SQL (RBAC statements take no bound parameters); a list wider than
``warehouse/networks.py`` allows (a range past a /8, all of IPv4) is refused.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from zakaz_pipeline.warehouse.access import READER_PROFILE, ROLE_OF, VIEW_DEFINER, Privilege, planned_grants
from zakaz_pipeline.warehouse.connection import WarehouseTarget, open_client
from zakaz_pipeline.warehouse.networks import ALLOW_WIDE_NETWORKS, WIDEST_PREFIX, width_problems
from zakaz_pipeline.warehouse.registry import current_version
from zakaz_pipeline.warehouse.schema import checked_timezone, ensure_schema
from zakaz_pipeline.warehouse.server_access import ServerAccess
from zakaz_pipeline.warehouse.tls import certificate_problems


class BootstrapError(ValueError):
    """A setting is missing or malformed; the message names the variable, never a secret."""


# Where Yandex DataLens connects from, as Yandex publishes it for databases outside Yandex
# Cloud ("Connecting an external database", yandex.cloud/en/docs/datalens/concepts/connection;
# source yandex-cloud/docs: _includes/datalens/datalens-connection-note-ip.md). docs/DEPLOY.md
# lists them too; set CLICKHOUSE_DATALENS_NETWORKS when Yandex changes them.
DATALENS_NETWORKS = (
    "178.154.242.128/28",
    "178.154.242.144/28",
    "178.154.242.160/28",
    "178.154.242.176/28",
    "178.154.242.192/28",
    "178.154.242.208/28",
    "130.193.60.0/28",
    "2a02:6b8:c03:500:0:f83d:a987:0/112",
    "2a02:6b8:c02:900:0:f83d:a987:0/112",
    "2a02:6b8:c0e:500:0:f83d:a987:0/112",
    "2a02:6b8:c41:1300:0:f83d:a987:0/112",
)
# Outside compose (which passes its subnet): the private ranges, as admin's users.d entry.
PRIVATE_NETWORKS = ("127.0.0.1/32", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
# `docker compose exec clickhouse clickhouse-client --user backup_user`: the container itself.
LOCAL_NETWORKS = ("127.0.0.1/32", "::1/128")


@dataclass(frozen=True)
class Account:
    user: str
    role: str
    password_env: str
    networks_env: str  # "" when the networks are fixed
    default_networks: tuple[str, ...]


ACCOUNTS = (
    Account(
        "etl_writer", ROLE_OF["etl_writer"], "CLICKHOUSE_ETL_PASSWORD", "CLICKHOUSE_ETL_NETWORKS", PRIVATE_NETWORKS
    ),
    Account(
        "datalens_reader",
        ROLE_OF["datalens_reader"],
        "CLICKHOUSE_DATALENS_PASSWORD",
        "CLICKHOUSE_DATALENS_NETWORKS",
        DATALENS_NETWORKS,
    ),
    Account("backup_user", ROLE_OF["backup_user"], "CLICKHOUSE_BACKUP_PASSWORD", "", LOCAL_NETWORKS),
)
# DataLens's session (its open-source connector, datalens-tech/datalens-backend): readonly = 2
# (it refuses a readonly = 1 user: it must pass settings), and per query join_use_nulls = 1,
# send_progress_in_http_headers = 0, output_format_json_quote_denormals = 1. It sends no
# max_execution_time: it stops waiting after its own HTTP timeout, so the profile stops the
# query at 70 s rather than let it run on for nobody. A client may lower the caps, never
# raise them. A result over the row or byte cap fails the query (result_overflow_mode
# 'throw') rather than showing a chart cut short without saying so.
READER_CAPS = (
    "readonly = 2",
    "max_execution_time = 70 MAX 70",
    "max_result_rows = 1000000 MAX 1000000",
    "max_result_bytes = 500000000 MAX 500000000",
    "result_overflow_mode = 'throw'",
    "max_memory_usage = 1000000000 MAX 1000000000",
    "max_rows_to_read = 1000000000 MAX 1000000000",
)


def reader_settings(timezone: str) -> tuple[str, ...]:
    """The caps, and DataLens's session zone: DataLens shows a ``DateTime('zone')`` column in
    its zone but sends a filter value as a naive ``toDateTime('…')``, which ClickHouse reads in
    the session's zone; in ``ZAKAZ_TIMEZONE`` it means what the chart shows, whatever the
    server's own zone."""
    return (*READER_CAPS, f"session_timezone = '{checked_timezone(timezone)}'")


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
    definer: list[Statement] = field(default_factory=list)  # the views' definer, before the schema
    entities: list[Creation] = field(default_factory=list)
    settings: list[Statement] = field(default_factory=list)  # re-asserts each profile's settings
    reader_settings: tuple[str, ...] = ()
    planned: dict[str, list[Privilege]] = field(default_factory=dict)  # grantee → exactly what it holds
    cluster: str = ""
    users: dict[str, list[Statement]] = field(default_factory=dict)  # user → statements creating it
    hosts: dict[str, Statement] = field(default_factory=dict)  # user → where it may connect from
    networks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # user → its networks
    passwords: dict[str, Statement] = field(default_factory=dict)  # user → password rotation
    grants: list[Statement] = field(default_factory=list)


def grant_statements(database: str) -> dict[str, list[Statement]]:
    """Grantee → its GRANTs, one per object, rendered from ``access.planned_grants``."""
    statements: dict[str, list[Statement]] = {}
    for grantee, privileges in planned_grants(database).items():
        by_object: dict[str, list[str]] = {}
        for access_type, db, table in privileges:
            by_object.setdefault(_object(access_type, db, table), []).append(access_type)
        statements[grantee] = [
            Statement(f"GRANT {', '.join(types)} ON {target} TO {grantee}") for target, types in by_object.items()
        ]
    return statements


def _object(access_type: str, database: str | None, table: str | None) -> str:
    """What a GRANT names: ``db.table``, ``db.*``, ``*.*``, or the user of ``SET DEFINER``."""
    if access_type == "SET DEFINER":
        return database or "*"
    return f"{database or '*'}.{table or '*'}"


def access_plan(
    database: str,
    passwords: Mapping[str, str],
    *,
    networks: Mapping[str, tuple[str, ...]] | None = None,
    cluster: str = "",
    timezone: str,
) -> AccessPlan:
    """Every statement that sets up roles, users and grants (creation is IF NOT EXISTS;
    settings, hosts and grants are re-asserted). ``networks`` maps a user to its CIDRs as
    :func:`read_networks` returns them; a user left out gets its account's defaults;
    ``timezone`` is ``ZAKAZ_TIMEZONE``, DataLens's session zone."""
    on = f" ON CLUSTER '{cluster}'" if cluster else ""
    networks = networks or {}
    grants = grant_statements(database)
    plan = AccessPlan(planned=planned_grants(database), cluster=cluster)
    # No host to log in from, and a password nobody is told: the user exists to be the views' DEFINER.
    plan.definer = [
        Statement(
            f"CREATE USER IF NOT EXISTS {VIEW_DEFINER}{on} {_identified(secrets.token_hex(32))} HOST NONE",
            f"CREATE USER IF NOT EXISTS {VIEW_DEFINER}{on} IDENTIFIED WITH sha256_hash BY '***' SALT '***' HOST NONE",
        ),
        Statement(f"ALTER USER {VIEW_DEFINER}{on} HOST NONE"),
        *(Statement(_on_cluster_grant(s.sql, on)) for s in grants.pop(VIEW_DEFINER)),
    ]
    plan.entities = [
        Creation("role", account.role, Statement(f"CREATE ROLE IF NOT EXISTS {account.role}{on}"))
        for account in ACCOUNTS
    ]
    plan.reader_settings = reader_settings(timezone)
    settings = ", ".join(plan.reader_settings)
    plan.entities.append(
        Creation(
            "settings profile",
            READER_PROFILE,
            Statement(
                f"CREATE SETTINGS PROFILE IF NOT EXISTS {READER_PROFILE}{on} SETTINGS {settings} TO zakaz_reader"
            ),
        )
    )
    # ALTER … SETTINGS replaces the profile's whole list: a profile made by an older
    # bootstrap gets today's caps.
    plan.settings = [Statement(f"ALTER SETTINGS PROFILE {READER_PROFILE}{on} SETTINGS {settings} TO zakaz_reader")]
    for account in ACCOUNTS:
        identified = _identified(passwords[account.user])
        shown = "IDENTIFIED WITH sha256_hash BY '***' SALT '***'"
        allowed = networks.get(account.user) or account.default_networks
        host = "HOST IP " + ", ".join(f"'{network}'" for network in _canonical(allowed))
        create = (
            f"CREATE USER IF NOT EXISTS {account.user}{on} {{}} {host} "
            f"DEFAULT ROLE {account.role} DEFAULT DATABASE {database}"
        )
        plan.users[account.user] = [
            Statement(create.format(identified), create.format(shown)),
            Statement(f"GRANT{on} {account.role} TO {account.user}"),
            Statement(f"ALTER USER {account.user}{on} DEFAULT ROLE {account.role}"),
        ]
        plan.hosts[account.user] = Statement(f"ALTER USER {account.user}{on} {host}")
        plan.networks[account.user] = _canonical(allowed)
        plan.passwords[account.user] = Statement(
            f"ALTER USER {account.user}{on} {identified}", f"ALTER USER {account.user}{on} {shown}"
        )
    plan.grants = [Statement(_on_cluster_grant(s.sql, on)) for statements in grants.values() for s in statements]
    return plan


def read_passwords(access: ServerAccess) -> dict[str, str]:
    """Each user's password (``ServerAccess`` read it from its variable or file)."""
    if access.problems:
        raise BootstrapError("cannot set up users:\n  - " + "\n  - ".join(access.problems))
    return {account.user: access.passwords[account.password_env] for account in ACCOUNTS}


def read_networks(access: ServerAccess) -> dict[str, tuple[str, ...]]:
    """Each configurable user's networks: comma-separated CIDRs, else its defaults."""
    found, problems = _networks(access)
    if problems:
        raise BootstrapError("cannot set up users:\n  - " + "\n  - ".join(problems))
    return found


def read_server_settings(access: ServerAccess) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Passwords, networks and the TLS pair, every problem reported at once before any
    connection is made."""
    networks, problems = _networks(access)
    problems = [*access.problems, *problems, *certificate_problems(access.tls_cert, access.tls_key)]
    if problems:
        raise BootstrapError("cannot set up the server:\n  - " + "\n  - ".join(problems))
    return read_passwords(access), networks


def _networks(access: ServerAccess) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    found, problems = {}, []
    for account in ACCOUNTS:
        raw = access.networks.get(account.networks_env, "") if account.networks_env else ""
        if not raw:
            found[account.user] = account.default_networks
            continue
        networks = []
        for item in (part.strip() for part in raw.split(",") if part.strip()):
            try:
                network = ipaddress.ip_network(item)
            except ValueError as exc:
                problems.append(f"{account.networks_env}: {item!r} is not a network in CIDR notation ({exc})")
                continue
            networks.append(str(network))
        if not networks and not problems:
            problems.append(f"{account.networks_env} lists no network (comma-separated CIDRs)")
        if not access.allow_wide_networks:
            problems += [
                f"{account.networks_env}: {problem}; list only the networks that may connect (no range wider "
                f"than a /{WIDEST_PREFIX}), or set {ALLOW_WIDE_NETWORKS}=1 to allow it"
                for problem in width_problems(networks)
            ]
        found[account.user] = tuple(networks)
    return found, problems


def apply_definer(client: Client, plan: AccessPlan) -> list[str]:
    """The views' definer and its grants: the schema's views name it, so it comes first
    (a grant may name a table or view the schema has yet to create)."""
    found = client.query("SELECT count() FROM system.users WHERE name = %(name)s", parameters={"name": VIEW_DEFINER})
    known = bool(found.result_rows[0][0])
    for statement in plan.definer:
        client.command(statement.sql)
    return [f"exists   user {VIEW_DEFINER}" if known else f"created  {plan.definer[0]}"] + [
        f"granted  {statement}" for statement in plan.definer[2:]
    ]


def apply_access(client: Client, plan: AccessPlan, *, rotate_passwords: bool = False) -> list[str]:
    """Run the plan; return one line per change or confirmation, secrets masked."""
    report = []
    existing = {("role", row[0]) for row in client.query("SELECT name FROM system.roles").result_rows} | {
        ("settings profile", row[0]) for row in client.query("SELECT name FROM system.settings_profiles").result_rows
    }
    hosts_now = {row[0]: row[1] for row in client.query("SELECT name, host_ip FROM system.users").result_rows}
    for entity in plan.entities:
        client.command(entity.statement.sql)
        known = (entity.kind, entity.name) in existing
        report.append(f"exists   {entity.kind} {entity.name}" if known else f"created  {entity.statement}")
    for statement in plan.settings:
        client.command(statement.sql)
    report.append(f"settings {READER_PROFILE}: {', '.join(plan.reader_settings)}")
    for user, statements in plan.users.items():
        for statement in statements:
            client.command(statement.sql)
        client.command(plan.hosts[user].sql)
        if user not in hosts_now:
            report.append(f"created  {statements[0]}")
        else:
            report.append(f"exists   user {user}")
            if _canonical(hosts_now[user]) != plan.networks[user]:
                report.append(f"changed  {plan.hosts[user]}")
        if user in hosts_now and rotate_passwords:
            client.command(plan.passwords[user].sql)
            report.append(f"changed  {plan.passwords[user]}")
    for statement in plan.grants:
        client.command(statement.sql)
        report.append(f"granted  {statement}")
    held = client.query(HELD_GRANTS_SQL, parameters={"grantees": list(plan.planned)}).result_rows
    for statement in revocations(held, plan.planned, plan.cluster):
        client.command(statement.sql)
        report.append(f"revoked  {statement}")
    return report


# What each planned grantee holds now, with the column of a column-level grant.
HELD_GRANTS_SQL = """
SELECT ifNull(role_name, user_name), access_type, database, table, column
FROM system.grants
WHERE ifNull(role_name, user_name) IN %(grantees)s AND NOT is_partial_revoke
"""


def revocations(
    held: Iterable[Sequence[Any]], planned: Mapping[str, list[Privilege]], cluster: str = ""
) -> list[Statement]:
    """A REVOKE for every kind of privilege a grantee holds that its plan has none of (GRANT
    adds, it never takes away: an older bootstrap's SHOW USERS on etl_writer's role, or INSERT
    on backup_user's, would otherwise stay). A kind the plan has is never revoked, however the
    server lists it; the access check reports any other excess. ``held`` are system.grants
    rows: grantee, access_type, database, table, column."""
    on = f" ON CLUSTER '{cluster}'" if cluster else ""
    kinds = {grantee: {access_type for access_type, _, _ in privileges} for grantee, privileges in planned.items()}
    statements = []
    for grantee, access_type, database, table, column in held:
        if access_type in kinds.get(grantee, set()):
            continue
        privilege = access_type if column is None else f"{access_type}({column})"
        statements.append(
            Statement(f"REVOKE{on} {privilege} ON {_object(access_type, database, table)} FROM {grantee}")
        )
    return statements


def bootstrap(
    target: WarehouseTarget,
    access: ServerAccess,
    *,
    cluster: str = "",
    timezone: str,
    rotate_passwords: bool = False,
) -> list[str]:
    """The views' definer first (the views name it), then the schema (views in ``timezone``),
    then roles, users and grants; passwords, networks and the TLS pair as ``access`` read them."""
    if target.embedded:
        with open_client(target) as client:
            lines = _schema_lines(ensure_schema(client, cluster, timezone))
        return [*lines, "skipped  roles, users and grants: the embedded engine (chDB) has no access management"]
    passwords, networks = read_server_settings(access)
    plan = access_plan(target.database, passwords, networks=networks, cluster=cluster, timezone=timezone)
    with open_client(target) as client:
        lines = apply_definer(client, plan)
        lines += _schema_lines(ensure_schema(client, cluster, timezone, VIEW_DEFINER))
        return lines + apply_access(client, plan, rotate_passwords=rotate_passwords)


def _schema_lines(done: list[str]) -> list[str]:
    return [f"applied  {name}" for name in done] or [f"exists   schema at version {current_version():03d}"]


def _canonical(networks: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Sorted canonical CIDRs: the same networks compare equal however they were written
    (system.users shows a single address without its prefix length)."""
    parsed = set()
    for network in networks:
        try:
            parsed.add(str(_unmapped(ipaddress.ip_network(network))))
        except ValueError:
            parsed.add(network)
    return tuple(sorted(parsed))


def _unmapped(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``::ffff:a.b.c.d/120`` (how a server may list an IPv4 subnet) as ``a.b.c.d/24``."""
    mapped = getattr(network.network_address, "ipv4_mapped", None)
    if mapped is None or network.prefixlen < 96:
        return network
    return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")


def _identified(password: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.sha256((password + salt).encode()).hexdigest()
    return f"IDENTIFIED WITH sha256_hash BY '{digest}' SALT '{salt}'"


def _on_cluster_grant(sql: str, on: str) -> str:
    """``GRANT ON CLUSTER 'c' … ON db.* TO …``: the cluster clause follows the keyword."""
    return sql.replace("GRANT ", f"GRANT{on} ", 1) if on else sql
