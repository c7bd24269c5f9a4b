"""The durable queue between the receiver and the ``qtickets_webhooks`` sensor: one SQLite file
in WAL mode (``ZAKAZ_WEBHOOK_QUEUE``), no new infrastructure.

Why SQLite and not the warehouse: the embedded warehouse (chDB) may be open in one process
only, and the receiver must answer Qtickets while runs hold it; a SQLite file on a volume the
receiver and the daemon share works the same beside chDB and in the compose stack. WAL lets
the sensor read while the receiver writes.

Each accepted delivery is one row holding only what recomputation needs — order id, event
type, ``payed_at``, ``updated_at``, ``deleted_at``, ``created_at`` (how far back a run that
scans the order list must read), whether tickets were refunded, when it arrived — never the
buyer's data. ``add`` commits with ``synchronous=FULL`` (the WAL is
fsync'd on every commit) before the receiver answers 200, so a delivery Qtickets counts as
delivered survives a kill or a power cut. A redelivery of the same change (same order id,
event type and ``updated_at``) is ignored by a unique index, so it stays one entry.

``seq`` (``AUTOINCREMENT``: never reused, even after pruning) is the sensor's cursor. Writes
are serialized by SQLite, so a row with a lower ``seq`` is always committed before one with a
higher ``seq``: reading ``seq > cursor`` never skips a row that commits later.

Refused deliveries store nothing of themselves: only how many of each kind of refusal
(``signature``, ``body``, ``size``) arrived in each minute, so monitoring can tell a
misconfigured secret or probing from silence. A count per minute and kind, not a row per
request: a flood of unsigned requests costs the file at most three rows a minute, and the
receiver adds its counts in one transaction every few seconds (``record_refusals``) instead
of one fsync'd write per request. Entries and refusal counts are kept ``retention``
(``ZAKAZ_WEBHOOK_RETENTION_DAYS``, 7 days) and then pruned by the receiver (at start and at
most hourly): polling stays the source of truth, so the queue only has to outlive a stopped
sensor for a while.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

DEFAULT_RETENTION = dt.timedelta(days=7)
PRUNE_EVERY = dt.timedelta(hours=1)
REFUSAL_REASONS = ("signature", "body", "size")

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    payed_at TEXT,
    deleted_at TEXT,
    refunded INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    created_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS deliveries_change ON deliveries (order_id, event_type, updated_at);
CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received_at);
CREATE TABLE IF NOT EXISTS refusal_counts (
    minute TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (minute, reason)
) WITHOUT ROWID;
"""
# A queue written by an earlier receiver kept a row per refusal: folded into the counts once.
FOLD_LEGACY_REFUSALS = """
INSERT INTO refusal_counts (minute, reason, count)
SELECT substr(at, 1, 16) || ':00.000000+00:00', reason, count(*) FROM refusals GROUP BY 1, 2
ON CONFLICT (minute, reason) DO UPDATE SET count = count + excluded.count;
DROP TABLE refusals;
"""
LEGACY_TABLE_SQL = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refusals'"
COUNT_SQL = (
    "INSERT INTO refusal_counts (minute, reason, count) VALUES (?, ?, ?) "
    "ON CONFLICT (minute, reason) DO UPDATE SET count = count + excluded.count"
)
# A queue written before deliveries kept their order's creation time gains the column.
CREATED_AT_COLUMN = "SELECT 1 FROM pragma_table_info('deliveries') WHERE name = 'created_at'"
INSERT_SQL = (
    "INSERT OR IGNORE INTO deliveries "
    "(order_id, event_type, updated_at, payed_at, deleted_at, created_at, refunded, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
AFTER_SQL = (
    "SELECT seq, order_id, event_type, updated_at, payed_at, deleted_at, refunded, received_at, created_at "
    "FROM deliveries WHERE seq > ? ORDER BY seq LIMIT ?"
)


@dataclass(frozen=True)
class Change:
    """What one delivery says about an order: all the sensor needs to pick the sales day."""

    order_id: int
    event_type: str
    updated_at: str
    payed_at: str | None
    deleted_at: str | None
    refunded: bool
    created_at: str | None = None


@dataclass(frozen=True)
class Entry:
    """A queued change, with its place in the queue and when it arrived (UTC)."""

    seq: int
    change: Change
    received_at: dt.datetime


@dataclass(frozen=True)
class QueueStats:
    """For monitoring: the newest delivery, how many are kept, refusals since a moment
    (counted by the minute: from the start of the minute that moment falls in)."""

    last_received_at: dt.datetime | None
    entries: int
    refusals: dict[str, int]


def _stamp(moment: dt.datetime) -> str:
    """UTC, fixed width: text order is time order, so the indexes serve ranges of time."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def minute_of(moment: dt.datetime) -> dt.datetime:
    """The minute a refusal is counted in (UTC)."""
    return moment.astimezone(dt.UTC).replace(second=0, microsecond=0)


class WebhookQueue:
    """One connection shared by the receiver's threads (a lock serializes them; SQLite
    serializes writers anyway); open it once per process."""

    def __init__(self, path: Path, *, retention: dt.timedelta = DEFAULT_RETENTION) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.retention = path, retention
        # Autocommit (isolation_level=None): every statement is its own fsync'd transaction.
        # timeout: wait this long for another process's write lock instead of failing.
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._pruned_at: dt.datetime | None = None
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            if not self._db.execute(CREATED_AT_COLUMN).fetchone():
                self._db.execute("ALTER TABLE deliveries ADD COLUMN created_at TEXT")
            self._fold_legacy_refusals()

    def __enter__(self) -> WebhookQueue:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, change: Change, received_at: dt.datetime | None = None) -> bool:
        """Record ``change`` durably; False when the same change is already queued."""
        moment = received_at or _now()
        row = (
            change.order_id, change.event_type, change.updated_at, change.payed_at, change.deleted_at,
            change.created_at, int(change.refunded), _stamp(moment),
        )  # fmt: skip
        with self._lock:
            added = self._db.execute(INSERT_SQL, row).rowcount == 1
        self._prune_now_and_then(moment)
        return added

    def refuse(self, reason: str, at: dt.datetime | None = None) -> None:
        """Count one refused delivery (nothing of it is kept): ``reason`` is one of ``REFUSAL_REASONS``."""
        self.record_refusals({(minute_of(at or _now()), reason): 1})

    def record_refusals(self, counts: Mapping[tuple[dt.datetime, str], int]) -> None:
        """Add refusals counted elsewhere (the receiver's tally), ``(minute, reason) → count``,
        in one transaction."""
        rows = []
        for (minute, reason), count in counts.items():
            if reason not in REFUSAL_REASONS:
                raise ValueError(f"unknown refusal reason {reason!r}")
            rows.append((_stamp(minute_of(minute)), reason, count))
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(COUNT_SQL, rows)
            self._db.execute("COMMIT")
        self._prune_now_and_then(max(minute for (minute, _reason) in counts))

    def after(self, seq: int, limit: int = 10_000) -> list[Entry]:
        """Entries past the cursor ``seq``, oldest first, at most ``limit``."""
        with self._lock:
            rows = self._db.execute(AFTER_SQL, (seq, limit)).fetchall()
        return [
            Entry(
                number,
                Change(order, event, updated, payed, deleted, bool(refunded), created),
                dt.datetime.fromisoformat(at),
            )
            for number, order, event, updated, payed, deleted, refunded, at, created in rows
        ]

    def stats(self, refusals_since: dt.datetime) -> QueueStats:
        with self._lock:
            last, count = self._db.execute("SELECT max(received_at), count(*) FROM deliveries").fetchone()
            refused = self._db.execute(
                "SELECT reason, sum(count) FROM refusal_counts WHERE minute >= ? GROUP BY reason",
                (_stamp(minute_of(refusals_since)),),
            ).fetchall()
        return QueueStats(dt.datetime.fromisoformat(last) if last else None, count, dict(refused))

    def ping(self) -> None:
        """Raises when the file can no longer be read (the health check)."""
        with self._lock:
            self._db.execute("SELECT 1 FROM deliveries LIMIT 1").fetchall()

    def prune(self, now: dt.datetime | None = None) -> int:
        """Drop entries and refusals older than the retention; how many entries went."""
        moment = now or _now()
        horizon = (_stamp(moment - self.retention),)
        with self._lock:
            dropped = self._db.execute("DELETE FROM deliveries WHERE received_at < ?", horizon).rowcount
            self._db.execute("DELETE FROM refusal_counts WHERE minute < ?", horizon)
            self._pruned_at = moment
        return dropped

    def _fold_legacy_refusals(self) -> None:
        """Re-checked inside a write transaction, so the receiver and a sensor opening the
        file at once fold the old table exactly once."""
        if not self._db.execute(LEGACY_TABLE_SQL).fetchone():
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._db.execute(LEGACY_TABLE_SQL).fetchone():
                for statement in filter(str.strip, FOLD_LEGACY_REFUSALS.split(";")):
                    self._db.execute(statement)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _prune_now_and_then(self, moment: dt.datetime) -> None:
        if self._pruned_at is None or moment - self._pruned_at >= PRUNE_EVERY:
            self.prune(moment)
