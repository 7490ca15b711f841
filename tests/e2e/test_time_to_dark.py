"""Time to dark end to end: a real daemon polls a UPS whose battery drains between polls,
predicts when the site goes dark, exports the prediction, shows it on the power board
and pages SiteGoingDark to a real webhook receiver; mains back resolves it.

Two agents, each with its own way of changing values between polls:

- **snmpsim** serving a recording whose charge is snmpsim's ``numeric`` variation
  module (90 % falling 2 % a second from the simulator's start) while the device
  claims two hours of runtime: the discharge trend is the more pessimistic figure;
- **net-snmp snmpd** with a ``pass_persist`` script answering UPS-MIB from a JSON file the
  test rewrites (on battery, then mains back); the charge falls with time while the
  device claims one minute: its runtime is the more pessimistic figure.

Both UPS have a site behind them (``parents``) that goes dark with them.
Every wait is bounded and ends on a positive signal.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from monitor.i18n import texts
from monitor.web.api import parse_rfc3339
from tests.browser import screenshot
from tests.daemon_process import DaemonProcess
from tests.detect_lab import is_page, is_resolve, webhook_channel
from tests.helpers import require_peer, wait_until
from tests.peers import WebhookReceiver
from tests.snmp_agents import (
    SnmpdAgent,
    SnmpsimAgent,
    sort_records,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

DATA = Path(__file__).resolve().parent.parent / "data" / "snmp"
ZONE = "Asia/Ho_Chi_Minh"
CONTACT = "+84 255 000 000"
METRIC = "continuity_ups_predicted_dark_timestamp_seconds"
CHARGE_OID = "1.3.6.1.2.1.33.1.2.4.0"
MINUTES_OID = "1.3.6.1.2.1.33.1.2.3.0"
RATE = 2  # percent a second the snmpsim battery drains


def config(
    port: int, community: str, receiver: WebhookReceiver, lead: str, language: str = "en"
) -> str:
    snmp = f'{{ community = "{community}", port = {port}, modules = ["system", "ups"] }}'
    return f"""
[monitor]
instance = "e2e-dark"
timezone = "{ZONE}"
language = "{language}"

[defaults]
interval = "1s"
timeout = "1s"

[alerts]
going_dark_lead = "{lead}"

[[targets]]
name = "ups-binh-son"
address = "127.0.0.1"
checks = ["snmp"]
labels = {{ site = "BS-02", province = "Quang Ngai" }}
location = {{ address = "Binh Son, Quang Ngai", lat = 15.29, lon = 108.76, contact = "{CONTACT}" }}
snmp = {snmp}

[[targets]]
name = "bts-behind"
address = "127.0.0.1"
checks = ["snmp"]
parents = ["ups-binh-son"]
labels = {{ site = "BS-03", province = "Quang Ngai" }}
snmp = {{ community = "{community}", port = {port}, modules = ["system"] }}
""" + webhook_channel(receiver)


def predicted(daemon: DaemonProcess) -> tuple[str, float] | None:
    """(method, predicted dark) of the UPS from /metrics, or None."""
    for labels, value in daemon.metrics().get(METRIC, []):
        if labels.get("target") == "ups-binh-son":
            return labels["method"], value
    return None


def check_page(receiver: WebhookReceiver, daemon: DaemonProcess, method: str) -> float:
    """The SiteGoingDark page's contents; returns the predicted dark it names."""
    page = receiver.wait(is_page("SiteGoingDark", "ups-binh-son"), 30)
    assert page is not None, f"no SiteGoingDark: {daemon.log()[-3000:]}"
    alert = page.alert
    notes = alert["annotations"]
    assert notes["method"] == method
    dark_at = float(notes["predicted_dark_timestamp"])
    local = datetime.fromtimestamp(dark_at, ZoneInfo(ZONE))
    assert notes["predicted_dark"] == local.strftime("%Y-%m-%d %H:%M %z")
    assert notes["predicted_dark"].endswith("+0700")
    assert notes["consequences"] == "bts-behind" and notes["affected"] == "1"
    assert alert["site"]["contact"] == CONTACT
    assert alert["site"]["address"] == "Binh Son, Quang Ngai"
    assert alert["labels"]["severity"] == "critical"
    assert f"{local:%H:%M}" in page.body["text"]  # the people's text names the clock time
    return dark_at


def check_board(daemon: DaemonProcess, method_word: str) -> None:
    """The status page's power board lists the UPS with what goes dark behind it."""
    status, html = daemon.get("/")
    assert status == 200
    board = html.split('id="power"', 1)[1].split("</section>", 1)[0]
    assert "ups-binh-son" in board and "bts-behind" in board
    assert method_word in board
    assert CONTACT in board


def resolved(receiver: WebhookReceiver, daemon: DaemonProcess) -> None:
    done = receiver.wait(is_resolve("SiteGoingDark", "ups-binh-son"), 30)
    assert done is not None, f"SiteGoingDark not resolved: {daemon.log()[-3000:]}"
    wait_until(lambda: predicted(daemon) is None, 10, "the prediction gone")


# -- snmpsim: the numeric variation module drains the battery -------------------------


@pytest.fixture
def draining_sim(tmp_path: Path) -> Iterator[SnmpsimAgent]:
    require_peer("snmpsim")
    lines = (DATA / "ups-on-battery.snmprec").read_text().splitlines()
    lines = [line for line in lines if not line.startswith((f"{CHARGE_OID}|", f"{MINUTES_OID}|"))]
    # 90 % when snmpsim starts, 2 % less every second; the device says 120 minutes.
    lines += [f"{CHARGE_OID}|2:numeric|initial=90,rate=-{RATE},min=0", f"{MINUTES_OID}|2|120"]
    agent = SnmpsimAgent(tmp_path / "snmpsim")
    agent.put("ups", sort_records(lines))
    with agent:
        agent.start("ups")
        yield agent


def line_end(daemon: DaemonProcess) -> tuple[float, float]:
    """(what the daemon predicts, where the agent's own line ends), from one scrape.

    The agent drains :data:`RATE` % a second, so from the charge of the last
    poll, and its time, the battery is empty ``charge / RATE`` seconds later.
    """
    scrape = daemon.metrics()

    def of(name: str) -> float:
        return next(v for labels, v in scrape[name] if labels.get("target") == "ups-binh-son")

    charge = of("continuity_ups_battery_charge_ratio") * 100
    polled = of("continuity_check_last_run_timestamp_seconds")
    return of(METRIC), polled + charge / RATE


def test_snmpsim_discharge_trend_pages_before_the_device_would(
    tmp_path: Path, draining_sim: SnmpsimAgent
) -> None:
    sim = draining_sim
    with (
        WebhookReceiver() as receiver,
        DaemonProcess(config(sim.port, "ups", receiver, "30s"), tmp_path) as daemon,
    ):
        wait_until(lambda: (predicted(daemon) or ("",))[0] == "trend", 20, "a trend prediction")
        # The line through the polls ends where the agent's does (charges are whole
        # percents: half a second either way), long before the device's two hours.
        dark_at, expected = line_end(daemon)
        assert abs(dark_at - expected) <= 1.5, (dark_at, expected)
        paged = check_page(receiver, daemon, "trend")
        assert abs(paged - expected) <= 1.5, (paged, expected)  # the agent's line is fixed
        page = receiver.wait(is_page("SiteGoingDark", "ups-binh-son"), 1)
        assert page is not None
        # Fired a lead time (30 s) before the predicted dark, within a poll and an
        # alert tick of it. The page names the prediction in whole seconds (half a
        # second either way) and the line moves by up to 1.5 s between polls.
        fired = parse_rfc3339(page.alert["starts_at"])
        assert paged - 30 - 1.5 <= fired <= paged - 30 + 2.5, (fired, paged)
        check_board(daemon, "discharge trend")
        # Mains back: the recording of a UPS on line.
        sim.stop()
        sim.put("ups", (DATA / "ups-online.snmprec").read_text().splitlines())
        sim.start("ups")
        resolved(receiver, daemon)
        status, html = daemon.get("/")
        assert (
            status == 200
            and "ups-binh-son" not in html.split('id="power"', 1)[1].split("</section>", 1)[0]
        )


# -- net-snmp snmpd: a pass script reads the state the test writes --------------------

PASS_SCRIPT = '''\
"""snmpd pass_persist script: UPS-MIB scalars from a JSON state file the test rewrites."""
import json, sys, time

def rows():
    with open(sys.argv[1]) as f:
        state = json.load(f)
    elapsed = time.time() - state["since"]
    charge = max(0, round(state["charge"] - state["rate"] * elapsed))
    on_battery = state["on_battery"]
    return {
        "1.3.6.1.2.1.33.1.2.1.0": ("integer", 2),
        "1.3.6.1.2.1.33.1.2.2.0": ("integer", round(elapsed) if on_battery else 0),
        "1.3.6.1.2.1.33.1.2.3.0": ("integer", state["minutes"]),
        "1.3.6.1.2.1.33.1.2.4.0": ("integer", charge if on_battery else 100),
        "1.3.6.1.2.1.33.1.3.3.1.3.1": ("integer", 0 if on_battery else 230),
        "1.3.6.1.2.1.33.1.4.1.0": ("integer", 5 if on_battery else 3),
        "1.3.6.1.2.1.33.1.4.4.1.5.1": ("integer", 40),
    }

def key(oid):
    return tuple(int(p) for p in oid.strip(".").split("."))

def answer(command, asked):
    table = rows()
    asked = asked.strip(".")
    if command == "get":
        found = asked if asked in table else None
    else:
        later = sorted((o for o in table if key(o) > key(asked)), key=key)
        found = later[0] if later else None
    if found is None:
        return "NONE\\n"
    kind, value = table[found]
    return f".{found}\\n{kind}\\n{value}\\n"

for line in sys.stdin:
    command = line.strip()
    if command == "PING":
        out = "PONG\\n"
    elif command in ("get", "getnext"):
        out = answer(command, sys.stdin.readline().strip())
    elif command == "set":
        sys.stdin.readline(); sys.stdin.readline()
        out = "not-writable\\n"
    else:
        continue
    sys.stdout.write(out)
    sys.stdout.flush()
'''


class PassState:
    """The state file the pass script reads."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, *, on_battery: bool, charge: float, rate: float, minutes: int) -> None:
        state = {
            "on_battery": on_battery,
            "since": time.time(),
            "charge": charge,
            "rate": rate,
            "minutes": minutes,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.path)


@pytest.fixture
def ups_snmpd(tmp_path: Path) -> Iterator[tuple[SnmpdAgent, PassState]]:
    require_peer("snmpd")
    work = tmp_path / "snmpd"
    work.mkdir()
    script = work / "ups_pass.py"
    script.write_text(PASS_SCRIPT)
    state = PassState(work / "ups.json")
    state.write(on_battery=False, charge=100, rate=0, minutes=240)
    line = f"pass_persist .1.3.6.1.2.1.33 {sys.executable} {script} {state.path}"
    with SnmpdAgent(work, extra_config=line) as agent:
        yield agent, state


def test_snmpd_device_runtime_pages_when_it_is_the_earlier(
    tmp_path: Path, ups_snmpd: tuple[SnmpdAgent, PassState]
) -> None:
    agent, state = ups_snmpd
    with (
        WebhookReceiver() as receiver,
        DaemonProcess(config(agent.port, agent.community, receiver, "90s"), tmp_path) as daemon,
    ):
        # On mains: polled, nothing predicted, nothing paged.
        wait_until(lambda: daemon.value("continuity_ups_on_battery") == 0.0, 15, "the UPS polled")
        assert predicted(daemon) is None
        assert receiver.wait(is_page("SiteGoingDark", "ups-binh-son"), 0.5) is None
        # The grid goes: 80 % falling 0.5 % a second (trend: 160 s), the device says 1 minute.
        cut = time.time()
        state.write(on_battery=True, charge=80, rate=0.5, minutes=1)
        wait_until(lambda: predicted(daemon) is not None, 15, "a prediction")
        dark_at = check_page(receiver, daemon, "device")
        # The device's minute from a poll after the cut.
        assert cut + 60 - 1 <= dark_at <= time.time() + 60 + 1
        method, _ = predicted(daemon) or ("", 0.0)
        assert method == "device"
        # Within the 90 s lead from the first poll on battery: paged at once.
        page = receiver.wait(is_page("SiteGoingDark", "ups-binh-son"), 1)
        assert page is not None
        assert cut <= parse_rfc3339(page.alert["starts_at"]) <= cut + 3
        check_board(daemon, "device&#39;s runtime")
        state.write(on_battery=False, charge=100, rate=0, minutes=240)
        resolved(receiver, daemon)


def test_the_power_board_follows_the_grid_without_a_reload(
    tmp_path: Path, ups_snmpd: tuple[SnmpdAgent, PassState], browser: BrowserContext
) -> None:
    """In Vietnamese: the board appears when the grid goes, names what goes dark with the
    site, and disappears when mains is back, all by the page's own refresh."""
    agent, state = ups_snmpd
    vi = texts("vi")
    with (
        WebhookReceiver() as receiver,
        DaemonProcess(
            config(agent.port, agent.community, receiver, "90s", language="vi"), tmp_path
        ) as daemon,
    ):
        wait_until(lambda: daemon.value("continuity_ups_on_battery") == 0.0, 15, "the UPS polled")
        page = browser.new_page()
        page.goto(daemon.url + "/")
        board = page.locator("#power")
        assert board.is_hidden()
        page.evaluate("window.sameDocument = true")  # gone if the page were loaded anew
        state.write(on_battery=True, charge=80, rate=0.5, minutes=1)
        page.wait_for_selector("#power-rows tr[data-name=ups-binh-son]", timeout=15_000)
        row = page.locator("#power-rows tr[data-name=ups-binh-son]")
        text = row.inner_text()
        assert vi["power.title"] in (page.locator("#power-title").text_content() or "")
        assert vi["power.method.device"] in text
        assert "bts-behind" in text and CONTACT in text
        assert re.search(r"còn (\d+ giây|1 phút)", text), text
        assert page.evaluate("window.sameDocument") is True
        screenshot(page, "status-power-board-vi")
        state.write(on_battery=False, charge=100, rate=0, minutes=240)
        page.wait_for_selector("#power", state="hidden", timeout=15_000)
        assert page.evaluate("window.sameDocument") is True
