"""Soak and fault lab: the daemon for a long run under a realistic load and scheduled faults.

    python -m bench.soak [--minutes 30] [--icmp 5000] [--snmp 100] [--http 200]
    make soak SOAK_MINUTES=30

A benchmark, not a CI test: it needs root (network namespace, raw ICMP,
snmpsim as root) and takes as long as asked. What runs, all on this machine:

- the real daemon (``python -m monitor run``) with
  * ``--icmp`` loopback ICMP targets (127.0.0.0/8) every 10 s,
  * ``--snmp`` devices served by one snmpsim process (a community per device,
    cut-down recordings of real switches), ``system`` and ``if_mib`` every 60 s,
  * ``--http`` endpoints, one per port of an aiohttp server process
    (``python -m bench.http serve``), every 10 s,
  * one host in a network namespace (10.80.X.2), pinged every 2 s;
- a mosquitto broker (persistent, so a subscriber's session survives a
  restart), the daemon's alerts routed to it, and ``mosquitto_sub`` with a
  persistent session recording every alert message.

Faults, on a fixed timetable from the start of the run:

- every ``--cut-every`` s (60) the namespace host is cut off (``cut_peer``)
  at second 20 of its period and restored ``--cut-for`` s (25) later;
- every ``--reload-every`` s (120) SIGHUP, alternately adding and removing
  one loopback target (so the reload has work to do);
- every ``--broker-every`` s (600) the broker is stopped one second after a
  cut and started again ``--broker-down`` s (15) later, so the TargetDown
  alert of that cut is raised while the broker is away and must come through
  the outbox.

Every ``--sample-every`` s (10) it records the daemon's RSS, open file
descriptors and OS tasks (threads, from /proc), the scheduler lag of the
window (p50/p99 from the daemon's histogram), targets DOWN, and the
notification counters (sent, failed attempts, given up, pending) beside the
alert messages the subscriber received.

The run fails (exit code 1) if

- RSS or open descriptors grew by more than ``--growth-limit`` (10 %): the
  median of the last minute's samples against the median of the minute after
  ``--baseline-after`` s (300: start-up, the first reloads and the first
  broker restart are behind it);
- a cut is missed: every cut must be exactly one outage of the namespace host
  in ``/api/v1/outages``, starting during the cut and ending within 20 s of
  the restore, and there must be no other outage of it;
- a notification is lost: every cut must be one TargetDown alert (same
  fingerprint and start) seen on MQTT both firing and resolved, every alert
  seen firing must be seen resolved (unless the daemon still lists it
  active), and no notification may be given up (``dead``; failed attempts
  while the broker is away are expected and retried);
- a reload was rejected, or the daemon died.

Results (every sample, the timetable as run, the verdict) go to
``bench/results/soak-YYYYmmdd-HHMMSS.json``. Every wait is bounded, and
namespaces and processes are removed on exit, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.icmp import addresses, quantile
from monitor.web.api import parse_rfc3339
from tests import netns
from tests.helpers import free_port, peer_missing
from tests.peers import Mosquitto
from tests.snmp_agents import (
    SnmpsimAgent,
    cut_recording,
    read_recording,
    recording,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CUT_TARGET = "cut-host"
EXTRA_TARGET = "reload-extra"
SNMP_SUBTREES = ("1.3.6.1.2.1.1", "1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1")
SNMP_MODULES = '["system", "if_mib"]'
SNMP_RECORDINGS = ("network/switch/cisco-c3560", "network/router/huawei-s5720")
OUTAGE_END_SLACK = 20.0  # seconds after a restore by which its outage must have ended
DRAIN_TIMEOUT = 90.0  # seconds to wait at the end for the last notifications
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Plan:
    """The run's size and timetable (seconds from the start)."""

    minutes: float = 30.0
    icmp: int = 5000
    snmp: int = 100
    http: int = 200
    cut_every: float = 60.0
    cut_at: float = 20.0
    cut_for: float = 25.0
    reload_every: float = 120.0
    reload_at: float = 50.0
    broker_every: float = 600.0
    broker_down: float = 15.0
    sample_every: float = 10.0
    baseline_after: float = 300.0
    growth_limit: float = 0.10

    @property
    def seconds(self) -> float:
        return self.minutes * 60.0

    def events(self) -> list[tuple[float, str]]:
        """(time, action) for every fault and sample, in order."""
        out: list[tuple[float, str]] = []
        for start in _every(self.cut_every, self.seconds):
            cut = start + self.cut_at
            if cut + self.cut_for + OUTAGE_END_SLACK < self.seconds:
                out += [(cut, "cut"), (cut + self.cut_for, "restore")]
        out += [(t + self.reload_at, "reload") for t in _every(self.reload_every, self.seconds)]
        for start in _every(self.broker_every, self.seconds):
            stop = start + self.cut_at + 1.0
            if start > 0 and stop + self.broker_down < self.seconds:
                out += [(stop, "broker_stop"), (stop + self.broker_down, "broker_start")]
        out += [(t, "sample") for t in _every(self.sample_every, self.seconds + 0.001)]
        return sorted(o for o in out if o[0] <= self.seconds)


def _every(period: float, until: float) -> list[float]:
    count = int(until // period) + 1
    return [i * period for i in range(count) if i * period < until]


@dataclass
class Sample:
    """One observation of the daemon."""

    t: float
    rss_mb: float
    fds: int
    threads: int
    lag_p50_ms: float
    lag_p99_ms: float
    targets_down: int
    sent: float
    failed: float
    dead: float
    pending: float
    mqtt_alerts: int


@dataclass
class Record:
    """What happened, as it happened (wall-clock times)."""

    cuts: list[tuple[float, float]] = field(default_factory=list)
    reloads: int = 0
    broker_restarts: int = 0
    samples: list[Sample] = field(default_factory=list)


# --------------------------------------------------------------------------
# The daemon's surroundings
# --------------------------------------------------------------------------


def config_text(
    plan: Plan, cut_address: str, snmp_port: int, http_ports: list[int], mqtt: str
) -> str:
    head = f"""
[monitor]
instance = "soak"
max_concurrency = 20000

[defaults]
interval = "10s"
timeout = "5s"

[defaults.icmp]
count = 1

[channels.mqtt]
type = "mqtt"
url = "{mqtt}"

[[alerts.routes]]
match = {{ severity = "critical" }}
channels = ["mqtt"]

[[targets]]
name = "{CUT_TARGET}"
address = "{cut_address}"
checks = ["icmp"]
interval = "2s"
timeout = "1s"
fall = 2
rise = 2
labels = {{ soak = "cut" }}
"""
    parts = [head]
    parts += [
        f'[[targets]]\nname = "icmp-{i:05d}"\naddress = "{a}"\nchecks = ["icmp"]\n'
        for i, a in enumerate(addresses(plan.icmp))
    ]
    parts += [
        f'[[targets]]\nname = "snmp-{i:03d}"\naddress = "127.0.0.1"\nchecks = ["snmp"]\n'
        f'interval = "60s"\ntimeout = "10s"\n'
        f'snmp = {{ community = "dev-{i:03d}", port = {snmp_port}, modules = {SNMP_MODULES} }}\n'
        for i in range(plan.snmp)
    ]
    parts += [
        f'[[targets]]\nname = "http-{i:03d}"\naddress = "http://127.0.0.1:{p}/ep/{i}"\n'
        f'checks = ["http"]\n'
        for i, p in enumerate(http_ports)
    ]
    return "\n".join(parts)


def extra_target() -> str:
    return f'\n[[targets]]\nname = "{EXTRA_TARGET}"\naddress = "127.200.0.1"\nchecks = ["icmp"]\n'


@contextlib.contextmanager
def child(command: list[str], log: Path, **kw: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, stopped (SIGTERM, then SIGKILL) when the block ends."""
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, **kw)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextlib.contextmanager
def http_server(workdir: Path, count: int, stay: float) -> Iterator[list[int]]:
    """``bench.http serve`` on ``count`` ports; yields the ports."""
    log = workdir / "http-server.log"
    command = [sys.executable, "-m", "bench.http", "serve", "--ports", str(count)]
    command += ["--stop-after", str(stay)]
    with child(command, log) as proc:
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise SystemExit(f"endpoint server exited:\n{log.read_text()}")
            for line in log.read_text().splitlines():
                if line.startswith("["):
                    yield [int(p) for p in json.loads(line)]
                    return
            time.sleep(0.1)
        raise SystemExit("endpoint server did not start")


def snmp_agent(workdir: Path, count: int) -> SnmpsimAgent:
    """One snmpsim serving ``count`` devices, each under its own community."""
    agent = SnmpsimAgent(workdir / "snmpsim")
    sources = [cut_recording(read_recording(recording(r)), SNMP_SUBTREES) for r in SNMP_RECORDINGS]
    for i in range(count):
        agent.put(f"dev-{i:03d}", sources[i % len(sources)])
    return agent


class Subscriber:
    """``mosquitto_sub`` with a persistent session on every alert topic."""

    def __init__(self, broker: Mosquitto, path: Path) -> None:
        self.path = path
        self.out = path.open("wb")
        self.proc = subprocess.Popen(
            [
                *("mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port)),
                *("-c", "-i", "soak-sub", "-q", "1", "-t", "continuity/alerts/#"),
            ],
            stdout=self.out,
            stderr=subprocess.DEVNULL,
        )

    def documents(self) -> list[dict[str, Any]]:
        out = []
        for line in self.path.read_bytes().decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                document = json.loads(line)
                if isinstance(document, dict):
                    out.append(document)
        return out

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.out.close()


# --------------------------------------------------------------------------
# Observing the daemon
# --------------------------------------------------------------------------


def get(port: int, path: str, timeout: float = 30) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return str(response.read().decode())


@dataclass
class Scrape:
    """The few series the soak reads, picked from /metrics by line prefix."""

    lag: dict[float, float]
    down: int
    sent: float
    failed: float
    dead: float
    pending: float
    reload_ok: float


def scrape(port: int) -> Scrape:
    lag: dict[float, float] = {}
    down = 0
    totals = {"sent": 0.0, "failed": 0.0, "dead": 0.0, "pending": 0.0, "reload_ok": 0.0}
    names = {
        "continuity_notifications_sent_total": "sent",
        "continuity_notifications_failed_total": "failed",
        "continuity_notifications_dead_total": "dead",
        "continuity_notifications_pending": "pending",
        "continuity_config_last_reload_successful": "reload_ok",
    }
    wanted = ("continuity_scheduler_lag_seconds_bucket{", "continuity_target_up{", *names)
    for line in get(port, "/metrics").splitlines():
        if not line.startswith(wanted):
            continue
        series, _, value_text = line.rpartition(" ")
        name = series.split("{", 1)[0]
        value = float(value_text)
        if name == "continuity_scheduler_lag_seconds_bucket":
            le = float(series.split('le="', 1)[1].split('"', 1)[0])
            lag[le] = lag.get(le, 0.0) + value
        elif name == "continuity_target_up" and value == 0:
            down += 1
        elif name in names:
            totals[names[name]] += value
    return Scrape(lag, down, **totals)


def proc_figures(pid: int) -> tuple[float, int, int]:
    """RSS in MB, open descriptors, OS tasks (threads) of a process."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    threads = len(os.listdir(f"/proc/{pid}/task"))
    return rss, fds, threads


def window_lag(before: dict[float, float], after: dict[float, float]) -> tuple[float, float]:
    if not after or sum(after.values()) == sum(before.values()):
        return float("nan"), float("nan")
    return quantile(0.5, before, after) * 1000, quantile(0.99, before, after) * 1000


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


class Lab:
    """Everything the soak runs, started in order and removed in reverse."""

    def __init__(self, plan: Plan, workdir: Path, stack: contextlib.ExitStack) -> None:
        self.plan = plan
        self.workdir = workdir
        self.host = stack.enter_context(netns.netns_host())
        self.broker = Mosquitto(workdir / "mqtt", persistent=True)
        (workdir / "mqtt").mkdir()
        self.broker.start()
        stack.callback(self.broker.stop)
        self.subscriber = Subscriber(self.broker, workdir / "mqtt-alerts.jsonl")
        stack.callback(self.subscriber.close)
        self.snmp = snmp_agent(workdir, plan.snmp)
        self.snmp.start("dev-000")
        stack.callback(self.snmp.stop)
        stay = plan.seconds + DRAIN_TIMEOUT + 600
        ports = stack.enter_context(http_server(workdir, plan.http, stay))
        self.config = workdir / "soak.toml"
        self.base = config_text(plan, self.host.v4, self.snmp.port, ports, self.broker.url)
        self.config.write_text(self.base)
        self.port = free_port()
        self.daemon = stack.enter_context(self._daemon())
        self.record = Record()
        self._lag: dict[float, float] = {}
        self._extra = False

    @contextlib.contextmanager
    def _daemon(self) -> Iterator[subprocess.Popen[bytes]]:
        command = [sys.executable, "-m", "monitor", "run", "--config", str(self.config)]
        command += ["--listen", f"127.0.0.1:{self.port}"]
        command += ["--state-dir", str(self.workdir / "state")]
        with child(command, self.workdir / "daemon.log") as proc:
            end = time.monotonic() + START_TIMEOUT
            while time.monotonic() < end:
                if proc.poll() is not None:
                    raise SystemExit(f"daemon exited:\n{self.log()[-3000:]}")
                with contextlib.suppress(OSError):
                    get(self.port, "/-/ready", timeout=2)
                    break
                time.sleep(0.2)
            else:
                raise SystemExit("daemon not ready")
            yield proc

    def log(self) -> str:
        return (self.workdir / "daemon.log").read_text(errors="replace")

    # -- actions -----------------------------------------------------------

    def act(self, action: str, t: float) -> None:
        if self.daemon.poll() is not None:
            raise SystemExit(f"daemon died at {t:.0f} s:\n{self.log()[-3000:]}")
        getattr(self, f"_{action}")(t)

    def _cut(self, t: float) -> None:
        self.host.cut_peer()
        self.record.cuts.append((time.time(), float("nan")))

    def _restore(self, t: float) -> None:
        self.host.restore()
        start, _ = self.record.cuts[-1]
        self.record.cuts[-1] = (start, time.time())

    def _reload(self, t: float) -> None:
        self._extra = not self._extra
        self.config.write_text(self.base + (extra_target() if self._extra else ""))
        self.daemon.send_signal(signal.SIGHUP)
        self.record.reloads += 1

    def _broker_stop(self, t: float) -> None:
        self.broker.stop()

    def _broker_start(self, t: float) -> None:
        self.broker.start()
        self.record.broker_restarts += 1

    def _sample(self, t: float) -> None:
        now = scrape(self.port)
        rss, fds, threads = proc_figures(self.daemon.pid)
        p50, p99 = window_lag(self._lag, now.lag)
        self._lag = now.lag
        sample = Sample(
            t=round(t, 1),
            rss_mb=round(rss, 1),
            fds=fds,
            threads=threads,
            lag_p50_ms=round(p50, 2),
            lag_p99_ms=round(p99, 2),
            targets_down=now.down,
            sent=now.sent,
            failed=now.failed,
            dead=now.dead,
            pending=now.pending,
            mqtt_alerts=sum(len(alerts_of(d)) for d in self.subscriber.documents()),
        )
        self.record.samples.append(sample)
        if round(t) % 60 == 0:
            print(
                f"{t / 60:5.1f} min  RSS {rss:7.1f} MB  fds {fds:5d}  tasks {threads:3d}  "
                f"lag p50/p99 {p50:6.1f}/{p99:7.1f} ms  down {now.down:4d}  "
                f"sent {now.sent:5.0f} failed {now.failed:3.0f} pending {now.pending:3.0f}  "
                f"cuts {len(self.record.cuts)} reloads {self.record.reloads} "
                f"broker restarts {self.record.broker_restarts}",
                flush=True,
            )

    # -- the end -------------------------------------------------------------

    def drain(self) -> None:
        """Wait (bounded) until the last cut's alert has resolved and nothing is pending."""
        end = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < end:
            now = scrape(self.port)
            active = json.loads(get(self.port, "/api/v1/alerts")).get("alerts", [])
            cut_alerts = [a for a in active if a.get("labels", {}).get("target") == CUT_TARGET]
            if now.pending == 0 and not cut_alerts:
                time.sleep(3)  # the last message on its way to the subscriber
                return
            time.sleep(1)

    def outages(self) -> list[tuple[float, float | None]]:
        body = json.loads(get(self.port, f"/api/v1/outages?target={CUT_TARGET}"))
        return sorted(
            (parse_rfc3339(o["start"]), parse_rfc3339(o["end"]) if o["end"] else None)
            for o in body["outages"]
        )

    def active_fingerprints(self) -> set[str]:
        active = json.loads(get(self.port, "/api/v1/alerts")).get("alerts", [])
        return {str(a.get("fingerprint")) for a in active}


def run(plan: Plan, workdir: Path) -> tuple[Record, dict[str, Any]]:
    with contextlib.ExitStack() as stack:
        lab = Lab(plan, workdir, stack)
        print(
            f"soak: {plan.icmp} ICMP, {plan.snmp} SNMP, {plan.http} HTTP targets and "
            f"{CUT_TARGET} ({lab.host.v4}) for {plan.minutes:g} min; daemon pid {lab.daemon.pid}",
            flush=True,
        )
        start = time.monotonic()
        for at, action in plan.events():
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            lab.act(action, at)
        lab.drain()
        verdict = judge(plan, lab)
        return lab.record, verdict


# --------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------


def growth(samples: list[Sample], name: str, plan: Plan) -> dict[str, float]:
    """Median of the minute after the baseline time against the median of the last minute."""
    base = [
        getattr(s, name) for s in samples if plan.baseline_after <= s.t < plan.baseline_after + 60
    ]
    last = [getattr(s, name) for s in samples if s.t >= samples[-1].t - 60]
    if not base or not last:
        return {"baseline": float("nan"), "end": float("nan"), "growth": 0.0, "max": float("nan")}
    b, e = statistics.median(base), statistics.median(last)
    later = [getattr(s, name) for s in samples if s.t >= plan.baseline_after]
    return {"baseline": b, "end": e, "growth": e / b - 1 if b else 0.0, "max": max(later)}


def check_outages(
    cuts: list[tuple[float, float]], outages: list[tuple[float, float | None]]
) -> list[str]:
    """Each cut is exactly one outage, inside it; no outage outside the cuts."""
    problems = []
    claimed: set[int] = set()
    for n, (cut, restore) in enumerate(cuts):
        inside = [
            i
            for i, (start, end) in enumerate(outages)
            if cut <= start <= restore
            and end is not None
            and restore <= end <= restore + OUTAGE_END_SLACK
        ]
        if len(inside) != 1:
            problems.append(f"cut {n} ({cut:.0f}-{restore:.0f}): {len(inside)} outages")
        claimed.update(inside)
    stray = [outages[i] for i in range(len(outages)) if i not in claimed]
    if stray:
        problems.append(f"{len(stray)} outages outside the cuts: {stray[:3]}")
    return problems


def alerts_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerts of one MQTT message: the channel publishes one alert per message
    (the alert's fields at the top level); a grouped document lists them."""
    if isinstance(document.get("alerts"), list):
        return list(document["alerts"])
    return [document] if "alertname" in document else []


def episodes(documents: list[dict[str, Any]]) -> dict[tuple[str, str, str], set[str]]:
    """(alertname, target, fingerprint@start) -> statuses seen on MQTT."""
    seen: dict[tuple[str, str, str], set[str]] = {}
    for document in documents:
        for alert in alerts_of(document):
            key = (
                str(alert.get("alertname")),
                str(alert.get("target")),
                f"{alert.get('fingerprint')}@{alert.get('starts_at')}",
            )
            seen.setdefault(key, set()).add(str(alert.get("status")))
    return seen


def check_notifications(
    cuts: int, seen: dict[tuple[str, str, str], set[str]], active: set[str], dead: float
) -> list[str]:
    problems = []
    down = {k: v for k, v in seen.items() if k[0] == "TargetDown" and k[1] == CUT_TARGET}
    if len(down) != cuts:
        problems.append(f"{cuts} cuts but {len(down)} TargetDown alerts of {CUT_TARGET} on MQTT")
    for key, statuses in seen.items():
        fingerprint = key[2].split("@", 1)[0]
        if "firing" not in statuses:
            problems.append(f"resolved without firing: {key}")
        elif "resolved" not in statuses and fingerprint not in active:
            problems.append(f"firing never resolved: {key}")
    if dead:
        problems.append(f"{dead:.0f} notifications given up (dead)")
    return problems


def judge(plan: Plan, lab: Lab) -> dict[str, Any]:
    record = lab.record
    samples = [s for s in record.samples if s.t > 0]
    figures = {name: growth(samples, name, plan) for name in ("rss_mb", "fds", "threads")}
    problems = [
        f"{name} grew {f['growth'] * 100:.1f} % ({f['baseline']:.1f} -> {f['end']:.1f})"
        for name, f in figures.items()
        if name != "threads" and f["growth"] > plan.growth_limit
    ]
    cuts = [c for c in record.cuts if c[1] == c[1]]  # restored ones (nan != nan)
    problems += check_outages(cuts, lab.outages())
    seen = episodes(lab.subscriber.documents())
    last = scrape(lab.port)
    problems += check_notifications(len(cuts), seen, lab.active_fingerprints(), last.dead)
    reloads = lab.log().count("reloaded:")
    if reloads != record.reloads or "reload rejected" in lab.log():
        problems.append(f"{record.reloads} SIGHUPs but {reloads} successful reloads")
    lags = [
        s.lag_p99_ms for s in samples if s.t >= plan.baseline_after and s.lag_p99_ms == s.lag_p99_ms
    ]
    return {
        "ok": not problems,
        "problems": problems,
        "growth": figures,
        "lag_p99_ms_median": statistics.median(lags) if lags else None,
        "lag_p99_ms_max": max(lags) if lags else None,
        "cuts": len(cuts),
        "outages": len(lab.outages()),
        "alert_episodes": len(seen),
        "notifications_sent": last.sent,
        "notification_attempts_failed": last.failed,
        "notifications_dead": last.dead,
        "mqtt_alert_messages": samples[-1].mqtt_alerts if samples else 0,
        "reloads": reloads,
        "broker_restarts": record.broker_restarts,
    }


def report(plan: Plan, record: Record, verdict: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / time.strftime("soak-%Y%m%d-%H%M%S.json")
    path.write_text(
        json.dumps(
            {
                "plan": asdict(plan),
                "verdict": verdict,
                "cuts": record.cuts,
                "samples": [asdict(s) for s in record.samples],
            },
            indent=1,
        )
    )
    print()
    for name, f in verdict["growth"].items():
        print(
            f"{name:>8}: after {plan.baseline_after / 60:g} min {f['baseline']:.1f}, "
            f"end {f['end']:.1f} ({f['growth'] * 100:+.1f} %), max {f['max']:.1f}"
        )
    keys = (
        *("cuts", "outages", "alert_episodes", "notifications_sent"),
        *("notification_attempts_failed", "notifications_dead"),
        *("mqtt_alert_messages", "reloads", "broker_restarts"),
    )
    print("  " + ", ".join(f"{k} {verdict[k]}" for k in keys))
    print(
        f"  scheduler lag p99 per 10 s window after {plan.baseline_after / 60:g} min: "
        f"median {verdict['lag_p99_ms_median']} ms, max {verdict['lag_p99_ms_max']} ms"
    )
    print("PASS" if verdict["ok"] else "FAIL:\n  " + "\n  ".join(verdict["problems"]))
    print(f"results: {path.relative_to(REPO)}")
    return path


def parse_args(argv: list[str] | None = None) -> Plan:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = Plan()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    return Plan(**vars(parser.parse_args(argv)))


def preflight() -> None:
    reasons = [netns.skip_reason(), peer_missing("mosquitto", "snmpsim")]
    if os.geteuid() != 0:
        reasons.append("needs root (raw ICMP, namespaces, snmpsim)")
    missing = [r for r in reasons if r]
    if missing:
        raise SystemExit("soak cannot run: " + "; ".join(missing))


def main(argv: list[str] | None = None) -> None:
    plan = parse_args(argv)
    preflight()
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so everything is cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        record, verdict = run(plan, Path(tmp))
    report(plan, record, verdict)
    sys.exit(0 if verdict["ok"] else 1)


if __name__ == "__main__":
    main()
