"""Who may do what on a ClickHouse server: the users, what each holds, and the audit.

``planned_grants`` is the one list of privileges: ``zakaz bootstrap`` grants exactly it,
and ``access_problems`` compares a server's effective grants (direct and through roles)
with it in both directions, so a privilege beyond need is reported as surely as a missing
one. The warehouse-access check runs the audit on a server; the embedded engine has no
access management, so there the check is skipped with that reason.

The DataLens views run as ``zakaz_view_definer`` (``DEFINER = zakaz_view_definer SQL
SECURITY DEFINER``): a user nobody can log in as (no host, a password nobody knows), holding
SELECT on exactly the tables and views the views read (``VIEW_SOURCES``, the sources the
registry reads in each view's file; a test holds them against ClickHouse's analyzer). So
``datalens_reader``, granted the views alone, reads every view, and never the ticket-level
rows a view summarises. ``host_problems`` adds where the users may connect from:
``datalens_reader`` and ``etl_writer`` only from listed networks (``zakaz bootstrap`` sets
them), never by host name nor from a range wider than ``networks.py`` allows (all of IPv4,
a range past a /8); the definer from nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from clickhouse_connect.driver.client import Client

from zakaz_pipeline.warehouse import registry
from zakaz_pipeline.warehouse.networks import width_problems

VIEW_DEFINER = "zakaz_view_definer"
READER_PROFILE = "zakaz_reader_profile"
# The user each purpose's role is granted to (the definer holds its grants itself: a view's
# DEFINER must be a user).
ROLE_OF = {"etl_writer": "zakaz_writer", "datalens_reader": "zakaz_reader", "backup_user": "zakaz_backup"}
USERS = ("admin", "etl_writer", "datalens_reader", "backup_user", VIEW_DEFINER)
RESTRICTED_USERS = ("etl_writer", "datalens_reader", "backup_user")  # admin's networks are in users.d
HOST_COLUMNS = ("host_ip", "host_names", "host_names_regexp", "host_names_like")
READER_PREFIXES = ("v_", "dim_", "fact_")
# What the DataLens views read, views reading views included: the definer's SELECT.
VIEW_SOURCES = tuple(sorted({source for view in registry.views() for source in view.sources}))
# The pipeline on its database: read, insert, create/alter/drop its tables, views and
# staging tables, replace partitions, read system.tables/columns (schema and checks). No
# SHOW USERS: the audit of other users is admin's (``zakaz check`` as admin).
WRITER_ON_DATABASE = (
    "SELECT", "INSERT", "ALTER", "CREATE TABLE", "CREATE VIEW", "DROP TABLE", "DROP VIEW", "TRUNCATE", "OPTIMIZE",
    "SHOW TABLES", "SHOW COLUMNS", "CREATE DATABASE",
)  # fmt: skip

Grant = Mapping[str, object]  # a row of system.grants: access_type, database, table
Privilege = tuple[str, str | None, str | None]  # access_type, database, table (None: any)

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
# The reader's settings profile: its reporting time zone (DataLens reads its filter values there).
READER_TIMEZONE_SQL = """
SELECT value FROM system.settings_profile_elements
WHERE profile_name = %(profile)s AND setting_name = 'session_timezone'
"""


def reader_tables() -> list[str]:
    """What DataLens may read: the views, dimensions and facts — never ticket-level raw rows."""
    return sorted(name for name in registry.relations() if name.startswith(READER_PREFIXES))


def planned_grants(database: str) -> dict[str, list[Privilege]]:
    """Grantee (role, or the definer user) → the privileges it holds, as system.grants lists them."""
    return {
        "zakaz_writer": [
            *((privilege, database, None) for privilege in WRITER_ON_DATABASE),
            ("CREATE TEMPORARY TABLE", None, None),
            # to create and re-render the views as their definer (ClickHouse's SET DEFINER)
            ("SET DEFINER", VIEW_DEFINER, None),
        ],
        "zakaz_reader": [("SELECT", database, table) for table in reader_tables()],
        # BACKUP only: a restore recreates and fills tables, which is admin's (docs/DEPLOY.md)
        "zakaz_backup": [("BACKUP", database, None)],
        VIEW_DEFINER: [("SELECT", database, table) for table in VIEW_SOURCES],
    }


def grantee_of(user: str) -> str:
    return ROLE_OF.get(user, user)


def access_problems(database: str, users: Iterable[str], grants: Mapping[str, list[Grant]]) -> list[str]:
    """``grants`` maps each user to its effective grants; each must be exactly its plan."""
    present = set(users)
    problems = [f"user {name} is missing" for name in USERS if name not in present]
    plan = planned_grants(database)
    for user in (name for name in USERS if name != "admin"):
        planned = set(plan[grantee_of(user)])
        held = {_privilege(grant) for grant in grants.get(user, [])}
        if user in present:
            problems += [f"{user} lacks {_shown(p)}" for p in sorted(planned - held, key=_order)]
        problems += [f"{user} has {_shown(p)} beyond need" for p in sorted(held - planned, key=_order)]
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
    definer = hosts.get(VIEW_DEFINER)
    if definer is not None and any(definer.get(column) for column in HOST_COLUMNS):
        problems.append(f"{VIEW_DEFINER} may log in; it must have HOST NONE")
    return problems


def reader_timezone_problems(profile_timezone: str | None, timezone: str) -> list[str]:
    """DataLens sends a datetime filter as a naive ``toDateTime('…')``, read in its session's
    zone: the reader's profile must set that zone to the views' (``ZAKAZ_TIMEZONE``)."""
    if profile_timezone == timezone:
        return []
    found = f"'{profile_timezone}'" if profile_timezone else "none"
    return [
        f"{READER_PROFILE} sets session_timezone {found}, the views speak {timezone} (ZAKAZ_TIMEZONE): "
        "run zakaz bootstrap so DataLens's date filters mean what its charts show"
    ]


def server_access_problems(
    client: Client, database: str, timezone: str, *, allow_wide_networks: bool = False
) -> list[str]:
    users = [row[0] for row in client.query("SELECT name FROM system.users").result_rows]
    rows = client.query(EFFECTIVE_GRANTS_SQL).result_rows
    grants: dict[str, list[Grant]] = {}
    for user, access_type, db, table in rows:
        grants.setdefault(user, []).append({"access_type": access_type, "database": db, "table": table})
    hosts = {
        row[0]: dict(zip(HOST_COLUMNS, row[1:], strict=True))
        for row in client.query(f"SELECT name, {', '.join(HOST_COLUMNS)} FROM system.users").result_rows
    }
    zone = client.query(READER_TIMEZONE_SQL, parameters={"profile": READER_PROFILE}).result_rows
    return (
        access_problems(database, users, grants)
        + host_problems(hosts, allow_wide_networks=allow_wide_networks)
        + reader_timezone_problems(str(zone[0][0]).strip("'") if zone else None, timezone)
    )


def _privilege(grant: Grant) -> Privilege:
    """A system.grants row as a plan entry (``SET DEFINER ON user`` lists the user where a
    grant on a table lists its database; NULL is ``ON *``, any user)."""
    database, table = grant["database"], grant["table"]
    return str(grant["access_type"]), None if database is None else str(database), None if table is None else str(table)


def _shown(privilege: Privilege) -> str:
    access_type, database, table = privilege
    if access_type == "SET DEFINER":
        return f"SET DEFINER on {database or '*'}"
    return f"{access_type} on {database or '*'}.{table or '*'}"


def _order(privilege: Privilege) -> tuple[str, str, str]:
    return privilege[0], privilege[1] or "", privilege[2] or ""
