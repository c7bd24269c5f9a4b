"""Polite concurrency for one run's API requests: a shared limit, a shared pause, windows.

A remote API costs tens of milliseconds a request, so one request at a time leaves the
run waiting on the network. ``RequestLimiter`` lets a few requests travel together, never
more than ``max_in_flight`` for the whole run (orders, events and seats share it), and
when the API answers 429 *every* worker waits out its ``Retry-After``, not only the one
that was told: urllib3 still decides whether and how often to retry (``PausingRetry``
only turns its sleep into a shared pause).

Order scans stay keyset scans: a range is cut into disjoint half-open payment-time windows
(``payment_windows``), each scanned as today in its own worker, and their pages come out as
they arrive through a queue a few pages deep (``pages_side_by_side``), so memory stays
bounded by a few pages whatever the range and every order is seen exactly once.

Background work runs on daemon threads, not a ``ThreadPoolExecutor``: the interpreter
joins an executor's threads at exit after running every call still queued, so a scan
nobody reads any more, or seat requests nobody will take, would keep a failed or stopped
``zakaz`` process alive. A daemon thread is told to stop and never holds the exit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Self, TypeVar
from zoneinfo import ZoneInfo

from urllib3 import BaseHTTPResponse
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

DEFAULT_MAX_IN_FLIGHT = 4
# A range of at most this many days is one scan: a few pages, nothing to gain from windows.
WHOLE_RANGE_DAYS = 7
# How long a worker blocked on a full queue waits before it looks whether the scan was abandoned.
_STOP_POLL_SECONDS = 0.1
T = TypeVar("T")
R = TypeVar("R")


class RequestLimiter:
    """At most ``max_in_flight`` requests at once, and one pause that holds them all."""

    def __init__(self, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self._resume_at = 0.0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the slots for a request (with its retries), after any pause."""
        with self._slots:
            self.wait_out_pause()
            yield

    def pause(self, seconds: float) -> None:
        """No request of the run starts (or retries) for ``seconds`` from now."""
        with self._lock:
            resume_at = time.monotonic() + seconds
            if resume_at > self._resume_at:
                self._resume_at = resume_at
                log.info("the API asked to slow down: every request waits %.1f s", seconds)

    def wait_out_pause(self) -> None:
        while True:
            with self._lock:
                delay = self._resume_at - time.monotonic()
            if delay <= 0:
                return
            time.sleep(delay)

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[function(item) for item in items]``, up to ``max_in_flight`` calls side by side."""
        items = list(items)
        if self.max_in_flight == 1 or len(items) < 2:
            return [function(item) for item in items]
        with ThreadPoolExecutor(min(self.max_in_flight, len(items)), thread_name_prefix="qtickets") as pool:
            return list(pool.map(function, items))


def _start_daemons(name: str, count: int, target: Callable[..., None], *args: Any) -> None:
    """``count`` daemon threads running ``target(*args)``: they never hold the interpreter's exit."""
    for number in range(count):
        threading.Thread(target=target, args=args, name=f"{name}_{number}", daemon=True).start()


class PausingRetry(Retry):
    """urllib3's ``Retry`` whose sleep before a retry is the run's: a 429 pauses every
    request of the ``limiter`` for its Retry-After (or the back-off when it gives none),
    and any retry waits out a pause another request started. What is retried, how often
    and for how long stay urllib3's."""

    limiter: RequestLimiter | None = None

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.limiter = self.limiter
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.limiter is None:
            super().sleep(response)
            return
        if response is not None and response.status == 429:
            retry_after = self.get_retry_after(response) if self.respect_retry_after_header else None
            self.limiter.pause(retry_after if retry_after is not None else self.get_backoff_time())
        else:
            super().sleep(response)
        self.limiter.wait_out_pause()


def payment_windows(start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> list[tuple[dt.datetime, dt.datetime]]:
    """``[start, end)`` cut at local midnights into disjoint half-open windows that cover
    it exactly: at the first of each month; at every midnight when the range is a month or
    less; not at all for a week or less (a tick's few pages gain nothing from splitting).
    Independent of the concurrency limit, so a run makes the same requests however many
    travel at once."""
    first, last = start.astimezone(tz).date(), (end - dt.timedelta(microseconds=1)).astimezone(tz).date()
    if (last - first).days < WHOLE_RANGE_DAYS:
        return [(start, end)]
    if (last - first).days < 31:
        cuts = [first + dt.timedelta(days=n) for n in range(1, (last - first).days + 1)]
    else:
        cuts, month = [], first.replace(day=1)
        while (month := (month + dt.timedelta(days=32)).replace(day=1)) <= last:
            cuts.append(month)
    bounds = [start, *(dt.datetime.combine(day, dt.time(), tzinfo=tz) for day in cuts), end]
    return [(low, high) for low, high in itertools.pairwise(bounds) if low < high]


@dataclass
class _Failed:
    error: BaseException


_DONE = object()


def pages_side_by_side(scans: Sequence[Callable[[], Iterator[T]]], workers: int) -> Iterator[T]:
    """The pages of every scan, as they arrive, with up to ``workers`` scans at once.

    A queue ``workers`` pages deep sits between the scans and the caller: a scan that
    runs ahead waits, so at most about twice ``workers`` pages are held whatever the range.
    The first error of any scan is raised here. Closing the iterator (the caller's
    ``contextlib.closing``, or its collection) stops every scan after its current request;
    one left open still never holds the process's exit (the scans run on daemon threads)."""
    if workers == 1 or len(scans) < 2:
        for scan in scans:
            yield from scan()
        return
    pages: queue.Queue[Any] = queue.Queue(maxsize=workers)
    todo: queue.SimpleQueue[Callable[[], Iterator[T]]] = queue.SimpleQueue()
    for scan in scans:
        todo.put(scan)
    stop = threading.Event()  # no scan starts another request: one failed, or the caller left
    closed = threading.Event()  # the caller left: nothing more is read from the queue

    def put(item: Any, *, even_when_stopping: bool = False) -> bool:
        while not closed.is_set() and (even_when_stopping or not stop.is_set()):
            try:
                pages.put(item, timeout=_STOP_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        while not stop.is_set():
            try:
                scan = todo.get_nowait()
            except queue.Empty:
                return
            try:
                for page in scan():
                    if not put(page):
                        return
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                stop.set()  # the others finish the request they are on, and start none
                put(_Failed(error), even_when_stopping=True)
                return
            put(_DONE)

    _start_daemons("qtickets-scan", min(workers, len(scans)), run)
    try:
        remaining = len(scans)
        while remaining:
            item = pages.get()
            if item is _DONE:
                remaining -= 1
            elif isinstance(item, _Failed):
                raise item.error
            else:
                yield item
    finally:
        stop.set()
        closed.set()


# Fetches kept ahead of the reader, per worker: enough that the workers stay busy while the
# reader flattens and inserts (with 2 a page scan averaged 2.5 of 4 requests in flight).
AHEAD_PER_WORKER = 4


def in_order(fetch: Callable[[int], R], numbers: Iterable[int], workers: int) -> Iterator[R]:
    """``fetch`` of each number, up to ``workers`` at once and ``AHEAD_PER_WORKER`` times as
    many ahead, results in order. Leaving early (closing the iterator) cancels what has not started; a fetch
    under way ends with its request, unread. The workers are daemon threads waiting on
    their own queue, never on the caller, so an iterator left open holds nothing up."""
    numbers = iter(numbers)
    if workers <= 1:
        yield from map(fetch, numbers)
        return
    work: queue.SimpleQueue[tuple[int, Future[R]] | None] = queue.SimpleQueue()
    ahead: deque[Future[R]] = deque()

    def submit(count: int) -> None:
        for number in itertools.islice(numbers, count):
            future: Future[R] = Future()
            ahead.append(future)
            work.put((number, future))

    _start_daemons("qtickets-pages", workers, _call_queued, fetch, work)
    submit(AHEAD_PER_WORKER * workers)
    try:
        while ahead:
            result = ahead.popleft().result()
            submit(1)
            yield result
    finally:
        for future in ahead:
            future.cancel()
        for _ in range(workers):
            work.put(None)


def _call_queued(function: Callable[[int], R], work: queue.SimpleQueue[tuple[int, Future[R]] | None]) -> None:
    """An ``in_order`` worker: each queued number's call into its future, until told to stop."""
    while (item := work.get()) is not None:
        number, future = item
        if not future.set_running_or_notify_cancel():  # cancelled: the caller left
            continue
        try:
            future.set_result(function(number))
        except BaseException as error:  # noqa: BLE001 - handed to the caller with the future
            future.set_exception(error)
