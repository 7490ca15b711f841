"""Several instances end to end: shards, and two vantage points behind an Alertmanager cluster.

* Three daemons with ``--shard i/3`` on one config: each exports only its
  share, together they export every target once (the canary, on purpose, on
  all three), trees of parents and children stay on one shard, and a SIGHUP
  reload keeps the split for the targets it adds.
* Two daemons with different instance names watch the same target and post
  to both members of a real Alertmanager cluster grouped as in
  deploy/alertmanager/alertmanager.yml: on-call gets one page naming both
  vantage points, never twice, and ends with "resolved" for both.
* The example configs under deploy/ pass promtool and amtool.
"""

from __future__ import annotations

import json
import signal
import socketserver
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from monitor.engine.config import load_config
from monitor.engine.shard import select
from monitor.engine.shard_spec import Shard
from tests.daemon_process import REPO, DaemonProcess
from tests.helpers import free_port, require_peer, wait_until
from tests.peers import ALERTMANAGER, Posted, WebhookReceiver

SHARDS = 3
HEAD = """
[monitor]
instance = "shard-e2e"
canaries = ["gw"]

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"

[defaults.icmp]
count = 1
"""


def target(name: str, address: str, extra: str = "") -> str:
    return f'[[targets]]\nname = "{name}"\naddress = "{address}"\n{extra}'


def config_text(roots: int) -> str:
    """``roots`` trees of a core router and two sites, two pinned targets and a canary."""
    parts = [HEAD, target("gw", "127.0.0.1")]
    for r in range(roots):
        parts.append(target(f"core-{r}", f"127.1.{r}.1"))
        parts += [
            target(f"bts-{r}-{c}", f"127.1.{r}.{c + 2}", f'parents = ["core-{r}"]\n')
            for c in range(2)
        ]
    pinned = 'labels = { shard_key = "pinned" }\n'
    parts += [target("pin-a", "127.2.0.1", pinned), target("pin-b", "127.2.0.2", pinned)]
    return "\n".join(parts)


def up_targets(daemon: DaemonProcess) -> set[str]:
    return {
        labels["target"]
        for labels, value in daemon.metrics().get("continuity_target_up", [])
        if value == 1
    }


def exported_targets(daemon: DaemonProcess) -> set[str]:
    """Every target that has any series on this daemon's /metrics."""
    return {
        labels["target"]
        for samples in daemon.metrics().values()
        for labels, _ in samples
        if "target" in labels
    }


def wait_for_share(daemon: DaemonProcess, expected: set[str], timeout: float = 15) -> set[str]:
    """Poll until the daemon reports exactly ``expected`` UP (bounded); return what it has."""
    end = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < end:
        seen = up_targets(daemon)
        if seen == expected:
            break
        time.sleep(0.2)
    return seen


def expected_shares(path: Path) -> list[set[str]]:
    config = load_config(path)
    return [
        {t.name for t in select(config, Shard(i, SHARDS)).config.targets} for i in range(SHARDS)
    ]


@contextmanager
def three_shards(tmp_path: Path, text: str) -> Iterator[list[DaemonProcess]]:
    with ExitStack() as stack:
        daemons = []
        for i in range(SHARDS):
            directory = tmp_path / f"shard-{i}"
            directory.mkdir()
            daemon = DaemonProcess(text, directory, extra_args=("--shard", f"{i}/{SHARDS}"))
            daemons.append(stack.enter_context(daemon))
        yield daemons


def check_partition(shares: list[set[str]], all_names: set[str]) -> None:
    for i, share in enumerate(shares):
        assert "gw" in share, f"shard {i} lacks the canary"
    rest = [share - {"gw"} for share in shares]
    assert sum(len(r) for r in rest) == len(all_names) - 1, "a target is on two shards"
    assert set().union(*rest) | {"gw"} == all_names
    assert all(rest), "every shard has some targets"


def test_three_shards_export_only_their_share_and_together_everything(tmp_path: Path) -> None:
    roots = 20
    text = config_text(roots)
    with three_shards(tmp_path, text) as daemons:
        expected = expected_shares(daemons[0].config)
        shares = [wait_for_share(d, e) for d, e in zip(daemons, expected, strict=True)]
        assert shares == expected
        all_names = {t.name for t in load_config(daemons[0].config).targets}
        check_partition(shares, all_names)
        for r in range(roots):
            tree = {f"core-{r}", f"bts-{r}-0", f"bts-{r}-1"}
            assert sum(1 for share in shares if tree <= share) == 1, f"tree {r} split"
        assert sum(1 for share in shares if {"pin-a", "pin-b"} <= share) == 1
        for i, daemon in enumerate(daemons):
            assert exported_targets(daemon) == expected[i], "series of another shard's target"
            assert daemon.value("continuity_targets") == len(expected[i])
            assert f"shard {i}/{SHARDS}: {len(expected[i])} of {len(all_names)}" in daemon.log()

        # A reload with more targets: each daemon takes only its part of the new ones.
        grown = config_text(roots + 10)
        for daemon in daemons:
            daemon.config.write_text(daemon.config.read_text().replace(text, grown))
            daemon.signal(signal.SIGHUP)
        expected = expected_shares(daemons[0].config)
        shares = [wait_for_share(d, e) for d, e in zip(daemons, expected, strict=True)]
        assert shares == expected
        check_partition(shares, {t.name for t in load_config(daemons[0].config).targets})


# -- two vantage points through an Alertmanager cluster ---------------------------

VANTAGE = """
[monitor]
instance = "{instance}"

[defaults]
checks = ["tcp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 2

[[targets]]
name = "svc"
address = "127.0.0.1"
tcp = {{ port = {port} }}
labels = {{ site = "QNG-POST" }}

[channels.am]
type = "alertmanager"
urls = {urls}

[[alerts.routes]]
match = {{ severity = "critical" }}
channels = ["am"]
"""


class Listener:
    """A TCP service on loopback that accepts and closes (the target coming back)."""

    def __init__(self, port: int) -> None:
        self.server = socketserver.ThreadingTCPServer(
            ("127.0.0.1", port), socketserver.BaseRequestHandler
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def alertmanager_cluster(tmp_path: Path, receiver: str, size: int = 2) -> Iterator[list[str]]:
    """``size`` Alertmanagers gossiping on loopback; yields their URLs."""
    config = tmp_path / "alertmanager.yml"
    # JSON is YAML. The route is the one of deploy/alertmanager/alertmanager.yml with
    # short timers: group_wait longer than the vantage points' spread of detections.
    config.write_text(
        json.dumps(
            {
                "route": {
                    "receiver": "hook",
                    "group_by": ["alertname", "target"],
                    "group_wait": "6s",
                    "group_interval": "10s",
                    "repeat_interval": "1h",
                },
                "receivers": [
                    {"name": "hook", "webhook_configs": [{"url": receiver, "send_resolved": True}]}
                ],
            }
        )
    )
    web = [free_port() for _ in range(size)]
    gossip = [free_port() for _ in range(size)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(size):
            storage = tmp_path / f"am-{i}"
            storage.mkdir()
            peers = [f"--cluster.peer=127.0.0.1:{p}" for j, p in enumerate(gossip) if j != i]
            log = (tmp_path / f"am-{i}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [
                        ALERTMANAGER,
                        f"--config.file={config}",
                        f"--storage.path={storage}",
                        f"--web.listen-address=127.0.0.1:{web[i]}",
                        f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                        f"--cluster.advertise-address=127.0.0.1:{gossip[i]}",
                        "--cluster.peer-timeout=3s",
                        "--cluster.settle-timeout=3s",
                        "--cluster.pushpull-interval=2s",
                        "--log.level=warn",
                        *peers,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
        urls = [f"http://127.0.0.1:{p}" for p in web]
        for url in urls:
            wait_until(lambda url=url: cluster_size(url) == size, 20, f"cluster at {url}")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def cluster_size(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/status", timeout=2) as response:
            status = json.load(response)
    except OSError:
        return 0
    return len(status.get("cluster", {}).get("peers", []))


def summary(body: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A notification as (status, ((monitor, alert status), ...)), for comparisons."""
    alerts = sorted((a["labels"]["monitor"], a["status"]) for a in body["alerts"])
    return body["status"], tuple(alerts)


def test_two_vantage_points_page_once_through_an_alertmanager_cluster(tmp_path: Path) -> None:
    """Two monitors (different instance names) see the same target go down and come
    back; each posts to both members of an Alertmanager cluster. On-call gets one
    page listing both vantage points (never twice), and ends with "resolved" for both."""
    require_peer("alertmanager")
    port = free_port()  # nothing listens: the target is down from the start
    with WebhookReceiver() as hook, alertmanager_cluster(tmp_path, hook.url) as urls:
        daemons = []
        with ExitStack() as stack:
            for name in ("noc-hn-1", "noc-dn-1"):
                directory = tmp_path / name
                directory.mkdir()
                text = VANTAGE.format(instance=name, port=port, urls=json.dumps(urls))
                daemons.append(stack.enter_context(DaemonProcess(text, directory)))
            wait_until(lambda: bool(hook.bodies()), 30, "the first notification")
            both = (("noc-dn-1", "firing"), ("noc-hn-1", "firing"))
            first = hook.bodies()[0]
            assert summary(first) == ("firing", both)
            assert first["groupLabels"] == {"alertname": "TargetDown", "target": "svc"}

            service = Listener(port)
            try:
                # Alertmanager's cluster is at-least-once: the two vantage points resolve
                # independently, possibly on either side of a group flush, and a member
                # whose timers run out of phase may send its (older) view once more. What
                # on-call must end with: every vantage point's last word is "resolved",
                # and the group's last notification says "resolved".
                end = time.monotonic() + 45
                while not settled(hook.bodies()) and time.monotonic() < end:
                    time.sleep(0.1)
                # Past one more group_interval + peer timeout, nothing re-opens it.
                time.sleep(14)
            finally:
                service.close()
        assert settled(hook.bodies()), notes_of(hook.posts())
        # Checked once the resolves came (so both members were at work all along):
        # the page naming both vantage points went out once, not once per member.
        firing_pages = [b for b in hook.bodies() if summary(b)[1] == both]
        assert len(firing_pages) == 1, f"the page went out twice: {notes_of(hook.posts())}"


def notes_of(posts: list[Posted]) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Every notification as (arrival, status, alerts), for failure messages."""
    return [(time.strftime("%H:%M:%S", time.localtime(p.wall)), *summary(p.body)) for p in posts]


def settled(bodies: list[dict[str, Any]]) -> bool:
    """The last notification is "resolved" and names every vantage point's alert as
    resolved in the last notification that mentions it."""
    if not bodies or bodies[-1]["status"] != "resolved":
        return False
    last: dict[str, str] = {}
    for body in bodies:
        for monitor, status in summary(body)[1]:
            last[monitor] = status
    return last == {"noc-dn-1": "resolved", "noc-hn-1": "resolved"}


# -- the example configurations under deploy/ -------------------------------------


@pytest.mark.parametrize(
    ("tool", "args", "path"),
    [
        ("promtool", ("check", "config"), "deploy/prometheus/shards.yml"),
        ("amtool", ("check-config",), "deploy/alertmanager/alertmanager.yml"),
    ],
)
def test_example_configs_are_valid(tool: str, args: tuple[str, ...], path: str) -> None:
    require_peer(tool)
    proc = subprocess.run(
        [tool, *args, path], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout
