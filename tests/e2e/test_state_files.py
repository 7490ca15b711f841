"""Start-up on a broken state file: one line naming the file, what is wrong and what to do.

The CLI runs as a subprocess on a history (``history.sqlite3``) that is
garbage, empty, truncated, on a full disk or on a read-only file system; it
must exit 1 with exactly one line on stderr (no traceback, no other log
line). A broken outbox (``outbox.sqlite3``) alone must not stop monitoring:
the daemon starts, says once that delivery is unavailable, and shows it in
``continuity_store_available{database="outbox"}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.dbfile import connect
from monitor.history.store import migrate
from tests.daemon_process import DaemonProcess, run_cli
from tests.helpers import free_port
from tests.tmpfs import fill, read_only, tmpfs

CONFIG = """
[monitor]
state_dir = "{state}"
listen = "127.0.0.1:{port}"

[defaults]
checks = ["tcp"]
interval = "1s"
timeout = "500ms"
fall = 1

[[targets]]
name = "t1"
address = "127.0.0.1"
tcp = {{ port = {closed} }}
"""


def good_history(path: Path) -> None:
    with contextlib.closing(connect(path)) as db:
        migrate(db)
        db.executemany(
            "INSERT INTO events (kind, target, at, detail) VALUES (?, ?, ?, ?)",
            [("target_up", f"t{i}", 1.7e9 + i, "x" * 200) for i in range(2000)],
        )
    assert path.stat().st_size > 100_000


def garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 40)


def empty(path: Path) -> None:
    path.write_bytes(b"")


def truncated(path: Path) -> None:
    good_history(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGED = (
    "not a SQLite database, or a damaged one (truncated?); move it aside and restore a backup, "
    "or delete it to start afresh"
)
EMPTY = "the file is empty (0 bytes), its content is lost; restore it from a backup, or delete it to start afresh"

CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("garbage", garbage, DAMAGED),
    ("empty", empty, EMPTY),
    ("truncated", truncated, DAMAGED),
]


def run(config: Path) -> tuple[int, str]:
    result = run_cli("run", "--config", str(config), timeout=30)
    return result.returncode, result.stderr


def write_config(tmp_path: Path, state: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(state=state, port=free_port(), closed=free_port()))
    return config


@pytest.mark.parametrize(("name", "damage", "what"), CASES, ids=[c[0] for c in CASES])
def test_a_damaged_history_stops_start_up_with_one_line(
    tmp_path: Path, name: str, damage: Callable[[Path], None], what: str
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    history = state / "history.sqlite3"
    damage(history)
    code, stderr = run(write_config(tmp_path, state))
    assert code == 1
    assert stderr == f"continuity-monitor: {history}: {what}\n"


def test_a_full_disk_stops_start_up_with_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "8m") as state:
        history = state / "history.sqlite3"
        good_history(history)
        fill(state)
        code, stderr = run(write_config(tmp_path, state))
    assert code == 1
    assert stderr == (
        f"continuity-monitor: {history}: the disk is full; free space on the file system of "
        f"{state} and start again\n"
    )


def test_a_read_only_file_system_stops_start_up_with_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "8m") as state:
        history = state / "history.sqlite3"
        good_history(history)
        read_only(state)
        code, stderr = run(write_config(tmp_path, state))
    assert code == 1
    assert stderr == (
        f"continuity-monitor: {history}: the file system is read-only; remount {state} "
        "read-write or point state_dir elsewhere\n"
    )


def test_an_empty_state_dir_on_a_full_disk_names_the_directory(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "1m") as mnt:
        fill(mnt)
        state = mnt / "state"
        code, stderr = run(write_config(tmp_path, state))
    assert code == 1
    assert stderr.count("\n") == 1 and "the disk is full" in stderr, stderr
    assert str(mnt) in stderr


@pytest.mark.parametrize(("name", "damage"), [("garbage", garbage), ("empty", empty)])
def test_a_damaged_outbox_alone_degrades_delivery(
    tmp_path: Path, name: str, damage: Callable[[Path], None]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    outbox = state / "outbox.sqlite3"
    damage(outbox)
    config = CONFIG.format(state=state, port=0, closed=free_port())
    with DaemonProcess(config.replace('listen = "127.0.0.1:0"\n', ""), tmp_path) as daemon:
        daemon.wait_for("continuity_store_available", 0, timeout=10, database="outbox")
        assert daemon.value("continuity_store_available", database="history") == 1
        assert (daemon.value("continuity_store_write_failures_total", database="outbox") or 0) >= 1
        # monitoring goes on: the check runs and its result is exported
        daemon.wait_for("continuity_check_success", 0, timeout=20, target="t1")
        log = daemon.log()
    [line] = [line for line in log.splitlines() if str(outbox) in line]
    assert "alert delivery is unavailable" in line and "monitoring goes on" in line
    assert "Traceback" not in log
