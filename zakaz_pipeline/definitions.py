"""The code location: ``defs`` is what ``dagster dev``, workspace.yaml and the ``zakaz`` CLI load.

Nothing is read when this module is imported: ``defs`` is Dagster's lazy loader
(``@definitions``), which reads the settings (``Settings.from_env``, no secrets needed,
every bad value reported at once) and calls ``build_definitions``. Loading needs no
secrets and no network. With the embedded warehouse every run uses the in-process
executor, because one process at a time may open a chDB data path; with a server, runs
default to one process per step, and the ``zakaz`` command asks for ``in_process``
(``runtime/runs.py``).
"""

from __future__ import annotations

from dagster import Definitions, definitions, in_process_executor, multi_or_in_process_executor

from zakaz_pipeline.defs.api_findings import qtickets_api_spec
from zakaz_pipeline.defs.assets import build_assets
from zakaz_pipeline.defs.checks import checks_for, qtickets_checks_job
from zakaz_pipeline.defs.jobs import sync_job
from zakaz_pipeline.defs.partitions import daily_partitions
from zakaz_pipeline.defs.resources import build_resources
from zakaz_pipeline.defs.schedules import default_status, nightly_checks, refresh
from zakaz_pipeline.defs.sensors.alerts import alert_sensors
from zakaz_pipeline.defs.sensors.late_changes import late_changes_job, late_changes_sensor
from zakaz_pipeline.defs.sensors.run_monitoring import meta_job_runs_sensors
from zakaz_pipeline.defs.sensors.webhook_heartbeat import webhook_heartbeat_sensor
from zakaz_pipeline.defs.sensors.webhooks import webhooks_sensor
from zakaz_pipeline.settings import Settings


def build_definitions(settings: Settings) -> Definitions:
    """Every asset, check, job, schedule, sensor and resource, configured by ``settings``."""
    partitions = daily_partitions(settings.history_start, settings.timezone)
    status = default_status(settings.schedule_running)
    sync, late_changes = sync_job(partitions), late_changes_job(partitions)
    return Definitions(
        assets=[qtickets_api_spec(), *build_assets(partitions, retry_delay=settings.step_retry_delay)],
        asset_checks=checks_for(embedded=settings.embedded),
        jobs=[sync, late_changes, qtickets_checks_job],
        schedules=[
            refresh(sync, partitions, cron=settings.schedule_cron, status=status),
            nightly_checks(qtickets_checks_job, timezone=settings.timezone, status=status),
        ],
        sensors=[
            late_changes_sensor(
                late_changes,
                partitions,
                interval=settings.late_changes_interval,
                status=status,
                scan_hours=settings.late_scan_hours,
                strategy=settings.orders_strategy,
            ),
            webhooks_sensor(
                late_changes,
                partitions,
                queue=settings.webhook_queue,
                interval=settings.webhooks_interval,
                running=settings.schedule_running and settings.webhooks_configured,
            ),
            *meta_job_runs_sensors,
            webhook_heartbeat_sensor(settings),
            *alert_sensors(settings),
        ],
        resources=build_resources(settings),
        executor=in_process_executor if settings.embedded else multi_or_in_process_executor,
    )


@definitions
def defs() -> Definitions:
    return build_definitions(Settings.from_env(need_secrets=False))
