"""The live shop behind ``zakaz demo --ui``: seeded, every kind of change, journalled with the one
sales day whose ground truth it changes."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from zakaz_pipeline.simulator.live import ROTATION, Change, LiveShop, read_journal
from zakaz_pipeline.simulator.rendering import format_ts
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
TZ = "Europe/Moscow"


def shop(tmp_path: Path, name: str) -> LiveShop:
    account = SimulatedAccount.generate(seed=5, orders=300, events=5, now=NOW)
    ticks = iter(NOW + dt.timedelta(seconds=5 * n) for n in range(1, 1000))
    return LiveShop(account, seed=5, interval=5, timezone=TZ, journal=tmp_path / name, clock=lambda: next(ticks))


def changed(account: SimulatedAccount, change: Change) -> bool:
    """Whether the account shows the change the journal names, made at its ``at``."""
    order, at = account.order(change.order_id), format_ts(dt.datetime.fromisoformat(change.at))
    if change.kind == "refund":
        return next(b for b in order["baskets"] if b["id"] == change.basket_id)["refunded_at"] == at
    if change.kind == "cancel":
        return order["deleted_at"] == at
    return order["payed_at"] == at  # a new order or a late payment


def test_changes_are_seeded_journalled_and_change_only_their_sales_day(tmp_path: Path) -> None:
    first, second = shop(tmp_path, "a.jsonl"), shop(tmp_path, "b.jsonl")
    for _ in range(2 * len(ROTATION)):
        before = truth.daily_sales(first.account, TZ)
        change = first.step()
        second.step()
        assert change is not None and changed(first.account, change)
        after, day = truth.daily_sales(first.account, TZ), dt.date.fromisoformat(change.sales_date)
        assert truth.day_totals(after, day) != truth.day_totals(before, day), "the journal names the changed day"
        assert {k: v for k, v in after.items() if k[0] != day} == {k: v for k, v in before.items() if k[0] != day}
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
    account = SimulatedAccount.generate(seed=2, orders=200, events=4, now=ACCOUNT_NOW)
    before = len(account.orders)
    with LiveShop(account, seed=2, interval=0.01, timezone=TZ, journal=tmp_path / "j.jsonl") as live:
        while len(live.changes) < 10:
            time.sleep(0.01)
    made = len(read_journal(tmp_path / "j.jsonl"))
    assert made >= 10 and len(account.orders) > before
    assert len(read_journal(tmp_path / "j.jsonl")) == made  # nothing after stop
