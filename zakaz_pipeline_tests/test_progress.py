"""The progress line: what the asset logs, how the CLI renders it on a terminal and off one,
and the client's paging totals it is built from (against the simulator over HTTP)."""

from __future__ import annotations

import datetime as dt
import io

from zakaz_pipeline.cli.console import ProgressRenderer
from zakaz_pipeline.defs.progress import Progress, Throttle
from zakaz_pipeline.qtickets.client import QticketsClient
from zakaz_pipeline_tests.conftest import TOKEN


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_logged_message_reads_back() -> None:
    for progress in (Progress(1500, 123071, 14, 730), Progress(0, None, 0, 1)):
        assert Progress.parse(progress.message()) == progress
    assert Progress.parse("fetched 3 paid orders, 5 tickets") is None


def test_on_a_terminal_one_line_is_rewritten_with_elapsed_and_the_fetchs_own_eta() -> None:
    """A minute of loading and starting the run comes before the first page: the ETA is the
    fetch's pace since its first update (1,000 orders in 10 s: 2,000 left, 20 s), not the
    command's (2,000 in 70 s would say 70 s)."""
    stream, clock = io.StringIO(), Clock()
    renderer = ProgressRenderer(stream, terminal=True, clock=clock)
    clock.now += 60
    renderer.show(Progress(1000, 4000, 10, 120))
    clock.now += 10
    renderer.show(Progress(2000, 4000, 90, 120))
    renderer.finish()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    first, second = (part.removeprefix("\x1b[2K").strip() for part in text.split("\r")[1:])
    assert first == "sync: orders read 1,000 / 4,000, days 10 / 120, elapsed 1:00"
    assert second == "sync: orders read 2,000 / 4,000, days 90 / 120, elapsed 1:10, ETA 20 s"


def test_off_a_terminal_each_update_is_a_plain_line_without_eta_when_done_or_unknown() -> None:
    stream, clock = io.StringIO(), Clock()
    renderer = ProgressRenderer(stream, terminal=False, clock=clock)
    renderer.show(Progress(500, None, 3, 10))
    clock.now += 5
    renderer.show(Progress(800, 800, 10, 10))
    renderer.finish()
    assert stream.getvalue().splitlines() == [
        "sync: orders read 500, days 3 / 10, elapsed 0 s",
        "sync: orders read 800 / 800, days 10 / 10, elapsed 5 s",
    ]
    assert "\r" not in stream.getvalue()


def test_throttle_lets_the_first_call_through_then_waits() -> None:
    throttle = Throttle(seconds=3600)
    assert throttle.due() and not throttle.due()
    assert Throttle(seconds=0).due()


def test_client_reports_fetched_and_expected_orders_per_page(small_server, small_account) -> None:
    start, end = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    paid = sum(1 for order in small_account.orders if order["payed_at"])
    seen: list[tuple[int, int | None]] = []
    with QticketsClient(base_url=small_server.base_url, token=TOKEN, per_page=100) as client:
        assert client.count_paid_orders(start, end) == paid
        pages = list(client.iter_paid_orders(start, end, on_page=lambda fetched, total: seen.append((fetched, total))))
    assert [fetched for fetched, _ in seen] == [sum(len(p) for p in pages[: i + 1]) for i in range(len(pages))]
    assert len(seen) > 1 and all(total == paid for _, total in seen)
    assert seen[-1][0] == paid
