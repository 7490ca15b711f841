"""``continuity-monitor report`` as a process: outputs, errors, a live daemon, the progress bar.

The fixture history and its hand-computed figures are those of
``tests/unit/test_report.py``; here the command line is checked end to end,
including reading the database while a running daemon writes to it and the
progress bar on a terminal (a pty) for a history of more than 50,000 outages.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.history.store import Store
from tests.daemon_process import REPO, DaemonProcess, monitor_command, run_cli
from tests.helpers import free_port
from tests.unit.test_report import FIXTURE_CONFIG, TARGETS_TOML, write_fixture_history

PERIOD = ("--since", "2026-11-01", "--until", "2026-11-03")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The unit tests' fixture: config, and its history in ``state/``."""
    (tmp_path / "state").mkdir()
    write_fixture_history(tmp_path / "state" / "history.sqlite3")
    path = tmp_path / "config.toml"
    path.write_text(FIXTURE_CONFIG + TARGETS_TOML)
    return path


def report(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("report", "--config", str(config), *args, timeout=60)


def test_markdown_on_stdout(config: Path) -> None:
    done = report(config, *PERIOD, "--group-by", "operator")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("# Availability report: 2026-11-01 00:00:00 to 2026-11-03")
    # Figures of tests/unit/test_report.py (vnpt: 1 - 5.25 / 88, 1 - 6.5 / 90).
    assert "| vnpt | 3 | 4 | 2 | 94.034% | 92.777% | 4 | 5h 15m 00s | 1h 18m 45s |" in done.stdout


@pytest.mark.parametrize("fmt", ["md", "csv", "html", "json"])
def test_every_format_to_a_file(config: Path, tmp_path: Path, fmt: str) -> None:
    output = tmp_path / f"report.{fmt}"
    done = report(config, *PERIOD, "--format", fmt, "--output", str(output))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    text = output.read_text(encoding="utf-8")
    if fmt == "json":
        document = json.loads(text)
        assert document["instance"] == "noc-qng-1"
        assert document["groups"][0]["name"] == "all targets"
    elif fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    elif fmt == "csv":
        assert text.startswith("row,group,target,")
    else:
        assert "## all targets" in text


def test_state_dir_override(config: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    for path in (tmp_path / "state").iterdir():  # the database and its write-ahead log
        path.rename(tmp_path / "elsewhere" / path.name)
    # Relative to the config file's folder, like `run --state-dir`.
    done = report(config, *PERIOD, "--state-dir", "elsewhere", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["not_in_config"] == ["old-site"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--since", "2026-11-03", "--until", "2026-11-01"),
            "--since (2026-11-03) must be before --until (2026-11-01)",
        ),
        (
            ("--since", "last week", "--until", "2026-11-01"),
            "--since: expected YYYY-MM-DD or an RFC 3339 time",
        ),
        (
            (*PERIOD, "--group-by", "region"),
            "--group-by: expected operator, province, site or label:NAME",
        ),
        ((*PERIOD, "--state-dir", "nowhere"), "cannot read the history: "),
        ((*PERIOD, "--output", "/nonexistent/dir/r.md"), "cannot write /nonexistent/dir/r.md: "),
    ],
)
def test_expected_failures_say_one_thing_and_exit_1(
    config: Path, args: tuple[str, ...], message: str
) -> None:
    done = report(config, *args)
    assert done.returncode == 1
    assert done.stderr.startswith(f"continuity-monitor: {message}"), done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stdout == ""


def test_a_missing_database_is_named(config: Path, tmp_path: Path) -> None:
    (tmp_path / "state" / "history.sqlite3").unlink()
    done = report(config, *PERIOD)
    assert done.returncode == 1
    assert done.stderr == (
        f"continuity-monitor: cannot read the history: "
        f"{tmp_path / 'state' / 'history.sqlite3'}: no such database\n"
    )


def test_an_unreadable_database(config: Path, tmp_path: Path) -> None:
    database = tmp_path / "state" / "history.sqlite3"
    database.write_bytes(b"this is not a database, it only has the name of one" * 100)
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    done = report(config, *PERIOD)
    assert done.returncode == 1
    assert done.stderr == (
        f"continuity-monitor: cannot read the history {database}: file is not a database\n"
    )


def test_an_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[monitor]\ntimezone = 'Mars/Olympus'\n")
    done = report(path, *PERIOD)
    assert done.returncode == 1
    assert done.stderr.startswith(f"continuity-monitor: invalid configuration {path}:")
    assert "Traceback" not in done.stderr and "monitor.timezone" in done.stderr


# --------------------------------------------------------------------------
# While the daemon writes
# --------------------------------------------------------------------------

LIVE = """
[monitor]
state_dir = "state"

[defaults]
checks = ["tcp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 1

[[targets]]
name = "up-svc"
address = "127.0.0.1"
labels = {{ operator = "vnpt" }}
tcp = {{ port = {up} }}

[[targets]]
name = "down-svc"
address = "127.0.0.1"
labels = {{ operator = "vnpost" }}
tcp = {{ port = {down} }}
"""


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port that accepts connections (the up target)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield int(server.getsockname()[1])


def test_reports_while_the_daemon_writes(tmp_path: Path, listening: int) -> None:
    config = LIVE.format(up=listening, down=free_port())  # nothing listens: refused
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    with DaemonProcess(config, tmp_path) as daemon:
        daemon.wait_for("continuity_target_up", 0, timeout=10, target="down-svc")
        daemon.wait_for("continuity_target_up", 1, timeout=10, target="up-svc")
        for _ in range(3):  # the daemon keeps committing results and heartbeats meanwhile
            done = report(daemon.config, "--since", since, "--until", until, "--format", "json")
            assert done.returncode == 0, done.stderr
            document = json.loads(done.stdout)
            targets = {t["name"]: t for g in document["groups"] for t in g["targets"]}
            (outage,) = targets["down-svc"]["outages"]
            assert outage["end"] is None and outage["cause"] == "check:tcp"
            assert outage["notes"] == ["still open"]
            assert targets["up-svc"]["outages"] == []
            time.sleep(0.3)
        text = report(daemon.config, "--since", since, "--until", until, "--group-by", "operator")
        assert text.returncode == 0 and "## vnpost" in text.stdout and "| open |" in text.stdout
        assert daemon.get("/-/ready")[0] == 200  # the reader did not disturb the daemon


# --------------------------------------------------------------------------
# The progress bar
# --------------------------------------------------------------------------

BIG_TARGETS = 300
BIG_PER_TARGET = 200  # 60,000 outages: above the bar's 50,000 rows
BIG_START = datetime(2026, 11, 1, tzinfo=UTC).timestamp()


async def _open_once(path: Path) -> None:
    """A database with the real schema and one observation period of 30 days."""
    clock = [BIG_START]
    async with Store(path, clock=lambda: clock[0], heartbeat=3600) as store:
        clock[0] = BIG_START + 30 * 86400
        await store.flush()


@pytest.fixture(scope="module")
def big_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("big")
    (directory / "state").mkdir()
    database = directory / "state" / "history.sqlite3"
    asyncio.run(_open_once(database))
    names = [f"bts-{i:04d}" for i in range(BIG_TARGETS)]
    # Five minutes down every hour from the second hour on, a second apart per target.
    starts = [
        (name, BIG_START + 3600 + k * 3600 + i)
        for i, name in enumerate(names)
        for k in range(BIG_PER_TARGET)
    ]
    outages = [
        (name, "icmp", start, start + 300, "check:icmp", "timeout", "no reply")
        for name, start in starts
    ]
    db = sqlite3.connect(database)
    with db:  # rows as the store writes them (same columns), in bulk
        db.executemany(
            "INSERT INTO targets (target, first_observed) VALUES (?, ?)",
            [(n, BIG_START) for n in names],
        )
        db.executemany(
            'INSERT INTO outages (target, "check", start, "end", cause, reason, message) '
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            outages,
        )
    db.close()
    inventory = "".join(f"{name},10.30.{i // 250}.{i % 250 + 1}\n" for i, name in enumerate(names))
    (directory / "sites.csv").write_text("name,address\n" + inventory)
    config = directory / "config.toml"
    config.write_text(
        'include = ["sites.csv"]\n[monitor]\nstate_dir = "state"\n[defaults]\nchecks = ["icmp"]\n'
    )
    return config


BIG_PERIOD = ("--since", "2026-11-01", "--until", "2026-12-01")


def test_no_progress_bar_when_stderr_is_not_a_terminal(big_config: Path) -> None:
    done = report(big_config, *BIG_PERIOD, "--format", "csv")
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout.startswith("row,group,target,")


def _run_on_a_pty(command: list[str], stdout: Path, timeout: float) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal; returns the exit code and what the terminal got."""
    master, slave = pty.openpty()
    with stdout.open("wb") as out:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=slave,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    os.close(slave)
    seen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        else:
            raise AssertionError(f"report still running after {timeout} s")
        return proc.wait(timeout=5), seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_progress_bar_on_a_terminal_for_a_large_history(big_config: Path, tmp_path: Path) -> None:
    stdout = tmp_path / "report.md"
    command = monitor_command("report", "--config", str(big_config), *BIG_PERIOD)
    code, terminal = _run_on_a_pty(command, stdout, timeout=60)
    assert code == 0, terminal
    assert "reading outages" in terminal and "60000/60000" in terminal
    assert "computing" in terminal and f"{BIG_TARGETS}/{BIG_TARGETS}" in terminal
    assert terminal.endswith("\r\x1b[K")  # the bar is wiped at the end
    text = stdout.read_text()
    assert text.startswith("# Availability report") and "\x1b" not in text
    # 200 outages of 5 min each per target over 30 days, all observed.
    # Each outage is an incident of its own (no parents): 60,000 incidents, every target affected.
    outages = BIG_TARGETS * BIG_PER_TARGET
    assert f"| all targets | {BIG_TARGETS} | {outages} | {BIG_TARGETS} | 97.685% |" in text
