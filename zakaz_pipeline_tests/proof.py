"""The reliability proof: many seeded runs against a misbehaving API and warehouse, then
the warehouse reconciled with the simulator's ground truth to the ticket and the kopeck.

Each run draws from its seed: which API faults (and how often), whether the token is
revoked mid-run, whether the warehouse goes away mid-run, which days it syncs (the whole
history, a 15-minute tick's two days, or a backfill window), and how the shop changed
since the previous run. Runs may fail; the next runs are the re-runs. After every run no
ticket may be doubled or invented; after a final fault-free run nothing may differ.

``pytest zakaz_pipeline_tests/test_reliability.py`` runs a sample; the full proof is
``python -m zakaz_pipeline_tests.proof --runs 50`` (or ``ZAKAZ_RELIABILITY_FULL=1`` with
pytest), whose report is kept in docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from zakaz_pipeline.qtickets.concurrency import DEFAULT_MAX_IN_FLIGHT
from zakaz_pipeline.simulator.faults import FaultPlan, drift
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, TOKEN  # sets the partitions' environment first
from zakaz_pipeline_tests.harness import ORG, TZ, attempt, failure_messages, history
from zakaz_pipeline_tests.outages import OutageWarehouse, outage_after, statements_refused
from zakaz_pipeline_tests.reconcile import Differences, differences

API_KINDS = ("429", "5xx", "slow", "reset", "truncate", "drift", "extra")
READ_TIMEOUT = 0.25
SLOW_SECONDS = 0.5
WAREHOUSE_STATEMENTS = 60  # a run issues about 50; a cut beyond them never happens


@dataclass(frozen=True)
class Scenario:
    seed: int
    plan: FaultPlan
    cut: int | None  # the warehouse refuses statements after this many
    span: str  # "history", "tick" or "window"
    shop_changes: int

    @classmethod
    def draw(cls, seed: int) -> Scenario:
        rng = random.Random(seed)
        kinds = set(rng.sample(API_KINDS, rng.randint(1, 4)))
        if rng.random() < 0.15:
            kinds.add("badjson")
        plan = FaultPlan(
            seed=seed,
            rate=rng.choice((0.05, 0.1, 0.2, 0.3)),
            kinds=frozenset(kinds),
            revoke_after=rng.randint(2, 30) if rng.random() < 0.1 else None,
            burst=rng.randint(1, 3),
            slow_seconds=SLOW_SECONDS,
        )
        cut = rng.randint(1, WAREHOUSE_STATEMENTS) if rng.random() < 0.15 else None
        return cls(seed, plan, cut, rng.choice(("history", "tick", "window")), rng.randint(0, 6))

    def days(self, account: SimulatedAccount, rng: random.Random) -> tuple[dt.date, dt.date]:
        first, last = history(account)
        if self.span == "tick":
            return last - dt.timedelta(days=1), last
        if self.span == "window":
            start = first + dt.timedelta(days=rng.randint(0, (last - first).days))
            return start, min(last, start + dt.timedelta(days=rng.randint(0, 30)))
        return first, last


@dataclass
class Report:
    runs: int = 0
    succeeded: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    # The most requests the simulator held at once, over every run; a "slow" answer the
    # client gave up on (read timeout) is still held there while its retry travels.
    peak_in_flight: int = 0
    shop_changes: int = 0
    warehouse_refusals: int = 0
    step_retries: int = 0
    invariant_breaks: list[str] = field(default_factory=list)
    final: Differences | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.invariant_breaks and self.final is not None and self.final.exact

    def table(self) -> str:
        final = self.final or Differences(-1, -1, -1, -1, -1, Decimal(-1))
        lines = [
            f"seeded runs                     {self.runs}",
            f"  succeeded                     {self.succeeded}",
            f"  failed                        {self.runs - self.succeeded}"
            + "".join(f"\n    {cause:<28}{count}" for cause, count in sorted(self.failures.items()))
            + (
                "\n    (a run may have several causes)"
                if sum(self.failures.values()) > self.runs - self.succeeded
                else ""
            ),
            f"API faults injected             {sum(self.faults.values())}"
            + "".join(f"\n    {kind:<28}{count}" for kind, count in sorted(self.faults.items())),
            f"shop changes between runs       {self.shop_changes}",
            f"API requests                    {self.requests}",
            f"  most in flight at once        {self.peak_in_flight} (QTICKETS_MAX_IN_FLIGHT {DEFAULT_MAX_IN_FLIGHT})",
            f"warehouse statements refused    {self.warehouse_refusals}",
            f"step retries (Dagster policy)   {self.step_retries}",
            f"broken invariants after a run   {len(self.invariant_breaks)}",
            "after the final fault-free run:",
            f"  tickets lost                  {final.lost}",
            f"  tickets duplicated            {final.duplicated}",
            f"  tickets unexpected            {final.unexpected}",
            f"  tickets stale                 {final.stale}",
            f"  fact rows differing           {final.fact_days}",
            f"  revenue off, RUB              {final.kopecks}",
            f"result                          {'EXACT' if self.passed else 'DIFFERENT'} ({self.seconds:.0f} s)",
        ]
        return "\n".join(lines)


def prove(seeds: list[int], chdb_path: Path, *, orders: int = 400) -> Report:
    """Run every seed's scenario in turn on one account and warehouse, then a clean run."""
    started = time.monotonic()
    report = Report()
    account = SimulatedAccount.generate(
        seed=1000 + len(seeds), orders=orders, events=6, history_days=HISTORY_DAYS, now=ACCOUNT_NOW
    )
    database = f"proof_{uuid.uuid4().hex[:8]}"
    with SimulatorServer(account, token=TOKEN) as server, DagsterInstance.ephemeral() as instance:
        for seed in seeds:
            _one_run(Scenario.draw(seed), account, server, instance, chdb_path, database, report)
        server.set_faults(None)
        warehouse = ClickHouseResource(url=f"chdb://{chdb_path}", database=database)
        first, last = history(account)
        final = attempt(server, warehouse, instance, first, last, read_timeout=READ_TIMEOUT, log_level="CRITICAL")
        if not final.success:
            report.invariant_breaks.append(f"the final fault-free run failed: {failure_messages(final)[:1]}")
        with warehouse.get_client() as client:
            report.final = differences(client, account, ORG, TZ)
    report.seconds = time.monotonic() - started
    return report


def _one_run(
    scenario: Scenario,
    account: SimulatedAccount,
    server: SimulatorServer,
    instance: DagsterInstance,
    chdb_path: Path,
    database: str,
    report: Report,
) -> None:
    rng = random.Random(scenario.seed)
    for _ in range(scenario.shop_changes):
        drift(account, rng)
    report.shop_changes += scenario.shop_changes
    switch = outage_after(scenario.cut if scenario.cut is not None else 10**9)
    warehouse = OutageWarehouse(url=f"chdb://{chdb_path}", database=database, outage=switch)
    server.set_faults(scenario.plan)
    first, last = scenario.days(account, rng)
    requests_before = len(server.requests)
    result = attempt(server, warehouse, instance, first, last, read_timeout=READ_TIMEOUT, log_level="CRITICAL")
    server.restore_token()
    report.runs += 1
    report.succeeded += result.success
    report.faults.update(server.fault_counts)
    report.requests += len(server.requests) - requests_before
    report.peak_in_flight = max(report.peak_in_flight, server.reset_peak_in_flight())
    report.warehouse_refusals += statements_refused(switch)
    report.step_retries += sum(
        1 for event in result.all_events if event.event_type == DagsterEventType.STEP_UP_FOR_RETRY
    )
    if not result.success:
        report.failures.update(_causes(failure_messages(result), statements_refused(switch)))
    with ClickHouseResource(url=f"chdb://{chdb_path}", database=database).get_client() as client:
        now = differences(client, account, ORG, TZ)
    if now.duplicated or now.unexpected:
        report.invariant_breaks.append(f"seed {scenario.seed}: {now}")


def _causes(messages: list[str], refused: int) -> list[str]:
    """Why a run failed; a run may fail for more than one reason."""
    text = " ".join(messages)
    causes = [
        cause
        for cause, present in (
            ("warehouse went away", refused > 0),
            ("token revoked", "QTICKETS_TOKEN" in text),
            ("invalid JSON from the API", "not valid JSON" in text),
        )
        if present
    ]
    return causes or ["other: " + (messages[0].splitlines()[0][:60] if messages else "no step failed")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zakaz-proof-") as tmp:
        report = prove(list(range(args.first_seed, args.first_seed + args.runs)), Path(tmp) / "warehouse")
    print(report.table())
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
