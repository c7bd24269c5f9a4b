"""The Dagster instance the ``zakaz`` command and ``dagster dev`` run on, and the runs the
command executes in its own process.

Not the pipeline (that is ``defs/``, loaded by ``definitions.py``) and not the command line
(``cli/`` parses, configures, launches and reports); the pieces here are what Dagster runs
those definitions *on*, locally:

- ``instance.py``: ``DAGSTER_HOME`` and its ``dagster.yaml`` (from ``instance.yaml``): where
  runs, events and schedules are stored, one run at a time because an embedded warehouse
  opens in one process at a time;
- ``event_log.py``: the instance's event-log storage, Dagster's SQLite files written a batch
  per transaction, because a sync over years of daily partitions stores thousands of events;
- ``run_workers.py``: where each run's process lives, and the run launcher that tells
  Dagster's run monitoring when a run's worker died, so a killed run does not hold the
  queue's one place for ever (used by ``dagster dev``'s daemon too);
- ``runs.py``: runs executed in this process, filed under their job as the UI's own are,
  and recorded in ``meta_job_runs`` as the run-status sensors record the daemon's;
- ``dry_run.py``: the sync's API steps run with an IO manager that counts instead of writing;
- ``dagster_private.py``: the one module that imports Dagster's private names, and why.

The production deployment (``infra/dagster/dagster.yaml``) uses Dagster's own Postgres
storage and Docker launcher instead of ``event_log.py`` and ``run_workers.py``.
"""
