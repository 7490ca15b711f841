"""What a database failure means: retry or not, and the one line the operator reads."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from pathlib import Path

import pytest

from monitor.dbfile import describe, retryable


def real_error(tmp_path: Path, what: str) -> sqlite3.Error:
    """A genuine SQLite error of the kind asked for."""
    path = tmp_path / "x.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE t (a UNIQUE)")
        db.execute("INSERT INTO t VALUES (1)")
        db.commit()
    if what == "readonly":
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        sql = "INSERT INTO t VALUES (2)"
    elif what == "garbage":
        path.write_bytes(b"garbage!" * 512)
        db = sqlite3.connect(path)
        sql = "SELECT * FROM t"
    else:
        db = sqlite3.connect(path)
        sql = "INSERT INTO t VALUES (1)"
    with contextlib.closing(db), pytest.raises(sqlite3.Error) as caught:
        db.execute(sql)
    return caught.value


@pytest.mark.parametrize(
    ("what", "again", "says"),
    [
        ("readonly", True, "cannot write it (read-only file or directory); make x.sqlite3 and"),
        ("garbage", False, "not a SQLite database, or a damaged one"),
        ("constraint", False, "UNIQUE constraint failed"),
    ],
)
def test_sqlite_errors(tmp_path: Path, what: str, again: bool, says: str) -> None:
    exc = real_error(tmp_path, what)
    assert retryable(exc) is again
    line = describe(tmp_path / "x.sqlite3", exc)
    assert line.startswith(f"{tmp_path / 'x.sqlite3'}: ") and says in line
    assert "\n" not in line


@pytest.mark.parametrize(
    ("code", "again", "says"),
    [
        (errno.ENOSPC, True, "the disk is full; free space on the file system of"),
        (errno.EROFS, True, "the file system is read-only; remount"),
        (errno.EACCES, True, "cannot write it"),
        (errno.EIO, True, "I/O error"),
        (errno.ENAMETOOLONG, False, "move it aside"),
    ],
)
def test_os_errors(tmp_path: Path, code: int, again: bool, says: str) -> None:
    exc = OSError(code, "boom")
    assert retryable(exc) is again
    assert says in describe(tmp_path / "state" / "history.sqlite3", exc)
