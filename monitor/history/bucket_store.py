"""The measurement buckets' tables: schema, writes, rebuild at open, reads.

Layout, chosen for the write path (see bench/README.md for the figures):

* ``series`` names each (target, check) once with a small integer;
* ``fine_buckets`` and ``coarse_buckets`` hold one row per series and bucket,
  keyed ``(t, series)`` (WITHOUT ROWID). Rows arrive in time order, so every
  batch appends to the end of the tree and retention deletes from its start:
  neither touches pages in the middle, whatever the number of series. Times
  are whole microseconds and the histogram a few bytes
  (:func:`monitor.engine.rttsketch.encode_slots`).

Reading one series over a range is one primary-key lookup per bucket of the
range (a recursive CTE lists the bucket starts), not a scan.

Coarse rows are written by the recorder when a coarse bucket ends. At open,
:func:`rebuild` rolls up from the fine rows every coarse bucket that ended
without its row (the daemon stopped during it) and returns the one in
progress for the recorder to continue.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from monitor.engine.rttsketch import Row, Summary, from_row, to_row


def migrate_v6(db: sqlite3.Connection) -> None:
    """Measurement history: series and their fine and coarse buckets."""
    db.execute(
        """CREATE TABLE series (
            id INTEGER PRIMARY KEY,
            target TEXT NOT NULL,
            "check" TEXT NOT NULL,
            UNIQUE (target, "check"))"""
    )
    for table in ("fine_buckets", "coarse_buckets"):
        db.execute(  # the two names above only
            f"""CREATE TABLE {table} (
                t INTEGER NOT NULL,
                series INTEGER NOT NULL,
                count INTEGER NOT NULL,
                sent INTEGER NOT NULL,
                lost INTEGER NOT NULL,
                min INTEGER,
                max INTEGER,
                hist BLOB NOT NULL,
                PRIMARY KEY (t, series)) WITHOUT ROWID"""
        )


INSERT_SERIES = 'INSERT OR IGNORE INTO series (id, target, "check") VALUES (?, ?, ?)'

_UPSERT = {
    "fine": "INSERT OR REPLACE INTO fine_buckets (t, series, count, sent, lost, min, max, hist) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "coarse": "INSERT OR REPLACE INTO coarse_buckets "
    "(t, series, count, sent, lost, min, max, hist) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
}
_RETENTION = {
    "fine": "DELETE FROM fine_buckets WHERE t < ?",
    "coarse": "DELETE FROM coarse_buckets WHERE t < ?",
}
_RANGE = (
    "WITH RECURSIVE ts(t) AS (SELECT ? UNION ALL SELECT t + ? FROM ts WHERE t + ? < ?) "
    "SELECT b.t, b.count, b.sent, b.lost, b.min, b.max, b.hist FROM ts "
)
READ_SQL = {
    "fine": _RANGE + "JOIN fine_buckets AS b ON b.t = ts.t AND b.series = ?",
    "coarse": _RANGE + "JOIN coarse_buckets AS b ON b.t = ts.t AND b.series = ?",
}
"""One primary-key lookup per bucket start of the range (the CTE lists them)."""


def upsert_sql(level: str) -> str:
    return _UPSERT[level]


def retention_sql(level: str) -> str:
    return _RETENTION[level]


def load_series(db: sqlite3.Connection) -> dict[tuple[str, str], int]:
    return {(target, check): sid for sid, target, check in db.execute("SELECT * FROM series")}


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """What :func:`rebuild` did and found."""

    written: int
    """Coarse rows rolled up from fine rows."""
    in_progress: dict[tuple[str, str], tuple[int, Summary, int]]
    """Per (target, check): start of the coarse bucket in progress, its summary so far,
    end of its last fine bucket."""


def rebuild(db: sqlite3.Connection, now: float, fine: int, coarse: int) -> Rebuilt:
    """Roll up ended coarse buckets that have fine rows but no coarse row; read the current one.

    Runs in the opening thread, before the writer starts. Only fine rows
    after the last coarse row are read (normally the hour the previous run
    stopped in).
    """
    names = {sid: key for key, sid in load_series(db).items()}
    current = int(now // coarse) * coarse
    last = db.execute("SELECT max(t) FROM coarse_buckets").fetchone()[0]
    since = current if last is None else min(int(last) + coarse, current)
    if last is None:
        first = db.execute("SELECT min(t) FROM fine_buckets").fetchone()[0]
        if first is not None:
            since = min(int(first) // coarse * coarse, current)
    groups: dict[tuple[int, int], Summary] = {}
    ends: dict[int, int] = {}
    for t, series, *rest in db.execute(
        "SELECT t, series, count, sent, lost, min, max, hist FROM fine_buckets "
        "WHERE t >= ? ORDER BY t",
        (since,),
    ):
        row: Row = (rest[0], rest[1], rest[2], rest[3], rest[4], rest[5])
        bucket = int(t) // coarse * coarse
        summary = groups.get((bucket, series))
        if summary is None:
            summary = groups[(bucket, series)] = Summary()
        summary.merge(from_row(row))
        if bucket == current:
            ends[series] = max(ends.get(series, 0), int(t) + fine)
    done = [(bucket, series, s) for (bucket, series), s in groups.items() if bucket < current]
    with db:
        db.executemany(
            upsert_sql("coarse"), [(bucket, series, *to_row(s)) for bucket, series, s in done]
        )
    in_progress = {
        names[series]: (bucket, summary, ends[series])
        for (bucket, series), summary in groups.items()
        if bucket == current and series in names
    }
    return Rebuilt(len(done), in_progress)


def read_series(
    db: sqlite3.Connection, level: str, series: int, span: tuple[int, int, int]
) -> list[tuple[int, Summary]]:
    """Buckets of one series in ``span`` = (since, until, step), ``since`` on the bucket grid."""
    since, until, step = span
    rows = db.execute(READ_SQL[level], (since, step, step, until, series)).fetchall()
    return [(int(t), from_row((c, s, lost, lo, hi, h))) for t, c, s, lost, lo, hi, h in rows]
