"""What Dagster alone costs a tick: the sync job's graph (its steps, assets, checks and
daily partitions, as ``build_definitions`` makes them) with every body emptied, run over
the tick's two days the way ``zakaz sync`` runs the real one (the same instance, filing
and in-process executor, the same console), in a process like ``process_floor``'s.

Timed from outside, less the process floor, it is the share of a tick that Dagster's own
planning, events and steps take before any request is made or any row written; the
report sets it beside the tick. ``defs`` here is that empty graph's code location.

    python -m benchmarks.dagster_floor   (with the tick's environment)
"""

import datetime as dt
import gc
import sys
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    Definitions,
    MaterializeResult,
    definitions,
    in_process_executor,
    multi_asset,
    multi_asset_check,
)

from zakaz_pipeline.cli.console import RunConsole, console_logging
from zakaz_pipeline.definitions import build_definitions
from zakaz_pipeline.defs.jobs import SYNC_JOB, partition_range_tags, sync_job
from zakaz_pipeline.defs.partitions import daily_partitions
from zakaz_pipeline.runtime.instance import open_instance
from zakaz_pipeline.runtime.runs import execute_here
from zakaz_pipeline.settings import Settings
from zakaz_pipeline.warehouse.connection import open_client, parse_target

MODULE = "benchmarks.dagster_floor"


def _emptied_assets(assets: AssetsDefinition | AssetSpec) -> AssetsDefinition | AssetSpec:
    """The same step (name, specs, checks, subsetting), materializing every selected asset at once."""
    if isinstance(assets, AssetSpec):
        return assets

    @multi_asset(
        specs=list(assets.specs), check_specs=list(assets.check_specs), name=assets.node_def.name, can_subset=True
    )
    def emptied(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
        for key in sorted(context.selected_asset_keys):
            yield MaterializeResult(asset_key=key, metadata={"rows": 0})

    return emptied


def _emptied_checks(checks: Any) -> Any:
    """The same check step, every selected check passing at once."""

    @multi_asset_check(specs=list(checks.check_specs), name=checks.node_def.name, can_subset=True)
    def emptied(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        for key in sorted(context.selected_asset_check_keys):
            yield AssetCheckResult(passed=True, asset_key=key.asset_key, check_name=key.name)

    return emptied


@definitions
def defs() -> Definitions:
    settings = Settings.from_env(need_secrets=False)
    real = build_definitions(settings)
    partitions = daily_partitions(settings.history_start, settings.timezone)
    return Definitions(
        assets=[_emptied_assets(assets) for assets in real.assets or []],
        asset_checks=[_emptied_checks(checks) for checks in real.asset_checks or []],
        jobs=[sync_job(partitions)],
        executor=in_process_executor,
    )


def main() -> None:
    settings = Settings.from_env()
    last = dt.datetime.now(settings.tz).date()
    tags = partition_range_tags(last - dt.timedelta(days=1), last)
    console = RunConsole()
    with open_client(parse_target(settings.clickhouse_url, settings.clickhouse_database)), open_instance() as instance:
        try:
            result = execute_here(
                instance, SYNC_JOB, tags=tags, run_config=console_logging(False), listener=console, module=MODULE
            )
        finally:
            console.close()
    if not result.success:
        sys.exit("the emptied sync graph's run failed")
    gc.freeze()  # the command's own exit (zakaz_pipeline.cli.command)
    sys.exit(0)


if __name__ == "__main__":
    main()
