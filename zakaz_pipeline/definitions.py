"""``defs``: what ``dagster dev``, workspace.yaml and the ``zakaz`` CLI load.

Loading needs no secrets and no network. With the embedded warehouse every run uses the
in-process executor, because one process at a time may open a chDB data path; with a
server, runs default to one process per step, and the ``zakaz`` command asks for
``in_process`` (``local_runs``).
"""

from __future__ import annotations

import os

from dagster import Definitions, in_process_executor, load_assets_from_modules, multi_or_in_process_executor

from zakaz_pipeline.config import default_clickhouse_url
from zakaz_pipeline.defs import assets
from zakaz_pipeline.defs.checks import asset_checks, qtickets_checks_job
from zakaz_pipeline.defs.jobs import qtickets_sync_job
from zakaz_pipeline.defs.resources import build_resources
from zakaz_pipeline.defs.schedules import qtickets_every_15_minutes
from zakaz_pipeline.defs.sensors.alerts import alert_sensors
from zakaz_pipeline.defs.sensors.late_changes import qtickets_late_changes, qtickets_late_changes_job
from zakaz_pipeline.defs.sensors.run_monitoring import meta_job_runs_sensors


def _embedded() -> bool:
    return (os.environ.get("CLICKHOUSE_URL", "").strip() or default_clickhouse_url()).startswith("chdb://")


defs = Definitions(
    assets=[*load_assets_from_modules([assets]), assets.meta_job_runs],
    asset_checks=asset_checks,
    jobs=[qtickets_sync_job, qtickets_late_changes_job, qtickets_checks_job],
    schedules=[qtickets_every_15_minutes],
    sensors=[qtickets_late_changes, *meta_job_runs_sensors, *alert_sensors],
    resources=build_resources(),
    executor=in_process_executor if _embedded() else multi_or_in_process_executor,
)
