"""The live shop behind ``zakaz demo --ui``: seeded, every kind of change, ground truth exact."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

from zakaz_pipeline_tests import truth
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.simulator.live import ROTATION, LiveShop, read_journal

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
TZ = "Europe/Moscow"


def shop(tmp_path: Path, name: str) -> LiveShop:
    account = SimulatedAccount.generate(seed=5, orders=300, events=5, now=NOW)
    ticks = iter(NOW + dt.timedelta(seconds=5 * n) for n in range(1, 1000))
    return LiveShop(account, seed=5, interval=5, timezone=TZ, journal=tmp_path / name, clock=lambda: next(ticks))


def day_totals(account: SimulatedAccount, day: str) -> dict[str, Decimal]:
    cells = [v for (d, _), v in truth.daily_sales(account, TZ).items() if d.isoformat() == day]
    return {
        "orders": Decimal(sum(c.orders for c in cells)),
        "tickets_sold": Decimal(sum(c.tickets_sold for c in cells)),
        "gross_revenue": sum((c.gross_revenue for c in cells), Decimal(0)),
        "refunded_amount": sum((c.refunded_amount for c in cells), Decimal(0)),
        "revenue": sum((c.revenue for c in cells), Decimal(0)),
    }


def test_changes_are_seeded_journalled_and_keep_the_truth_exact(tmp_path: Path) -> None:
    first, second = shop(tmp_path, "a.jsonl"), shop(tmp_path, "b.jsonl")
    for _ in range(2 * len(ROTATION)):
        change = first.step()
        second.step()
        assert change is not None
        assert {k: Decimal(v) for k, v in change.day_truth.items()} == day_totals(first.account, change.sales_date)
    assert read_journal(tmp_path / "a.jsonl") == first.changes == second.changes
    kinds = {change.kind for change in first.changes}
    assert {"order", "refund", "cancel"} <= kinds
    old = [c for c in first.changes if c.kind in ("refund", "cancel")]
    assert len({c.sales_date for c in old}) == len(old), "each old day is changed once"
    today = first.account.now.astimezone(dt.timezone(dt.timedelta(hours=3))).date()
    assert all(dt.date.fromisoformat(c.sales_date) <= today - dt.timedelta(days=3) for c in old)
    assert all(c.sales_date == today.isoformat() for c in first.changes if c.kind in ("order", "late_payment"))
    assert first.account.now == NOW + dt.timedelta(seconds=5 * len(first.changes))


def test_runs_in_its_own_thread_until_stopped(tmp_path: Path) -> None:
    account = SimulatedAccount.generate(seed=2, orders=200, events=4)
    before = len(account.orders)
    with LiveShop(account, seed=2, interval=0.01, timezone=TZ, journal=tmp_path / "j.jsonl") as live:
        while len(live.changes) < 10:
            time.sleep(0.01)
    made = len(read_journal(tmp_path / "j.jsonl"))
    assert made >= 10 and len(account.orders) > before
    assert len(read_journal(tmp_path / "j.jsonl")) == made  # nothing after stop
