"""Measurement buckets in the store, on real SQLite files: batches, reads, restart, retention."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from monitor.contract import ProbeResult
from monitor.engine.availability import DAY
from monitor.engine.measurements import COARSE, FINE, Recorder
from monitor.engine.rttsketch import Summary, merged
from monitor.history.bucket_store import READ_SQL, migrate_v6
from monitor.history.store import Store, database_path
from tests.fakes import FakeClock
from tests.store_helpers import rows

T0 = 1_700_000_000.0 // 3600 * 3600  # on an hour


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=0.0, wall_offset=T0)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return database_path(tmp_path / "state")


def summary(*seconds: float, lost: int = 0) -> Summary:
    s = Summary()
    for v in seconds:
        s.add(sent=1, lost=0, seconds=v)
    for _ in range(lost):
        s.add(sent=1, lost=1, seconds=None)
    return s


async def test_buckets_are_written_in_batches_and_read_back(db: Path, clock: FakeClock) -> None:
    async with Store(db, clock=clock.wall) as store:
        fine = [
            (f"t{i}", "icmp", int(T0) + 60 * m, summary(0.001 * (i + 1), 0.002 * (m + 1)))
            for m in range(30)
            for i in range(200)
        ]
        started = time.perf_counter()
        store.write_buckets(FINE, fine)
        queued = time.perf_counter() - started
        await store.flush()
        assert rows(db, "SELECT count(*) FROM fine_buckets") == [(6000,)]
        assert rows(db, "SELECT count(*) FROM series") == [(200,)]
        got = await store.history("t7", FINE, int(T0), int(T0) + 1800)
        assert list(got) == ["icmp"]
        assert [t for t, _ in got["icmp"]] == [int(T0) + 60 * m for m in range(30)]
        for (_, _, _, written), (_, read) in zip(
            [r for r in fine if r[0] == "t7"], got["icmp"], strict=True
        ):
            assert read.slots == written.slots and read.count == written.count
        # A range past the data reads nothing; another target's rows are not mixed in.
        assert await store.history("t7", FINE, int(T0) + 1800, int(T0) + 3600) == {"icmp": []}
        assert await store.history("nobody", FINE, int(T0), int(T0) + 1800) == {}
    print(f"6,000 bucket rows queued in {queued * 1000:.1f} ms")
    assert queued < 0.5  # a few microseconds a row: the SQL runs in the writer thread


def test_range_reads_are_primary_key_lookups(db: Path) -> None:
    """The plan of a range read: a search on the primary key per bucket, never a scan."""
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    migrate_v6(conn)
    plan = " ".join(
        row[3]
        for row in conn.execute("EXPLAIN QUERY PLAN " + READ_SQL["fine"], (0, 60, 60, 600, 1))
    )
    conn.close()
    assert "SEARCH b USING PRIMARY KEY (t=? AND series=?)" in plan, plan
    assert "SCAN b" not in plan


async def test_a_restart_rolls_up_the_hour_it_stopped_in(db: Path, clock: FakeClock) -> None:
    """Hours the daemon stopped in are rebuilt from fine rows; the hour in progress continues."""
    minutes = {m: summary(0.001 * (m % 7 + 1), lost=m % 3) for m in range(0, 90, 5)}
    async with Store(db, clock=clock.wall) as store:
        store.write_buckets(FINE, [("a", "http", int(T0) + 60 * m, s) for m, s in minutes.items()])
    clock.t = 90 * 60  # restart at T0 + 1h30
    async with Store(db, clock=clock.wall) as store:
        assert store.buckets_rebuilt == 1
        hour = await store.history("a", COARSE, int(T0), int(T0) + 7200)
        assert [t for t, _ in hour["http"]] == [int(T0)]
        assert hour["http"][0][1] == merged(s for m, s in minutes.items() if m < 60)
        start, seed, closed_until = store.bucket_seeds[("a", "http")]
        assert start == int(T0) + 3600
        assert seed == merged(s for m, s in minutes.items() if m >= 60)
        assert closed_until == int(T0) + 86 * 60
        before = seed.count
        # The recorder continues the hour: its row is the whole hour.
        rec = Recorder(store, fine=60, coarse=3600)
        rec.seed(store.bucket_seeds)
        rec.record("a", "http", ProbeResult(True, "ok", "", T0 + 91 * 60, 0.004))
        rec.sweep(T0 + 2 * 3600 + 120)
        await store.flush()
        hour2 = await store.history("a", COARSE, int(T0) + 3600, int(T0) + 7200)
        assert hour2["http"][0][1].count == before + 1
    # Nothing is rolled up twice.
    async with Store(db, clock=clock.wall) as store:
        assert store.buckets_rebuilt == 0


async def test_retention_deletes_old_buckets_per_level(db: Path, clock: FakeClock) -> None:
    async with Store(db, clock=clock.wall, bucket_retention=(14 * DAY, 400 * DAY)) as store:
        now = int(T0)
        for days in (1, 20, 500):
            store.write_buckets(FINE, [("a", "icmp", now - days * 86400, summary(0.01))])
            store.write_buckets(COARSE, [("a", "icmp", now - days * 86400, summary(0.01))])
        await store.apply_retention()
        assert rows(db, "SELECT t FROM fine_buckets") == [(now - 86400,)]
        assert rows(db, "SELECT t FROM coarse_buckets ORDER BY t") == [
            (now - 20 * 86400,),
            (now - 86400,),
        ]
