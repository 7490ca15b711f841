"""Real SNMP agents for tests and benchmarks: net-snmp snmpd and snmpsim.

``SnmpdAgent`` runs its own snmpd (never the system one) on a free
127.0.0.1 UDP port with a generated config: a v2c community and v3 users
(authPriv SHA/AES, and more if asked), its own persistent directory, and
restart support (a real reboot as far as sysUpTime is concerned).
``SnmpsimAgent`` runs snmpsim over a data directory of ``.snmprec`` files;
each file's name (without the extension) is its community. Recordings from
the ``snmpsim-data`` package are copied in decompressed, optionally cut down
to the subtrees a test needs (snmpsim indexes a file on first use, and the
full recordings take seconds).

Both wait until the agent answers a GET (bounded in time) and stop their
process on exit, also when a test fails.
"""

from __future__ import annotations

import bz2
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from probes.snmp_codec import GET, RESPONSE, Message, decode_message, encode_request, oid_to_ber
from tests.helpers import PEERS, free_udp_port

SNMPD = PEERS["snmpd"][0]
SNMPSIM = PEERS["snmpsim"][0]
START_TIMEOUT = 30.0
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def recording(name: str) -> Path:
    """Path of a recording in the snmpsim-data package, e.g. ``network/switch/cisco-c3560``."""
    import snmpsim_data  # noqa: PLC0415 - a test dependency only

    base = Path(snmpsim_data.__file__).parent / "data"
    for candidate in (base / f"{name}.snmprec", base / f"{name}.snmprec.bz2"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no recording {name} in snmpsim-data")


def answers(port: int, community: str, timeout: float = 0.3, host: str = "127.0.0.1") -> bool:
    """Whether an agent on host:port answers a v2c GET of sysUpTime."""
    request = encode_request(1, community.encode(), GET, 4242, [oid_to_ber(SYS_UPTIME)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, (host, port))
        try:
            data, _ = sock.recvfrom(65535)
        except OSError:
            return False
    message = decode_message(data)
    return isinstance(message, Message) and message.pdu_type == RESPONSE


def wait_until_answering(
    proc: subprocess.Popen[bytes], port: int, community: str, log: Path, host: str = "127.0.0.1"
) -> None:
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with {proc.returncode}: {_tail(log)}")
        if answers(port, community, host=host):
            return
        time.sleep(0.05)
    raise RuntimeError(f"agent did not answer on port {port}: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


# --------------------------------------------------------------------------
# net-snmp snmpd
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class V3User:
    """A USM user for the generated config (keys of at least 8 characters)."""

    name: str
    auth_protocol: str = "SHA"  # net-snmp spelling: MD5, SHA, SHA-224, SHA-256, ...
    auth_key: str = "authkey-123"
    priv_protocol: str | None = "AES"  # DES, AES (128), or None for authNoPriv
    priv_key: str = "privkey-456"


@dataclass
class SnmpdAgent:
    """One snmpd on 127.0.0.1:``port`` with its own config and persistent dir."""

    workdir: Path
    community: str = "public"
    users: tuple[V3User, ...] = (V3User("noc"),)
    extra_config: str = ""
    port: int = field(default_factory=free_udp_port)
    address: str = "127.0.0.1"
    wrapper: tuple[str, ...] = ()
    """A command prefix, e.g. ``("ip", "netns", "exec", NAME)`` (it must exec snmpd)."""
    keep_boots: bool = False
    """Read snmpd's persistent file on start, so snmpEngineBoots counts restarts as on
    a real device (``-C`` otherwise skips it and boots stays 1)."""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.workdir / "snmpd.conf"

    @property
    def log(self) -> Path:
        return self.workdir / "snmpd.log"

    def write_config(self) -> None:
        lines = [
            f"rocommunity {self.community} default",
            "sysName continuity-test-agent",
            "sysLocation loopback",
            "sysContact noc@example.invalid",
            "sysServices 72",
            "agentSecName internal",
            # A fixed engine ID, as real devices keep theirs across reboots.
            f"engineID continuity-test-{self.port}",
        ]
        for user in self.users:
            priv = f" {user.priv_protocol} {user.priv_key}" if user.priv_protocol else ""
            lines.append(f"createUser {user.name} {user.auth_protocol} {user.auth_key}{priv}")
            lines.append(f"rouser {user.name} {'priv' if user.priv_protocol else 'auth'}")
        lines.append(self.extra_config)
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "persist").mkdir(exist_ok=True)
        self.write_config()
        env = {
            **os.environ,
            "SNMP_PERSISTENT_DIR": str(self.workdir / "persist"),
            "MIBS": "",
            "MIBDIRS": str(self.workdir),
        }
        configs = [str(self.config)]
        persistent = self.workdir / "persist" / "snmpd.conf"
        if self.keep_boots and persistent.exists():
            configs.append(str(persistent))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *self.wrapper,
                    SNMPD,
                    "-f",
                    "-C",
                    "-c",
                    ",".join(configs),
                    "-Lf",
                    str(self.log),
                    "-p",
                    str(self.workdir / "snmpd.pid"),
                    f"udp:{self.address}:{self.port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        wait_until_answering(self.proc, self.port, self.community, self.log, self.address)

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port: sysUpTime starts from zero."""
        self.stop()
        self.start()

    def __enter__(self) -> SnmpdAgent:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --------------------------------------------------------------------------
# snmpsim
# --------------------------------------------------------------------------


def read_recording(source: Path) -> list[str]:
    raw = bz2.decompress(source.read_bytes()) if source.suffix == ".bz2" else source.read_bytes()
    return raw.decode("utf-8", "replace").splitlines()


def cut_recording(lines: Iterable[str], prefixes: Iterable[str]) -> list[str]:
    """The lines under any of ``prefixes`` (dotted OIDs), in their original order."""
    wanted = tuple(p.rstrip(".") + "." for p in prefixes)
    return [line for line in lines if line.split("|", 1)[0].startswith(wanted)]


def set_value(lines: list[str], oid: str, tag: str, value: str) -> list[str]:
    """A copy of ``lines`` with ``oid``'s record set to ``tag|value``."""
    out = [line for line in lines if line.split("|", 1)[0] != oid]
    out.append(f"{oid}|{tag}|{value}")
    return sort_records(out)


def sort_records(lines: Iterable[str]) -> list[str]:
    """snmpsim wants records in OID order."""

    def key(line: str) -> tuple[int, ...]:
        return tuple(int(p) for p in line.split("|", 1)[0].split("."))

    return sorted(lines, key=key)


@dataclass
class SnmpsimAgent:
    """snmpsim on 127.0.0.1:``port`` serving ``workdir/data/*.snmprec``."""

    workdir: Path
    port: int = field(default_factory=free_udp_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def log(self) -> Path:
        return self.workdir / "snmpsim.log"

    def put(self, community: str, lines: Iterable[str]) -> None:
        """Write (or replace) the recording served under ``community``."""
        self.data.mkdir(parents=True, exist_ok=True)
        path = self.data / f"{community}.snmprec"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(path)

    def start(self, wait_community: str) -> None:
        (self.workdir / "cache").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    SNMPSIM,
                    f"--data-dir={self.data}",
                    f"--cache-dir={self.workdir / 'cache'}",
                    f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
                    f"--logging-method=file:{self.log}",
                    "--log-level=error",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        wait_until_answering(self.proc, self.port, wait_community, self.log)

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def __enter__(self) -> SnmpsimAgent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def snmpd_agent(workdir: Path, **kwargs: object) -> Iterator[SnmpdAgent]:
    agent = SnmpdAgent(workdir, **kwargs)  # type: ignore[arg-type]
    with agent:
        yield agent
