"""A fresh clone is enough: the README's two commands are what CI runs, the tests read
nothing outside the repository, and the sample answers they read hold no personal data."""

from __future__ import annotations

import re
import subprocess
from importlib import metadata
from pathlib import Path

from zakaz_pipeline_tests.conftest import SAMPLES, load_sample

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = ("../" + "shared", "qtickets" + "-samples")  # spelled apart so this file does not match itself


def readme_commands() -> list[str]:
    run = subprocess.run(
        [ROOT / ".ci" / "readme-commands", ROOT / "README.md"], capture_output=True, text=True, check=True
    )
    return run.stdout.splitlines()


def test_the_readme_has_a_lean_first_command_and_a_test_command() -> None:
    demo, tests = readme_commands()
    assert '.venv/bin/pip install -c constraints.txt -e ".[embedded]"' in demo and demo.endswith(".venv/bin/zakaz demo")
    assert "dev" not in demo
    assert tests == '.venv/bin/pip install -c constraints.txt -e ".[embedded,dev]" && .venv/bin/python -m pytest'


def test_ci_runs_the_readme_commands_in_a_clone() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "git clone" in script and ".ci/readme-commands" in script
    demo, tests = readme_commands()
    assert f"demo='{demo}'" in script and f"tests='{tests}'" in script, "CI runs the README's commands as written"
    assert 'bash -euo pipefail -c "$demo"' in script and 'bash -euo pipefail -c "$tests"' in script
    for step in (".venv/bin/ruff check .", ".venv/bin/ruff format --check .", ".venv/bin/mypy"):
        assert f'"{step}"' in script, f"CI runs {step} after the README's commands"


def test_nothing_in_the_repository_reads_outside_it() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    offenders = [
        name
        for name in tracked.splitlines()
        if (ROOT / name).is_file()
        and any(marker in (ROOT / name).read_text(encoding="utf-8", errors="replace") for marker in OUTSIDE)
    ]
    assert offenders == []


def test_sample_answers_carry_only_synthetic_personal_values() -> None:
    orders = load_sample("orders_page.json")["data"]
    emails = {o["client"]["email"] for o in orders} | {b["client_email"] for o in orders for b in o["baskets"]}
    phones = {o["client"]["details"]["phone"] for o in orders} | {
        b["client_phone"] for o in orders for b in o["baskets"]
    }
    assert all(re.fullmatch(r"fixture\.buyer\d+@example\.com", e) for e in emails if e)
    assert all(p == "+7900000xxxx" for p in phones if p)
    assert all(o["payment_card_number"].startswith("400000******") for o in orders if o["payment_card_number"])
    assert {path.name for path in SAMPLES.iterdir()} >= {"orders_page.json", "events_page.json", "README.md"}


def test_the_tests_run_the_locked_builds_the_demo_and_the_image_install() -> None:
    """``constraints.txt`` pins every distribution of one resolution of all the extras; the
    README's commands and the Dockerfile install with it, and this environment holds exactly
    what it pins (a demo install would otherwise get a newer Dagster than the tests)."""
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert all(re.fullmatch(r"[A-Za-z0-9][\w.-]*", name) for name in pins), "name==version lines only"
    assert "zakaz-pipeline" not in pins, "the project itself is not pinned"
    installed = {dist.metadata["Name"]: dist.version for dist in metadata.distributions()}
    canonical = {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in installed.items()}
    differing = {
        name: (version, canonical.get(re.sub(r"[-_.]+", "-", name).lower()))
        for name, version in pins.items()
        if canonical.get(re.sub(r"[-_.]+", "-", name).lower()) != version
    }
    assert differing == {}, "pinned vs installed"
    dagster = pins["dagster"]
    assert all(pins[name] == dagster for name in ("dagster-webserver", "dagster-graphql", "dagster-pipes"))
    _, minor, patch = dagster.split(".")  # libraries 0.X.p go with core 1.(X-16).p: 0.29.27 with 1.13.27
    assert pins["dagster-postgres"] == pins["dagster-docker"] == f"0.{int(minor) + 16}.{patch}"
    for install in (*readme_commands(), (ROOT / "Dockerfile").read_text(encoding="utf-8")):
        assert "-c constraints.txt" in install
