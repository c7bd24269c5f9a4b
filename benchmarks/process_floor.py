"""What every ``zakaz sync`` pays before its run can start, run on its own and timed from
outside: the command's imports, the sync job's definitions, the Dagster instance in
``DAGSTER_HOME`` and the warehouse in ``CLICKHOUSE_URL`` opened as ``run_sync`` opens them,
then the same quick exit. Its wall time and peak RSS are the part of a tick's targets no
change to the run can reach, so the report sets the tick against it.

    python -m benchmarks.process_floor   (with the tick's environment)
"""

from __future__ import annotations

import gc
import sys

from zakaz_pipeline.defs.jobs import SYNC_JOB
from zakaz_pipeline.runtime.instance import open_instance
from zakaz_pipeline.runtime.runs import reconstructable_job
from zakaz_pipeline.settings import Settings
from zakaz_pipeline.warehouse.connection import open_client, parse_target


def main() -> None:
    settings = Settings.from_env()
    with open_client(parse_target(settings.clickhouse_url, settings.clickhouse_database)), open_instance():
        reconstructable_job(SYNC_JOB).get_definition()
    gc.freeze()  # the command's own exit (zakaz_pipeline.cli.command)
    sys.exit(0)


if __name__ == "__main__":
    main()
