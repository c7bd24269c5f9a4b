"""The inventory step's seat requests, started by the events step of the same run.

At the API's pace the seats of every show on sale are most of a tick's waiting (53
requests, ~1.1 s at 80 ms and four in flight), and the in-process executor runs steps one
after another: the orders and checks steps in between would wait on nothing. So the
events step, which knows the shows on sale first, starts the seat requests in the
background, within the run's request limit and keeping one slot free for the steps'
own requests; the inventory step takes their counts, with the snapshot time they were
requested at. Only where it can pay off: the run materializes the inventory and its steps
share this process (and so the resource). Otherwise nothing is requested early.

Should the inventory step not run after all (a blocking check of the dimensions failed,
the run was stopped), the early requests finish and are dropped with the run's process:
the resource has no teardown, because one would make it a context-manager resource,
which every sensor using it would then have to enter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import AssetExecutionContext, AssetKey, in_process_executor, multi_or_in_process_executor

from zakaz_pipeline.columns import Columns
from zakaz_pipeline.qtickets.client import QticketsClient
from zakaz_pipeline.qtickets.concurrency import Prefetch
from zakaz_pipeline.qtickets.rows import show_inventory, shows_on_sale

INVENTORY = AssetKey("stg_qtickets_api_inventory_raw")
# Executors that run every step in the run's process: Dagster's in-process one, and the
# one ``execute_in_process`` and ``materialize`` put in place of the job's own.
IN_PROCESS_EXECUTORS = (in_process_executor.name, "execute_in_process_executor")


def snapshot_time() -> dt.datetime:
    """When an inventory snapshot is taken: now, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class SeatCounts:
    """``(tickets_total, tickets_left)`` of the shows on sale at ``at``, being requested."""

    at: dt.datetime
    client: QticketsClient
    pending: Prefetch[int, tuple[int, int]]

    @classmethod
    def start(cls, client: QticketsClient, dim_events: Columns, dim_shows: Columns, workers: int) -> SeatCounts:
        at = snapshot_time()
        show_ids = [show_id for _, show_id in shows_on_sale(dim_events, dim_shows, at)]
        return cls(at, client, Prefetch(lambda show_id: show_inventory(client.show_seats(show_id)), show_ids, workers))

    def of(self, show_ids: Sequence[int], client: QticketsClient) -> list[tuple[int, int]]:
        """Each show's counts: the early request's, or ``client``'s now for a show it lacks."""
        try:
            taken = [(show_id, self.pending.take(show_id)) for show_id in show_ids]
            return [
                future.result() if future is not None else show_inventory(client.show_seats(show_id))
                for show_id, future in taken
            ]
        finally:
            self.close()

    def close(self) -> None:
        self.pending.close()
        self.client.close()


def inventory_follows_here(context: AssetExecutionContext) -> bool:
    """Whether this run materializes the inventory in a later step of this process."""
    selected = INVENTORY in context.job_def.asset_layer.selected_asset_keys
    return selected and steps_share_process(context.job_def.executor_def.name, context.run.run_config)


def steps_share_process(executor: str, run_config: Mapping[str, Any]) -> bool:
    """Whether a run on ``executor`` with ``run_config`` runs all its steps in one process:
    the in-process executor (the embedded warehouse's, ``materialize``'s), or a server
    deployment's ``multi_or_in_process`` asked for ``in_process`` (the ``zakaz`` command)."""
    if executor in IN_PROCESS_EXECUTORS:
        return True
    execution = run_config.get("execution")
    config = execution.get("config") if isinstance(execution, Mapping) else None
    return executor == multi_or_in_process_executor.name and isinstance(config, Mapping) and "in_process" in config
