"""The systemd unit in deploy/systemd: valid, hardened, and true to what the daemon needs.

* ``systemd-analyze verify`` accepts it (ExecStart pointed at a stand-in
  executable, since /opt/continuity-monitor does not exist here) and
  ``systemd-analyze security --offline`` rates it OK.
* The daemon runs the way the unit runs it: as an unprivileged user with only
  CAP_NET_RAW and CAP_NET_BIND_SERVICE (ambient and bounding), no new
  privileges, and no writable+executable memory (the kernel's PR_SET_MDWE,
  which is what MemoryDenyWriteExecute= asks for): raw ICMP works, the trap
  receiver binds UDP 162, a reload and a clean stop work.
* Every system call the daemon makes (traced with strace over a start,
  checks of several kinds, a reload and a stop) is allowed by the unit's
  SystemCallFilter.

This container may not run systemd as PID 1, so the unit itself is not
started; the tests above check each of its promises separately.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.cli import build_parser
from tests.daemon_process import REPO
from tests.helpers import free_port, require_peer

UNIT = REPO / "deploy" / "systemd" / "continuity-monitor.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
NOBODY = 65534
CAP_NET_BIND_SERVICE = 10
CAP_NET_RAW = 13
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
# Run by root before exec: refuse writable+executable mappings from here on
# (inherited across fork and execve), then exec the rest of the command line.
MDWE_LAUNCHER = (
    "import ctypes, os, sys\n"
    f"if ctypes.CDLL(None).prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0:\n"
    "    sys.exit('PR_SET_MDWE not supported')\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def directives() -> list[tuple[str, str, str]]:
    """(section, key, value) of every line; keys may repeat, as systemd allows."""
    out: list[tuple[str, str, str]] = []
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def service(key: str) -> list[str]:
    return [v for s, k, v in directives() if s == "Service" and k == key]


def need_systemd_analyze() -> str:
    require_peer("systemd-analyze")
    assert SYSTEMD_ANALYZE is not None
    return SYSTEMD_ANALYZE


# -- the file --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "simple"),
        ("User", "continuity"),
        ("AmbientCapabilities", "CAP_NET_RAW CAP_NET_BIND_SERVICE"),
        ("CapabilityBoundingSet", "CAP_NET_RAW CAP_NET_BIND_SERVICE"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/continuity"),
        ("StateDirectory", "continuity"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        (
            "ExecReload",
            "/opt/continuity-monitor/bin/continuity-monitor reload "
            "--config /etc/continuity/config.toml --pid $MAINPID",
        ),
        ("EnvironmentFile", "-/etc/continuity/continuity-monitor.env"),
        ("Restart", "on-failure"),
        ("TimeoutStopSec", "10"),
    ],
)
def test_unit_sets(key: str, value: str) -> None:
    assert service(key) == [value]


def test_only_the_state_directory_is_writable_and_execstart_is_a_valid_run() -> None:
    writable = [v for k in ("ReadWritePaths", "StateDirectory") for v in service(k)]
    assert writable == ["/var/lib/continuity", "continuity"]
    assert service("User")[0] != "root" and not service("DynamicUser")
    command = shlex.split(service("ExecStart")[0])
    assert command[0] == "/opt/continuity-monitor/bin/continuity-monitor"
    args = build_parser().parse_args(command[1:])
    assert args.command == "run"
    assert str(args.config) == "/etc/continuity/config.toml"
    assert args.state_dir == "/var/lib/continuity"
    assert service("SystemCallFilter")[0] == "@system-service"


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = need_systemd_analyze()
    stand_in = tmp_path / "continuity-monitor"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    unit = tmp_path / UNIT.name  # verify wants the unit's own name
    unit.write_text(UNIT.read_text().replace("/opt/continuity-monitor/bin/", f"{tmp_path}/"))
    proc = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


def test_systemd_analyze_security_rates_it_ok(tmp_path: Path) -> None:
    analyze = need_systemd_analyze()
    unit = tmp_path / UNIT.name
    shutil.copy(UNIT, unit)
    proc = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    match = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", proc.stdout)
    assert match is not None, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 2.0 and match.group(2) == "OK", match.group(0)


# -- the daemon as the unit runs it ---------------------------------------------------


def interpreter_for(uid: int) -> tuple[str, dict[str, str]]:
    """A Python that user ``uid`` can run with the project's packages, and its env.

    The venv's interpreter may live under /root (not readable by others); the
    system python3 of the same version can use the venv's packages instead.
    """
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join([str(REPO), *site.getsitepackages()]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        if not Path(candidate).exists():
            continue
        probe = subprocess.run(
            [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                candidate,
                "-c",
                # A pyenv build under /root starts as another user too, but with the
                # system's standard library; accept only an interpreter it can read.
                "import os, sys, monitor.daemon\n"
                "assert os.access(sys.executable, os.R_OK)\n"
                "print(sys.version_info[:2])",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
            cwd="/",
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(sys.version_info[:2]):
            return candidate, env
    pytest.skip("no Python that an unprivileged user can run with the project's packages")


@pytest.fixture(name="shared_dir")
def shared_dir_fixture() -> Iterator[Path]:
    """A directory the unprivileged user can read (tmp_path is private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="cm-unit-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout} s:\n{log.read_text()}")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def sample(port: int, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(scrape(port)):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return None


def wait_for_metric(port: int, name: str, value: float, timeout: float = 15, **labels: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if sample(port, name, **labels) == value:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name}{labels} != {value} on /metrics after {timeout} s")


def daemon_config(port: int, trap_port: int) -> str:
    """Checks of several kinds on loopback, and the trap receiver."""
    return f"""
[monitor]
instance = "unit-test"

[defaults]
interval = "1s"
timeout = "1s"

[[targets]]
name = "lo-icmp"
address = "127.0.0.1"
checks = ["icmp"]
icmp = {{ count = 1 }}

[[targets]]
name = "self-http"
address = "http://127.0.0.1:{port}/-/healthy"
checks = ["http"]

[[targets]]
name = "self-tcp"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {port} }}

[[targets]]
name = "no-agent"
address = "127.0.0.1"
checks = ["snmp"]
snmp = {{ version = "2c", community = "public", modules = ["system"], port = {free_udp()} }}

[traps]
listen = "127.0.0.1:{trap_port}"
communities = ["public"]
"""


def free_udp() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def daemon_pid(proc: subprocess.Popen[bytes]) -> int:
    """The daemon's pid: the wrappers exec into it, except strace, whose child it is
    (``strace -o FILE`` blocks SIGHUP and SIGTERM rather than passing them on)."""
    with contextlib.suppress(OSError):
        if Path(f"/proc/{proc.pid}/comm").read_text().strip() != "strace":
            return proc.pid
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    with contextlib.suppress(OSError, ValueError):
        return int(children.read_text().split()[0])
    return proc.pid


def stop(proc: subprocess.Popen[bytes], pid: int) -> int:
    """SIGTERM to the daemon; on a timeout SIGKILL to it and to its wrapper (a
    killed strace would leave its tracee running)."""
    if proc.poll() is None:
        os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait(5)
    return proc.returncode


def run_checks_reload_stop(
    command: list[str], env: dict[str, str], port: int, log: Path, *, inspect: bool = False
) -> str:
    """Start, wait for every kind's result, reload, stop; the daemon's log."""
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd="/")
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready", proc, log)
        for target in ("lo-icmp", "self-http", "self-tcp"):
            wait_for_metric(port, "continuity_target_up", 1, target=target)
        wait_for_metric(port, "continuity_check_success", 0, target="no-agent", check="snmp")
        daemon = daemon_pid(proc)
        if inspect:
            inspect_process(daemon)
        os.kill(daemon, signal.SIGHUP)
        end = time.monotonic() + 15
        while "reloaded:" not in log.read_text() and time.monotonic() < end:
            time.sleep(0.1)
        assert "reloaded:" in log.read_text(), log.read_text()
    finally:
        code = stop(proc, daemon_pid(proc))
    text = log.read_text()
    assert code == 0, text
    return text


def inspect_process(pid: int) -> None:
    status = proc_status(pid)
    assert status["Uid"].split() == [str(NOBODY)] * 4
    assert status["NoNewPrivs"] == "1"
    wanted = (1 << CAP_NET_RAW) | (1 << CAP_NET_BIND_SERVICE)
    for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert int(status[field], 16) == wanted, (field, status[field])


def unit_like(
    shared_dir: Path, trap_port: int, tracer: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, str], int, Path]:
    """The daemon as the unit starts it: user nobody, only the unit's two capabilities
    (ambient and bounding), no new privileges, no writable+executable memory.
    ``tracer`` goes before the interpreter. Returns command, env, port, state dir."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start the daemon as another user with capabilities")
    require_peer("setpriv")
    python, env = interpreter_for(NOBODY)
    port = free_port()
    config = shared_dir / "config.toml"
    config.write_text(daemon_config(port, trap_port))
    state = shared_dir / "state"
    state.mkdir()
    os.chown(state, NOBODY, NOBODY)
    os.chown(shared_dir, NOBODY, NOBODY)  # for the tracer's output
    caps = "+net_raw,+net_bind_service"
    command = [
        sys.executable,
        "-c",
        MDWE_LAUNCHER,
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        f"--inh-caps=-all,{caps}",
        f"--ambient-caps=-all,{caps}",
        f"--bounding-set=-all,{caps}",
        "--no-new-privs",
        *tracer,
        python,
        "-m",
        "monitor",
        "run",
        "--config",
        str(config),
        "--listen",
        f"127.0.0.1:{port}",
        "--state-dir",
        str(state),
    ]
    return command, env, port, state


@pytest.mark.slow
def test_daemon_runs_unprivileged_with_the_units_two_capabilities(shared_dir: Path) -> None:
    if not udp_port_free(162):
        pytest.skip("UDP 127.0.0.1:162 is in use")
    command, env, port, state = unit_like(shared_dir, 162)
    log = shared_dir / "daemon.log"
    text = run_checks_reload_stop(command, env, port, log, inspect=True)
    assert "ICMP: using raw sockets" in text, text
    assert "receiving SNMP traps on 127.0.0.1:162" in text, text
    assert "Traceback" not in text, text
    assert any(p.stat().st_uid == NOBODY for p in state.iterdir()), "state written as the user"


def allowed_syscalls(analyze: str) -> set[str]:
    """@system-service minus @privileged and @resources, expanded (the unit's filter),
    plus @default, which systemd always permits."""
    listing = subprocess.run(
        [analyze, "syscall-filter", "--no-pager"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in listing.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if raw.startswith("@"):
            current = groups.setdefault(line, [])
        else:
            current.append(line)

    def expand(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        out: set[str] = set()
        for member in groups.get(name, []):
            if member.startswith("@"):
                if member not in seen:
                    out |= expand(member, seen | {name})
            else:
                out.add(member)
        return out

    filters = service("SystemCallFilter")
    assert filters == ["@system-service", "~@privileged @resources", "setpriority"]
    denied = expand("@privileged") | expand("@resources")
    return (expand("@system-service") - denied) | expand("@default") | {"setpriority"}


def traced_syscalls(summary: str) -> set[str]:
    """Names from ``strace -c`` output (the last column of the table rows)."""
    names = set()
    for line in summary.splitlines():
        fields = line.split()
        if len(fields) >= 5 and re.fullmatch(r"[\d.]+", fields[0]) and fields[-1] != "total":
            names.add(fields[-1])
    return names


@pytest.mark.slow
def test_every_system_call_the_daemon_makes_is_allowed_by_the_filter(
    shared_dir: Path,
) -> None:
    """Traced as the unit runs it: root takes other code paths (SQLite chowns its
    journal to the database's owner when it runs as root, for one)."""
    analyze = need_systemd_analyze()
    require_peer("strace")
    allowed = allowed_syscalls(analyze)
    summary = shared_dir / "strace.txt"
    tracer = ("strace", "-f", "-qq", "-c", "-o", str(summary))
    command, env, port, _ = unit_like(shared_dir, free_udp(), tracer)
    run_checks_reload_stop(command, env, port, shared_dir / "daemon.log")
    used = traced_syscalls(summary.read_text())
    assert len(used) > 20, summary.read_text()
    assert used - allowed == set(), f"not allowed by SystemCallFilter: {sorted(used - allowed)}"
