"""Who may do what on a ClickHouse server: the four users and their least privileges.

``access_problems`` compares a server's users and effective grants (direct and through
roles) with these rules; the warehouse-access check runs it on a server. The embedded
engine has no access management, so there the check is skipped with that reason.
``host_problems`` adds where the users may connect from: ``datalens_reader`` and
``etl_writer`` must be limited to listed networks (``zakaz bootstrap`` sets them), never
any host name, nor a range wider than ``networks.py`` allows (all of IPv4, a range past a /8).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from clickhouse_connect.driver.client import Client

from zakaz_pipeline.warehouse.contract import schema_contract
from zakaz_pipeline.warehouse.networks import width_problems

USERS = ("admin", "etl_writer", "datalens_reader", "backup_user")
RESTRICTED_USERS = ("etl_writer", "datalens_reader", "backup_user")  # admin's networks are in users.d
HOST_COLUMNS = ("host_ip", "host_names", "host_names_regexp", "host_names_like")
READER_PREFIXES = ("v_", "dim_", "fact_")
ACCESS_MANAGEMENT = ("ACCESS MANAGEMENT", "CREATE USER", "ALTER USER", "DROP USER", "CREATE ROLE", "ROLE ADMIN")

Grant = Mapping[str, object]  # a row of system.grants: access_type, database, table

# Each user's grants, given directly or through the roles granted to it.
EFFECTIVE_GRANTS_SQL = """
SELECT u.user, g.access_type, g.database, g.table
FROM
(
    SELECT name AS user, name AS grantee FROM system.users
    UNION ALL
    SELECT user_name, granted_role_name FROM system.role_grants WHERE user_name IS NOT NULL
) AS u
INNER JOIN
(
    SELECT ifNull(user_name, role_name) AS grantee, access_type, database, table
    FROM system.grants WHERE NOT is_partial_revoke
) AS g ON g.grantee = u.grantee
"""


def reader_tables() -> list[str]:
    """What DataLens may read: the views, dimensions and facts — never ticket-level raw rows."""
    return sorted(name for name in schema_contract() if name.startswith(READER_PREFIXES))


def access_problems(database: str, users: Iterable[str], grants: Mapping[str, list[Grant]]) -> list[str]:
    """``grants`` maps each user to its effective grants."""
    present = set(users)
    problems = [f"user {name} is missing" for name in USERS if name not in present]
    reader = grants.get("datalens_reader", [])
    readable = {g["table"] for g in reader if g["access_type"] == "SELECT" and g["database"] == database}
    problems += [f"datalens_reader cannot SELECT {table}" for table in reader_tables() if table not in readable]
    problems += [
        f"datalens_reader has {g['access_type']} on {g['database'] or '*'}.{g['table'] or '*'}"
        for g in reader
        if g["access_type"] != "SELECT" or g["database"] != database or g["table"] not in reader_tables()
    ]
    writer = grants.get("etl_writer", [])
    problems += [
        f"etl_writer has {g['access_type']} beyond {database}"
        for g in writer
        if g["database"] not in (database, None) or g["access_type"] in ACCESS_MANAGEMENT
    ]
    if "backup_user" in present and not any(g["access_type"] == "BACKUP" for g in grants.get("backup_user", [])):
        problems.append(f"backup_user cannot BACKUP {database}")
    return problems


def host_problems(hosts: Mapping[str, Mapping[str, list[str]]], *, allow_wide_networks: bool = False) -> list[str]:
    """``hosts`` maps a user to its system.users host columns (host_ip, host_names,
    host_names_regexp, host_names_like); networks wider than ``networks.py`` allows are a
    problem unless ``allow_wide_networks`` (``CLICKHOUSE_ALLOW_WIDE_NETWORKS=1``)."""
    problems = []
    for user in RESTRICTED_USERS:
        allowed = hosts.get(user)
        if allowed is None:
            continue  # a missing user is reported by access_problems
        if not allow_wide_networks:
            problems += [f"{user}: {problem}" for problem in width_problems(allowed.get("host_ip", []))]
        if allowed.get("host_names") or allowed.get("host_names_regexp") or allowed.get("host_names_like"):
            problems.append(f"{user} may connect by host name; only listed networks (HOST IP) are allowed")
        if not allowed.get("host_ip"):
            problems.append(f"{user} may connect from no network")
    return problems


def server_access_problems(client: Client, database: str, *, allow_wide_networks: bool = False) -> list[str]:
    users = [row[0] for row in client.query("SELECT name FROM system.users").result_rows]
    rows = client.query(EFFECTIVE_GRANTS_SQL).result_rows
    grants: dict[str, list[Grant]] = {}
    for user, access_type, db, table in rows:
        grants.setdefault(user, []).append({"access_type": access_type, "database": db, "table": table})
    hosts = {
        row[0]: dict(zip(HOST_COLUMNS, row[1:], strict=True))
        for row in client.query(f"SELECT name, {', '.join(HOST_COLUMNS)} FROM system.users").result_rows
    }
    return access_problems(database, users, grants) + host_problems(hosts, allow_wide_networks=allow_wide_networks)
