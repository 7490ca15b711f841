"""Continuity history in SQLite, and the figures the exporter shows from it.

The database (``history.sqlite3`` in ``state_dir``) holds outages, state
events, the last state of each target, the monitor's observation periods
(when it was running), its isolation periods and each target's maintenance
periods and first observation.

Writing never blocks the event loop
-----------------------------------
Each write method updates the in-memory figures at once and queues its SQL.
One writer thread owns the write connection and executes the queue in order,
in transactions of up to :data:`MAX_BATCH` statements. Every transaction also
advances the end of the current observation period, and a heartbeat queues an
empty one every ``heartbeat`` seconds when nothing else is written, so after
a ``kill -9`` the end of that run is known to within a heartbeat. The journal
is WAL with ``synchronous=NORMAL``: a committed transaction survives the
process being killed (a power cut may lose the last ones); writes still queued
when the process dies are lost, which is milliseconds' worth.

A write the disk refuses for a reason that may pass (full, I/O error,
read-only: :func:`monitor.dbfile.retryable`) is not dropped: it stays in
memory in order, with everything after it, and is retried with backoff until
it is written (``continuity_store_pending_writes{database="history"}``). Only
a write refused for good (a constraint, a bug) is dropped, logged and counted.

Figures never scan the database
-------------------------------
At open the history is loaded once into :class:`~monitor.engine.availability.TargetHistory`
objects (outages of the last 90 days, for the status page's day bars, plus totals) and a
:class:`~monitor.engine.availability.MonitorHistory`; :meth:`Store.figures` computes
from them in O(that target's recent outages), and for a target without an outage in
the last 30 days (most of them) hands back the figures it computed last until they
can change (``TargetHistory.steady_figures``: 0.1-1 µs instead of 6-12). Definitions
are in :mod:`monitor.engine.availability`. ``downtime_seconds_total`` is a counter, so the
store never reports less than it reported before for a target (an isolation
or maintenance period entered with a start in the past would otherwise take
downtime back).

Restart
-------
At open the store exposes :attr:`Store.snapshot`: open outages, the last
persisted target states and the end of the previous observation period
(``previous_observed_until``). Isolation and maintenance periods left open
are closed at that time (the daemon reopens maintenance still due with the
same start, which reopens the same row). The rule for an outage left open,
applied by :meth:`Store.reconcile` when the daemon knows the target's first
hard state after the restart:

* seen UP: the outage is closed at ``previous_observed_until`` (never before
  its start). The monitor saw nothing in between, so that gap counts neither
  as up nor as down;
* seen DOWN: the same row continues (``outage_started`` is a no-op while an
  outage is open), and the gap is unobserved time inside it;
* any other state: nothing is decided yet.

Until then the outage counts as open, so a target's figures may show a few
seconds of downtime after the start that the UP decision takes back (the
counter keeps them; see above).

Schema
------
A ``schema_version`` table holds the version; :data:`MIGRATIONS` are applied
in order at open, each in its own transaction, by :func:`monitor.dbfile.migrate`
(the outbox's file uses the same machinery). Never edit a released
migration: append one. A database newer than this program is refused. A file
that cannot be opened (0 bytes, damaged, on a full or read-only disk) raises
:class:`StoreError` with one line for the operator (:func:`monitor.dbfile.describe`).

Retention
---------
Rows that ended more than ``retention_days`` ago are deleted once at open and
then every ``vacuum_every`` seconds, by the writer thread, followed by
``PRAGMA incremental_vacuum``. Totals in memory keep counting them until the
next start.

Measurement buckets
-------------------
:meth:`Store.write_buckets` queues closed buckets of the measurement history
(:mod:`monitor.engine.measurements`; tables and reads in :mod:`monitor.history.bucket_store`)
like any other write. Their retention is per level (``bucket_retention``) and
runs once per coarse bucket, so each run deletes about what was added since.
At open, coarse buckets the previous run stopped in are rolled up from their
fine rows (:attr:`Store.bucket_seeds` continues the one in progress).

Reading
-------
:class:`Reader` (see :func:`open_readonly`) opens the file read-only, so the
``report`` command or another process can read while the daemon writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from operator import itemgetter
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, NamedTuple

from monitor.contract import MetricFamily
from monitor.dbfile import (
    BUSY_TIMEOUT_MS,
    WriteMetrics,
    connect,
    describe,
    refuse_empty,
    retryable,
    schema_version,
    transaction,
)
from monitor.dbfile import StoreError as StoreError  # noqa: PLC0414 - re-exported
from monitor.dbfile import migrate as migrate_file
from monitor.engine.availability import (
    DAY,
    HORIZON,
    WINDOWS,
    Figures,
    MonitorHistory,
    TargetHistory,
    window_sums,
)
from monitor.engine.availability import figures as compute_figures
from monitor.engine.rttsketch import Summary, to_row
from monitor.engine.state import Health
from monitor.engine.uptime import KEEP as BARS_KEEP
from monitor.engine.uptime import Baseline, Buckets, series_of
from monitor.history.bucket_store import (
    INSERT_SERIES,
    Rebuilt,
    load_series,
    migrate_v6,
    read_series,
    rebuild,
    retention_sql,
    upsert_sql,
)

log = logging.getLogger(__name__)

DB_NAME = "history.sqlite3"
DATABASE = "history"
"""The ``database`` label of the write metrics."""
MAX_BATCH = 2000
"""Most statements in one transaction; a larger queue is written in several."""
YIELD_EVERY = 100
YIELD_SECONDS = 0.0002
"""The writer thread lets the event loop run after this many statements (see _execute)."""

FAMILIES: tuple[MetricFamily, ...] = (
    MetricFamily(
        "continuity_outages_total", "counter", "Outages started, over the retained history."
    ),
    MetricFamily(
        "continuity_downtime_seconds_total",
        "counter",
        "Seconds spent DOWN while observed (maintenance excluded unless counted).",
    ),
    MetricFamily(
        "continuity_availability_ratio",
        "gauge",
        "Observed time not DOWN over observed time, in the last window.",
    ),
    MetricFamily(
        "continuity_mttr_seconds",
        "gauge",
        "Mean downtime of the outages that ended in the window.",
    ),
    MetricFamily(
        "continuity_mtbf_seconds",
        "gauge",
        "Observed up time in the window over the outages that started in it.",
    ),
)
"""The families of :meth:`Store.figures`, for the exporter to declare."""


@dataclass(frozen=True, slots=True)
class Outage:
    """One outage row: ``end`` is None while it lasts."""

    target: str
    check: str | None
    start: float
    end: float | None
    cause: str
    reason: str
    message: str
    path: str | None = None
    """Where the path broke, from the trace at the outage (``monitor.engine.paths``)."""


class StoredSilence(NamedTuple):
    id: str
    definition: str


class StoredWindow(NamedTuple):
    """A maintenance window made through the API."""

    id: str
    definition: str
    created: float
    created_by: str
    comment: str


class PersistedState(NamedTuple):
    """A target's last state as written by :meth:`Store.state_changed`."""

    health: str
    since: float | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a previous run left behind, taken when the store opens."""

    open_outages: Mapping[str, Outage]
    """By target: at most one open outage per target."""
    target_states: Mapping[str, PersistedState]
    previous_observed_until: float | None
    """End of the previous observation period (within a heartbeat after a kill -9)."""


# --------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------


def _v1_history(db: sqlite3.Connection) -> None:
    """Outages, state events, target states and observation periods."""
    for sql in (
        """CREATE TABLE outages (
            id INTEGER PRIMARY KEY,
            target TEXT NOT NULL,
            "check" TEXT,
            start REAL NOT NULL,
            "end" REAL,
            cause TEXT NOT NULL,
            reason TEXT NOT NULL,
            message TEXT NOT NULL)""",
        # The database itself refuses a second open outage for a target.
        'CREATE UNIQUE INDEX outages_open ON outages (target) WHERE "end" IS NULL',
        "CREATE INDEX outages_target_start ON outages (target, start)",
        'CREATE INDEX outages_end ON outages ("end")',
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            at REAL NOT NULL,
            "check" TEXT,
            detail TEXT NOT NULL)""",
        "CREATE INDEX events_at ON events (at)",
        "CREATE INDEX events_target_at ON events (target, at)",
        """CREATE TABLE target_states (
            target TEXT PRIMARY KEY,
            health TEXT NOT NULL,
            since REAL) WITHOUT ROWID""",
        """CREATE TABLE observation_periods (
            id INTEGER PRIMARY KEY,
            start REAL NOT NULL,
            "end" REAL NOT NULL)""",
    ):
        db.execute(sql)


def _v2_continuity(db: sqlite3.Connection) -> None:
    """First observation per target, maintenance and isolation periods."""
    for sql in (
        """CREATE TABLE targets (
            target TEXT PRIMARY KEY,
            first_observed REAL NOT NULL) WITHOUT ROWID""",
        # v1 did not record it; a target's first event (the state machine emits
        # one on its first settled result), outage or state is the best bound.
        """INSERT INTO targets (target, first_observed)
            SELECT target, min(t) FROM (
                SELECT target, at AS t FROM events
                UNION ALL SELECT target, start FROM outages
                UNION ALL SELECT target, since FROM target_states WHERE since IS NOT NULL)
            GROUP BY target""",
        """CREATE TABLE maintenance_periods (
            target TEXT NOT NULL,
            start REAL NOT NULL,
            "end" REAL,
            PRIMARY KEY (target, start)) WITHOUT ROWID""",
        """CREATE TABLE isolation_periods (
            start REAL PRIMARY KEY,
            "end" REAL) WITHOUT ROWID""",
    ):
        db.execute(sql)


def _v3_runtime_windows(db: sqlite3.Connection) -> None:
    """Maintenance windows created through the API (config windows live in the config)."""
    db.execute(
        """CREATE TABLE maintenance_windows (
            id TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            created REAL NOT NULL,
            created_by TEXT NOT NULL,
            comment TEXT NOT NULL)"""
    )


def _v4_silences(db: sqlite3.Connection) -> None:
    """Alert silences made through the API."""
    db.execute(
        """CREATE TABLE silences (
            id TEXT PRIMARY KEY,
            definition TEXT NOT NULL)"""
    )


def _v5_outage_path(db: sqlite3.Connection) -> None:
    """Where the path broke at an outage (the path diagnosis), on the outage row."""
    db.execute("ALTER TABLE outages ADD COLUMN path TEXT")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _v1_history,
    _v2_continuity,
    _v3_runtime_windows,
    _v4_silences,
    _v5_outage_path,
    migrate_v6,
)
SCHEMA_VERSION = len(MIGRATIONS)


_transaction = transaction


def migrate(db: sqlite3.Connection) -> int:
    """Bring the history to :data:`SCHEMA_VERSION`; returns the version it had."""
    return migrate_file(db, MIGRATIONS, "store")


def database_path(state_dir: Path) -> Path:
    """Where the history lives inside ``state_dir``."""
    return state_dir / DB_NAME


_connect = connect


def _connect_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"{path}: no such database")
    refuse_empty(path)
    uri = f"{path.resolve().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = schema_version(db)
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{path}: schema version {version}, this program reads {SCHEMA_VERSION}; "
                "start the daemon once to migrate it"
            )
    except BaseException:
        db.close()
        raise
    return db


# --------------------------------------------------------------------------
# Loading the history into memory
# --------------------------------------------------------------------------

_Row = tuple[Any, ...]


def _join_by_target(
    a: Iterable[_Row], b: Iterable[_Row]
) -> Iterator[tuple[str, list[_Row], list[_Row]]]:
    """Merge two row streams sorted by their first column (target) into groups."""
    groups_a = itertools.groupby(a, key=itemgetter(0))
    groups_b = itertools.groupby(b, key=itemgetter(0))
    head_a, head_b = next(groups_a, None), next(groups_b, None)
    while head_a is not None or head_b is not None:
        name = min(h[0] for h in (head_a, head_b) if h is not None)
        rows_a: list[_Row] = []
        rows_b: list[_Row] = []
        if head_a is not None and head_a[0] == name:
            rows_a = list(head_a[1])
            head_a = next(groups_a, None)
        if head_b is not None and head_b[0] == name:
            rows_b = list(head_b[1])
            head_b = next(groups_b, None)
        yield name, rows_a, rows_b


MEMORY = max(HORIZON, BARS_KEEP)
"""How far back outages stay in memory: the figures' windows and the status page's day bars."""


def load_histories(
    db: sqlite3.Connection, now: float, count_maintenance: bool
) -> tuple[MonitorHistory, dict[str, TargetHistory]]:
    """Build the in-memory model from the database (once, at open).

    Outages are replayed in order so each closed one gets its downtime, then
    what ended before the figures' horizon is forgotten (its downtime stays in
    the totals). Target by target, so older maintenance rows are not all held
    at once.
    """
    monitor = MonitorHistory()
    for start, end in db.execute('SELECT start, "end" FROM observation_periods'):
        monitor.set_period(start, end)
    for start, end in db.execute('SELECT start, "end" FROM isolation_periods'):
        monitor.set_isolation(start, end)
    targets = {
        name: TargetHistory(first)
        for name, first in db.execute("SELECT target, first_observed FROM targets")
    }
    outages = db.execute('SELECT target, start, "end" FROM outages ORDER BY target, start')
    maintenance = db.execute(
        'SELECT target, start, "end" FROM maintenance_periods ORDER BY target, start'
    )
    for name, outage_rows, maintenance_rows in _join_by_target(outages, maintenance):
        history = targets.setdefault(name, TargetHistory())
        for _, start, end in maintenance_rows:
            history.set_maintenance(start, end)
        for _, start, end in outage_rows:
            if history.start_outage(start) is not None and end is not None:
                history.end_outage(end, monitor, count_maintenance)
        history.forget_before(now - MEMORY)
    return monitor, targets


_SELECT_OUTAGES = 'SELECT target, "check", start, "end", cause, reason, message, path FROM outages '


def _read_snapshot(db: sqlite3.Connection, until: float | None) -> Snapshot:
    open_outages = {
        row[0]: Outage(*row) for row in db.execute(_SELECT_OUTAGES + 'WHERE "end" IS NULL')
    }
    states = {
        target: PersistedState(health, since)
        for target, health, since in db.execute("SELECT target, health, since FROM target_states")
    }
    return Snapshot(open_outages, states, until)


@dataclass(frozen=True, slots=True)
class _Opened:
    db: sqlite3.Connection
    period_id: int
    started: float
    snapshot: Snapshot
    monitor: MonitorHistory
    targets: dict[str, TargetHistory]
    series: dict[tuple[str, str], int]
    rebuilt: Rebuilt


_CLOSE_LEFT_OPEN = (
    'UPDATE isolation_periods SET "end" = max(start, coalesce(?, start)) WHERE "end" IS NULL',
    'UPDATE maintenance_periods SET "end" = max(start, coalesce(?, start)) WHERE "end" IS NULL',
)


def _open(
    path: Path,
    clock: Callable[[], float],
    count_maintenance: bool,
    buckets: tuple[int, int] = (60, 3600),
) -> _Opened:
    """Open, migrate, load and begin an observation period (runs in a worker thread)."""
    db = _connect(path)
    try:
        migrate(db)
        rebuilt = rebuild(db, clock(), *buckets)
        series = load_series(db)
        with _transaction(db):
            until = db.execute('SELECT max("end") FROM observation_periods').fetchone()[0]
            # Periods left open by the previous run: nothing was observed after
            # `until`. The daemon reopens the maintenance still due (same start).
            for sql in _CLOSE_LEFT_OPEN:
                db.execute(sql, (until,))
            now = clock()
            monitor, targets = load_histories(db, now, count_maintenance)
            snapshot = _read_snapshot(db, until)
            cursor = db.execute(
                'INSERT INTO observation_periods (start, "end") VALUES (?, ?)', (now, now)
            )
        assert cursor.lastrowid is not None
        monitor.set_period(now, None)
    except BaseException:
        db.close()
        raise
    return _Opened(db, cursor.lastrowid, now, snapshot, monitor, targets, series, rebuilt)


# --------------------------------------------------------------------------
# The writer thread
# --------------------------------------------------------------------------

_Statement = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class _Flush:
    future: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class _Job:
    """Work that runs outside a batch's transaction (retention, vacuum)."""

    run: Callable[[sqlite3.Connection], None]


class _Signal(enum.Enum):
    TICK = "tick"  # heartbeat: a transaction that only advances the observation period
    STOP = "stop"


_Item = _Statement | _Flush | _Job | _Signal

_ADVANCE_PERIOD = 'UPDATE observation_periods SET "end" = max("end", ?) WHERE id = ?'


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Writer:
    """Owns the write connection in one thread; executes queued items in order.

    Statements that cannot be written for a reason that may pass (disk full,
    I/O error, read-only file system: see :func:`monitor.dbfile.retryable`)
    are kept in memory, in order, in front of what comes next, and retried
    with exponential backoff; ``metrics`` shows how many wait. Flushes are
    released after each attempt, written or not, so readers never hang on a
    full disk (they miss what waits). What still waits at stop is lost and
    logged.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        loop: asyncio.AbstractEventLoop,
        clock: Callable[[], float],
        period_id: int,
        *,
        path: Path,
        metrics: WriteMetrics,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        self._db = db
        self._loop = loop
        self._clock = clock
        self._period_id = period_id
        self._path = path
        self._metrics = metrics
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._backlog: list[_Statement] = []
        self._delay = 0.0
        self._failing = False
        self.dropped = 0
        """Statements that failed for a lasting reason and were dropped (each is logged)."""
        metrics.declare(DATABASE)

    def start(self) -> None:
        self._thread.start()

    def put(self, item: _Item) -> None:
        self._queue.put(item)

    async def flush(self) -> None:
        future = self._loop.create_future()
        self.put(_Flush(future))
        await future

    async def stop(self) -> None:
        self.put(_Signal.STOP)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        running = True
        try:
            while running:
                items = self._take()
                try:
                    running = self._write(items)
                except Exception:
                    # A bug must not end the only writer: later writes and flushes need it.
                    log.exception("store: the writer failed on a batch of %d items", len(items))
                    running = _Signal.STOP not in items
                finally:
                    self._release(items)
        finally:
            if self._backlog:
                log.error(
                    "store: %d history write(s) could not be stored before shutdown: %s",
                    len(self._backlog),
                    "" if self._last_error is None else describe(self._path, self._last_error),
                )
            self._db.close()

    def _take(self) -> list[_Item]:
        """What is queued: one blocking get, then the rest up to MAX_BATCH."""
        if self._backlog:
            return self._wait_for_retry()
        items = [self._queue.get()]
        with contextlib.suppress(queue.Empty):
            while len(items) < MAX_BATCH:
                items.append(self._queue.get_nowait())
        return items

    def _wait_for_retry(self) -> list[_Item]:
        """While writes wait in the backlog: gather what comes until the retry is due.

        New statements join the backlog without a write being tried (that is
        the backoff), flushes are released at once, housekeeping and
        heartbeats are skipped. Returns what is left to handle: nothing, or
        the STOP signal (the last try).
        """
        due = time.monotonic() + self._delay
        while (remaining := due - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if isinstance(item, tuple):
                self._backlog.append(item)
            elif isinstance(item, _Flush):
                self._release([item])
            elif item is _Signal.STOP:
                return [item]
        return []

    def _write(self, items: list[_Item]) -> bool:
        """Write a batch in order; False once it held the STOP signal."""
        pending: list[_Statement] = []
        running = True
        for item in items:
            if isinstance(item, tuple):
                pending.append(item)
            elif isinstance(item, _Job):
                self._commit(pending)
                pending = []
                if not self._backlog:  # housekeeping waits for the disk too
                    self._run_job(item)
            elif item is _Signal.STOP:
                running = False
        self._commit(pending)
        return running

    def _release(self, items: list[_Item]) -> None:
        """Wake the flushes of a batch once it was written (or kept, or failed and was logged)."""
        for item in items:
            if isinstance(item, _Flush):
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                    self._loop.call_soon_threadsafe(_resolve, item.future)

    _last_error: BaseException | None = None

    def _commit(self, statements: list[_Statement]) -> None:
        """One transaction for the backlog and the batch; on failure, keep or drop.

        A failure that may pass keeps every statement, in order, for a retry.
        Any other is taken statement by statement: those that fail for a lasting
        reason (a constraint, a bug) are dropped and logged, and the first
        that fails in a way that may pass keeps itself and the rest.
        """
        statements = self._backlog + statements
        self._backlog = []
        advance: _Statement = (_ADVANCE_PERIOD, (self._clock(), self._period_id))
        try:
            with _transaction(self._db):
                self._execute(statements)
                self._db.execute(*advance)
        except sqlite3.Error as exc:
            if retryable(exc):
                self._keep(statements, exc)
                return
            log.exception(
                "store: a batch of %d writes failed; retrying one by one", len(statements)
            )
            self._one_by_one([*statements, advance])
        else:
            self._written()

    def _one_by_one(self, statements: list[_Statement]) -> None:
        for i, (sql, params) in enumerate(statements):
            try:
                with _transaction(self._db):
                    self._db.execute(sql, params)
            except sqlite3.Error as exc:
                if retryable(exc):
                    self._keep([s for s in statements[i:] if s[0] != _ADVANCE_PERIOD], exc)
                    return
                self.dropped += 1
                log.exception("store: dropped a write that failed: %s %r", sql, params)
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._metrics.count_dropped, DATABASE)
        self._written()

    def _keep(self, statements: list[_Statement], exc: BaseException) -> None:
        self._backlog = statements
        self._last_error = exc
        self._delay = min(self._backoff_max, max(self._delay * 2, self._backoff_initial))
        text = describe(self._path, exc)
        self._report(len(statements), failed=True, text=text)

    def _written(self) -> None:
        self._delay = 0.0
        self._report(0, failed=False, text="")

    def _report(self, pending: int, *, failed: bool, text: str) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._update_metrics, pending, failed, text)

    def _update_metrics(self, pending: int, failed: bool, text: str) -> None:
        """On the loop: the gauges, and one log line when writing stops and when it resumes."""
        metrics = self._metrics
        metrics.pending[DATABASE] = pending
        if failed:
            metrics.failures[DATABASE] += 1
            metrics.available[DATABASE] = False
            if not self._failing:
                log.error(
                    "store: cannot write the history: %s; %d row(s) kept in memory, "
                    "retrying (every %gs at most)",
                    text,
                    pending,
                    self._backoff_max,
                )
            self._failing = True
        elif self._failing:
            self._failing = False
            metrics.available[DATABASE] = True
            log.warning("store: writing the history again; nothing was lost")

    def _execute(self, statements: list[_Statement]) -> None:
        """Run statements in order, consecutive ones with the same SQL as one executemany.

        Every :data:`YIELD_EVERY` statements the thread sleeps for a moment. It
        drops the GIL around each ``sqlite3_step`` but takes it back before the
        event loop's thread wakes up, and the interpreter then does not force a
        switch, so a large batch starved the loop (stalls of 20-50 ms were
        measured); a real sleep hands the GIL over.
        """
        since_yield = 0
        for sql, group in itertools.groupby(statements, key=itemgetter(0)):
            params = [p for _, p in group]
            for i in range(0, len(params), YIELD_EVERY):
                if since_yield >= YIELD_EVERY:
                    time.sleep(YIELD_SECONDS)
                    since_yield = 0
                chunk = params[i : i + YIELD_EVERY]
                self._db.executemany(sql, chunk)
                since_yield += len(chunk)

    def _run_job(self, job: _Job) -> None:
        try:
            job.run(self._db)
        except Exception:
            # The writer must outlive a failed housekeeping run.
            log.exception("store: housekeeping failed")


_RETENTION = (
    'DELETE FROM outages WHERE "end" < ?',
    "DELETE FROM events WHERE at < ?",
    'DELETE FROM observation_periods WHERE "end" < ?',
    'DELETE FROM maintenance_periods WHERE "end" < ?',
    'DELETE FROM isolation_periods WHERE "end" < ?',
)
_INCREMENTAL = 2  # PRAGMA auto_vacuum value


def _apply_retention(db: sqlite3.Connection, cutoff: float) -> None:
    """Delete rows that ended before ``cutoff`` and give the space back."""
    with _transaction(db):
        deleted = sum(db.execute(sql, (cutoff,)).rowcount for sql in _RETENTION)
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
        # A database made without incremental vacuum: convert it once (a full rewrite).
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("VACUUM")
    else:
        db.execute("PRAGMA incremental_vacuum").fetchall()
    if deleted:
        log.info("store: retention deleted %d rows", deleted)


# --------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------

_INSERT_OUTAGE = (
    'INSERT INTO outages (target, "check", start, "end", cause, reason, message) '
    "VALUES (?, ?, ?, NULL, ?, ?, ?)"
)
_END_OUTAGE = 'UPDATE outages SET "end" = ? WHERE target = ? AND "end" IS NULL'
# The target's latest outage: the trace ends seconds after it opened (it may have closed).
_OUTAGE_PATH = (
    "UPDATE outages SET path = ? WHERE id = "
    "(SELECT id FROM outages WHERE target = ? ORDER BY start DESC, id DESC LIMIT 1)"
)
_UPSERT_STATE = (
    "INSERT INTO target_states (target, health, since) VALUES (?, ?, ?) "
    "ON CONFLICT (target) DO UPDATE SET health = excluded.health, since = excluded.since"
)
_INSERT_EVENT = 'INSERT INTO events (kind, target, at, "check", detail) VALUES (?, ?, ?, ?, ?)'
_UPSERT_FIRST_OBSERVED = (
    "INSERT INTO targets (target, first_observed) VALUES (?, ?) "
    "ON CONFLICT (target) DO UPDATE SET first_observed = "
    "min(first_observed, excluded.first_observed)"
)
_UPSERT_MAINTENANCE = (
    'INSERT INTO maintenance_periods (target, start, "end") VALUES (?, ?, ?) '
    'ON CONFLICT (target, start) DO UPDATE SET "end" = excluded."end"'
)
_INSERT_WINDOW = (
    "INSERT OR REPLACE INTO maintenance_windows (id, definition, created, created_by, comment) "
    "VALUES (?, ?, ?, ?, ?)"
)
_DELETE_WINDOW = "DELETE FROM maintenance_windows WHERE id = ?"
_UPSERT_ISOLATION = (
    'INSERT INTO isolation_periods (start, "end") VALUES (?, ?) '
    'ON CONFLICT (start) DO UPDATE SET "end" = excluded."end"'
)

_NO_FIGURES = Figures(0, 0.0, MappingProxyType(dict.fromkeys(WINDOWS)), None, None)


class Store:
    """The daemon's history: ``async with Store(path) as store: ...``.

    Write methods are plain calls from the event loop: they update the figures
    in memory and queue the SQL (see the module docstring). Calling one on a
    store that is not open raises ``RuntimeError``.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        heartbeat: float = 10.0,
        retention_days: int = 400,
        count_maintenance: bool = False,
        vacuum_every: float = DAY,
        metrics: WriteMetrics | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        buckets: tuple[int, int] = (60, 3600),
        bucket_retention: tuple[float, float] = (14 * DAY, 400 * DAY),
    ) -> None:
        self.path = path
        self.metrics = metrics if metrics is not None else WriteMetrics()
        self.buckets = buckets
        """Fine and coarse bucket widths of the measurement history, seconds."""
        self._bucket_retention = bucket_retention
        self._series: dict[tuple[str, str], int] = {}
        self._next_series = 1
        self.bucket_seeds: dict[tuple[str, str], tuple[int, Summary, int]] = {}
        """Coarse buckets in progress when the previous run stopped (for the recorder)."""
        self.buckets_rebuilt = 0
        self._backoff = (backoff_initial, backoff_max)
        self._clock = clock
        self._heartbeat = heartbeat
        self._retention = retention_days * DAY
        self._count_maintenance = count_maintenance
        self._vacuum_every = vacuum_every
        self.snapshot = Snapshot({}, {}, None)
        self._unreconciled: dict[str, Outage] = {}
        self._monitor = MonitorHistory()
        self._targets: dict[str, TargetHistory] = {}
        self._reported_downtime: dict[str, float] = {}
        self._writer: _Writer | None = None
        self._reader: Reader | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = 0.0

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Store:
        """Open and migrate the database, load the figures, start an observation period."""
        try:
            opened = await asyncio.to_thread(
                _open, self.path, self._clock, self._count_maintenance, self.buckets
            )
        except (sqlite3.Error, OSError, StoreError) as exc:
            raise StoreError(describe(self.path, exc)) from None
        self.snapshot = opened.snapshot
        self._unreconciled = dict(opened.snapshot.open_outages)
        self._monitor, self._targets = opened.monitor, opened.targets
        self._started = opened.started
        self._series = opened.series
        self._next_series = max(opened.series.values(), default=0) + 1
        self.bucket_seeds = opened.rebuilt.in_progress
        self.buckets_rebuilt = opened.rebuilt.written
        initial, most = self._backoff
        self._writer = _Writer(
            opened.db,
            asyncio.get_running_loop(),
            self._clock,
            opened.period_id,
            path=self.path,
            metrics=self.metrics,
            backoff_initial=initial,
            backoff_max=most,
        )
        self._writer.start()
        try:
            self._reader = await asyncio.to_thread(Reader, self.path)
        except (sqlite3.Error, OSError, StoreError) as exc:
            await self._writer.stop()
            self._writer = None
            raise StoreError(describe(self.path, exc)) from None
        except BaseException:
            await self._writer.stop()
            self._writer = None
            raise
        self._tasks = [
            asyncio.create_task(self._beat(), name="store-heartbeat"),
            asyncio.create_task(self._housekeeping(), name="store-housekeeping"),
            asyncio.create_task(self._bucket_housekeeping(), name="store-buckets"),
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Write what is queued, end the observation period, close."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._monitor.set_period(self._started, self._clock())
        # The reader goes first: SQLite checkpoints the WAL into the database
        # file when the last connection closes, so that is the writer, and the
        # file stays whole on its own (a copy without -wal/-shm loses nothing).
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._writer is not None:
            await self._writer.stop()  # its last transaction advances the period
            self._writer = None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            self._put(_Signal.TICK)

    async def _housekeeping(self) -> None:
        while True:
            self._queue_retention()
            self._forget_old()
            await asyncio.sleep(self._vacuum_every)

    async def _bucket_housekeeping(self) -> None:
        """Bucket retention once per coarse bucket: each run deletes about that much."""
        while True:
            self._queue_bucket_retention()
            await asyncio.sleep(self.buckets[1])

    def _queue_bucket_retention(self) -> None:
        now = self._clock()
        for level, keep in zip(("fine", "coarse"), self._bucket_retention, strict=True):
            self._put((retention_sql(level), (int(now - keep),)))

    def _queue_retention(self) -> None:
        self._put(_Job(partial(_apply_retention, cutoff=self._clock() - self._retention)))

    def _forget_old(self) -> None:
        """Drop outages past the horizon from memory (figures() also does it per target)."""
        horizon = self._clock() - MEMORY
        for history in self._targets.values():
            if history.needs_forgetting(horizon):
                history.forget_before(horizon)

    async def apply_retention(self) -> None:
        """Delete rows older than the retention now and wait until done."""
        self._queue_retention()
        self._queue_bucket_retention()
        await self.flush()

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._writer is None:
            raise RuntimeError("the store is not open")
        await self._writer.flush()

    @property
    def dropped_writes(self) -> int:
        """Writes that failed and were dropped since open (each one was logged)."""
        return self._writer.dropped if self._writer is not None else 0

    def _put(self, item: _Item) -> None:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        self._writer.put(item)

    def _history(self, target: str) -> TargetHistory:
        history = self._targets.get(target)
        if history is None:
            history = self._targets[target] = TargetHistory()
        return history

    # -- writes (non-blocking, applied in order) -----------------------------

    def first_observed(self, target: str, at: float) -> None:
        """The target was observed at ``at``; time before its first observation is not counted.

        ``outage_started`` and ``state_changed`` (UP or DOWN) imply it.
        """
        if self._history(target).observe(at):
            self._put((_UPSERT_FIRST_OBSERVED, (target, at)))

    def outage_started(
        self,
        target: str,
        check: str | None,
        start: float,
        *,
        cause: str,
        reason: str,
        message: str,
    ) -> bool:
        """Open an outage; False (and nothing written) if the target already has one open.

        A ``start`` before the target's previous outage ended is moved to that
        end, so outages never overlap.
        """
        self.first_observed(target, start)
        span = self._history(target).start_outage(start)
        if span is None:
            return False
        self._put((_INSERT_OUTAGE, (target, check, span.start, cause, reason, message)))
        return True

    def outage_ended(self, target: str, end: float) -> bool:
        """Close the target's open outage at ``end`` (not before its start); False if none."""
        history = self._targets.get(target)
        if history is None:
            return False
        span = history.end_outage(end, self._monitor, self._count_maintenance)
        if span is None:
            return False
        self._unreconciled.pop(target, None)
        self._put((_END_OUTAGE, (span.end, target)))
        return True

    def outage_path(self, target: str, text: str) -> None:
        """Record where the path broke on the target's latest outage (its diagnosis)."""
        self._put((_OUTAGE_PATH, (text, target)))

    def state_changed(self, target: str, health: str, since: float | None) -> None:
        """Persist the target's state (the snapshot of the next start shows it)."""
        if since is not None and health in (Health.UP, Health.DOWN):
            self.first_observed(target, since)
        self._put((_UPSERT_STATE, (target, str(health), since)))

    def record_event(
        self, kind: str, target: str, at: float, check: str | None, detail: str
    ) -> None:
        """Append a state event to the history."""
        self._put((_INSERT_EVENT, (kind, target, at, check, detail)))

    def maintenance(self, target: str, start: float, end: float | None) -> None:
        """Open (``end=None``) or close the target's maintenance period that began at ``start``."""
        self._history(target).set_maintenance(start, end)
        self._put((_UPSERT_MAINTENANCE, (target, start, end)))

    def isolation(self, start: float, end: float | None) -> None:
        """Open or close a period in which the monitor declared itself isolated.

        That time is unobserved for every target.
        """
        self._monitor.set_isolation(start, end)
        self._put((_UPSERT_ISOLATION, (start, end)))

    def reconcile(self, target: str, health: str) -> Outage | None:
        """Apply the restart rule to an outage the previous run left open.

        Call it with the target's first hard state after the start. UP closes
        the outage at ``snapshot.previous_observed_until`` (the gap is
        unobserved); DOWN keeps the same row open. Returns the outage as it now
        stands, or None if the previous run left none open for this target or
        it was already decided. Other states decide nothing yet and return it
        unchanged.
        """
        outage = self._unreconciled.get(target)
        if outage is None or health not in (Health.UP, Health.DOWN):
            return outage
        del self._unreconciled[target]
        if health == Health.DOWN:
            return outage
        until = self.snapshot.previous_observed_until
        end = outage.start if until is None else max(until, outage.start)
        self.outage_ended(target, end)
        return replace(outage, end=end)

    # -- reads -----------------------------------------------------------------

    def figures(self, target: str, now: float) -> Figures:
        """The target's figures at ``now``, from memory (see :mod:`monitor.engine.availability`)."""
        history = self._targets.get(target)
        if history is None:
            return _NO_FIGURES
        horizon = now - MEMORY
        if history.needs_forgetting(horizon):
            history.forget_before(horizon)
        # The same figures as compute_figures(), kept while they cannot move (most targets).
        result = history.steady_figures(self._monitor, now, self._count_maintenance)
        # A counter must not go down (see the module docstring).
        reported = self._reported_downtime.get(target, 0.0)
        total = result.downtime_seconds_total
        if total < reported:
            return replace(result, downtime_seconds_total=reported)
        if total != reported:  # most targets: none yet (no entry), or none since
            self._reported_downtime[target] = total
        return result

    def window_sums(
        self, target: str, now: float, windows: Mapping[str, float]
    ) -> dict[str, tuple[float, float]]:
        """(downtime, observed) seconds per window, for pooling targets (SLOs)."""
        history = self._targets.get(target)
        if history is None:
            return {name: (0.0, 0.0) for name in windows}
        return window_sums(
            history, self._monitor, now, windows, count_maintenance=self._count_maintenance
        )

    def write_buckets(self, level: str, rows: list[tuple[str, str, int, Summary]]) -> None:
        """Queue closed measurement buckets ((target, check, start, summary) each).

        A (target, check) seen for the first time gets its series id here (the
        one writer keeps the table and this map in step).
        """
        sql = upsert_sql(level)
        series = self._series
        for target, check, start, summary in rows:
            sid = series.get((target, check))
            if sid is None:
                sid = series[(target, check)] = self._next_series
                self._next_series += 1
                self._put((INSERT_SERIES, (sid, target, check)))
            self._put((sql, (start, sid, *to_row(summary))))

    async def history(
        self, target: str, level: str, since: int, until: int
    ) -> dict[str, list[tuple[int, Summary]]]:
        """Stored buckets of every check of ``target`` in ``[since, until)``, by check."""
        assert self._reader is not None
        step = self.buckets[0] if level == "fine" else self.buckets[1]
        wanted = {check: sid for (name, check), sid in self._series.items() if name == target}
        return await asyncio.to_thread(self._reader.history, wanted, level, since, until, step)

    def uptime(self, names: Iterable[str], edges: Sequence[float]) -> Buckets:
        """Downtime and observed time per bucket of ``edges`` (:mod:`monitor.engine.uptime`),
        from memory.

        Targets with nothing in the window share one series, computed once per call.
        """
        baseline = Baseline(self._monitor, edges)
        count = self._count_maintenance
        series = {
            name: series_of(self._targets.get(name), baseline, count_maintenance=count)
            for name in names
        }
        return Buckets(baseline, series)

    def add_window(
        self, window_id: str, definition: str, *, created: float, created_by: str, comment: str
    ) -> None:
        """Persist a maintenance window made through the API (``definition`` is JSON)."""
        self._put((_INSERT_WINDOW, (window_id, definition, created, created_by, comment)))

    def remove_window(self, window_id: str) -> None:
        self._put((_DELETE_WINDOW, (window_id,)))

    def add_silence(self, silence_id: str, definition: str) -> None:
        """Persist an alert silence (``definition`` is JSON)."""
        self._put(
            (
                "INSERT OR REPLACE INTO silences (id, definition) VALUES (?, ?)",
                (silence_id, definition),
            )
        )

    def remove_silence(self, silence_id: str) -> None:
        self._put(("DELETE FROM silences WHERE id = ?", (silence_id,)))

    async def silences(self) -> list[StoredSilence]:
        await self.flush()
        assert self._reader is not None
        return await asyncio.to_thread(self._reader.silences)

    async def windows(self) -> list[StoredWindow]:
        """The API-made maintenance windows, oldest first."""
        await self.flush()
        assert self._reader is not None
        return await asyncio.to_thread(self._reader.windows)

    async def outages(
        self,
        *,
        target: str | None = None,
        since: float | None = None,
        until: float | None = None,
        open: bool | None = None,
        wait: bool = True,
    ) -> list[Outage]:
        """Outages as ``GET /api/v1/outages`` lists them (see :meth:`Reader.outages`).

        Waits for queued writes first, so a caller reads what it wrote; with
        ``wait=False`` (a graph) it reads what is committed, without waiting
        behind a batch of the measurement history.
        """
        if wait:
            await self.flush()
        assert self._reader is not None
        return await asyncio.to_thread(
            self._reader.outages, target=target, since=since, until=until, open=open
        )


# --------------------------------------------------------------------------
# Read-only access
# --------------------------------------------------------------------------


_OVERLAPPING = 'WHERE start < ? AND ("end" IS NULL OR "end" > ? OR start >= ?) '
"""Outages overlapping ``[since, until)`` as :meth:`Reader.outages` selects them.

Parameters: until, since, since.
"""


class PeriodRows(NamedTuple):
    """What :meth:`Reader.period_rows` reads, all from one snapshot of the database."""

    outages: list[Outage]
    """Outages overlapping the period (as :meth:`Reader.outages` selects them), by target, start."""
    observation: list[tuple[float, float]]
    """Every observation period of the monitor."""
    isolation: list[tuple[float, float | None]]
    """Every isolation period (``None``: still open)."""
    first_observed: dict[str, float]
    """Each target's first observation."""
    maintenance: list[tuple[str, float, float | None]]
    """Maintenance periods (target, start, end) that end after the earliest outage
    start or the period's start, whichever is first; by target, start."""


class Reader:
    """A read-only connection, safe while the daemon writes (also from another process).

    Methods block on SQLite; from an event loop, call them in a thread.
    """

    def __init__(self, path: Path) -> None:
        self._db = _connect_readonly(path)
        self._lock = threading.Lock()  # one query at a time on the connection

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def outages(
        self,
        *,
        target: str | None = None,
        since: float | None = None,
        until: float | None = None,
        open: bool | None = None,
    ) -> list[Outage]:
        """Outages of ``target`` (or all) overlapping ``[since, until)``, oldest first.

        An outage overlaps when it starts before ``until`` and is still open,
        ends after ``since`` or starts at or after ``since`` (so an instant
        outage at ``since`` is included). ``open`` selects open (True) or
        closed (False) outages; None gives both.
        """
        clauses: list[str] = []
        params: list[object] = []
        if target is not None:
            clauses.append("target = ?")
            params.append(target)
        if until is not None:
            clauses.append("start < ?")
            params.append(until)
        if since is not None:
            clauses.append('("end" IS NULL OR "end" > ? OR start >= ?)')
            params.extend((since, since))
        if open is not None:
            clauses.append('"end" IS NULL' if open else '"end" IS NOT NULL')
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        # Only the constant clauses above are spliced in; values are parameters.
        sql = _SELECT_OUTAGES + where + "ORDER BY start, target"
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [Outage(*row) for row in rows]

    def history(
        self, series: Mapping[str, int], level: str, since: int, until: int, step: int
    ) -> dict[str, list[tuple[int, Summary]]]:
        """Buckets of the given series (check -> id) in ``[since, until)``."""
        start = since // step * step
        with self._lock:
            return {
                check: read_series(self._db, level, sid, (start, until, step))
                for check, sid in series.items()
            }

    def silences(self) -> list[StoredSilence]:
        with self._lock:
            rows = self._db.execute("SELECT id, definition FROM silences ORDER BY id").fetchall()
        return [StoredSilence(*row) for row in rows]

    def windows(self) -> list[StoredWindow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, definition, created, created_by, comment FROM maintenance_windows "
                "ORDER BY created, id"
            ).fetchall()
        return [StoredWindow(*row) for row in rows]

    def figures(self, now: float, *, count_maintenance: bool = False) -> dict[str, Figures]:
        """Every target's figures at ``now`` (loads the history; for reports, not scrapes).

        The running daemon's current period counts as observed up to its last
        heartbeat.
        """
        with self._lock, _transaction(self._db, "BEGIN"):
            monitor, targets = load_histories(self._db, now, count_maintenance)
        return {
            name: compute_figures(history, monitor, now, count_maintenance=count_maintenance)
            for name, history in targets.items()
        }

    def period_rows(
        self,
        since: float,
        until: float,
        *,
        batch: int = 10_000,
        progress: Callable[[int, int], None] | None = None,
    ) -> PeriodRows:
        """The rows a report over ``[since, until)`` needs, in one read transaction.

        One snapshot, so a daemon writing meanwhile cannot make the outages
        disagree with the observation periods. ``progress(done, total)`` is
        called as outage rows arrive, ``batch`` at a time.
        """
        params = (until, since, since)
        with self._lock, _transaction(self._db, "BEGIN"):
            total = self._db.execute(
                'SELECT count(*) FROM outages WHERE start < ? AND ("end" IS NULL OR "end" > ? '
                "OR start >= ?)",
                params,
            )
            count = int(total.fetchone()[0])
            cursor = self._db.execute(
                _SELECT_OUTAGES + _OVERLAPPING + "ORDER BY target, start", params
            )
            outages: list[Outage] = []
            while rows := cursor.fetchmany(batch):
                outages.extend(Outage(*row) for row in rows)
                if progress is not None:
                    progress(len(outages), count)
            # Outages that began before `since` need the maintenance of their whole span.
            lo = min([since, *(o.start for o in outages)])
            maintenance = self._db.execute(
                'SELECT target, start, "end" FROM maintenance_periods '
                'WHERE "end" IS NULL OR "end" > ? ORDER BY target, start',
                (lo,),
            ).fetchall()
            observation = self._db.execute(
                'SELECT start, "end" FROM observation_periods ORDER BY start'
            ).fetchall()
            isolation = self._db.execute(
                'SELECT start, "end" FROM isolation_periods ORDER BY start'
            ).fetchall()
            first = dict(self._db.execute("SELECT target, first_observed FROM targets"))
        return PeriodRows(outages, observation, isolation, first, maintenance)


def open_readonly(path: Path) -> Reader:
    """Open the history at ``path`` read-only (the ``report`` command, another process)."""
    return Reader(path)
