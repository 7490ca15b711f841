"""The store on real SQLite files: reopening, kill -9, migration, readers, retention, load.

Times come from a :class:`~tests.fakes.FakeClock`'s wall clock (``T0`` plus
what a test sets), except in the tests that involve a child process or
measure the event loop, which need real time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from monitor.dbfile import WriteMetrics
from monitor.engine.availability import DAY
from monitor.history.store import (
    FAMILIES,
    SCHEMA_VERSION,
    Outage,
    PersistedState,
    Store,
    StoreError,
    database_path,
    open_readonly,
)
from tests.fakes import FakeClock
from tests.helpers import until
from tests.store_helpers import make_v1_database, rows
from tests.tmpfs import fill, free, tmpfs

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=0.0, wall_offset=T0)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return database_path(tmp_path / "state")


def at(clock: FakeClock, seconds: float) -> float:
    """Move the fake wall clock to T0 + seconds and return that time."""
    clock.t = seconds
    return clock.wall()


def down(store: Store, target: str, start: float, check: str = "icmp") -> bool:
    return store.outage_started(
        target, check, start, cause="check_failed", reason="timeout", message="no reply"
    )


async def first_run(db: Path, clock: FakeClock) -> None:
    """Observed 0-500 s; a: outage 100-160, an open one from 300, maintenance 400-450."""
    at(clock, 0)
    async with Store(db, clock=clock.wall) as store:
        store.first_observed("a", T0)
        assert down(store, "a", T0 + 100)
        assert store.outage_ended("a", T0 + 160)
        assert down(store, "a", T0 + 300)
        store.maintenance("a", T0 + 400, T0 + 450)
        store.state_changed("a", "down", T0 + 300)
        store.record_event("target_down", "a", T0 + 300, "icmp", "timeout: no reply")
        at(clock, 500)


async def test_figures_survive_a_reopen(db: Path, clock: FakeClock) -> None:
    at(clock, 0)
    async with Store(db, clock=clock.wall) as store:
        store.first_observed("a", T0)
        down(store, "a", T0 + 100)
        store.outage_ended("a", T0 + 160)
        down(store, "a", T0 + 300)
        store.maintenance("a", T0 + 400, T0 + 450)
        store.first_observed("b", T0 + 50)
        at(clock, 500)
        before = {t: store.figures(t, T0 + 500) for t in ("a", "b")}
    async with Store(db, clock=clock.wall) as store:
        after = {t: store.figures(t, T0 + 500) for t in ("a", "b")}
    assert after == before
    a = after["a"]
    assert (a.outages_total, a.downtime_seconds_total) == (2, 60 + 150)
    assert a.availability["1h"] == pytest.approx(1 - 210 / 450)
    assert after["b"].availability["1h"] == 1.0
    assert store.figures("unknown", T0).availability == dict.fromkeys(("1h", "24h", "7d", "30d"))


async def test_snapshot_shows_what_the_previous_run_left(db: Path, clock: FakeClock) -> None:
    await first_run(db, clock)
    at(clock, 1000)
    async with Store(db, clock=clock.wall) as store:
        snap = store.snapshot
        assert snap.previous_observed_until == T0 + 500
        assert snap.open_outages == {
            "a": Outage("a", "icmp", T0 + 300, None, "check_failed", "timeout", "no reply")
        }
        assert snap.target_states == {"a": PersistedState("down", T0 + 300)}
    assert rows(db, "SELECT kind, target, at, detail FROM events") == [
        ("target_down", "a", T0 + 300, "timeout: no reply")
    ]


async def test_up_after_restart_closes_at_the_last_observed_time(
    db: Path, clock: FakeClock
) -> None:
    await first_run(db, clock)
    at(clock, 1000)
    async with Store(db, clock=clock.wall) as store:
        assert store.reconcile("a", "unknown") is not None  # nothing decided yet
        closed = store.reconcile("a", "up")
        assert closed is not None
        assert closed.end == T0 + 500
        assert store.reconcile("a", "up") is None  # decided once
        figures = store.figures("a", T0 + 1100)
        # down 60 + (300-500 minus maintenance 50); observed 500 - 50 + 100 (the gap is not)
        assert figures.downtime_seconds_total == pytest.approx(210)
        assert figures.availability["1h"] == pytest.approx(1 - 210 / 550)
        assert [(o.start, o.end) for o in await store.outages(target="a")] == [
            (T0 + 100, T0 + 160),
            (T0 + 300, T0 + 500),
        ]
    async with Store(db, clock=clock.wall) as store:
        assert store.snapshot.open_outages == {}


async def test_down_after_restart_continues_the_same_row(db: Path, clock: FakeClock) -> None:
    await first_run(db, clock)
    at(clock, 1000)
    async with Store(db, clock=clock.wall) as store:
        kept = store.reconcile("a", "down")
        assert kept is not None
        assert kept.end is None
        assert not down(store, "a", T0 + 1000)  # the state machine's new DOWN: same outage
        at(clock, 1050)
        assert store.outage_ended("a", T0 + 1050)
        # 60 + 150 before the restart, 50 after it; the gap 500-1000 is unobserved
        assert store.figures("a", T0 + 1050).downtime_seconds_total == pytest.approx(260)
    assert rows(db, 'SELECT start, "end" FROM outages ORDER BY start') == [
        (T0 + 100, T0 + 160),
        (T0 + 300, T0 + 1050),
    ]


async def test_kill_9_keeps_one_open_row_and_the_time_of_death(db: Path) -> None:
    heartbeat = 0.1
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store_helpers", "writer", str(db), str(heartbeat)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert await asyncio.to_thread(child.stdout.readline) == "ready\n"
        await asyncio.sleep(5 * heartbeat)
        killed_at = time.time()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    async with Store(db) as store:
        snap = store.snapshot
        assert list(snap.open_outages) == ["a"]
        assert snap.previous_observed_until is not None
        # within a heartbeat, plus scheduling slack for a loaded machine
        assert 0 <= killed_at - snap.previous_observed_until < heartbeat + 0.15
        closed = store.reconcile("a", "up")
        assert closed is not None
        assert closed.end == snap.previous_observed_until
    async with Store(db) as store:
        assert store.snapshot.open_outages == {}
    assert rows(db, "SELECT count(*) FROM outages") == [(1,)]


async def test_a_v1_database_is_migrated(db: Path, clock: FakeClock) -> None:
    db.parent.mkdir(parents=True)
    make_v1_database(
        db,
        f"""
        INSERT INTO observation_periods (start, "end") VALUES ({T0}, {T0 + 400});
        INSERT INTO outages (target, "check", start, "end", cause, reason, message)
            VALUES ('a', 'icmp', {T0 + 100}, {T0 + 200}, 'check_failed', 'timeout', ''),
                   ('a', 'icmp', {T0 + 300}, NULL, 'check_failed', 'refused', '');
        INSERT INTO events (kind, target, at, "check", detail)
            VALUES ('target_up', 'a', {T0 + 10}, 'icmp', ''), ('target_up', 'b', {T0 + 20}, NULL, '');
        INSERT INTO target_states VALUES ('a', 'down', {T0 + 300}), ('c', 'up', {T0 + 30});
        """,
    )
    at(clock, 400)
    async with Store(db, clock=clock.wall) as store:
        assert rows(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        assert store.snapshot.previous_observed_until == T0 + 400
        assert list(store.snapshot.open_outages) == ["a"]
        # first observation backfilled from the earliest event, outage or state
        assert rows(db, "SELECT target, first_observed FROM targets ORDER BY target") == [
            ("a", T0 + 10),
            ("b", T0 + 20),
            ("c", T0 + 30),
        ]
        figures = store.figures("a", T0 + 400)
        assert figures.downtime_seconds_total == pytest.approx(200)
        assert figures.availability["1h"] == pytest.approx(1 - 200 / 390)
        store.maintenance("a", T0 + 400, None)  # the v2 tables exist and take writes
        await store.apply_retention()  # converts the file to incremental vacuum
    assert rows(db, "PRAGMA auto_vacuum") == [(2,)]


async def test_a_newer_schema_is_refused(db: Path) -> None:
    db.parent.mkdir(parents=True)
    make_v1_database(db, "UPDATE schema_version SET version = 99;")
    with pytest.raises(StoreError, match="schema version 99, newer than this program"):
        async with Store(db):
            pass
    with pytest.raises(StoreError, match="schema version 99"):
        open_readonly(db)


async def test_periods_left_open_by_a_killed_run_end_at_its_last_observation(
    db: Path, clock: FakeClock
) -> None:
    at(clock, 0)
    async with Store(db, clock=clock.wall) as store:
        store.first_observed("a", T0)
        store.isolation(T0 + 100, None)
        store.maintenance("b", T0 + 150, None)
        at(clock, 200)
    at(clock, 300)
    async with Store(db, clock=clock.wall) as store:
        assert rows(db, 'SELECT start, "end" FROM isolation_periods') == [(T0 + 100, T0 + 200)]
        assert rows(db, 'SELECT start, "end" FROM maintenance_periods') == [(T0 + 150, T0 + 200)]
        store.maintenance("b", T0 + 150, None)  # still due: the daemon reopens the same row
        await store.flush()
        assert rows(db, 'SELECT start, "end" FROM maintenance_periods') == [(T0 + 150, None)]
        # observed 0-100 and 300-400
        assert store.figures("a", T0 + 400).availability["1h"] == 1.0
        down(store, "a", T0 + 350)
        assert store.figures("a", T0 + 400).availability["1h"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["a1", "a2", "b1"]),
        ({"target": "a"}, ["a1", "a2"]),
        ({"open": True}, ["b1"]),
        ({"open": False}, ["a1", "a2"]),
        ({"since": 150}, ["a2", "b1"]),  # a1 ended at 150: [100, 150) does not reach it
        ({"since": 149}, ["a1", "a2", "b1"]),
        ({"until": 100}, []),  # a1 starts at 100: not before until
        ({"until": 101}, ["a1"]),
        ({"since": 205, "until": 206}, ["a2"]),  # the instant outage at 205
        ({"since": 1000, "until": 2000}, ["b1"]),  # still open
        ({"since": 1000, "open": False}, []),
    ],
)
async def test_outages_query(
    db: Path, clock: FakeClock, query: dict[str, object], expected: list[str]
) -> None:
    at(clock, 0)
    async with Store(db, clock=clock.wall) as store:
        down(store, "a", T0 + 100)
        store.outage_ended("a", T0 + 150)
        down(store, "a", T0 + 205)
        store.outage_ended("a", T0 + 205)
        down(store, "b", T0 + 300)
        names = {T0 + 100: "a1", T0 + 205: "a2", T0 + 300: "b1"}
        shifted = {k: T0 + v if k in ("since", "until") else v for k, v in query.items()}  # type: ignore[operator]
        got = await store.outages(**shifted)  # type: ignore[arg-type]
        assert [names[o.start] for o in got] == expected


async def test_read_only_access_while_the_store_writes(db: Path) -> None:
    async with Store(db) as store:
        await store.flush()
        stop = threading.Event()
        seen: list[int] = []
        errors: list[BaseException] = []

        def read() -> None:
            try:
                with open_readonly(db) as reader:
                    while not stop.is_set():
                        seen.append(len(reader.outages()))
                        reader.figures(time.time())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=read)
        thread.start()
        for i in range(300):
            down(store, f"t{i}", time.time())
            if i % 10 == 0:
                await asyncio.sleep(0.002)
        await store.flush()
        child = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tests.store_helpers", "count", str(db)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        stop.set()
        await asyncio.to_thread(thread.join)
    assert errors == []
    assert seen
    assert seen == sorted(seen)  # readers see committed batches, in order
    assert child.stdout.strip() == "300"
    with open_readonly(db) as reader:  # and once the daemon is gone
        assert len(reader.outages(open=True)) == 300


async def test_retention_deletes_old_rows(db: Path, clock: FakeClock) -> None:
    at(clock, -500 * DAY)
    async with Store(db, clock=clock.wall) as store:  # an observation period 500 days ago
        pass
    now = at(clock, 0)
    async with Store(db, clock=clock.wall, retention_days=400) as store:
        old, recent = now - 500 * DAY, now - 10 * DAY
        for start in (old, recent):
            down(store, "a", start)
            store.outage_ended("a", start + 60)
            store.record_event("target_down", "a", start, "icmp", "")
            store.maintenance("a", start, start + 60)
            store.isolation(start + 100, start + 200)
        down(store, "b", old)  # open: kept however old
        await store.apply_retention()
        assert rows(db, "SELECT start FROM outages ORDER BY start") == [(old,), (recent,)]
        assert rows(db, "SELECT count(*) FROM outages WHERE target = 'a'") == [(1,)]
        for table in ("events", "maintenance_periods", "isolation_periods", "observation_periods"):
            assert rows(db, f"SELECT count(*) FROM {table}") == [(1,)], table
        # the figures in memory keep counting what was deleted until the next start
        assert store.figures("a", now).outages_total == 2


async def test_a_failing_write_is_dropped_alone(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with Store(db) as store:
        await store.flush()
        store.record_event("target_up", "a", T0, None, "first")
        store.record_event("target_up", "b", T0, None, None)  # type: ignore[arg-type]
        store.record_event("target_up", "c", T0, None, "third")
        await store.flush()
        assert store.dropped_writes == 1
        await asyncio.sleep(0)  # the metric is updated on the loop
        assert store.metrics.dropped["history"] == 1
    assert rows(db, "SELECT target FROM events ORDER BY id") == [("a",), ("c",)]
    assert "dropped a write that failed" in caplog.text


def test_store_needs_opening(db: Path) -> None:
    store = Store(db)
    with pytest.raises(RuntimeError, match="not open"):
        store.record_event("target_up", "a", T0, None, "")


async def measure_stall(store: Store, db: Path, rounds: int) -> tuple[float, float]:
    """Queue 100 writes per loop turn, ``rounds`` times, while a task ticks every
    millisecond; returns (time spent queueing, worst tick lateness)."""
    worst = 0.0
    stop = False

    async def ticker() -> None:
        nonlocal worst
        while not stop:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    spent = 0.0
    for burst in range(rounds):
        started = time.perf_counter()
        for i in range(100):
            store.record_event("check_down", f"t{burst}-{i}", time.time(), "icmp", "timeout")
        spent += time.perf_counter() - started
        await asyncio.sleep(0)
    await store.flush()
    stop = True
    await task
    return spent, worst


async def test_writes_never_block_the_loop(db: Path) -> None:
    """10,000 writes queue in microseconds each and the loop keeps ticking while they land.

    Best of three attempts: other processes on a busy machine add stalls of
    their own, while a store that blocked the loop would fail every attempt.
    """
    attempts = []
    async with Store(db) as store:
        await store.flush()
        for _ in range(3):
            attempts.append(await measure_stall(store, db, rounds=100))
            if attempts[-1][1] < 0.010:
                break
    print(
        "10,000 writes queued in "
        + ", ".join(
            f"{spent * 1000:.1f} ms (worst stall {worst * 1000:.2f} ms)"
            for spent, worst in attempts
        )
    )
    assert rows(db, "SELECT count(*) FROM events") == [(10_000 * len(attempts),)]
    assert min(spent for spent, _ in attempts) < 0.1  # a few microseconds a write
    assert min(worst for _, worst in attempts) < 0.010


async def test_figures_for_ten_thousand_targets(db: Path, clock: FakeClock) -> None:
    at(clock, 0)
    async with Store(db, clock=clock.wall) as store:
        targets = [f"bts-{i:05d}" for i in range(10_000)]
        for n, target in enumerate(targets):
            store.first_observed(target, T0)
            for k in range(3):
                start = T0 + 100 + 1000 * k + n % 97
                down(store, target, start)
                store.outage_ended(target, start + 30 + n % 13)
            if n % 10 == 0:
                down(store, target, T0 + 9000)
        at(clock, 10_000)
        await store.flush()
        started = time.perf_counter()
        results = [store.figures(t, T0 + 10_000) for t in targets]
        elapsed = time.perf_counter() - started
    print(f"figures for 10,000 targets: {elapsed * 1000:.0f} ms")
    assert all(r.outages_total in (3, 4) for r in results)
    assert elapsed < 1.0


def test_families_are_the_issue_names() -> None:
    assert [f.name for f in FAMILIES] == [
        "continuity_outages_total",
        "continuity_downtime_seconds_total",
        "continuity_availability_ratio",
        "continuity_mttr_seconds",
        "continuity_mtbf_seconds",
    ]


async def test_a_full_disk_keeps_history_writes_in_order_until_space_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = WriteMetrics()
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        db = mnt / "history.sqlite3"
        async with Store(
            db, metrics=metrics, backoff_initial=0.05, backoff_max=0.2, heartbeat=3600
        ) as store:
            await store.flush()
            fill(mnt)
            assert down(store, "a", T0)
            store.record_event("target_down", "a", T0, "icmp", "no reply")
            store.outage_ended("a", T0 + 60)
            store.record_event("target_up", "a", T0 + 60, "icmp", "")
            await store.flush()  # released, not written: reads do not hang on a full disk
            await until(lambda: metrics.failures["history"] >= 3, what="retried")
            assert metrics.pending["history"] >= 4
            assert metrics.available["history"] is False
            assert store.dropped_writes == 0
            free(mnt)
            await until(lambda: metrics.pending["history"] == 0, what="written")
            assert metrics.available["history"] is True
            assert [(o.start, o.end) for o in await store.outages(target="a")] == [(T0, T0 + 60)]
        assert rows(db, "SELECT kind FROM events ORDER BY id") == [("target_down",), ("target_up",)]
    assert caplog.text.count("cannot write the history") == 1
    assert "writing the history again; nothing was lost" in caplog.text


async def test_the_downtime_counter_never_goes_down_and_quiet_targets_keep_no_entry(
    db: Path, clock: FakeClock
) -> None:
    """Isolation entered with a start in the past takes downtime back from the open
    outage's figures; the counter keeps what it reported. A target that never had
    downtime costs the counter's record nothing."""
    at(clock, 0)
    async with Store(db, clock=clock.wall) as store:
        store.first_observed("a", T0)
        store.first_observed("quiet", T0)
        assert down(store, "a", T0 + 100)
        assert store.figures("a", T0 + 200).downtime_seconds_total == pytest.approx(100)
        store.isolation(T0 + 150, T0 + 200)  # the monitor was cut off meanwhile
        assert store.figures("a", T0 + 200).downtime_seconds_total == pytest.approx(100)
        assert store.figures("a", T0 + 300).downtime_seconds_total == pytest.approx(150)
        for now in (T0 + 300, T0 + 400):
            assert store.figures("quiet", now).downtime_seconds_total == 0.0
        assert "quiet" not in store._reported_downtime
