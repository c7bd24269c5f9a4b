"""Runs executed in this process, filed as the UI files its own.

The UI lists a job's runs (Jobs → ``qtickets_sync`` → Runs) by job name and the hidden
``.dagster/repository`` tag, which Dagster derives from a run's *remote origin* (code
location and repository). ``execute_in_process`` and ``execute_job`` create runs without
one, so their runs show under Runs but never under their job, cannot be re-executed from
the UI and link to no job. Here the run gets the origin of the code location that
``workspace.yaml`` and ``infra/dagster/workspace.yaml`` name ``zakaz``, and executes in
this process, on the job's own executor: embedded chDB lets one process open a data
path, and the command holds it for the whole command; a server warehouse's job runs in
process too (``multi_or_in_process_executor``, asked for ``in_process``).

Every run made here is tagged with where its process lives (``run_workers.py``), and the
runs a killed command left unfinished are marked failed before the next one starts.

Dagster has no public API for creating a run with an origin: the names come from
``dagster_private.py``, whose guard is ``test_local_runs.py`` (it asks the UI's GraphQL
for the job's runs).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Mapping
from typing import Any

from dagster import DagsterInstance, EventLogEntry, JobExecutionResult, multi_or_in_process_executor

from zakaz_pipeline.defs.sensors import run_monitoring
from zakaz_pipeline.runtime.dagster_private import (
    SINGLETON_REPOSITORY_NAME,
    InProcessCodeLocationOrigin,
    LoadableTargetOrigin,
    ReconstructableJob,
    ReconstructableRepository,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
    execute_run,
)
from zakaz_pipeline.runtime.run_workers import fail_dead_runs, this_process_tags
from zakaz_pipeline.settings import Settings
from zakaz_pipeline.warehouse.resource import ClickHouseResource

# The code location's name in workspace.yaml and infra/dagster/workspace.yaml (a test holds them equal).
CODE_LOCATION = "zakaz"
DEFINITIONS_MODULE = "zakaz_pipeline.definitions"
DEFINITIONS_ATTRIBUTE = "defs"


def remote_job_origin(job_name: str) -> RemoteJobOrigin:
    """The origin the webserver gives a run of ``job_name`` it launches; its label
    (``__repository__@zakaz``) is what the UI filters a job's runs by."""
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable, module_name=DEFINITIONS_MODULE, attribute=DEFINITIONS_ATTRIBUTE
        ),
        location_name=CODE_LOCATION,
    )
    return RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME).get_job_origin(job_name)


def reconstructable_job(job_name: str, module: str = DEFINITIONS_MODULE) -> ReconstructableJob:
    """The job as the code location loads it: ``defs`` of ``module`` (``zakaz_pipeline.definitions``)."""
    repository = ReconstructableRepository.for_module(module, DEFINITIONS_ATTRIBUTE)
    return repository.get_reconstructable_job(job_name)


def execute_here(
    instance: DagsterInstance,
    job_name: str,
    *,
    tags: Mapping[str, str],
    run_config: Mapping[str, Any],
    listener: Callable[[EventLogEntry], None] | None = None,
    module: str = DEFINITIONS_MODULE,
) -> JobExecutionResult:
    """Create a run of ``job_name`` filed under its job in the UI and execute it in this
    process; ``listener`` sees each of the run's events as it is stored (the CLI's progress).
    ``module`` holds the definitions (the benchmarks run an emptied copy of the graph this way)."""
    job = reconstructable_job(job_name, module)
    job_def = job.get_definition()
    if job_def.executor_def.name == multi_or_in_process_executor.name:
        run_config = {**run_config, "execution": {"config": {"in_process": {}}}}
    run = instance.create_run_for_job(
        job_def=job_def,
        run_config=run_config,
        tags={**tags, **this_process_tags()},
        remote_job_origin=remote_job_origin(job_name),
        job_code_origin=job.get_python_origin(),
    )
    if listener is not None:
        instance.add_event_listener(run.run_id, listener)
    return execute_run(job, run, instance, raise_on_error=False)


def fail_runs_left_behind(instance: DagsterInstance, settings: Settings) -> None:
    """Runs whose process died (a SIGKILL, an OOM kill, a power cut) are marked failed
    before this command starts its own, and recorded as failed syncs in the warehouse:
    left STARTED they would hold the run queue's only place for ever."""
    for run_id in fail_dead_runs(instance):
        record_in_warehouse(instance, run_id, settings)


def record_in_warehouse(instance: DagsterInstance, run_id: str, settings: Settings) -> None:
    """What the run-status sensors do for daemon runs, done for the command's own runs."""
    run_monitoring.record_run(instance, warehouse_resource(settings), run_id, settings.org)


def record_refused_start(settings: Settings, first: dt.date, last: dt.date, message: str) -> None:
    """A sync over ``first``..``last`` the API refused before it became a run, recorded as a failed sync."""
    run_monitoring.record_refused_start(warehouse_resource(settings), settings.org, first, last, message)


def warehouse_resource(settings: Settings) -> ClickHouseResource:
    """The warehouse of ``settings``, for what is recorded outside a run."""
    return ClickHouseResource(
        url=settings.clickhouse_url,
        database=settings.clickhouse_database,
        cluster=settings.clickhouse_cluster,
        timezone=settings.timezone,
    )
