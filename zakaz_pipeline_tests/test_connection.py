"""Embedded clients are shared per data path and database while held, and the path's
file lock is let go with the last holder."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

from zakaz_pipeline.warehouse.connection import open_client, parse_target


def test_holders_share_one_client_per_database_and_release_the_path_together(chdb_path: Path) -> None:
    first = parse_target(f"chdb://{chdb_path}", "shared_a")
    other = parse_target(f"chdb://{chdb_path}", "shared_b")
    lock = FileLock(f"{first.path}.lock", thread_local=False)
    try:
        with open_client(first) as outer:
            outer.command("CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory")
            with open_client(first) as inner, open_client(other) as elsewhere:
                assert inner is outer
                assert elsewhere is not outer
                assert elsewhere.query("SELECT currentDatabase()").result_rows == [("shared_b",)]
                assert inner.query("SELECT currentDatabase()").result_rows == [("shared_a",)]
            assert outer.query("SELECT count() FROM t").result_rows == [(0,)]
            assert _held_elsewhere(lock)
        lock.acquire(timeout=1)
        lock.release()
        with open_client(first) as reopened:
            assert reopened is not outer
            assert reopened.query("SELECT count() FROM t").result_rows == [(0,)]
    finally:
        with open_client(first) as client:
            client.command("DROP DATABASE IF EXISTS shared_a")
            client.command("DROP DATABASE IF EXISTS shared_b")


def _held_elsewhere(lock: FileLock) -> bool:
    try:
        lock.acquire(timeout=0.1)
    except TimeoutError:
        return True
    lock.release()
    return False
