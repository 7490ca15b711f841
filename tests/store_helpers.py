"""Helpers for the store's tests: a frozen v1 schema and a store run in a child process.

``python -m tests.store_helpers writer DB HEARTBEAT`` opens a store, opens an
outage, prints ``ready`` and waits to be killed; ``python -m
tests.store_helpers count DB`` prints how many outages a read-only
connection sees.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from pathlib import Path

from monitor.history.store import Store, open_readonly

# The schema as version 1 released it, kept verbatim: migrations must keep
# turning exactly this into the current schema.
V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
CREATE TABLE outages (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    "check" TEXT,
    start REAL NOT NULL,
    "end" REAL,
    cause TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL);
CREATE UNIQUE INDEX outages_open ON outages (target) WHERE "end" IS NULL;
CREATE INDEX outages_target_start ON outages (target, start);
CREATE INDEX outages_end ON outages ("end");
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    at REAL NOT NULL,
    "check" TEXT,
    detail TEXT NOT NULL);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_target_at ON events (target, at);
CREATE TABLE target_states (
    target TEXT PRIMARY KEY,
    health TEXT NOT NULL,
    since REAL) WITHOUT ROWID;
CREATE TABLE observation_periods (
    id INTEGER PRIMARY KEY,
    start REAL NOT NULL,
    "end" REAL NOT NULL);
"""


def make_v1_database(path: Path, script: str) -> None:
    """A version 1 database (made without incremental vacuum) plus ``script``'s rows."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(V1_SCHEMA + script)
        db.commit()
    finally:
        db.close()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Run a query on a fresh connection (what is on disk, not what is queued)."""
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def _write_and_wait(path: Path, heartbeat: float) -> None:
    async with Store(path, heartbeat=heartbeat) as store:
        now = time.time()
        store.first_observed("a", now)
        store.outage_started("a", "icmp", now, cause="down", reason="timeout", message="no reply")
        await store.flush()
        print("ready", flush=True)
        await asyncio.Event().wait()  # until SIGKILL


def main(argv: list[str]) -> None:
    mode, path = argv[1], Path(argv[2])
    if mode == "writer":
        asyncio.run(_write_and_wait(path, float(argv[3])))
    elif mode == "count":
        with open_readonly(path) as reader:
            print(len(reader.outages()))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
