"""A sync's API steps, run as a sync runs them, with an IO manager that counts instead of writing.

``zakaz sync --dry-run`` answers "what would a sync fetch?" with the definitions' own steps
(``build_definitions``): events and shows, the paid orders of the days, the seat snapshot.
They run through Dagster's public ``materialize``, in this process, on an ephemeral (memory
only) instance, with ``CountingIOManager`` where a sync has the warehouse's IO manager.

Nothing is written anywhere, and no warehouse is opened, not even a scratch one: none of
these steps reads the warehouse. The facts and views, which are computed inside ClickHouse,
are left out; the inventory step's inputs (``dim_events``, ``dim_shows``) are the counting
IO manager's, which keeps what a step returned whole for the steps after it, and counts the
orders' stream batch by batch, keeping none of it. The API's findings that the orders fetch
reads (``defs/api_findings.py``) are copied from ``DAGSTER_HOME``'s instance into the
ephemeral one where there is a home; where there is none, the step probes the API as a
first run does, and what it learns goes with the ephemeral instance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    DagsterInstance,
    InputContext,
    IOManager,
    OutputContext,
    materialize,
)

from zakaz_pipeline.columns import Columns, row_count
from zakaz_pipeline.definitions import build_definitions
from zakaz_pipeline.defs.api_findings import latest_findings, observation
from zakaz_pipeline.defs.jobs import partition_range_tags
from zakaz_pipeline.errors import root_error
from zakaz_pipeline.runtime.instance import existing_instance
from zakaz_pipeline.settings import Settings

EVENTS, SHOWS = "dim_events", "dim_shows"
ORDERS = "stg_qtickets_api_orders_raw"
INVENTORY = "stg_qtickets_api_inventory_raw"
# The steps that read the API; every other step reads or computes inside the warehouse.
API_STEPS = (EVENTS, SHOWS, ORDERS, INVENTORY)


@dataclass
class Tally:
    """What one asset handed the IO manager: its rows, and the distinct values of a column."""

    rows: int = 0
    distinct: set[Any] = field(default_factory=set)


class CountingIOManager(IOManager):
    """An IO manager that writes nothing: it counts the rows of each output (``Columns`` or an
    iterable of them, as the warehouse's IO manager takes), and the distinct values of the
    column ``distinct_of`` names for a table. Whole outputs (``Columns``) are kept for the
    downstream steps of the same run, which ``materialize`` executes in this process; a
    stream of batches is consumed as the warehouse's writer would consume it, and dropped."""

    def __init__(self, distinct_of: dict[str, str] | None = None) -> None:
        self.distinct_of = distinct_of or {}
        self.tallies: dict[str, Tally] = {}
        self.kept: dict[AssetKey, Columns] = {}

    def handle_output(self, context: OutputContext, obj: Columns | Iterable[Columns] | None) -> None:
        if obj is None:
            return
        table = context.asset_key.path[-1]
        if isinstance(obj, dict):
            self.kept[context.asset_key] = obj
        tally = self.tallies.setdefault(table, Tally())
        column = self.distinct_of.get(table)
        for batch in [obj] if isinstance(obj, dict) else obj:
            tally.rows += row_count(batch)
            if column is not None:
                tally.distinct.update(batch[column])
        context.add_output_metadata({"dagster/row_count": tally.rows})

    def load_input(self, context: InputContext) -> Columns:
        key = context.asset_key
        if key not in self.kept:
            raise ValueError(f"{key.to_user_string()} was streamed or not run here: a dry run cannot hand it on")
        return self.kept[key]


@dataclass(frozen=True)
class DryRunCounts:
    """What a sync would write: rows of each raw table, orders with tickets, seats left."""

    events: int
    shows: int
    orders: int  # paid orders with at least one ticket: the orders the warehouse would hold
    ticket_rows: int
    shows_on_sale: int
    tickets_left: int


@dataclass(frozen=True)
class DryRun:
    success: bool
    counts: DryRunCounts | None = None
    error: str = ""  # the first failed step's root cause


def dry_run(settings: Settings, first: dt.date, last: dt.date, *, run_config: Mapping[str, Any]) -> DryRun:
    """The API steps of a sync over ``first``..``last``, counted, with nothing written;
    ``run_config`` as a sync's (the command's console logging)."""
    definitions = build_definitions(settings)
    counter = CountingIOManager(distinct_of={ORDERS: "order_id"})
    with DagsterInstance.ephemeral() as instance:
        _copy_findings(instance, settings.org)
        result = materialize(
            [assets for assets in definitions.assets or [] if isinstance(assets, AssetsDefinition | AssetSpec)],
            selection=list(API_STEPS),
            instance=instance,
            resources={**(definitions.resources or {}), "io_manager": counter},
            tags=partition_range_tags(first, last),
            run_config=run_config,
            raise_on_error=False,
        )
    if not result.success:
        failures = result.get_step_failure_events()
        error = failures[0].step_failure_data.error if failures else None
        return DryRun(False, error=root_error(error).message if error else "the dry run stopped before its steps")
    tallies, inventory = counter.tallies, counter.kept[AssetKey(INVENTORY)]
    counts = DryRunCounts(
        events=tallies[EVENTS].rows,
        shows=tallies[SHOWS].rows,
        orders=len(tallies[ORDERS].distinct),
        ticket_rows=tallies[ORDERS].rows,
        shows_on_sale=tallies[INVENTORY].rows,
        tickets_left=sum(inventory["tickets_left"]),
    )
    return DryRun(True, counts)


def _copy_findings(ephemeral: DagsterInstance, org: str) -> None:
    """The findings recorded in DAGSTER_HOME, if any, observed in ``ephemeral`` too, so the
    orders step fetches as a sync would; the home is only read."""
    home = existing_instance()
    if home is None:
        return
    with home:
        found = latest_findings(home, org)
    if found is not None:
        ephemeral.report_runless_asset_event(observation(found, org, "copied for a dry run"))
