"""SQLite files of the state directory: opening, versioned migrations, and what a failure means.

The history (``history.sqlite3``, :mod:`monitor.history.store`) and the outbox
(``outbox.sqlite3``, :mod:`alerts.outbox`) are separate files opened the same
way (WAL, ``synchronous=NORMAL``) and migrated by the same machinery: a
``schema_version`` table and a tuple of migrations applied in order, each in
its own transaction. Never edit a released migration: append one.

Failures are sorted in two kinds. *Retryable* ones come from the place the
file lives and go away without touching the file: the disk is full, an I/O
error, the file system or file is read-only, the file is locked. Writers keep
what they could not write in memory and retry (see :class:`SerialWriter` and
the history writer). Anything else (a file that is not a database, a damaged
one, a constraint violated) does not heal by waiting.

:func:`describe` turns a failure into one line naming the file, what is wrong
and what to do, for the operator (start-up errors, log lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
WAL_SIZE_LIMIT = 64 * 1024 * 1024

# SQLite primary result codes (the low byte of an extended code).
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_NOMEM = 7
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26
_RETRYABLE_CODES = frozenset(
    {
        _SQLITE_PERM,
        _SQLITE_BUSY,
        _SQLITE_LOCKED,
        _SQLITE_NOMEM,
        _SQLITE_READONLY,
        _SQLITE_IOERR,
        _SQLITE_FULL,
        _SQLITE_CANTOPEN,
    }
)
_RETRYABLE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES})

Migration = Callable[[sqlite3.Connection], None]


class StoreError(Exception):
    """A database cannot be used; the message is one line for the operator."""


# --------------------------------------------------------------------------
# Connecting and migrating
# --------------------------------------------------------------------------


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    """An explicit transaction (connections here run with ``isolation_level=None``)."""
    db.execute(begin)
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        # A COMMIT that failed (disk full) may have rolled back already, or not.
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


def refuse_empty(path: Path) -> None:
    """Refuse a 0-byte file: SQLite would take it for a new, empty database.

    A file of ours is never empty once made (the WAL pragma writes its header),
    so an empty one lost its content, and starting on it would silently start
    an empty history.
    """
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size == 0:
            raise StoreError(
                f"{path}: the file is empty (0 bytes), its content is lost; restore it "
                "from a backup, or delete it to start afresh"
            )


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) a database file in WAL mode; raises on any failure.

    The connection is used by one thread at a time (the opener, then a writer thread).
    """
    refuse_empty(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Takes effect only while the file has no tables, i.e. on a new database.
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"{path}: cannot use write-ahead logging (journal mode {mode})")
        db.execute("PRAGMA synchronous = NORMAL")
        # After a checkpoint the log shrinks back to this instead of keeping its peak size.
        db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
    except BaseException:
        db.close()
        raise
    return db


def schema_version(db: sqlite3.Connection) -> int:
    """The database's schema version; 0 for an empty database (or one made before versions)."""
    table = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if table is None:
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite3.Connection, migrations: tuple[Migration, ...], name: str) -> int:
    """Bring the database to ``len(migrations)``; returns the version it had."""
    target = len(migrations)
    with transaction(db):
        found = schema_version(db)
        if found > target:
            raise StoreError(
                f"the {name} database has schema version {found}, newer than this program's "
                f"{target}; use a newer continuity-monitor"
            )
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    for version in range(found + 1, target + 1):
        with transaction(db):
            migrations[version - 1](db)
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        log.debug("%s: database migrated to schema version %d", name, version)
    if 0 < found < target:  # an upgrade: one line, not one per step (a new file: none)
        log.info("%s: database upgraded to schema version %d (was %d)", name, target, found)
    return found


# --------------------------------------------------------------------------
# What a failure means
# --------------------------------------------------------------------------


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def retryable(exc: BaseException) -> bool:
    """Whether waiting (and freeing space, remounting...) can make the write succeed."""
    if isinstance(exc, sqlite3.Error):
        code = _code(exc)
        if code is not None:
            return code in _RETRYABLE_CODES
        # No code (old SQLite): go by the message.
        text = str(exc).lower()
        return any(w in text for w in ("full", "disk i/o", "readonly", "locked", "unable to open"))
    if isinstance(exc, OSError):
        return exc.errno in _RETRYABLE_ERRNOS
    return False


def _read_only_fs(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _disk_full(directory: Path) -> bool:
    try:
        stat = os.statvfs(directory)
    except OSError:
        return False
    # A few pages left are as good as none: SQLite needs room for its WAL and index.
    return stat.f_bavail * stat.f_frsize < 64 * 1024


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


_ADVICE = {
    "full": "the disk is full; free space on the file system of {dir} and start again",
    "rofs": "the file system is read-only; remount {dir} read-write or point state_dir elsewhere",
    "denied": "cannot write it (read-only file or directory); make {name} and {parent} "
    "writable by user {user}",
    "damaged": "not a SQLite database, or a damaged one (truncated?); move it aside and "
    "restore a backup, or delete it to start afresh",
    "io": "I/O error ({exc}); check the disk and the kernel log",
    "locked": "locked by another process ({exc}); is another monitor running on it?",
    "other": "{exc}; move it aside and restore a backup, or delete it to start afresh",
}


def _problem(directory: Path, exc: BaseException) -> str:
    """Which of :data:`_ADVICE` applies; the file system's state first, it is the surest."""
    code = _code(exc) if isinstance(exc, sqlite3.Error) else None
    err = exc.errno if isinstance(exc, OSError) else None
    checks = (
        ("full", code == _SQLITE_FULL or err in (errno.ENOSPC, errno.EDQUOT)),
        ("full", _disk_full(directory)),
        ("rofs", err == errno.EROFS or _read_only_fs(directory)),
        ("denied", code in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN)),
        ("denied", err == errno.EACCES),
        ("damaged", code in (_SQLITE_NOTADB, _SQLITE_CORRUPT)),
        ("io", code == _SQLITE_IOERR or err == errno.EIO),
        ("locked", code in (_SQLITE_BUSY, _SQLITE_LOCKED)),
    )
    return next((kind for kind, applies in checks if applies), "other")


def describe(path: Path, exc: BaseException) -> str:
    """One line: the file, what is wrong with it and what to do."""
    if isinstance(exc, StoreError):
        text = str(exc)
        return text if text.startswith(str(path)) else f"{path}: {text}"
    directory = _existing(path.parent)
    advice = _ADVICE[_problem(directory, exc)].format(
        dir=directory, name=path.name, parent=path.parent, user=_user(), exc=exc
    )
    return f"{path}: {advice}"


def _user() -> str:
    try:
        import pwd  # noqa: PLC0415 - POSIX only

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


# --------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------


class WriteMetrics(Collector):
    """Writes not yet durable and failed attempts, by database ("history", "outbox").

    Plain dicts updated from the event loop; the cost moves to the scrape.
    """

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self.available: dict[str, bool] = {}

    def declare(self, database: str) -> None:
        self.pending.setdefault(database, 0)
        self.failures.setdefault(database, 0)
        self.dropped.setdefault(database, 0)
        self.available.setdefault(database, True)

    def count_dropped(self, database: str, count: int = 1) -> None:
        self.dropped[database] = self.dropped.get(database, 0) + count

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        pending = GaugeMetricFamily(
            "continuity_store_pending_writes",
            "Writes accepted but not yet durable (kept in memory while the database "
            "cannot be written): history rows, or notifications for the outbox.",
            labels=["database"],
        )
        for name, count in sorted(self.pending.items()):
            pending.add_metric([name], count)
        yield pending
        failures = CounterMetricFamily(
            "continuity_store_write_failures",
            "Failed attempts to write to a database (disk full, I/O error, read-only...).",
            labels=["database"],
        )
        for name, count in sorted(self.failures.items()):
            failures.add_metric([name], count)
        yield failures
        dropped = CounterMetricFamily(
            "continuity_store_dropped_writes",
            "Writes refused for a reason retrying cannot fix (a constraint, a damaged "
            "database) and given up; each is logged.",
            labels=["database"],
        )
        for name, count in sorted(self.dropped.items()):
            dropped.add_metric([name], count)
        yield dropped
        available = GaugeMetricFamily(
            "continuity_store_available",
            "1 when the database's last write succeeded, 0 while it cannot be written "
            "(for the outbox: no notification is delivered).",
            labels=["database"],
        )
        for name, ok in sorted(self.available.items()):
            available.add_metric([name], 1.0 if ok else 0.0)
        yield available


# --------------------------------------------------------------------------
# A writer thread that keeps what it cannot write
# --------------------------------------------------------------------------

T = TypeVar("T")


@dataclass(slots=True)
class _Job(Generic[T]):
    run: Callable[[sqlite3.Connection], T]
    future: asyncio.Future[T]
    weight: int = field(default=0)


_STOP = object()


class SerialWriter:
    """One thread owns the connection and runs jobs in order.

    The connection is opened by the thread itself with ``opener``; a job (or
    the opening) that fails in a :func:`retryable` way stays at the head of the
    queue and is tried again with backoff, later jobs waiting behind it, so
    nothing is lost or reordered while the disk is full. Opening is always
    retried: a damaged file may be moved aside by the operator. Other failures
    fail the job's future. ``weight`` counts what a job writes for the
    ``pending`` gauge (notifications, rows); jobs that only read weigh 0.
    """

    def __init__(
        self,
        opener: Callable[[], sqlite3.Connection],
        *,
        name: str,
        path: Path,
        metrics: WriteMetrics,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        consequence: str = "",
    ) -> None:
        self._opener = opener
        self.consequence = consequence
        self.name = name
        self.path = path
        self.metrics = metrics
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._queue: queue.SimpleQueue[_Job[Any] | object] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._failing = False
        metrics.declare(name)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-writer", daemon=True)
        self._thread.start()

    def submit(self, run: Callable[[sqlite3.Connection], T], weight: int = 0) -> asyncio.Future[T]:
        """Queue ``run(connection)``; the future has its result once it ran."""
        assert self._loop is not None, "start the writer first"
        future: asyncio.Future[T] = self._loop.create_future()
        self.metrics.pending[self.name] += weight
        self._queue.put(_Job(run, future, weight))
        return future

    async def stop(self) -> None:
        """Run what is queued (one more try if failing), then close."""
        self._stopping.set()
        self._queue.put(_STOP)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    # -- the thread --------------------------------------------------------------

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                assert isinstance(item, _Job)
                db = self._run_job(db, item)
        finally:
            self._abandon()
            if db is not None:
                db.close()

    def _run_job(self, db: sqlite3.Connection | None, job: _Job[Any]) -> sqlite3.Connection | None:
        delay = self.backoff_initial
        while True:
            try:
                if db is None:
                    db = self._opener()
                result = job.run(db)
            except Exception as exc:
                opening = db is None
                if not (opening or retryable(exc)) or self._stopping.is_set():
                    self._done(job, exc=exc)
                    return db
                self._failed(exc, delay)
                if self._stopping.wait(delay):
                    # Shutting down: one last try, then give up (the log says what is lost).
                    delay = 0.0
                delay = min(self.backoff_max, max(delay, self.backoff_initial) * 2)
                continue
            self._done(job, result=result)
            return db

    def _failed(self, exc: BaseException, delay: float) -> None:
        self.call(self._count_failure, describe(self.path, exc), delay)

    def _count_failure(self, text: str, delay: float) -> None:
        self.metrics.failures[self.name] += 1
        if self._failing:
            log.debug("%s: still failing: %s", self.name, text)
            return
        self._failing = True
        self.metrics.available[self.name] = False
        log.error(
            "%s: cannot write: %s; %d write(s) kept in memory, retrying (every %gs at most)%s",
            self.name,
            text,
            self.metrics.pending[self.name],
            self.backoff_max,
            f"; {self.consequence}" if self.consequence else "",
        )

    def _done(
        self, job: _Job[Any], *, result: object = None, exc: BaseException | None = None
    ) -> None:
        self.call(self._settle, job, result, exc)

    def _settle(self, job: _Job[Any], result: object, exc: BaseException | None) -> None:
        self.metrics.pending[self.name] -= job.weight
        if exc is not None and job.weight:
            self.metrics.count_dropped(self.name, job.weight)
        if exc is None and self._failing:
            self._failing = False
            self.metrics.available[self.name] = True
            log.warning("%s: writing again; %d write(s) still queued", self.name, self.pending)
        if job.future.done():
            return
        if exc is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(exc)

    @property
    def pending(self) -> int:
        return self.metrics.pending[self.name]

    def _abandon(self) -> None:
        """At stop: jobs still queued are lost with the process; say how many."""
        lost = 0
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._queue.get_nowait()
                if isinstance(item, _Job):
                    lost += item.weight
                    self.call(item.future.cancel)
        if lost:
            log.error("%s: %d write(s) could not be stored before shutdown", self.name, lost)

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` on the event loop (from the writer thread)."""
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            self._loop.call_soon_threadsafe(fn, *args)
