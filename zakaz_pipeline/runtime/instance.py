"""The Dagster instance the ``zakaz`` command records its runs in: ``DAGSTER_HOME``.

``DAGSTER_HOME`` defaults to ``.zakaz/dagster_home``, the home a plain ``dagster dev`` in
the repository uses too (``dagster.yaml`` there), so the UI shows the command's runs beside
scheduled ones. A new home gets this package's ``instance.yaml``: one run at a time, the
run launcher of ``run_workers.py`` and the event log of ``event_log.py``.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from dagster import DagsterInstance
from filelock import FileLock

from zakaz_pipeline.settings import LOCAL_STATE_DIR

EVENT_BATCH_SIZE = 1000
TEMPLATE = "instance.yaml"
# Where the instance's pieces lived before this package held them: a home written then names
# them in its dagster.yaml, which would no longer load, so it is rewritten to name them here.
MOVED_MODULES = {
    "zakaz_pipeline.cli.event_log": "zakaz_pipeline.runtime.event_log",
    "zakaz_pipeline.cli.run_workers": "zakaz_pipeline.runtime.run_workers",
}


def batch_run_events() -> None:
    """A run over many days records a planned and a materialized event per day and asset:
    plan once per asset and store in batches (measured, a 2-year sync: 37 s → 18 s on SQLite;
    docker-compose.yml sets the same for the deployment's runs). Read by Dagster from the
    environment of the process that executes the run; a variable already set wins."""
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")


def ensure_dagster_home() -> Path:
    """Runs are recorded in DAGSTER_HOME; default to ``.zakaz/dagster_home`` with our instance settings."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str((LOCAL_STATE_DIR / "dagster_home").resolve())))
    batch_run_events()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        template = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
        _write(config, template.replace("DAGSTER_HOME_PATH", json.dumps(str(home.resolve()))))
    else:
        _name_moved_modules(config)
    return home


def open_instance() -> DagsterInstance:
    """The instance in DAGSTER_HOME, its storages created under a lock: processes started
    together on a fresh home would otherwise race to create the same SQLite tables."""
    home = ensure_dagster_home()
    with FileLock(home / ".zakaz-init.lock", thread_local=False):
        instance = DagsterInstance.get()
        instance.get_runs(limit=1)
    return instance


def existing_instance() -> DagsterInstance | None:
    """The instance of a DAGSTER_HOME that is already set up, or None: for a command that
    reads what is recorded and must leave no home behind where there was none."""
    home = Path(os.environ.get("DAGSTER_HOME") or LOCAL_STATE_DIR / "dagster_home")
    return open_instance() if (home / "dagster.yaml").is_file() else None


def _name_moved_modules(config: Path) -> None:
    """The home's own settings kept, only the moved modules' names changed."""
    text = config.read_text(encoding="utf-8")
    moved = text
    for old, new in MOVED_MODULES.items():
        moved = moved.replace(old, new)
    if moved != text:
        _write(config, moved)


def _write(path: Path, text: str) -> None:
    """Whole or not at all: processes started together read the file as they start."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
