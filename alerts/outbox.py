"""The durable outbox: every notification is in SQLite before any attempt to send it.

:meth:`Outbox.enqueue` writes notifications in one transaction, ignoring a
``(channel, dedup key)`` already present, so a re-submission (say, after a
restart) never sends twice. One worker task per channel then sends that
channel's notifications strictly in order: the head of its queue is retried
with exponential backoff and jitter, each attempt bounded by the channel's
timeout, until it is delivered, until the channel says the error is
permanent, or until its TTL passes. A notification given up on is marked
``dead`` and, if its route named a ``fallback`` channel, a copy is queued
there in the same transaction.

Durability: SQLite in WAL mode with ``synchronous=NORMAL`` survives the
process being killed at any point (``kill -9``); an operating-system crash
or power cut may lose the last few committed rows, the price of not waiting
for an fsync on every alert during an alert storm. Delivery is at least
once: a crash between a send and its ``sent`` mark repeats that send, and
receivers dedup on the key.

The database is used only by one writer thread (:class:`monitor.dbfile.SerialWriter`),
never on the event loop, and it is versioned like the history
(:data:`OUTBOX_MIGRATIONS`; an outbox file made before versions is adopted
as version 1 with its rows). The rule is that a notification is stored
before any attempt to send it: workers send only rows read back from the
database. When it cannot be written (disk full, I/O error, read-only, a
damaged file at start), notifications wait in memory in order, the write is
retried with backoff, and they are sent once stored; meanwhile nothing is
sent (``continuity_store_available{database="outbox"}`` is 0, one log line
says why). Monitoring never waits for the outbox.

Delivered and dead rows are kept for ``retention`` (the dedup memory and a
record for inspection), then deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from alerts.channels.base import Channel, ChannelSettings, PermanentError, TransientError
from alerts.metrics import DeliveryMetrics
from alerts.model import Notification
from monitor.clock import Clock, LoopClock, sleep_wall
from monitor.dbfile import Migration, SerialWriter, connect, migrate, transaction

log = logging.getLogger(__name__)

RowState = Literal["pending", "sent", "dead"]
HOUSEKEEPING_PERIOD = 3600.0
T = TypeVar("T")

_SCHEMA_V1 = (
    """CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    fallback TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    done_at REAL,
    UNIQUE (channel, key)
)""",
    "CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (channel, state, id)",
)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard a channel's worker tries."""

    timeout: float = 10.0
    ttl: float = 3600.0
    backoff_initial: float = 1.0
    backoff_max: float = 300.0

    @classmethod
    def of(cls, settings: ChannelSettings) -> DeliveryPolicy:
        return cls(settings.timeout, settings.ttl, settings.backoff_initial, settings.backoff_max)

    def backoff(self, attempts: int, rng: random.Random) -> float:
        """Exponential in the attempts made, capped, with jitter in [50 %, 100 %]."""
        base = min(self.backoff_max, self.backoff_initial * 2.0 ** min(attempts - 1, 30))
        return base * rng.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Row:
    """One stored notification and its delivery state."""

    id: int
    channel: str
    key: str
    notification: Notification
    fallback: str | None
    state: RowState
    created_at: float
    attempts: int
    next_attempt_at: float
    last_error: str | None
    done_at: float | None


_COLUMNS = (
    "id, channel, key, body, fallback, state, created_at, attempts, "
    "next_attempt_at, last_error, done_at"
)


def _row(values: tuple[Any, ...]) -> Row:
    # A SQLite row: the table's types, as the schema below declares them.
    (id_, channel, key, body, fallback, state, created, attempts, next_at, error, done) = values
    return Row(
        int(id_),
        str(channel),
        str(key),
        Notification.from_json(str(body)),
        None if fallback is None else str(fallback),
        state,
        float(created),
        int(attempts),
        float(next_at),
        None if error is None else str(error),
        None if done is None else float(done),
    )


def _v1_outbox(db: sqlite3.Connection) -> None:
    """The queue. ``IF NOT EXISTS``: an outbox made before versions already has it."""
    for sql in _SCHEMA_V1:  # not executescript: it would commit the migration's transaction
        db.execute(sql)


OUTBOX_MIGRATIONS: tuple[Migration, ...] = (_v1_outbox,)
"""Versioned like the history (see :mod:`monitor.dbfile`); append, never edit."""
DATABASE = "outbox"
"""The ``database`` label of the write metrics."""


def open_database(path: Path) -> sqlite3.Connection:
    """Open and migrate the outbox file (in the writer thread)."""
    db = connect(path)
    try:
        migrate(db, OUTBOX_MIGRATIONS, DATABASE)
    except BaseException:
        db.close()
        raise
    return db


def bodies_containing(path: Path, needles: Iterable[str]) -> list[str]:
    """Bodies of the stored notifications that contain any of ``needles``, oldest first.

    Read-only and blocking (call it on a thread): for a reader outside the
    writer thread, such as the start-up reader of alerts still firing
    (:mod:`alerts.reopen`). The file is opened ``mode=ro``, so a reader never
    creates or migrates it; :class:`sqlite3.Error` is the caller's to handle.
    """
    ordered = sorted(needles)
    if not ordered:
        return []
    where = " OR ".join("instr(body, ?) > 0" for _ in ordered)
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute(
            f"SELECT body FROM outbox WHERE {where} ORDER BY id",  # noqa: S608 (placeholders)
            ordered,
        ).fetchall()
    finally:
        db.close()
    return [str(body) for (body,) in rows]


def _counts(db: sqlite3.Connection, channels: Iterable[str]) -> dict[str, tuple[int, float | None]]:
    """Pending count and oldest creation time per channel, for the gauges."""
    found: dict[str, tuple[int, float | None]] = {}
    for channel in channels:
        count, oldest = db.execute(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE channel = ? AND state = 'pending'",
            (channel,),
        ).fetchone()
        found[channel] = (int(count), oldest)
    return found


def _insert(db: sqlite3.Connection, n: Notification, now: float) -> bool:
    cursor = db.execute(
        "INSERT OR IGNORE INTO outbox (channel, key, body, fallback, created_at, "
        "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
        (n.channel, n.key, n.to_json(), n.fallback, now, now),
    )
    return cursor.rowcount == 1


class Outbox:
    """SQLite-backed queue with one sending worker per channel.

    ``async with Outbox(...) as outbox:`` starts the writer thread (which opens
    the database) and the workers; leaving writes what is queued and stops
    them (pending rows stay for the next start). Opening never fails: a file
    that cannot be opened or written leaves delivery unavailable (logged, and
    ``continuity_store_available{database="outbox"}`` is 0) while monitoring
    goes on; notifications wait in memory, in order, and the writer retries.
    """

    def __init__(
        self,
        path: str | Path,
        channels: Mapping[str, Channel],
        policies: Mapping[str, DeliveryPolicy] | None = None,
        *,
        clock: Clock | None = None,
        metrics: DeliveryMetrics | None = None,
        rng: random.Random | None = None,
        retention: float = 7 * 86400.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        self.path = Path(path)
        self.channels = dict(channels)
        self.policies = {n: (policies or {}).get(n, DeliveryPolicy()) for n in self.channels}
        self.clock = clock or LoopClock()
        self.metrics = metrics or DeliveryMetrics(self.clock.wall)
        self.rng = rng or random.Random()
        self.retention = retention
        self._writer = SerialWriter(
            partial(open_database, self.path),
            name=DATABASE,
            path=self.path,
            metrics=self.metrics.writes,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            consequence="alert delivery is unavailable until then, monitoring goes on",
        )
        self._reader: sqlite3.Connection | None = None
        self._wake = {name: asyncio.Event() for name in self.channels}
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> Outbox:
        self._writer.start()
        for name in self.channels:
            self.metrics.declare(name)
        self._tasks.append(asyncio.create_task(self._start(), name="outbox-start"))
        for name in self.channels:
            self._tasks.append(asyncio.create_task(self._worker(name), name=f"outbox-{name}"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="outbox-housekeeping"))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._writer.stop()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def _start(self) -> None:
        """Housekeeping, gauges and orphans once the database is open (it may take retries)."""
        await self._write(self._housekeep_job)
        counts = await self._write(partial(_counts, channels=list(self.channels)))
        self._set_counts(counts)
        orphans = await self._write(self._orphans_job)
        for channel, count in orphans:
            log.warning(
                "%d pending notification(s) for channel %r, which is no longer configured",
                count,
                channel,
            )

    def _write(self, job: Callable[[sqlite3.Connection], T], weight: int = 0) -> asyncio.Future[T]:
        return self._writer.submit(job, weight)

    # -- writing ---------------------------------------------------------------

    def enqueue(self, notifications: Iterable[Notification]) -> asyncio.Future[list[Notification]]:
        """Queue notifications for storing (one transaction, in the writer thread).

        Returns at once; the future gives those not already stored once the
        transaction is durable. Nothing is sent before that: the workers only
        send rows read back from the database. While the file cannot be
        written they wait in memory, in order, and the write is retried.
        """
        batch = list(notifications)
        future = self._write(partial(self._enqueue_job, batch, self.clock.wall()), len(batch))
        future.add_done_callback(self._enqueued)
        return future

    def _enqueue_job(
        self, batch: list[Notification], now: float, db: sqlite3.Connection
    ) -> list[Notification]:
        with transaction(db):
            added = [n for n in batch if _insert(db, n, now)]
        self._post_counts(db, {n.channel for n in added})
        return added

    def _enqueued(self, future: asyncio.Future[list[Notification]]) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # the caller hears of it through the future
        for channel in {n.channel for n in future.result()}:
            if channel in self._wake:
                self._wake[channel].set()
            else:
                log.error("notification for unknown channel %r kept in the outbox", channel)

    def _post_counts(self, db: sqlite3.Connection, channels: Iterable[str]) -> None:
        """From the writer thread: refresh the pending gauges of ``channels`` on the loop."""
        counts = _counts(db, channels)
        if counts:
            self._writer.call(self._set_counts, counts)

    def _set_counts(self, counts: Mapping[str, tuple[int, float | None]]) -> None:
        for channel, (count, oldest) in counts.items():
            self.metrics.set_pending(channel, count, oldest)

    # -- reading (workers, tests, inspection) ----------------------------------

    @staticmethod
    def _head_job(channel: str, db: sqlite3.Connection) -> Row | None:
        values = db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE channel = ? AND state = 'pending' "  # noqa: S608
            "ORDER BY id LIMIT 1",
            (channel,),
        ).fetchone()
        return None if values is None else _row(values)

    async def head(self, channel: str) -> Row | None:
        """The oldest pending notification of a channel (read after every queued write)."""
        return await self._write(partial(self._head_job, channel))

    async def written(self) -> None:
        """Wait until everything queued so far is stored."""
        await self._write(lambda db: None)

    def rows(self, channel: str | None = None, state: RowState | None = None) -> list[Row]:
        """Stored notifications in queue order, optionally of one channel and state.

        For tests and inspection: a read on the calling thread, of what is committed.
        """
        query = f"SELECT {_COLUMNS} FROM outbox WHERE 1 = 1"  # noqa: S608
        params: list[str] = []
        if channel is not None:
            query += " AND channel = ?"
            params.append(channel)
        if state is not None:
            query += " AND state = ?"
            params.append(state)
        if self._reader is None:
            self._reader = sqlite3.connect(self.path, isolation_level=None)
        return [_row(v) for v in self._reader.execute(query + " ORDER BY id", params).fetchall()]

    def _orphans_job(self, db: sqlite3.Connection) -> list[tuple[str, int]]:
        found = db.execute(
            "SELECT channel, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY channel"
        ).fetchall()
        return [(str(c), int(n)) for c, n in found if c not in self.channels]

    # -- the workers -----------------------------------------------------------

    async def _worker(self, name: str) -> None:
        channel, policy, wake = self.channels[name], self.policies[name], self._wake[name]
        while True:
            wake.clear()
            row = await self.head(name)
            if row is None:
                await wake.wait()
                continue
            if row.next_attempt_at > self.clock.wall():
                await sleep_wall(self.clock, row.next_attempt_at)
                continue
            # At least one attempt first: after a long downtime the channel may
            # well be up again, and the fallback is for channels that failed.
            if row.attempts and self.clock.wall() - row.created_at >= policy.ttl:
                last = row.last_error or "no attempt made"
                await self._give_up(row, f"not delivered within its TTL ({last})")
                continue
            await self._attempt(channel, policy, row)

    async def _attempt(self, channel: Channel, policy: DeliveryPolicy, row: Row) -> None:
        try:
            async with asyncio.timeout(policy.timeout):
                await channel.send(row.notification)
        except PermanentError as exc:
            self.metrics.count_failed(row.channel, "permanent")
            await self._give_up(row, str(exc))
        except TransientError as exc:
            await self._retry(row, policy, str(exc))
        except TimeoutError:
            await self._retry(row, policy, f"attempt timed out after {policy.timeout:g}s")
        except Exception as exc:
            # A bug in a channel must not stop its queue; retrying keeps the
            # notification, and the traceback tells us what to fix.
            log.exception("channel %s: unexpected error while sending", row.channel)
            await self._retry(row, policy, f"unexpected error: {type(exc).__name__}")
        else:
            await self._mark_sent(row)

    def _update_job(
        self, row: Row, sql: str, params: tuple[object, ...], db: sqlite3.Connection
    ) -> None:
        with transaction(db):
            db.execute(sql, params)
        self._post_counts(db, (row.channel,))

    async def _mark_sent(self, row: Row) -> None:
        self.metrics.count_sent(row.channel)
        # Waited for: the next head must not be this row again. A crash before
        # the mark repeats the send (at least once; receivers dedup on the key).
        await self._write(
            partial(
                self._update_job,
                row,
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, done_at = ? "
                "WHERE id = ?",
                (self.clock.wall(), row.id),
            )
        )
        if row.attempts:
            log.info(
                "channel %s: delivered %s after %d retries", row.channel, row.key, row.attempts
            )

    async def _retry(self, row: Row, policy: DeliveryPolicy, error: str) -> None:
        self.metrics.count_failed(row.channel, "transient")
        attempts = row.attempts + 1
        now = self.clock.wall()
        # Never sleep past the TTL: the worker must give up on time.
        next_at = min(now + policy.backoff(attempts, self.rng), row.created_at + policy.ttl)
        await self._write(
            partial(
                self._update_job,
                row,
                "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                (attempts, next_at, error, row.id),
            )
        )
        level = logging.WARNING if attempts == 1 else logging.DEBUG
        log.log(level, "channel %s: %s (attempt %d, will retry)", row.channel, error, attempts)

    def _give_up_job(
        self, row: Row, error: str, now: float, db: sqlite3.Connection
    ) -> Notification | None:
        """Mark dead and hand a copy to the fallback channel, in one transaction."""
        fallback = row.fallback if row.fallback not in (None, row.channel) else None
        copy: Notification | None = None
        with transaction(db):
            db.execute(
                "UPDATE outbox SET state = 'dead', last_error = ?, done_at = ? WHERE id = ?",
                (error, now, row.id),
            )
            if fallback is not None:
                original = row.notification
                copy = Notification(
                    key=f"{row.key}|fallback:{row.channel}",
                    channel=fallback,
                    alerts=original.alerts,
                    reason="fallback",
                    created_at=now,
                    fallback=None,
                    group=original.group,
                )
                if not _insert(db, copy, now):
                    copy = None
        self._post_counts(db, {row.channel} | ({copy.channel} if copy else set()))
        return copy

    async def _give_up(self, row: Row, error: str) -> None:
        copy = await self._write(partial(self._give_up_job, row, error, self.clock.wall()))
        self.metrics.count_dead(row.channel)
        log.error(
            "channel %s: gave up on %s: %s%s",
            row.channel,
            row.key,
            error,
            f"; handed to fallback channel {copy.channel}" if copy is not None else "",
        )
        if copy is not None and copy.channel in self._wake:
            self._wake[copy.channel].set()

    # -- housekeeping ------------------------------------------------------------

    def _housekeep_job(self, db: sqlite3.Connection) -> None:
        cutoff = self.clock.wall() - self.retention
        with transaction(db):
            db.execute("DELETE FROM outbox WHERE state != 'pending' AND done_at < ?", (cutoff,))

    async def housekeep(self) -> None:
        """Delete delivered and dead rows older than the retention."""
        await self._write(self._housekeep_job)

    async def _housekeeping(self) -> None:
        while True:
            await self.clock.sleep_until(self.clock.now() + HOUSEKEEPING_PERIOD)
            await self.housekeep()
