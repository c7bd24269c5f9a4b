"""The package's layers stay apart: each module's imports (read with ``ast``, including
those inside functions) cross into no layer it must not know (docs/ARCHITECTURE.md, "Layout and layers")."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "zakaz_pipeline"
STORAGE = {"dagster", "clickhouse_connect", "chdb"}
# The one module that may import Dagster's private names (its guard test: test_local_runs.py).
DAGSTER_PRIVATE = "dagster._"
PRIVATE_NAMES_MODULE = PACKAGE / "runtime" / "dagster_private.py"
# What the pipeline runs: the command launches the definitions that run it, and reports.
WORKING_PARTS = {
    "zakaz_pipeline.qtickets.rows",
    "zakaz_pipeline.qtickets.paid_orders",
    "zakaz_pipeline.qtickets.page_scan",
    "zakaz_pipeline.warehouse.writes",
    "zakaz_pipeline.warehouse.schema",
    "zakaz_pipeline.warehouse.contract",
    "zakaz_pipeline.warehouse.io_manager",
    "zakaz_pipeline.warehouse.models",
    "zakaz_pipeline.columns",
    "zakaz_pipeline.defs.assets",
}
OUTSIDE_DAGSTER = {"zakaz_pipeline.defs", "zakaz_pipeline.runtime", "zakaz_pipeline.cli"}

# layer -> the modules (a distribution or a ``zakaz_pipeline`` layer) its modules must not import
FORBIDDEN = {
    "warehouse": {"zakaz_pipeline.qtickets", "zakaz_pipeline.simulator"} | OUTSIDE_DAGSTER,
    "qtickets": STORAGE | {"zakaz_pipeline.warehouse", "zakaz_pipeline.simulator"} | OUTSIDE_DAGSTER,
    "simulator": STORAGE | {"zakaz_pipeline.warehouse"} | OUTSIDE_DAGSTER,
    "webhooks": STORAGE | {"zakaz_pipeline.warehouse", "zakaz_pipeline.simulator"} | OUTSIDE_DAGSTER,
    "defs": {"zakaz_pipeline.cli", "zakaz_pipeline.runtime"},
    "runtime": {"zakaz_pipeline.cli"},
    "cli": WORKING_PARTS,
}


def imported_modules(source: str, package: str) -> set[str]:
    """Absolute names of every module (and imported name) a module of ``package`` imports."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def crossings(room: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / room).rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent)
        package = ".".join(relative.parts[:-1])
        for name in sorted(imported_modules(path.read_text(encoding="utf-8"), package)):
            if any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN[room]):
                found.append(f"{relative} imports {name}")
    return found


def test_no_room_imports_a_room_it_must_not_know() -> None:
    found = [line for room in FORBIDDEN for line in crossings(room)]
    assert found == [], "\n".join(found)


def test_only_one_module_imports_dagsters_private_names() -> None:
    """Dagster's private modules (``dagster._…``) are named in ``runtime/dagster_private.py``
    alone, with why each has no public way; every other module imports them from there."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PRIVATE_NAMES_MODULE:
            continue
        package = ".".join(path.relative_to(PACKAGE.parent).parts[:-1])
        private = [
            n for n in imported_modules(path.read_text(encoding="utf-8"), package) if n.startswith(DAGSTER_PRIVATE)
        ]
        found += [f"{path.relative_to(PACKAGE.parent)} imports {name}" for name in sorted(private)]
    assert found == [], "\n".join(found)
    assert any(n.startswith(DAGSTER_PRIVATE) for n in imported_modules(PRIVATE_NAMES_MODULE.read_text(), "x"))


def test_the_import_reader_sees_plain_from_nested_and_relative_imports() -> None:
    source = "import dagster\nfrom ..qtickets import rules\nfrom . import io_manager\ndef f():\n    from zakaz_pipeline.cli import main\n"
    names = imported_modules(source, "zakaz_pipeline.warehouse")
    assert {
        "dagster",
        "zakaz_pipeline.qtickets.rules",
        "zakaz_pipeline.warehouse.io_manager",
        "zakaz_pipeline.cli.main",
    } <= names


LOADS_NOTHING_HEAVY = """
import sys
from zakaz_pipeline.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as done:
    status = done.code
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"dagster", "clickhouse_connect", "chdb", "pyarrow"})
print(status, ",".join(heavy) or "-")
"""


@pytest.mark.parametrize(
    ("argv", "env", "status"),
    [(["--help"], {}, 0), (["sync"], {"QTICKETS_READ_TIMEOUT": "inf"}, 2), (["probe"], {"QTICKETS_TOKEN": ""}, 2)],
)
def test_help_and_a_bad_setting_answer_without_loading_dagster(
    argv: list[str], env: dict[str, str], status: int
) -> None:
    """The command line parses, and settings are checked, before Dagster, the warehouse
    driver or Arrow is imported: a typo costs a second, not the seconds they take to load."""
    result = subprocess.run(
        [sys.executable, "-c", LOADS_NOTHING_HEAVY, *argv],
        capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith(("QTICKETS_", "ZAKAZ_"))} | env,
    )  # fmt: skip
    assert result.stdout.split()[-2:] == [str(status), "-"], result.stdout + result.stderr


def readme_layout() -> dict[str, str]:
    """The README's "Layout" block: each ``zakaz_pipeline/`` entry and what it says of itself."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    entries = {}
    for line in block.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            name, _, says = line.strip().partition(" ")
            entries[name] = says.strip()
    return entries


def test_the_readme_layout_names_every_package_and_the_layers_it_promises() -> None:
    """A newcomer's map is the code's: every package of ``zakaz_pipeline`` is in the README's
    layout, nothing listed is missing, and a package it says uses no Dagster and no
    ClickHouse is one this file forbids them."""
    layout = readme_layout()
    packages = {f"{path.parent.name}/" for path in PACKAGE.glob("*/__init__.py")}
    listed = {name for name in layout if name.endswith("/")}
    assert listed == packages
    assert all((PACKAGE / name).exists() for name in layout)
    promised = {name.rstrip("/") for name, says in layout.items() if "no Dagster, no ClickHouse" in says}
    assert promised and all(FORBIDDEN[layer] >= STORAGE for layer in promised)
    assert {name.rstrip("/") for name in listed} >= FORBIDDEN.keys()
