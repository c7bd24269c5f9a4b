"""Every name the package takes from Dagster's private modules (``dagster._…``), and why.

Nothing else in ``zakaz_pipeline`` imports ``dagster._`` (``test_rooms.py`` reads every
module's imports to hold that). Each name below is used because Dagster 1.13 offers no
public way to do the same:

- **A run filed under its job** (``runs.py``). ``execute_in_process`` and ``execute_job``
  create runs without a *remote origin*, so the UI lists them under Runs but never under
  their job, cannot re-execute them and links them to no job. Creating a run with the origin
  the webserver would give it takes the job as a code location loads it
  (``ReconstructableRepository``, ``ReconstructableJob``), the origin's classes
  (``InProcessCodeLocationOrigin``, ``RemoteRepositoryOrigin``, ``RemoteJobOrigin``,
  ``LoadableTargetOrigin``, ``SINGLETON_REPOSITORY_NAME``) and ``execute_run`` to execute
  the run so created in this process.
- **The batched SQLite event log** (``event_log.py``): a subclass of Dagster's
  ``SqliteEventLogStorage`` (``SQLITE_BUSY_TIMEOUT_SECONDS`` its connections' timeout),
  configured as an instance storage (``ConfigurableClassData``, ``UserConfigSchema``), that
  writes the planned-check rows Dagster writes (``AssetCheckExecutionsTable``,
  ``AssetCheckExecutionRecordStatus``, ``AssetCheckEvaluationPlanned``). Dagster has no public
  storage base class; its own SQLite storage is the one whose files the UI reads.
- **A run launcher that can tell a dead worker** (``run_workers.py``): Dagster's run monitoring
  asks ``check_run_worker_health`` for a ``CheckRunHealthResult`` with a ``WorkerStatus``, and
  hands ``launch_run`` a ``LaunchRunContext``; the base launcher's types are not exported.

``test_local_runs.py`` uses every name here (a run filed under its job, found by the UI's
GraphQL, a launcher's health answer and the event log's storage), so a Dagster upgrade that
moves one fails that test, with this module the one place to fix.
"""

from dagster._config import UserConfigSchema
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.execution.api import execute_run
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._serdes import ConfigurableClassData

__all__ = [
    "SINGLETON_REPOSITORY_NAME",
    "SQLITE_BUSY_TIMEOUT_SECONDS",
    "AssetCheckEvaluationPlanned",
    "AssetCheckExecutionRecordStatus",
    "AssetCheckExecutionsTable",
    "CheckRunHealthResult",
    "ConfigurableClassData",
    "InProcessCodeLocationOrigin",
    "LaunchRunContext",
    "LoadableTargetOrigin",
    "ReconstructableJob",
    "ReconstructableRepository",
    "RemoteJobOrigin",
    "RemoteRepositoryOrigin",
    "SqliteEventLogStorage",
    "UserConfigSchema",
    "WorkerStatus",
    "execute_run",
]
