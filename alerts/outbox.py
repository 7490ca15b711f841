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

Delivered and dead rows are kept for ``retention`` (the dedup memory and a
record for inspection), then deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alerts.channels.base import Channel, ChannelSettings, PermanentError, TransientError
from alerts.clock import Clock, LoopClock, sleep_wall
from alerts.metrics import DeliveryMetrics
from alerts.model import Notification

log = logging.getLogger(__name__)

RowState = Literal["pending", "sent", "dead"]
HOUSEKEEPING_PERIOD = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
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
);
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (channel, state, id);
"""


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


def _row(values: tuple[object, ...]) -> Row:
    (id_, channel, key, body, fallback, state, created, attempts, next_at, error, done) = values
    return Row(
        int(id_),  # type: ignore[call-overload]
        str(channel),
        str(key),
        Notification.from_json(str(body)),
        None if fallback is None else str(fallback),
        state,  # type: ignore[arg-type]
        float(created),  # type: ignore[arg-type]
        int(attempts),  # type: ignore[call-overload]
        float(next_at),  # type: ignore[arg-type]
        None if error is None else str(error),
        None if done is None else float(done),  # type: ignore[arg-type]
    )


def open_database(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)  # explicit transactions below
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(_SCHEMA)
    return db


class Outbox:
    """SQLite-backed queue with one sending worker per channel.

    ``async with Outbox(...) as outbox:`` opens the database and starts the
    workers; leaving stops them (pending rows stay for the next start).
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
    ) -> None:
        self.path = Path(path)
        self.channels = dict(channels)
        self.policies = {n: (policies or {}).get(n, DeliveryPolicy()) for n in self.channels}
        self.clock = clock or LoopClock()
        self.metrics = metrics or DeliveryMetrics(self.clock.wall)
        self.rng = rng or random.Random()
        self.retention = retention
        self._db: sqlite3.Connection | None = None
        self._wake = {name: asyncio.Event() for name in self.channels}
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> Outbox:
        self._db = open_database(self.path)
        self._housekeep()
        for name in self.channels:
            self.metrics.declare(name)
            self._refresh(name)
        self._report_orphans()
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
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "open the outbox with 'async with' first"
        return self._db

    # -- writing ---------------------------------------------------------------

    def enqueue(self, notifications: Iterable[Notification]) -> list[Notification]:
        """Store notifications (one transaction); returns those not already stored."""
        now = self.clock.wall()
        added: list[Notification] = []
        with self._transaction():
            for n in notifications:
                if self._insert(n, now):
                    added.append(n)
        for channel in {n.channel for n in added}:
            self._refresh(channel)
            if channel in self._wake:
                self._wake[channel].set()
            else:
                log.error("notification for unknown channel %r kept in the outbox", channel)
        return added

    def _insert(self, n: Notification, now: float) -> bool:
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO outbox (channel, key, body, fallback, created_at, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
            (n.channel, n.key, n.to_json(), n.fallback, now, now),
        )
        return cursor.rowcount == 1

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- reading (workers, tests, the API) ---------------------------------------

    def head(self, channel: str) -> Row | None:
        """The oldest pending notification of a channel."""
        values = self.db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE channel = ? AND state = 'pending' "  # noqa: S608
            "ORDER BY id LIMIT 1",
            (channel,),
        ).fetchone()
        return None if values is None else _row(values)

    def rows(self, channel: str | None = None, state: RowState | None = None) -> list[Row]:
        """Stored notifications in queue order, optionally of one channel and state."""
        query = f"SELECT {_COLUMNS} FROM outbox WHERE 1 = 1"  # noqa: S608
        params: list[str] = []
        if channel is not None:
            query += " AND channel = ?"
            params.append(channel)
        if state is not None:
            query += " AND state = ?"
            params.append(state)
        return [_row(v) for v in self.db.execute(query + " ORDER BY id", params).fetchall()]

    def _refresh(self, channel: str) -> None:
        count, oldest = self.db.execute(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE channel = ? AND state = 'pending'",
            (channel,),
        ).fetchone()
        self.metrics.set_pending(channel, int(count), oldest)

    def _report_orphans(self) -> None:
        for channel, count in self.db.execute(
            "SELECT channel, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY channel"
        ).fetchall():
            if channel not in self.channels:
                log.warning(
                    "%d pending notification(s) for channel %r, which is no longer configured",
                    count,
                    channel,
                )

    # -- the workers -----------------------------------------------------------

    async def _worker(self, name: str) -> None:
        channel, policy, wake = self.channels[name], self.policies[name], self._wake[name]
        while True:
            wake.clear()
            row = self.head(name)
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
                self._give_up(row, f"not delivered within its TTL ({last})")
                continue
            await self._attempt(channel, policy, row)

    async def _attempt(self, channel: Channel, policy: DeliveryPolicy, row: Row) -> None:
        try:
            async with asyncio.timeout(policy.timeout):
                await channel.send(row.notification)
        except PermanentError as exc:
            self.metrics.count_failed(row.channel, "permanent")
            self._give_up(row, str(exc))
        except TransientError as exc:
            self._retry(row, policy, str(exc))
        except TimeoutError:
            self._retry(row, policy, f"attempt timed out after {policy.timeout:g}s")
        except Exception as exc:
            # A bug in a channel must not stop its queue; retrying keeps the
            # notification, and the traceback tells us what to fix.
            log.exception("channel %s: unexpected error while sending", row.channel)
            self._retry(row, policy, f"unexpected error: {type(exc).__name__}")
        else:
            self._mark_sent(row)

    def _mark_sent(self, row: Row) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, done_at = ? "
                "WHERE id = ?",
                (self.clock.wall(), row.id),
            )
        self.metrics.count_sent(row.channel)
        self._refresh(row.channel)
        if row.attempts:
            log.info(
                "channel %s: delivered %s after %d retries", row.channel, row.key, row.attempts
            )

    def _retry(self, row: Row, policy: DeliveryPolicy, error: str) -> None:
        self.metrics.count_failed(row.channel, "transient")
        attempts = row.attempts + 1
        now = self.clock.wall()
        # Never sleep past the TTL: the worker must give up on time.
        next_at = min(now + policy.backoff(attempts, self.rng), row.created_at + policy.ttl)
        with self._transaction():
            self.db.execute(
                "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                (attempts, next_at, error, row.id),
            )
        level = logging.WARNING if attempts == 1 else logging.DEBUG
        log.log(level, "channel %s: %s (attempt %d, will retry)", row.channel, error, attempts)

    def _give_up(self, row: Row, error: str) -> None:
        """Mark dead and hand a copy to the fallback channel, in one transaction."""
        fallback = row.fallback if row.fallback not in (None, row.channel) else None
        now = self.clock.wall()
        copy: Notification | None = None
        with self._transaction():
            self.db.execute(
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
                if not self._insert(copy, now):
                    copy = None
        self.metrics.count_dead(row.channel)
        self._refresh(row.channel)
        log.error(
            "channel %s: gave up on %s: %s%s",
            row.channel,
            row.key,
            error,
            f"; handed to fallback channel {fallback}" if copy is not None else "",
        )
        if copy is not None:
            self._refresh(copy.channel)
            if copy.channel in self._wake:
                self._wake[copy.channel].set()

    # -- housekeeping ------------------------------------------------------------

    def _housekeep(self) -> None:
        cutoff = self.clock.wall() - self.retention
        with self._transaction():
            self.db.execute(
                "DELETE FROM outbox WHERE state != 'pending' AND done_at < ?", (cutoff,)
            )

    async def _housekeeping(self) -> None:
        while True:
            await self.clock.sleep_until(self.clock.now() + HOUSEKEEPING_PERIOD)
            self._housekeep()
