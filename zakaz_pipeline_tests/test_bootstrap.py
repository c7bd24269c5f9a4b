"""``zakaz bootstrap``: its SQL on ClickHouse's own parser, the cluster DDL, the grants
against the access audit, and the embedded run end to end."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from zakaz_pipeline.settings import server_access
from zakaz_pipeline.warehouse import registry
from zakaz_pipeline.warehouse.access import (
    USERS,
    VIEW_DEFINER,
    VIEW_SOURCES,
    access_problems,
    host_problems,
    planned_grants,
    reader_tables,
)
from zakaz_pipeline.warehouse.bootstrap import (
    ACCOUNTS,
    DATALENS_NETWORKS,
    BootstrapError,
    access_plan,
    read_networks,
    read_passwords,
    reader_settings,
    revocations,
)
from zakaz_pipeline.warehouse.registry import migrations
from zakaz_pipeline.warehouse.schema import HISTORY_DDL, on_cluster, view_statements
from zakaz_pipeline.warehouse.tls import certificate_problems as tls_problems
from zakaz_pipeline_tests.harness import TZ
from zakaz_pipeline_tests.test_cli import zakaz

PASSWORDS = {"etl_writer": "etl-secret-0001", "datalens_reader": "bi-secret-00002", "backup_user": "bk-secret-00003"}
GRANT = re.compile(
    r"^GRANT(?: ON CLUSTER '\w+')? (?P<privileges>.+) ON (?P<object>(?P<db>\w+|\*)\.(?P<table>\w+|\*)|\w+) "
    r"TO (?P<grantee>\w+)$"
)
TABLE_NAME = re.compile(r"\btable_name: (\w+)\.(\w+)")


def plan(**kwargs):
    return access_plan("zakaz", PASSWORDS, timezone=TZ, **kwargs)


def all_statements(cluster: str) -> list[str]:
    made = plan(cluster=cluster)
    access = made.definer + [entity.statement for entity in made.entities] + made.grants
    access += list(made.passwords.values())
    access += [statement for statements in made.users.values() for statement in statements]
    access += made.settings + list(made.hosts.values())
    schema = [on_cluster(s, cluster) for m in migrations() for s in m.statements]
    schema += [on_cluster(ddl, cluster) for ddl, _ in view_statements(TZ, VIEW_DEFINER).values()]
    return [s.sql for s in access] + schema + [on_cluster(HISTORY_DDL, cluster)]


@pytest.mark.parametrize("cluster", ["", "zakaz_cluster"])
def test_every_statement_is_accepted_by_the_clickhouse_parser(client, cluster) -> None:
    for sql in all_statements(cluster):
        formatted = client.query("SELECT formatQuery(%(sql)s)", parameters={"sql": sql}).result_rows[0][0]
        assert formatted, sql
        if cluster and sql.startswith(("CREATE", "DROP", "ALTER USER", "ALTER SETTINGS")):
            assert "ON CLUSTER" in formatted, sql


def test_cluster_ddl_is_replicated_everywhere() -> None:
    ddl = [on_cluster(s, "c1") for m in migrations() for s in m.statements if "ENGINE" in s]
    assert ddl and all(re.search(r"ENGINE = Replicated\w*MergeTree", s) for s in ddl)
    assert not [s for s in ddl if re.search(r"ENGINE = (?!Replicated)\w*MergeTree", s)]
    plain = [s for m in migrations() for s in m.statements]
    assert [on_cluster(s, "") for s in plain] == plain


def test_cluster_rebuild_drops_everywhere_and_inserts_once() -> None:
    """A table rebuilt by a migration is dropped on every node, synchronously so its
    replication path is free for the CREATE; the recompute runs on one node and replicates."""
    rebuild = next(m for m in migrations() if m.version == 4).statements
    drop, create, insert = (on_cluster(s, "c1") for s in rebuild[:3])
    assert drop == "DROP TABLE IF EXISTS fact_qtickets_sales_daily ON CLUSTER 'c1' SYNC"
    assert create.startswith("CREATE TABLE IF NOT EXISTS fact_qtickets_sales_daily ON CLUSTER 'c1'")
    assert insert == rebuild[2] and insert.startswith("INSERT INTO fact_qtickets_sales_daily")
    assert on_cluster("DROP TABLE IF EXISTS t SYNC", "c1") == "DROP TABLE IF EXISTS t ON CLUSTER 'c1' SYNC"


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE t",
        "DROP DATABASE IF EXISTS zakaz",
        "ALTER TABLE t DROP PARTITION ID 'x'",
        "INSERT INTO t VALUES (1)",
        "INSERT INTO t (a) VALUES (1)",
        "TRUNCATE TABLE t",
    ],
)
def test_statements_a_cluster_cannot_run_as_they_are_are_refused(statement: str) -> None:
    with pytest.raises(ValueError, match="cannot run on a cluster"):
        on_cluster(statement, "c1")
    assert on_cluster(statement, "") == statement


def test_passwords_never_appear_in_what_is_printed_and_hash_correctly() -> None:
    made = plan()
    printable = " ".join(str(s) for s in [*made.definer, *made.grants, *made.passwords.values()])
    printable += " ".join(str(s) for statements in made.users.values() for s in statements)
    sql = " ".join(s.sql for statements in made.users.values() for s in statements)
    for password in PASSWORDS.values():
        assert password not in printable and password not in sql
    create = made.users["etl_writer"][0].sql
    digest, salt = re.search(r"BY '([0-9a-f]{64})' SALT '([0-9a-f]+)'", create).groups()
    assert hashlib.sha256((PASSWORDS["etl_writer"] + salt).encode()).hexdigest() == digest
    assert "***" in str(made.definer[0]) and "***" not in made.definer[0].sql and "HOST NONE" in made.definer[0].sql


def granted(statements) -> dict[str, list[dict]]:
    """Bootstrap's GRANT statements as the system.grants rows a server would list, by grantee."""
    rows: dict[str, list[dict]] = {}
    for statement in statements:
        match = GRANT.match(statement.sql)
        assert match, statement.sql
        if match["db"] is None:  # SET DEFINER ON <user>: the user stands where a database would
            db, table = match["object"], None
        else:
            db = None if match["db"] == "*" else match["db"]
            table = None if match["table"] == "*" else match["table"]
        for privilege in match["privileges"].split(", "):
            rows.setdefault(match["grantee"], []).append({"access_type": privilege, "database": db, "table": table})
    return rows


def effective(statements) -> dict[str, list[dict]]:
    """Each user's grants: its role's, or the definer's own."""
    by_grantee = granted(statements)
    return {account.user: by_grantee[account.role] for account in ACCOUNTS} | {VIEW_DEFINER: by_grantee[VIEW_DEFINER]}


def test_the_granted_privileges_pass_the_access_audit_and_hold_exactly_what_each_user_uses() -> None:
    """What bootstrap grants, seen as system.grants rows, is exactly what the check accepts,
    and a privilege beyond need (etl_writer listing users, backup_user inserting rows) fails it."""
    made = plan()
    grants = effective(made.definer[2:] + made.grants)
    assert access_problems("zakaz", USERS, grants) == []
    readable = {g["table"] for g in grants["datalens_reader"]}
    assert readable == set(reader_tables()) and not any(t.startswith(("stg_", "meta_")) for t in readable)
    writer = {g["access_type"] for g in grants["etl_writer"]}
    assert not writer & {"SHOW USERS", "SHOW ROLES", "ACCESS MANAGEMENT"}, "etl_writer may not list users"
    assert {g["access_type"] for g in grants["backup_user"]} == {"BACKUP"}, "backup_user only backs up"
    assert all(g["access_type"] == "SELECT" for g in grants[VIEW_DEFINER])
    beyond = grants | {
        "etl_writer": [*grants["etl_writer"], {"access_type": "SHOW USERS", "database": None, "table": None}],
        "backup_user": [*grants["backup_user"], {"access_type": "INSERT", "database": "zakaz", "table": None}],
        VIEW_DEFINER: grants[VIEW_DEFINER][1:],
    }
    assert access_problems("zakaz", USERS, beyond) == [
        "etl_writer has SHOW USERS on *.* beyond need",
        "backup_user has INSERT on zakaz.* beyond need",
        f"{VIEW_DEFINER} lacks SELECT on zakaz.{VIEW_SOURCES[0]}",
    ]


def test_bootstrap_revokes_what_an_older_bootstrap_granted_beyond_need(client) -> None:
    """GRANT never takes away: on a server set up by an older bootstrap, etl_writer's role still
    lists users and backup_user's inserts rows until bootstrap revokes them. Held grants (as
    system.grants lists them, here the older plan's) minus the plan become REVOKEs that the
    server's parser accepts; what the plan holds is never revoked."""
    made = plan(cluster="zakaz_cluster")
    held = [
        (g, p["access_type"], p["database"], p["table"], None) for g, rows in granted(made.grants).items() for p in rows
    ]
    older = [
        ("zakaz_writer", "SHOW USERS", None, None, None),
        ("zakaz_writer", "SHOW ROLES", None, None, None),
        *(("zakaz_backup", kind, "zakaz", None, None) for kind in ("CREATE DATABASE", "CREATE TABLE", "INSERT")),
        ("zakaz_reader", "SELECT", "zakaz", "stg_qtickets_api_orders_raw", "buyer_key"),
    ]
    revoked = [statement.sql for statement in revocations(held + older, made.planned, "zakaz_cluster")]
    assert revoked == [
        "REVOKE ON CLUSTER 'zakaz_cluster' SHOW USERS ON *.* FROM zakaz_writer",
        "REVOKE ON CLUSTER 'zakaz_cluster' SHOW ROLES ON *.* FROM zakaz_writer",
        "REVOKE ON CLUSTER 'zakaz_cluster' CREATE DATABASE ON zakaz.* FROM zakaz_backup",
        "REVOKE ON CLUSTER 'zakaz_cluster' CREATE TABLE ON zakaz.* FROM zakaz_backup",
        "REVOKE ON CLUSTER 'zakaz_cluster' INSERT ON zakaz.* FROM zakaz_backup",
    ], "a SELECT the reader's plan has is left to the audit, never revoked"
    for sql in revoked + [s.sql for s in revocations(older, made.planned)]:
        assert client.query("SELECT formatQuery(%(sql)s)", parameters={"sql": sql}).result_rows[0][0], sql
    assert revocations(held, made.planned) == []


def view_sources(client) -> dict[str, set[str]]:
    """Each view's sources in this database, as ClickHouse's analyzer resolves the view's stored
    SELECT (every FROM, JOIN, subquery, IN and CTE named by its table node); a view read by a
    view counts as a source, and is itself a view here."""
    rows = client.query(
        "SELECT name, as_select FROM system.tables WHERE database = currentDatabase() AND engine = 'View'"
    ).result_rows
    sources = {}
    for name, select in rows:
        tree = "\n".join(row[0] for row in client.query(f"EXPLAIN QUERY TREE {select}").result_rows)
        sources[name] = {table for db, table in TABLE_NAME.findall(tree) if db == client.database}
    return sources


def test_every_view_is_readable_with_the_readers_grants_alone(client) -> None:
    """Grant plan × view sources. A view runs as its definer (SQL SECURITY DEFINER), so the
    reader needs SELECT on the view only, and the definer SELECT on what the view reads,
    views reading views included: exactly the union of the views' sources, which the
    registry reads in the view files and ClickHouse's analyzer finds in the views built."""
    sources = view_sources(client)
    assert set(sources) == {name for name in reader_tables() if name.startswith("v_")}, "every view is DataLens's"
    assert sources == {view.name: set(view.sources) for view in registry.views()}, (
        "the registry reads what ClickHouse does"
    )
    # the three views the reader could not read as INVOKER views, and why
    assert {"stg_qtickets_api_inventory_raw", "dim_shows"} <= sources["v_inventory_history"]
    assert {"stg_qtickets_api_orders_raw", "meta_job_runs", "meta_webhooks"} <= sources["v_qtickets_freshness"]
    assert {"v_inventory_history", "stg_qtickets_api_inventory_raw"} <= sources["v_show_sell_through"]
    grants = planned_grants("zakaz")
    definer = {table for access_type, _, table in grants[VIEW_DEFINER] if access_type == "SELECT"}
    reader = {table for access_type, _, table in grants["zakaz_reader"] if access_type == "SELECT"}
    for view, read in sources.items():
        assert view in reader, f"datalens_reader cannot SELECT {view}"
        assert read <= definer, f"{view} reads {sorted(read - definer)}, which {VIEW_DEFINER} may not read"
    assert definer == set().union(*sources.values()), "the definer holds exactly what the views read"
    assert not {t for t in reader if t.startswith(("stg_", "meta_"))}, "the reader never reads raw rows"
    # Every view runs as its definer: the server's least-privileged user, the embedded engine's own.
    for name, (ddl, _) in view_statements(TZ, VIEW_DEFINER).items():
        assert f"DEFINER = {VIEW_DEFINER} SQL SECURITY DEFINER" in ddl, name
    created = client.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() AND engine = 'View'"
    ).result_rows
    assert all("SQL SECURITY DEFINER" in query for _, query in created)


def test_passwords_come_from_variables_or_secret_files(tmp_path) -> None:
    secret = tmp_path / "etl"
    secret.write_text("from-a-file-secret\n", encoding="utf-8")
    env = {
        "CLICKHOUSE_ETL_PASSWORD_FILE": str(secret),
        "CLICKHOUSE_DATALENS_PASSWORD": "bi-secret-00002",
        "CLICKHOUSE_BACKUP_PASSWORD": "short",
    }
    with pytest.raises(BootstrapError) as error:
        read_passwords(server_access(env))
    assert "CLICKHOUSE_BACKUP_PASSWORD" in str(error.value) and "short" not in str(error.value)
    assert (
        read_passwords(server_access(env | {"CLICKHOUSE_BACKUP_PASSWORD": "bk-secret-00003"}))["etl_writer"]
        == "from-a-file-secret"
    )


def test_embedded_bootstrap_applies_the_schema_once_and_says_why_users_are_skipped(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "DAGSTER_"))}
    env["CLICKHOUSE_URL"] = f"chdb://{tmp_path / 'warehouse'}"
    first, second = zakaz("bootstrap", env=env), zakaz("bootstrap", env=env)
    assert first.returncode == second.returncode == 0, first.stderr[-2000:]
    assert "applied  migration 001_core_tables" in first.stdout
    assert "exists   schema at version" in second.stdout and "applied" not in second.stdout
    assert "skipped  roles, users and grants" in second.stdout


def test_server_bootstrap_fails_clearly_without_leaking_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "DAGSTER_"))}
    env |= {"CLICKHOUSE_ADMIN_URL": "http://admin:admin-pw-9999@127.0.0.1:9", "CLICKHOUSE_BACKUP_PASSWORD": "x"}
    missing = zakaz("bootstrap", env=env)
    assert missing.returncode == 2 and "CLICKHOUSE_ETL_PASSWORD" in missing.stderr
    unreachable = zakaz("bootstrap", env=env | {f"{a.password_env}": f"pw-{a.user}-123456" for a in ACCOUNTS})
    assert unreachable.returncode == 2 and "cannot connect" in unreachable.stderr
    output = missing.stdout + missing.stderr + unreachable.stdout + unreachable.stderr
    assert "admin-pw-9999" not in output and "pw-etl_writer-123456" not in output


# --- where users may connect from, and what DataLens's session may set ------------------


def test_users_are_limited_to_their_networks_and_changes_apply_to_existing_users() -> None:
    made = plan(networks=read_networks(server_access({})))
    reader_create, reader_host = made.users["datalens_reader"][0].sql, made.hosts["datalens_reader"].sql
    for network in DATALENS_NETWORKS:
        assert f"'{network}'" in reader_create and f"'{network}'" in reader_host
    assert reader_host.startswith("ALTER USER datalens_reader HOST IP ")
    env = {"CLICKHOUSE_ETL_NETWORKS": "10.213.0.0/24", "CLICKHOUSE_DATALENS_NETWORKS": " 203.0.113.0/24 ,2001:db8::/32"}
    made = plan(networks=read_networks(server_access(env)))
    assert made.hosts["etl_writer"].sql == "ALTER USER etl_writer HOST IP '10.213.0.0/24'"
    assert made.hosts["datalens_reader"].sql == "ALTER USER datalens_reader HOST IP '2001:db8::/32', '203.0.113.0/24'"
    assert made.hosts["backup_user"].sql == "ALTER USER backup_user HOST IP '127.0.0.1/32', '::1/128'"
    assert made.definer[1].sql == f"ALTER USER {VIEW_DEFINER} HOST NONE"
    # system.users as the server would list these users: the audit accepts them
    hosts = {user: {"host_ip": list(networks)} for user, networks in made.networks.items()}
    hosts[VIEW_DEFINER] = {"host_ip": []}
    assert host_problems(hosts) == []
    assert host_problems(hosts | {VIEW_DEFINER: {"host_ip": ["10.0.0.0/8"]}}) == [
        f"{VIEW_DEFINER} may log in; it must have HOST NONE"
    ]
    assert host_problems(hosts | {"datalens_reader": {"host_ip": ["::/0"]}}) == [
        "datalens_reader: ::/0 lets every address connect"
    ]
    assert host_problems(hosts | {"etl_writer": {"host_ip": [], "host_names_like": ["%"]}}) == [
        "etl_writer may connect by host name; only listed networks (HOST IP) are allowed",
        "etl_writer may connect from no network",
    ]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("178.154.242.0/33", "is not a network in CIDR notation"),
        ("178.154.242.177/28", "has host bits set"),
        ("datalens.yandex.net", "is not a network in CIDR notation"),
        ("0.0.0.0/0", "0.0.0.0/0 lets every address connect"),
        ("::/0", "::/0 lets every address connect"),
        ("0.0.0.0/1,128.0.0.0/1", "0.0.0.0/1 is wider than a /8 (2,147,483,648 addresses)"),
        ("::ffff:0:0/96", "::ffff:0:0/96 reaches IPv4's 0.0.0.0/0, wider than a /8 (4,294,967,296 addresses)"),
        ("::/8", "::/8 reaches IPv4's 0.0.0.0/0"),
        ("::ffff:96.0.0.0/102", "reaches IPv4's 96.0.0.0/6"),
        ("2000::/3", "2000::/3 is wider than a /8"),
        (",".join(f"{n}.0.0.0/8" for n in range(256)), "together let all of IPv4 connect"),
        (" , ", "lists no network"),
    ],
)
def test_a_bad_network_list_names_the_variable(value: str, says: str) -> None:
    with pytest.raises(BootstrapError) as error:
        read_networks(server_access({"CLICKHOUSE_DATALENS_NETWORKS": value}))
    assert "CLICKHOUSE_DATALENS_NETWORKS" in str(error.value) and says in str(error.value)
    if "connect" in says or "wider" in says or "reaches" in says:
        assert "CLICKHOUSE_ALLOW_WIDE_NETWORKS=1" in str(error.value), "the refusal names the opt-in"


def test_wide_networks_pass_only_with_the_opt_in_at_bootstrap_and_in_the_access_check() -> None:
    """A /8 is the widest range taken as it is (the private 10.0.0.0/8, a mapped /104); past
    that, or all of IPv4 together, only ``CLICKHOUSE_ALLOW_WIDE_NETWORKS=1`` lets it through."""
    narrow = {"CLICKHOUSE_ETL_NETWORKS": "10.0.0.0/8,::ffff:172.16.0.0/108", "CLICKHOUSE_DATALENS_NETWORKS": "fd00::/8"}
    assert read_networks(server_access(narrow))["etl_writer"] == ("10.0.0.0/8", "::ffff:ac10:0/108")
    wide = {"CLICKHOUSE_DATALENS_NETWORKS": "0.0.0.0/1,128.0.0.0/1", "CLICKHOUSE_ETL_NETWORKS": "::ffff:0:0/96"}
    with pytest.raises(BootstrapError) as error:
        read_networks(server_access(wide))
    assert "CLICKHOUSE_DATALENS_NETWORKS" in str(error.value) and "CLICKHOUSE_ETL_NETWORKS" in str(error.value)
    allowed = read_networks(server_access(wide | {"CLICKHOUSE_ALLOW_WIDE_NETWORKS": "1"}))
    assert allowed["datalens_reader"] == ("0.0.0.0/1", "128.0.0.0/1")
    # the server's view of the same users: refused by the audit unless the opt-in is passed on
    hosts = {
        "datalens_reader": {"host_ip": ["0.0.0.0/1", "128.0.0.0/1"]},
        "etl_writer": {"host_ip": ["::ffff:0.0.0.0/96"]},
        "backup_user": {"host_ip": ["127.0.0.1", "::1"]},
    }
    assert host_problems(hosts) == [
        "etl_writer: ::ffff:0:0/96 reaches IPv4's 0.0.0.0/0, wider than a /8 (4,294,967,296 addresses)",
        "datalens_reader: 0.0.0.0/1 is wider than a /8 (2,147,483,648 addresses)",
        "datalens_reader: 128.0.0.0/1 is wider than a /8 (2,147,483,648 addresses)",
    ]
    assert host_problems(hosts, allow_wide_networks=True) == []


@pytest.mark.parametrize(
    ("networks", "says"),
    [("10.213.0/24", "'10.213.0/24'"), ("0.0.0.0/1,128.0.0.0/1", "CLICKHOUSE_ALLOW_WIDE_NETWORKS=1")],
)
def test_bootstrap_refuses_a_bad_cidr_with_exit_2_before_connecting(networks: str, says: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "DAGSTER_"))}
    env |= {f"{a.password_env}": f"pw-{a.user}-123456" for a in ACCOUNTS}
    env |= {"CLICKHOUSE_ADMIN_URL": "http://admin:admin-pw-9999@127.0.0.1:9", "CLICKHOUSE_ETL_NETWORKS": networks}
    result = zakaz("bootstrap", env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "CLICKHOUSE_ETL_NETWORKS" in result.stderr and says in result.stderr
    assert "Traceback" not in result.stderr and "cannot connect" not in result.stderr
    assert "admin-pw-9999" not in result.stdout + result.stderr


def _settings(items) -> dict[str, tuple[str, str | None]]:
    """'name = value [MAX cap]' → {name: (value, cap)}."""
    parsed = {}
    for item in items:
        match = re.fullmatch(r"(\w+) = ('[^']*'|\d+)(?: MAX (\d+))?", item)
        assert match, item
        parsed[match[1]] = (match[2], match[3])
    return parsed


# What DataLens's ClickHouse connector sends with every data query (datalens-tech/datalens-backend,
# dl_connector_clickhouse ch_commons.get_ch_settings: no max_execution_time).
DATALENS_SESSION = {
    "join_use_nulls": "1", "readonly": "2", "send_progress_in_http_headers": "0", "output_format_json_quote_denormals": "1"
}  # fmt: skip


def test_reader_profile_caps_queries_but_allows_what_datalens_sends(client) -> None:
    profile = _settings(reader_settings(TZ))
    assert profile["readonly"] == ("2", None), "DataLens refuses a readonly = 1 user"
    assert profile["max_execution_time"] == ("70", "70"), "the server stops what DataLens stopped waiting for"
    assert profile["session_timezone"] == (f"'{TZ}'", None), "DataLens's filters are read in ZAKAZ_TIMEZONE"
    for name in ("max_result_rows", "max_result_bytes", "max_memory_usage"):
        value, cap = profile[name]
        assert cap == value and int(value) > 0, name
    assert profile["result_overflow_mode"] == ("'throw'", None), "a capped chart fails loudly, never silently cut"
    for name, value in DATALENS_SESSION.items():
        _, cap = profile.get(name, (None, None))
        assert cap is None or int(value) <= int(cap), f"the profile forbids DataLens's {name} = {value}"
    # Every name and value is one the engine knows: run a query with the profile's settings
    # and DataLens's on top, as a DataLens query on the server would be.
    applied = {name: value for name, (value, _) in profile.items()} | DATALENS_SESSION
    settings = ", ".join(f"{name} = {value}" for name, value in applied.items() if name != "readonly")
    rows = client.query(f"SELECT count() FROM numbers(1000) SETTINGS {settings}").result_rows
    assert rows == [(1000,)]
    statement = plan().settings[0].sql
    assert statement.startswith("ALTER SETTINGS PROFILE zakaz_reader_profile SETTINGS readonly = 2, ")
    assert statement.endswith(" TO zakaz_reader")


# --- the TLS pair ClickHouse serves to DataLens ---------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA standing in for a public one, a server certificate it signed, and a self-signed
    one: real PEM files made by the openssl command line (EC keys: fast)."""
    assert shutil.which("openssl"), "the openssl command line makes the test certificates"
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=Test CA", cwd=d)
    _openssl("req", *ec, "-keyout", "privkey.pem", "-out", "leaf.csr", "-subj", "/CN=warehouse.example", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:warehouse.example\nextendedKeyUsage=serverAuth\n", encoding="ascii")
    _openssl(
        "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "fullchain.pem", "-days", "10", "-extfile", "ext.cnf", cwd=d,
    )  # fmt: skip
    _openssl("req", "-x509", *ec, "-keyout", "self.key", "-out", "self.pem", "-days", "30", "-subj", "/CN=self", cwd=d)
    # the same key, certified by the CA for January 2020 only (`openssl ca` sets both dates)
    (d / "index.txt").write_text("", encoding="ascii")
    (d / "ca.cnf").write_text(
        "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = ca.srl\n"
        "default_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n",
        encoding="ascii",
    )
    _openssl(
        "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "leaf.csr",
        "-out", "expired.pem", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-notext", cwd=d,
    )  # fmt: skip
    return d


def _pair(cert: Path | str, key: Path | str) -> dict[str, str]:
    return {"CLICKHOUSE_TLS_CERT": str(cert), "CLICKHOUSE_TLS_KEY": str(key)}


def certificate_problems(env: dict[str, str]) -> list[str]:
    """The pair's problems as ``zakaz bootstrap`` finds them, from its variables."""
    access = server_access(env)
    return tls_problems(access.tls_cert, access.tls_key)


def test_a_certificate_chain_a_trusted_ca_signed_passes(pki, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.pem"))  # OpenSSL's own trust-store override
    assert certificate_problems(_pair(pki / "fullchain.pem", pki / "privkey.pem")) == []
    assert certificate_problems({}) == [], "no TLS pair configured: nothing to check"


def test_bad_certificate_files_are_named_with_what_is_wrong(pki, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.pem"))
    cert, key = pki / "fullchain.pem", pki / "privkey.pem"
    cases = {
        "does not exist": _pair(pki / "missing.pem", key),
        "is a directory": _pair(cert, pki),
        "holds no PEM certificate": _pair(key, key),
        "holds no PEM private key": _pair(cert, cert),
        "is not the private key of the certificate": _pair(cert, pki / "self.key"),
        "would be refused by DataLens: self-signed certificate": _pair(pki / "self.pem", pki / "self.key"),
        "would be refused by DataLens: certificate has expired": _pair(pki / "expired.pem", key),
        "CLICKHOUSE_TLS_KEY must be set together with CLICKHOUSE_TLS_CERT": {"CLICKHOUSE_TLS_CERT": str(cert)},
    }
    for says, env in cases.items():
        problems = certificate_problems(env)
        assert len(problems) == 1 and says in problems[0], (says, problems)
        assert "CLICKHOUSE_TLS_" in problems[0] and "BEGIN EC PRIVATE" not in problems[0]
    # without the test CA in the trust store, the chain is what a public client would refuse
    monkeypatch.delenv("SSL_CERT_FILE")
    (problem,) = certificate_problems(_pair(cert, key))
    assert "would be refused by DataLens: unable to get local issuer certificate" in problem


def test_bootstrap_reports_a_bad_certificate_path_with_exit_2_and_a_good_pair_passes(pki) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "DAGSTER_", "SSL_"))}
    env |= {f"{a.password_env}": f"pw-{a.user}-123456" for a in ACCOUNTS}
    env |= {"CLICKHOUSE_ADMIN_URL": "http://admin:admin-pw-9999@127.0.0.1:9", "SSL_CERT_FILE": str(pki / "ca.pem")}
    bad = zakaz("bootstrap", env=env | _pair(pki / "live" / "fullchain.pem", pki / "privkey.pem"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert f"CLICKHOUSE_TLS_CERT ({pki / 'live' / 'fullchain.pem'}) does not exist" in bad.stderr
    assert "cannot connect" not in bad.stderr, "checked before connecting"
    good = zakaz("bootstrap", env=env | _pair(pki / "fullchain.pem", pki / "privkey.pem"))
    assert good.returncode == 2 and "cannot connect" in good.stderr and "CLICKHOUSE_TLS" not in good.stderr
