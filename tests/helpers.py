"""Small helpers every kind of test uses: ports, bounded waits, config files, peers.

One copy of each, so a fix (a longer poll, a clearer message) lands everywhere.
``tests/conftest.py`` holds the fixtures; this module holds what tests call
directly (a test module cannot import a conftest cleanly).

Peers: a test that needs a program from outside the project (mosquitto,
snmpd, Prometheus, Chromium, ...) calls :func:`require_peer` or carries
``@pytest.mark.needs("name", ...)``. Locally a missing program skips the test
and says which package brings it; in CI (``CI=true``, set by ``.ci/run``) it
fails the test, because there every peer is installed by
``tests/setup-system.sh`` and a skip would hide a broken setup.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import socket
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.engine.config import ConfigError, load_config

# -- ports -------------------------------------------------------------------------


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nobody is bound to right now (TCP unless ``kind`` says UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


# -- bounded waits -------------------------------------------------------------------

POLL = 0.05


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> float:
    """Poll ``check()`` until it holds; returns the seconds waited, fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not reached within {timeout:g} s")
        time.sleep(POLL)
    return time.monotonic() - start


async def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> float:
    """:func:`wait_until` inside the event loop (the loop keeps running while it waits)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not reached within {timeout:g} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


# -- config files ------------------------------------------------------------------


def write_config(tmp_path: Path, *parts: str, files: dict[str, str] | None = None) -> Path:
    """``tmp_path/config.toml`` made of ``parts`` (each dedented), and the side ``files``
    (paths relative to ``tmp_path``). ``TMP`` in the text stands for ``tmp_path``."""
    for rel, content in (files or {}).items():
        side = tmp_path / rel
        side.parent.mkdir(parents=True, exist_ok=True)
        side.write_text(textwrap.dedent(content))
    text = "".join(textwrap.dedent(part) for part in parts)
    path = tmp_path / "config.toml"
    path.write_text(text.replace("TMP", str(tmp_path)))
    return path


def config_errors(tmp_path: Path, *parts: str, files: dict[str, str] | None = None) -> list[str]:
    """The issues ``load_config`` reports for the file :func:`write_config` writes."""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, *parts, files=files))
    return [str(issue) for issue in info.value.issues]


# -- peers -------------------------------------------------------------------------

PEERS: dict[str, tuple[str, str]] = {
    # name: (program, by name on PATH or by absolute path; what installs it)
    "mosquitto": ("/usr/sbin/mosquitto", "Debian package mosquitto"),
    "mosquitto_sub": ("mosquitto_sub", "Debian package mosquitto-clients"),
    "mosquitto_pub": ("mosquitto_pub", "Debian package mosquitto-clients"),
    "snmpd": (shutil.which("snmpd") or "/usr/sbin/snmpd", "Debian package snmpd"),
    "snmptrap": ("snmptrap", "Debian package snmp"),
    "snmpsim": (
        str(Path(sys.executable).with_name("snmpsim-command-responder")),
        "pip install -e '.[test]'",
    ),
    "prometheus": ("prometheus", "Debian package prometheus"),
    "promtool": ("promtool", "Debian package prometheus"),
    "alertmanager": ("prometheus-alertmanager", "Debian package prometheus-alertmanager"),
    "amtool": ("amtool", "Debian package prometheus-alertmanager"),
    "chromium": ("/usr/bin/chromium", "Debian package chromium"),
    "playwright": ("", "pip install -e '.[test]'"),
    "systemd-analyze": ("systemd-analyze", "Debian package systemd"),
    "setpriv": ("setpriv", "Debian package util-linux"),
    "strace": ("strace", "Debian package strace"),
    "ip": ("ip", "Debian package iproute2"),
    "nft": ("nft", "Debian package nftables"),
}


def in_ci() -> bool:
    """Whether we run in CI (``CI`` set to a true value), where every peer must be there."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _installed(name: str) -> bool:
    program, _ = PEERS[name]
    if name == "playwright":
        return importlib.util.find_spec("playwright") is not None
    if os.path.isabs(program):
        return os.access(program, os.X_OK)
    return shutil.which(program) is not None


def peer_missing(*names: str) -> str | None:
    """Why one of the peers ``names`` cannot run here, or ``None`` when all can."""
    missing = [name for name in names if not _installed(name)]
    if not missing:
        return None
    where = "; ".join(f"{name}: {PEERS[name][1]}" for name in missing)
    return f"needs {', '.join(missing)} ({where}; make system-deps)"


def require_peer(*names: str) -> None:
    """Skip the calling test (fail it in CI) unless every peer of ``names`` is installed."""
    reason = peer_missing(*names)
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI=true and a peer is missing: {reason}", pytrace=False)
    pytest.skip(reason)
