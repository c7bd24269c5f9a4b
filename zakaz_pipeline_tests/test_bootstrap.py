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

from zakaz_pipeline.warehouse.access import access_problems, host_problems, reader_tables
from zakaz_pipeline.warehouse.bootstrap import (
    ACCOUNTS,
    DATALENS_NETWORKS,
    READER_SETTINGS,
    BootstrapError,
    access_plan,
    read_networks,
    read_passwords,
)
from zakaz_pipeline.warehouse.schema import HISTORY_DDL, migrations, on_cluster
from zakaz_pipeline.warehouse.tls import certificate_problems
from zakaz_pipeline_tests.test_cli import zakaz

PASSWORDS = {"etl_writer": "etl-secret-0001", "datalens_reader": "bi-secret-00002", "backup_user": "bk-secret-00003"}
GRANT = re.compile(
    r"^GRANT(?: ON CLUSTER '\w+')? (?P<privileges>.+) ON (?P<db>\w+|\*)\.(?P<table>\w+|\*) TO (?P<role>\w+)$"
)


def all_statements(cluster: str) -> list[str]:
    plan = access_plan("zakaz", PASSWORDS, cluster=cluster)
    access = [entity.statement for entity in plan.entities] + plan.grants + list(plan.passwords.values())
    access += [statement for statements in plan.users.values() for statement in statements]
    access += plan.settings + list(plan.hosts.values())
    schema = [on_cluster(s, cluster) for m in migrations() for s in m.statements] + [on_cluster(HISTORY_DDL, cluster)]
    return [s.sql for s in access] + schema


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
    plan = access_plan("zakaz", PASSWORDS)
    printable = " ".join(str(s) for s in [*plan.grants, *plan.passwords.values()])
    printable += " ".join(str(s) for statements in plan.users.values() for s in statements)
    sql = " ".join(s.sql for statements in plan.users.values() for s in statements)
    for password in PASSWORDS.values():
        assert password not in printable and password not in sql
    create = plan.users["etl_writer"][0].sql
    digest, salt = re.search(r"BY '([0-9a-f]{64})' SALT '([0-9a-f]+)'", create).groups()
    assert hashlib.sha256((PASSWORDS["etl_writer"] + salt).encode()).hexdigest() == digest


def test_the_granted_privileges_pass_the_access_audit() -> None:
    """What bootstrap grants, seen as system.grants rows, is exactly what the check accepts."""
    plan = access_plan("zakaz", PASSWORDS)
    by_role: dict[str, list[dict]] = {}
    for statement in plan.grants:
        match = GRANT.match(statement.sql)
        assert match, statement.sql
        db = None if match["db"] == "*" else match["db"]
        table = None if match["table"] == "*" else match["table"]
        for privilege in match["privileges"].split(", "):
            by_role.setdefault(match["role"], []).append({"access_type": privilege, "database": db, "table": table})
    grants = {account.user: by_role[account.role] for account in ACCOUNTS}
    users = [account.user for account in ACCOUNTS] + ["admin"]
    assert access_problems("zakaz", users, grants) == []
    readable = {g["table"] for g in grants["datalens_reader"]}
    assert readable == set(reader_tables()) and not any(t.startswith("stg_") for t in readable)


def test_passwords_come_from_variables_or_secret_files(tmp_path) -> None:
    secret = tmp_path / "etl"
    secret.write_text("from-a-file-secret\n", encoding="utf-8")
    env = {
        "CLICKHOUSE_ETL_PASSWORD_FILE": str(secret),
        "CLICKHOUSE_DATALENS_PASSWORD": "bi-secret-00002",
        "CLICKHOUSE_BACKUP_PASSWORD": "short",
    }
    with pytest.raises(BootstrapError) as error:
        read_passwords(env)
    assert "CLICKHOUSE_BACKUP_PASSWORD" in str(error.value) and "short" not in str(error.value)
    assert read_passwords(env | {"CLICKHOUSE_BACKUP_PASSWORD": "bk-secret-00003"})["etl_writer"] == "from-a-file-secret"


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
    plan = access_plan("zakaz", PASSWORDS, networks=read_networks({}))
    reader_create, reader_host = plan.users["datalens_reader"][0].sql, plan.hosts["datalens_reader"].sql
    for network in DATALENS_NETWORKS:
        assert f"'{network}'" in reader_create and f"'{network}'" in reader_host
    assert reader_host.startswith("ALTER USER datalens_reader HOST IP ")
    env = {"CLICKHOUSE_ETL_NETWORKS": "10.213.0.0/24", "CLICKHOUSE_DATALENS_NETWORKS": " 203.0.113.0/24 ,2001:db8::/32"}
    plan = access_plan("zakaz", PASSWORDS, networks=read_networks(env))
    assert plan.hosts["etl_writer"].sql == "ALTER USER etl_writer HOST IP '10.213.0.0/24'"
    assert plan.hosts["datalens_reader"].sql == "ALTER USER datalens_reader HOST IP '2001:db8::/32', '203.0.113.0/24'"
    assert plan.hosts["backup_user"].sql == "ALTER USER backup_user HOST IP '127.0.0.1/32', '::1/128'"
    # system.users as the server would list these users: the audit accepts them
    hosts = {user: {"host_ip": list(networks)} for user, networks in plan.networks.items()}
    assert host_problems(hosts) == []
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
        read_networks({"CLICKHOUSE_DATALENS_NETWORKS": value})
    assert "CLICKHOUSE_DATALENS_NETWORKS" in str(error.value) and says in str(error.value)
    if "connect" in says or "wider" in says or "reaches" in says:
        assert "CLICKHOUSE_ALLOW_WIDE_NETWORKS=1" in str(error.value), "the refusal names the opt-in"


def test_wide_networks_pass_only_with_the_opt_in_at_bootstrap_and_in_the_access_check() -> None:
    """A /8 is the widest range taken as it is (the private 10.0.0.0/8, a mapped /104); past
    that, or all of IPv4 together, only ``CLICKHOUSE_ALLOW_WIDE_NETWORKS=1`` lets it through."""
    narrow = {"CLICKHOUSE_ETL_NETWORKS": "10.0.0.0/8,::ffff:172.16.0.0/108", "CLICKHOUSE_DATALENS_NETWORKS": "fd00::/8"}
    assert read_networks(narrow)["etl_writer"] == ("10.0.0.0/8", "::ffff:ac10:0/108")
    wide = {"CLICKHOUSE_DATALENS_NETWORKS": "0.0.0.0/1,128.0.0.0/1", "CLICKHOUSE_ETL_NETWORKS": "::ffff:0:0/96"}
    with pytest.raises(BootstrapError) as error:
        read_networks(wide)
    assert "CLICKHOUSE_DATALENS_NETWORKS" in str(error.value) and "CLICKHOUSE_ETL_NETWORKS" in str(error.value)
    allowed = read_networks(wide | {"CLICKHOUSE_ALLOW_WIDE_NETWORKS": "1"})
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


# What DataLens's ClickHouse connector sends with every data query.
DATALENS_SESSION = {"join_use_nulls": "1", "max_execution_time": "70", "send_progress_in_http_headers": "0"}


def test_reader_profile_caps_queries_but_allows_what_datalens_sends(client) -> None:
    profile = _settings(READER_SETTINGS)
    assert profile["readonly"] == ("2", None), "DataLens refuses a readonly = 1 user"
    assert profile["max_execution_time"] == ("70", "70"), "a client may lower the timeout, never raise it"
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
    statement = access_plan("zakaz", PASSWORDS).settings[0].sql
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
