"""``zakaz bootstrap``: its SQL on ClickHouse's own parser, the cluster DDL, the grants
against the access audit, and the embedded run end to end."""

from __future__ import annotations

import hashlib
import os
import re

import pytest

from zakaz_pipeline.warehouse.access import access_problems, reader_tables
from zakaz_pipeline.warehouse.bootstrap import ACCOUNTS, BootstrapError, access_plan, read_passwords
from zakaz_pipeline.warehouse.schema import HISTORY_DDL, migrations, on_cluster
from zakaz_pipeline_tests.test_cli import zakaz

PASSWORDS = {"etl_writer": "etl-secret-0001", "datalens_reader": "bi-secret-00002", "backup_user": "bk-secret-00003"}
GRANT = re.compile(
    r"^GRANT(?: ON CLUSTER '\w+')? (?P<privileges>.+) ON (?P<db>\w+|\*)\.(?P<table>\w+|\*) TO (?P<role>\w+)$"
)


def all_statements(cluster: str) -> list[str]:
    plan = access_plan("zakaz", PASSWORDS, cluster=cluster)
    access = [entity.statement for entity in plan.entities] + plan.grants + list(plan.passwords.values())
    access += [statement for statements in plan.users.values() for statement in statements]
    schema = [on_cluster(s, cluster) for m in migrations() for s in m.statements] + [on_cluster(HISTORY_DDL, cluster)]
    return [s.sql for s in access] + schema


@pytest.mark.parametrize("cluster", ["", "zakaz_cluster"])
def test_every_statement_is_accepted_by_the_clickhouse_parser(client, cluster) -> None:
    for sql in all_statements(cluster):
        formatted = client.query("SELECT formatQuery(%(sql)s)", parameters={"sql": sql}).result_rows[0][0]
        assert formatted, sql
        if cluster and sql.startswith(("CREATE", "DROP")):
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
