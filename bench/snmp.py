"""SNMP benchmark: the daemon polling ``system`` + ``if_mib`` beside Debian's
prometheus-snmp-exporter (its ``if_mib`` module) and net-snmp's snmpbulkwalk.

    python -m bench.snmp [--devices 100,1000] [--v3-devices 100] [--interval 60]
                         [--window 60] [--runs 3] [--ports 56] [--sim-devices 10]

The agents are net-snmp snmpd processes in a network namespace made here
(10.80.X.2, reached over a veth pair; needs root and iproute2) that holds
``--ports`` interfaces (veth pairs inside it) besides lo and the veth end, so the ifTable is
that of a real access switch. Each tool gets its own snmpd (same namespace,
same interfaces, different UDP port), so each agent's CPU is measured
apart from the others and an overloaded agent is not mistaken for our cost.

Per run and per N in ``--devices``, side by side in one window:

- the real daemon (``python -m monitor run``) with N v2c targets (all the
  same agent address: per-device cost does not depend on which device)
  polling ``system`` + ``if_mib`` every ``--interval`` seconds;
- a second daemon with ``--v3-devices`` v3 authPriv (SHA/AES-128) targets;
- prometheus-snmp-exporter, driven here with ``/snmp?module=if_mib&target=...``
  for N targets at the same rate, spread over the interval as Prometheus
  would, and with ``module=if_mib_v3`` (the same module with a v3 authPriv
  ``auth`` section, SHA/AES-128, same user) for ``--v3-devices`` targets on
  an snmpd of its own with the same config as the v3 daemon's.

After one interval of warm-up (every device polled once, names cached), the
CPU time (utime+stime from ``/proc/PID/stat``) of each daemon, the exporter
and each agent is taken over ``--window`` seconds, with the polls each
completed in it. The daemon's window includes one full scrape of its
``/metrics`` (as Prometheus would make once per interval), since the
exporter's figure includes rendering its samples too. Then snmpbulkwalk
walks the same subtrees as the exporter (the C floor, process start
included), and a profile of in-process v3 polls shows where v3 time goes.
Finally a realism check: snmpsim serving the Cisco C3560 recording (57
ports) from snmpsim-data, polled ``--sim-devices`` times by our prober in
this process and by the exporter.

Every step is bounded in time, traffic stays on the namespace's veth and
loopback, and the processes and namespace made here are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.common import cpu_seconds, process, wait_http
from monitor.contract import ProbeTarget
from probes.snmp import SnmpProber, SnmpSettings
from tests import netns
from tests.helpers import free_port
from tests.snmp_agents import (
    SnmpdAgent,
    SnmpsimAgent,
    V3User,
    cut_recording,
    read_recording,
    recording,
)

REPO = Path(__file__).resolve().parent.parent
EXPORTER = "prometheus-snmp-exporter"
EXPORTER_CONFIG = Path("/work/shared/bench-data/snmp_exporter-if_mib-v0.21.0.yml")
START_TIMEOUT = 30.0
IF_SUBTREES = ("1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1")
V3_USER = V3User("bench", "SHA", "authkey-bench", "AES", "privkey-bench")


# --------------------------------------------------------------------------
# The lab: a namespace with many interfaces and one snmpd per tool
# --------------------------------------------------------------------------


@dataclass
class Lab:
    host: netns.NetnsHost
    agents: dict[str, SnmpdAgent]

    def address(self, tool: str) -> str:
        return f"{self.host.v4}:{self.agents[tool].port}"


@contextlib.contextmanager
def lab(workdir: Path, ports: int) -> Iterator[Lab]:
    reason = netns.skip_reason()
    if reason is not None:
        sys.exit(f"bench.snmp {reason}")
    with netns.netns_host() as host, contextlib.ExitStack() as stack:
        # Dummy interfaces need a kernel module this VM may lack; veth pairs
        # with both ends inside the namespace are always there.
        for n in range(0, ports, 2):
            a, b = f"port{n + 1}", f"port{n + 2}"
            netns.run(["ip", "-n", host.name, "link", "add", a, "type", "veth", "peer", "name", b])
            for k, name in ((n, a), (n + 1, b)):
                netns.run(
                    ["ip", "-n", host.name, "link", "set", name, "alias", f"access port {k + 1}"]
                )
                if k % 7 != 6:  # a few stay admin-down, as on a real switch
                    netns.run(["ip", "-n", host.name, "link", "set", name, "up"])
        agents = {}
        for tool, port in (
            ("daemon", 161),
            ("daemon-v3", 1162),
            ("exporter", 1161),
            ("exporter-v3", 1163),
        ):
            agent = SnmpdAgent(
                workdir / f"snmpd-{tool}",
                users=(V3_USER,),
                port=port,
                address=host.v4,
                wrapper=("ip", "netns", "exec", host.name),
            )
            stack.enter_context(agent)
            agents[tool] = agent
        yield Lab(host, agents)


# --------------------------------------------------------------------------
# Daemon and exporter
# --------------------------------------------------------------------------


def exporter_config(workdir: Path) -> Path:
    """The shipped ``if_mib`` module plus ``if_mib_v3``: the same walk with v3 authPriv.

    snmp_exporter 0.21 keeps credentials in the module (``version: 3`` and an
    ``auth`` section with ``username``, ``security_level``, ``password``,
    ``auth_protocol``, ``priv_protocol``, ``priv_password``); 0.23 moved them
    to a separate ``auths`` section.
    """
    base = EXPORTER_CONFIG.read_text()
    head = "if_mib:\n"
    body = base[base.index(head) + len(head) :]
    auth = "\n".join(
        [
            "if_mib_v3:",
            "  version: 3",
            "  auth:",
            f"    username: {V3_USER.name}",
            "    security_level: authPriv",
            f"    password: {V3_USER.auth_key}",
            "    auth_protocol: SHA",
            "    priv_protocol: AES",
            f"    priv_password: {V3_USER.priv_key}",
            "",
        ]
    )
    path = workdir / "snmp_exporter.yml"
    path.write_text(f"{base.rstrip()}\n{auth}{body}")
    return path


def daemon_config(count: int, address: str, port: int, interval: float, *, v3: bool) -> str:
    lines = [
        "[monitor]",
        'instance = "bench-snmp"',
        "",
        "[defaults]",
        'checks = ["snmp"]',
        f'interval = "{interval:g}s"',
        'timeout = "10s"',
        "",
        "[defaults.snmp]",
        f"port = {port}",
        'modules = ["system", "if_mib"]',
    ]
    if v3:
        lines += [
            'version = "3"',
            f'user = "{V3_USER.name}"',
            'auth_protocol = "sha"',
            f'auth_key = "{V3_USER.auth_key}"',
            'priv_protocol = "aes128"',
            f'priv_key = "{V3_USER.priv_key}"',
        ]
    else:
        lines.append('community = "public"')
    lines.append("")
    for n in range(count):
        lines += ["[[targets]]", f'name = "dev-{n:05d}"', f'address = "{address}"', ""]
    return "\n".join(lines)


async def daemon_polls(session: aiohttp.ClientSession, base: str) -> tuple[float, float]:
    """(successful, failed) snmp check runs so far, from the daemon's own counter.

    This is also the window's one Prometheus-like scrape of the daemon
    (1,000 devices are about 900,000 series): the text is streamed and only
    the counter lines are read, so this process's loop never stalls on it.
    """
    ok = failed = 0.0
    async with session.get(f"{base}/metrics") as resp:
        async for line in resp.content:
            if line.startswith(b"continuity_check_runs_total{") and b'kind="snmp"' in line:
                value = float(line.rsplit(b" ", 1)[1])
                if b'result="success"' in line:
                    ok += value
                else:
                    failed += value
    return ok, failed


@dataclass
class ExporterDriver:
    """Scrapes the exporter for ``count`` targets, each once per ``interval``."""

    base: str
    target: str
    count: int
    interval: float
    module: str = "if_mib"
    ok: int = 0
    failed: int = 0
    samples: int = 0

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        gap = self.interval / self.count
        tasks: set[asyncio.Task[None]] = set()
        n = 0
        while not stop.is_set():
            when = start + n * gap
            delay = when - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            task = asyncio.create_task(self._scrape(session))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        for task in list(tasks):
            task.cancel()

    async def _scrape(self, session: aiohttp.ClientSession) -> None:
        url = f"{self.base}/snmp?module={self.module}&target={self.target}"
        try:
            async with session.get(url) as resp:
                body = await resp.text()
            if resp.status == 200:
                self.ok += 1
                self.samples = body.count("\n") - body.count("\n#")
            else:
                self.failed += 1
        except (aiohttp.ClientError, TimeoutError):
            self.failed += 1


# --------------------------------------------------------------------------
# One measured window
# --------------------------------------------------------------------------


@dataclass
class Figure:
    """CPU spent by one process over the window, and the polls done in it."""

    name: str
    cpu: float
    polls: float
    agent_cpu: float | None = None
    note: str = ""

    @property
    def ms_per_poll(self) -> float:
        return 1000 * self.cpu / self.polls if self.polls else float("nan")

    @property
    def agent_ms_per_poll(self) -> float:
        return 1000 * (self.agent_cpu or 0.0) / self.polls if self.polls else float("nan")


@dataclass
class Window:
    devices: int
    figures: list[Figure] = field(default_factory=list)


async def measure(
    lab: Lab,
    devices: int,
    v3_devices: int,
    interval: float,
    window: float,
    workdir: Path,
    exporter: str,
) -> Window:
    with contextlib.ExitStack() as stack:
        daemons: dict[str, tuple[subprocess.Popen[bytes], str, str]] = {}
        for name, count, tool, v3 in (
            ("daemon v2c", devices, "daemon", False),
            ("daemon v3 authPriv", v3_devices, "daemon-v3", True),
        ):
            if not count:
                continue
            config = workdir / f"{tool}-{devices}.toml"
            config.write_text(
                daemon_config(count, lab.host.v4, lab.agents[tool].port, interval, v3=v3)
            )
            port = free_port()
            proc = stack.enter_context(
                process(
                    [
                        sys.executable,
                        "-m",
                        "monitor",
                        "--log-level",
                        "warning",
                        "run",
                        "--config",
                        str(config),
                        "--listen",
                        f"127.0.0.1:{port}",
                        "--state-dir",
                        str(workdir / f"state-{tool}-{devices}"),
                    ],
                    workdir / f"{tool}-{devices}.log",
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                )
            )
            daemons[name] = (proc, f"http://127.0.0.1:{port}", tool)
        config = exporter_config(workdir)
        # One exporter process per module (v2c and v3), so each one's CPU is its own.
        runs: list[tuple[subprocess.Popen[bytes], ExporterDriver, str]] = []
        for module, tool, count in (
            ("if_mib", "exporter", devices),
            ("if_mib_v3", "exporter-v3", v3_devices),
        ):
            if not count:
                continue
            ex_port = free_port()
            ex = stack.enter_context(
                process(
                    [
                        exporter,
                        f"--config.file={config}",
                        f"--web.listen-address=127.0.0.1:{ex_port}",
                        "--log.level=warn",
                    ],
                    workdir / f"{tool}.log",
                )
            )
            base = f"http://127.0.0.1:{ex_port}"
            runs.append(
                (ex, ExporterDriver(base, lab.address(tool), count, interval, module), tool)
            )
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=30)
        ) as session:
            for proc, base, _tool in daemons.values():
                await wait_http(session, f"{base}/-/ready", proc, START_TIMEOUT)
            for ex, driver, _tool in runs:
                await wait_http(session, f"{driver.base}/", ex, START_TIMEOUT)
            stop = asyncio.Event()
            background = [asyncio.create_task(d.run(session, stop)) for _e, d, _t in runs]
            try:
                await asyncio.sleep(interval + 5)  # every device polled once: names cached
                before = {
                    name: (cpu_seconds(p.pid), await daemon_polls(session, b))
                    for name, (p, b, _t) in daemons.items()
                }
                agents_before = {
                    tool: cpu_seconds(a.proc.pid) for tool, a in lab.agents.items() if a.proc
                }
                ex_before = [(cpu_seconds(e.pid), d.ok) for e, d, _t in runs]
                await asyncio.sleep(window)
                after = {
                    name: (cpu_seconds(p.pid), await daemon_polls(session, b))
                    for name, (p, b, _t) in daemons.items()
                }
                agents_after = {
                    tool: cpu_seconds(a.proc.pid) for tool, a in lab.agents.items() if a.proc
                }
                ex_after = [(cpu_seconds(e.pid), d.ok) for e, d, _t in runs]
            finally:
                stop.set()
                for task in background:
                    await task
    result = Window(devices)
    for name, (_p, _b, tool) in daemons.items():
        cpu = after[name][0] - before[name][0]
        ok = after[name][1][0] - before[name][1][0]
        failed = after[name][1][1] - before[name][1][1]
        agent_cpu = agents_after[tool] - agents_before[tool]
        note = f"{failed:g} failed" if failed else ""
        count = devices if tool == "daemon" else v3_devices
        result.figures.append(
            Figure(f"{name} ({count} devices)", cpu, ok + failed, agent_cpu, note)
        )
    for (_e, d, tool), (cpu0, ok0), (cpu1, ok1) in zip(runs, ex_before, ex_after, strict=True):
        label = "if_mib" if d.module == "if_mib" else "if_mib_v3 authPriv"
        result.figures.append(
            Figure(
                f"snmp_exporter {label} ({d.count} devices)",
                cpu1 - cpu0,
                ok1 - ok0,
                agents_after[tool] - agents_before[tool],
                f"{d.samples} samples/scrape, {d.failed} failed",
            )
        )
    return result


def bulkwalk_floor(lab: Lab, walks: int) -> Figure:
    """snmpbulkwalk of the exporter's subtrees: CPU of the C tool, process start included."""
    env = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}
    agent = lab.agents["exporter"]
    assert agent.proc is not None
    agent_before = cpu_seconds(agent.proc.pid)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(walks):
        for subtree in IF_SUBTREES:
            subprocess.run(
                [
                    "snmpbulkwalk",
                    "-v2c",
                    "-c",
                    "public",
                    "-Cr25",
                    "-On",
                    "-Oq",
                    "-t",
                    "5",
                    lab.address("exporter"),
                    subtree,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                check=True,
                timeout=30,
            )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Figure(
        "snmpbulkwalk ifTable+ifXTable (C floor)",
        cpu,
        walks,
        cpu_seconds(agent.proc.pid) - agent_before,
    )


async def v3_profile(lab: Lab, polls: int) -> str:
    """Where the time of in-process v3 authPriv polls goes (cProfile, by total time)."""
    agent = lab.agents["daemon-v3"]
    settings = SnmpSettings.model_validate(
        {
            "version": "3",
            "user": V3_USER.name,
            "auth_protocol": "sha",
            "auth_key": V3_USER.auth_key,
            "priv_protocol": "aes128",
            "priv_key": V3_USER.priv_key,
            "port": agent.port,
            "modules": ["system", "if_mib"],
            "timeout": "10s",
        }
    )
    profile = cProfile.Profile()
    async with SnmpProber() as prober:
        loop = asyncio.get_running_loop()
        await prober.probe(ProbeTarget("warm", lab.host.v4), settings, deadline=loop.time() + 10)
        cpu = time.process_time()
        profile.enable()
        for _ in range(polls):
            result = await prober.probe(
                ProbeTarget("warm", lab.host.v4), settings, deadline=loop.time() + 10
            )
            assert result.ok, result.message
        profile.disable()
        cpu = time.process_time() - cpu
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    by_package: dict[str, float] = {}
    for (filename, _line, _func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_package[_package(filename)] = by_package.get(_package(filename), 0.0) + tottime
    total = sum(by_package.values()) or 1.0
    lines = [
        f"v3 authPriv in-process profile: {polls} polls, "
        f"{1000 * cpu / polls:.1f} ms CPU per poll (under cProfile)"
    ]
    lines += [
        f"  {pkg:<28} {100 * t / total:5.1f} %"
        for pkg, t in sorted(by_package.items(), key=lambda kv: -kv[1])[:8]
    ]
    stats.sort_stats("tottime").print_stats(12)
    lines.append("  top functions by own time:")
    lines += ["   " + line for line in out.getvalue().splitlines() if line.strip() and "(" in line][
        :13
    ]
    return "\n".join(lines)


def _package(filename: str) -> str:
    for marker in ("pysnmp", "pyasn1", "cryptography", "Cryptodome", "asyncio", "probes"):
        if f"/{marker}/" in filename:
            return marker
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    return "other"


async def realism(workdir: Path, devices: int, exporter: str) -> list[Figure]:
    """Our prober and the exporter against snmpsim serving a real 57-port Cisco recording."""
    sim = SnmpsimAgent(workdir / "snmpsim")
    lines = cut_recording(
        read_recording(recording("network/switch/cisco-c3560")),
        ("1.3.6.1.2.1.1", *IF_SUBTREES, "1.3.6.1.2.1.31.1.5"),
    )
    sim.put("cisco", lines)
    figures = []
    with sim:
        sim.start("cisco")
        assert sim.proc is not None
        settings = SnmpSettings.model_validate(
            {
                "community": "cisco",
                "port": sim.port,
                "modules": ["system", "if_mib"],
                "timeout": "10s",
            }
        )
        async with SnmpProber() as prober:
            loop = asyncio.get_running_loop()
            for n in range(devices):  # warm-up: names cached
                await prober.probe(
                    ProbeTarget(f"sim-{n}", "127.0.0.1"), settings, deadline=loop.time() + 10
                )
            ours, agent = time.process_time(), cpu_seconds(sim.proc.pid)
            for n in range(devices):
                result = await prober.probe(
                    ProbeTarget(f"sim-{n}", "127.0.0.1"), settings, deadline=loop.time() + 10
                )
                assert result.ok, result.message
            figures.append(
                Figure(
                    "prober in-process, snmpsim cisco-c3560",
                    time.process_time() - ours,
                    devices,
                    cpu_seconds(sim.proc.pid) - agent,
                )
            )
        ex_port = free_port()
        with process(
            [
                exporter,
                f"--config.file={EXPORTER_CONFIG}",
                f"--web.listen-address=127.0.0.1:{ex_port}",
                "--log.level=warn",
            ],
            workdir / "exporter-sim.log",
        ) as ex:
            base = f"http://127.0.0.1:{ex_port}"
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
                await wait_http(session, f"{base}/", ex, START_TIMEOUT)
                url = f"{base}/snmp?module=if_mib&target=127.0.0.1:{sim.port}"
                # snmp_exporter 0.21 has one community per module (public):
                # serve the recording under that name too.
                sim.stop()
                sim.put("public", lines)
                sim.start("public")
                assert sim.proc is not None
                cpu, agent = cpu_seconds(ex.pid), cpu_seconds(sim.proc.pid)
                ok = 0
                for _ in range(devices):
                    async with session.get(url) as resp:
                        await resp.read()
                        ok += resp.status == 200
                figures.append(
                    Figure(
                        "snmp_exporter, snmpsim cisco-c3560",
                        cpu_seconds(ex.pid) - cpu,
                        ok,
                        cpu_seconds(sim.proc.pid) - agent,
                    )
                )
    return figures


# --------------------------------------------------------------------------
# Driver and report
# --------------------------------------------------------------------------


def ensure_exporter() -> str:
    path = shutil.which(EXPORTER)
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=300)
        subprocess.run(
            [
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                EXPORTER,
                "snmpd",
                "snmp",
            ],
            check=True,
            env=env,
            timeout=600,
        )
        path = shutil.which(EXPORTER)
    if path is None:
        sys.exit(f"{EXPORTER} is not installed (Debian package {EXPORTER})")
    return path


def show(figures: Sequence[Figure]) -> None:
    for f in figures:
        note = f"  {f.note}" if f.note else ""
        print(
            f"  {f.name:<48} {f.ms_per_poll:8.2f} ms CPU/poll   "
            f"agent {f.agent_ms_per_poll:6.2f} ms/poll   ({f.polls:g} polls){note}"
        )


async def main_async(args: argparse.Namespace) -> None:
    exporter = ensure_exporter()
    runs: list[list[Figure]] = []
    with tempfile.TemporaryDirectory(prefix="bench-snmp-") as tmp:
        workdir = Path(tmp)
        with lab(workdir, args.ports) as the_lab:
            print(
                f"lab: snmpd in namespace {the_lab.host.name} at {the_lab.host.v4} "
                f"with {args.ports} veth interfaces + lo + uplink"
            )
            profile = await v3_profile(the_lab, 30)
            for run in range(args.runs):
                figures: list[Figure] = []
                for devices in args.devices:
                    window = await measure(
                        the_lab,
                        devices,
                        args.v3_devices,
                        args.interval,
                        args.window,
                        workdir,
                        exporter,
                    )
                    figures += window.figures
                figures.append(bulkwalk_floor(the_lab, 30))
                print(f"run {run + 1}:")
                show(figures)
                runs.append(figures)
        sim = await realism(workdir, args.sim_devices, exporter)
    print("\nmedians over runs (of each run's per-poll figure; runs with no polls left out):")
    medians = []
    for i, first in enumerate(runs[0]):
        valid = [r[i] for r in runs if r[i].polls]
        if not valid:
            continue
        ms = statistics.median(f.ms_per_poll for f in valid)
        agent_ms = statistics.median(f.agent_ms_per_poll for f in valid)
        polls = statistics.median(f.polls for f in valid)
        note = f"{len(valid)}/{len(runs)} runs" + (f", {first.note}" if first.note else "")
        medians.append(Figure(first.name, ms * polls / 1000, polls, agent_ms * polls / 1000, note))
    show(medians)
    by_n: dict[str, float] = {f.name: f.ms_per_poll for f in medians}
    for devices in args.devices:
        ours = by_n.get(f"daemon v2c ({devices} devices)")
        theirs = by_n.get(f"snmp_exporter if_mib ({devices} devices)")
        if ours and theirs:
            print(
                f"  N={devices}: daemon v2c / snmp_exporter = {ours / theirs:.2f}  (goal <= 0.5); "
                f"1,000 devices every 60 s = {ours * 1000 / 60 / 1000:.3f} cores"
            )
    ours_v3 = by_n.get(f"daemon v3 authPriv ({args.v3_devices} devices)")
    theirs_v3 = by_n.get(f"snmp_exporter if_mib_v3 authPriv ({args.v3_devices} devices)")
    if ours_v3 and theirs_v3:
        print(
            f"  v3 authPriv, {args.v3_devices} devices: daemon {ours_v3:.2f} ms / snmp_exporter "
            f"{theirs_v3:.2f} ms = {ours_v3 / theirs_v3:.2f}  (goals: <= 10 ms, <= 0.5)"
        )
    print("\nrealism check (snmpsim, in-process prober; snmpsim's own CPU shown as agent):")
    show(sim)
    print()
    print(profile)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.snmp", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--devices", default="100,1000", type=lambda s: [int(x) for x in s.split(",")]
    )
    parser.add_argument("--v3-devices", type=int, default=100)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ports", type=int, default=56)
    parser.add_argument("--sim-devices", type=int, default=10)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
