"""Grafana dashboards (deploy/grafana) run against a real Prometheus scraping the daemon.

The end-to-end test starts the daemon with a small config that has a target
of every kind the dashboards show: ICMP on loopback and to a namespace host it
cuts off (an outage, its end and a second outage), SNMP against net-snmp snmpd
(interfaces) and snmpsim with a UPS recording, HTTPS against a loopback TLS
server (trustme certificate), two SLOs and a webhook channel that receives the
TargetDown page. It freezes the daemon for a moment (SIGSTOP) so that runs are
skipped for real. A real Prometheus scrapes it every second with the recording
and alerting rules of deploy/prometheus loaded.

Then every query of every panel of every dashboard JSON is taken from the file,
its variables are given real values (multi-value variables their All value,
``.*``; single-value ones and repeat variables each of their values, from
``label_values`` through Prometheus' API, as Grafana does), and it runs through
Prometheus' HTTP API, as an instant or a range query as the panel asks. Any
query error fails the test; so does a query that returns no series for every
value of its variables (a TLS panel has data for the HTTPS target only).

The other tests check the JSON model without a daemon: the files are what
deploy/grafana/generate.py writes, every datasource reference is
``${DS_PROMETHEUS}``, every variable a query uses is defined and none names an
instance, and the panels do not overlap.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests import netns
from tests.daemon_process import DaemonProcess
from tests.helpers import require_peer, wait_until
from tests.prometheus_peer import PrometheusPeer
from tests.snmp_agents import (
    SnmpdAgent,
    SnmpsimAgent,
    read_recording,
)

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
RULE_FILES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
UPS_RECORDING = REPO / "tests" / "data" / "snmp" / "ups-on-battery.snmprec"
DS_REF = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

# Panels that cannot get data in this test, by (dashboard uid, panel title),
# with the reason. Keep it as short as possible: every entry is a panel whose
# queries are only checked for errors.
NO_DATA_EXPECTED: dict[tuple[str, str], str] = {}

SCRAPE_SECONDS = 1.0
# What Grafana puts in the built-in variables for a 1 s scrape interval and a
# 1 s step ($__rate_interval = max($__interval + scrape, 4 x scrape)).
RATE_INTERVAL = "4s"
STEP = 1.0
DATA_TIMEOUT = 45.0

CONFIG = """
[monitor]
instance = "e2e-dashboards"
slo_interval = "1s"

[defaults]
interval = "1s"
timeout = "1s"
fall = 2
rise = 1

[defaults.icmp]
count = 2
packet_interval = "100ms"

[[targets]]
name = "core-lo"
address = "127.0.0.1"
checks = ["icmp"]
labels = {{ site = "QNG-CORE", province = "Quang Ngai", operator = "vnpt", kind = "core" }}

[[targets]]
name = "bts-ns"
address = "{bts}"
checks = ["icmp"]
labels = {{ site = "BS-02", province = "Quang Ngai", operator = "viettel", kind = "bts" }}

[[targets]]
name = "router-snmp"
address = "127.0.0.1"
checks = ["icmp", "snmp"]
labels = {{ site = "DNG-CORE", province = "Da Nang", operator = "vnpt", kind = "router" }}
snmp = {{ community = "public", port = {snmpd}, modules = ["system", "if_mib"] }}

[[targets]]
name = "ups-snmp"
address = "127.0.0.1"
checks = ["snmp"]
labels = {{ site = "BS-02", province = "Quang Ngai", operator = "viettel", kind = "ups" }}
snmp = {{ community = "ups", port = {snmpsim}, modules = ["system", "ups"] }}

[[targets]]
name = "portal-https"
address = "https://127.0.0.1:{tls}/health"
checks = ["http"]
labels = {{ site = "HN-DC", province = "Ha Noi", operator = "vnpost", kind = "portal" }}
http = {{ ca_file = "{ca}", json_equals = {{ status = "ok" }}, cert_min_days = 14 }}

[[slo]]
name = "bts"
match = {{ kind = "bts" }}
objective = 0.999

[[slo]]
name = "postal"
match = {{ operator = "vnpost" }}
objective = 0.995

[channels.oncall]
type = "webhook"
url = "http://127.0.0.1:{hook}/hook"

[[alerts.routes]]
match = {{ severity = "critical" }}
channels = ["oncall"]
"""


# -- the dashboards as data ----------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that is not a row, also those inside collapsed rows."""
    for item in dashboard["panels"]:
        if item["type"] == "row":
            yield from item.get("panels", [])
        else:
            yield item


def variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard["templating"]["list"]
    return found


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool
    repeat: str | None

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}: {self.expr}"


def panel_queries(dashboard: dict[str, Any]) -> list[PanelQuery]:
    return [
        PanelQuery(
            dashboard["uid"],
            panel["title"],
            target["refId"],
            target["expr"],
            bool(target.get("instant")) and not target.get("range"),
            panel.get("repeat"),
        )
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


VARIABLE_REF = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
BUILTINS = {"__range", "__rate_interval", "__interval", "__range_s"}


def referenced(text: str) -> set[str]:
    return {a or b for a, b in VARIABLE_REF.findall(text)}


def substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values[name]

    return VARIABLE_REF.sub(one, text)


LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?(\w+)\)$")


# -- static checks of the JSON model ---------------------------------------------------


def test_dashboard_files_are_what_the_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(GRAFANA / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert {p.name for p in DASHBOARD_FILES} == {
        "continuity-overview.json",
        "continuity-target.json",
        "continuity-slo.json",
        "continuity-monitor-health.json",
    }


def datasource_refs(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasource_refs(item)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_dashboard_model_is_importable(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["schemaVersion"] >= 38 and dashboard["id"] is None
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    (ds_input,) = dashboard["__inputs"]
    assert (ds_input["name"], ds_input["type"], ds_input["pluginId"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    grafana = next(r for r in dashboard["__requires"] if r["id"] == "grafana")
    assert int(grafana["version"].split(".")[0]) >= 10
    # one data source variable, so the file also works when provisioned
    first = variables(dashboard)[0]
    assert (first["name"], first["type"], first["query"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    builtin = {"type": "grafana", "uid": "-- Grafana --"}
    for ref in datasource_refs({k: v for k, v in dashboard.items() if k != "annotations"}):
        assert ref == DS_REF, ref
    assert all(a["datasource"] == builtin for a in dashboard["annotations"]["list"])


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_panels_have_queries_ids_and_room(path: Path) -> None:
    dashboard = load(path)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for item in dashboard["panels"]:
        pos = item["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, item["title"]
        for x, y in itertools.product(
            range(pos["x"], pos["x"] + pos["w"]), range(pos["y"], pos["y"] + pos["h"])
        ):
            assert (x, y) not in cells, f"{item['title']} overlaps {cells[(x, y)]}"
            cells[(x, y)] = item["title"]
    for panel in panels(dashboard):
        assert panel["targets"], f"{panel['title']}: no query"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)) and all(t["expr"].strip() for t in panel["targets"])


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_variables_come_from_label_values_and_are_all_defined(path: Path) -> None:
    dashboard = load(path)
    defined = {v["name"]: v for v in variables(dashboard)}
    for variable in defined.values():
        if variable["type"] == "query":
            assert LABEL_VALUES.match(variable["definition"]), variable["definition"]
            assert variable["query"]["query"] == variable["definition"]
            if variable["multi"]:
                assert variable["includeAll"] and variable["allValue"] == ".*"
    texts = [v.get("definition", "") for v in defined.values()]
    texts += [q.expr for q in panel_queries(dashboard)]
    texts += [p["title"] for p in panels(dashboard)]
    for text in texts:
        unknown = referenced(text) - defined.keys() - BUILTINS
        assert not unknown, f"{text}: undefined {unknown}"
    for query in panel_queries(dashboard):
        # a multi-value variable only in a regex matcher (its All value is .*)
        for name in re.findall(r'[^=!~]=\s*"\$\{?(\w+)', query.expr):
            assert not defined[name].get("multi"), f"{query}: ${name} is multi-value"
        # no instance or job names written into a query
        assert not re.search(r'\b(instance|job)\s*[=!]~?\s*"(?!\$)', query.expr), str(query)
    assert (repeat := {p.get("repeat") for p in panels(dashboard)} - {None}) <= defined.keys(), (
        repeat
    )


def test_place_variables_on_the_target_dashboards() -> None:
    for name in ("continuity-overview.json", "continuity-target.json"):
        defined = {v["name"]: v for v in variables(load(GRAFANA / "dashboards" / name))}
        assert {"province", "site", "operator", "target"} <= defined.keys()
    target = {v["name"]: v for v in variables(load(GRAFANA / "dashboards/continuity-target.json"))}
    assert target["target"]["multi"] is False


def test_provisioning_files_name_the_datasource_by_variable() -> None:
    datasource = (GRAFANA / "provisioning" / "datasources" / "continuity.yaml").read_text()
    assert re.search(r"^\s*- name: \$\{DS_PROMETHEUS\}\s*$", datasource, re.M)
    assert re.search(r"^\s*type: prometheus\s*$", datasource, re.M)
    assert re.search(r"^\s*url: \$\{PROMETHEUS_URL\}\s*$", datasource, re.M)
    providers = (GRAFANA / "provisioning" / "dashboards" / "continuity.yaml").read_text()
    assert re.search(r"^\s*type: file\s*$", providers, re.M)
    assert re.search(r"^\s*path: \S+", providers, re.M)


# -- loopback servers: HTTPS health endpoint and webhook receiver --------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path != "/health":
            self.send_error(404)
            return
        self._reply(json.dumps({"status": "ok"}).encode())

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.posts.append(self.path)
        self._reply(b"{}")

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.posts: list[str] = []
        if tls is not None:
            # The handshake happens on the first read, in the handler's thread.
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@contextmanager
def serving(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- the end-to-end test ------------------------------------------------------------------


@dataclass
class Scene:
    daemon: DaemonProcess
    prom: PrometheusPeer
    hook: _Server


def skip_unless_runnable() -> None:
    netns.require()
    require_peer("prometheus", "promtool", "snmpd", "snmpsim")


@contextmanager
def scene(tmp_path: Path) -> Iterator[Scene]:
    """Daemon, peers and Prometheus, all on loopback or the test's namespace host."""
    with ExitStack() as stack:
        ca = trustme.CA()
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(tls)
        health = stack.enter_context(serving(_Server(tls)))
        hook = stack.enter_context(serving(_Server()))
        snmpsim = stack.enter_context(SnmpsimAgent(tmp_path / "snmpsim"))
        snmpsim.put("ups", read_recording(UPS_RECORDING))
        snmpsim.start(wait_community="ups")
        snmpd = stack.enter_context(SnmpdAgent(tmp_path / "snmpd"))
        host = stack.enter_context(netns.netns_host())
        config = CONFIG.format(
            bts=host.v4,
            snmpd=snmpd.port,
            snmpsim=snmpsim.port,
            tls=health.port,
            ca=ca_file,
            hook=hook.port,
        )
        daemon = DaemonProcess(config, tmp_path)
        # Prometheus first: it takes its first scrape about 5 s after start
        # (target discovery is batched), time the daemon uses to start.
        prom = stack.enter_context(
            PrometheusPeer(
                tmp_path / "prometheus",
                [f"127.0.0.1:{daemon.port}"],
                rule_files=RULE_FILES,
                scrape_interval=f"{SCRAPE_SECONDS:g}s",
                evaluation_interval=f"{SCRAPE_SECONDS:g}s",
            )
        )
        stack.enter_context(daemon)
        bts_up = 'continuity_target_up{target="bts-ns"}'
        prom.wait_for(f"{bts_up} == 1", timeout=20)
        freeze(daemon, seconds=2.5)
        # An outage that ends, then one that stays open (outage list, MTTR, MTBF);
        # each state is waited for until Prometheus has recorded it.
        host.cut()
        prom.wait_for(f"{bts_up} == 0", timeout=10)
        host.restore()
        prom.wait_for(f"{bts_up} == 1", timeout=10)
        host.cut()
        prom.wait_for(f"{bts_up} == 0", timeout=10)
        # the recording rules have seen it too (they run after the scrape)
        prom.wait_for('target:continuity_target_state:code{target="bts-ns"} == 5', timeout=10)
        wait_until(lambda: bool(hook.posts), 15, "the TargetDown page at the webhook")
        yield Scene(daemon, prom, hook)


def freeze(daemon: DaemonProcess, seconds: float) -> None:
    """Stop the daemon's process for a while: the scheduler loses whole intervals."""
    daemon.signal(signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        daemon.signal(signal.SIGCONT)


@dataclass
class Choices:
    """What each variable offers, as Grafana lists it, and the All value of multi ones."""

    listed: dict[str, list[str]]
    all_value: dict[str, str]

    def to_try(self, name: str, repeat: str | None) -> list[str]:
        """A repeat variable: each value (one panel each); a multi one: All; else each."""
        if name != repeat and name in self.all_value:
            return [self.all_value[name]]
        return self.listed[name]


def variable_choices(prom: PrometheusPeer, dashboard: dict[str, Any]) -> Choices:
    choices = Choices({}, {})
    for variable in variables(dashboard):
        name = variable["name"]
        if variable["type"] == "datasource":
            continue
        if variable.get("multi"):
            choices.all_value[name] = variable["allValue"]
        if variable["type"] == "custom":
            choices.listed[name] = [o["value"] for o in variable["options"]]
            continue
        match = LABEL_VALUES.match(variable["definition"])
        assert match, variable["definition"]
        series, label = match.groups()
        # the variables it depends on are at All (or any value) while it is listed
        so_far = {k: ".*" for k in choices.listed}
        listed = prom.label_values(label, substitute(series, so_far) if series else None)
        assert listed, f"{dashboard['uid']}: variable {name} has no values"
        choices.listed[name] = listed
    return choices


def combinations(query: PanelQuery, choices: Choices) -> list[dict[str, str]]:
    """Assignments to try for the variables the query uses (and its repeat variable)."""
    wanted = referenced(query.expr) - BUILTINS
    if query.repeat:
        wanted.add(query.repeat)
    names = sorted(wanted)
    options = [choices.to_try(name, query.repeat) for name in names]
    return [dict(zip(names, chosen, strict=True)) for chosen in itertools.product(*options)]


def evaluate(
    prom: PrometheusPeer,
    query: PanelQuery,
    assignment: dict[str, str],
    window: tuple[float, float],
) -> list[dict[str, Any]]:
    """Run the query as Grafana would over ``window``: instant at its end, or range."""
    start, end = window
    builtins = {
        "__rate_interval": RATE_INTERVAL,
        "__interval": f"{STEP:g}s",
        "__range": f"{round(end - start)}s",
        "__range_s": str(round(end - start)),
    }
    expr = substitute(query.expr, {**builtins, **assignment})
    if query.instant:
        return prom.query(expr, at=end)
    return prom.query_range(expr, start, end, STEP)


def check_every_panel(prom: PrometheusPeer) -> list[str]:
    """Run every panel query; raise on an error, return those without series."""
    window = (prom.started_at, time.time())
    empty = []
    for path in DASHBOARD_FILES:
        dashboard = load(path)
        choices = variable_choices(prom, dashboard)
        for query in panel_queries(dashboard):
            series = 0
            for assignment in combinations(query, choices):
                try:
                    series += len(evaluate(prom, query, assignment, window))
                except Exception as exc:
                    raise AssertionError(f"{query} with {assignment}: {exc}") from exc
            if not series and (query.dashboard, query.panel) not in NO_DATA_EXPECTED:
                empty.append(str(query))
    return empty


def test_every_panel_query_returns_series_from_a_real_prometheus(tmp_path: Path) -> None:
    skip_unless_runnable()
    with scene(tmp_path) as s:
        deadline = time.monotonic() + DATA_TIMEOUT
        empty = check_every_panel(s.prom)
        while empty and time.monotonic() < deadline:
            time.sleep(1)
            empty = check_every_panel(s.prom)
        assert empty == [], "panels without series:\n" + "\n".join(empty)
        # The recording rules the dashboards read produce series, and every rule
        # (alerts too) evaluates without error against the daemon's real series.
        groups = s.prom.rule_groups()
        for rule in (r for g in groups for r in g["rules"]):
            assert rule["health"] == "ok", rule
            if rule["type"] == "recording":
                assert s.prom.query(rule["name"]), f"recording rule {rule['name']} is empty"
        s.prom.wait_for(
            'ALERTS{alertname="ContinuityTargetDown", alertstate="firing", target="bts-ns"}',
            timeout=10,
        )
        panels_show_what_happened(s.prom)


def panel_result(
    prom: PrometheusPeer, file: str, title: str, ref: str = "A", **assignment: str
) -> list[dict[str, Any]]:
    """One panel query's result, its variables at All unless given."""
    dashboard = load(GRAFANA / "dashboards" / file)
    (query,) = [q for q in panel_queries(dashboard) if (q.panel, q.ref) == (title, ref)]
    choices = variable_choices(prom, dashboard)
    everything = {name: ".*" for name in choices.listed}
    return evaluate(prom, query, {**everything, **assignment}, (prom.started_at, time.time()))


def by_target(result: list[dict[str, Any]]) -> dict[str, str]:
    return {r["metric"]["target"]: r["value"][1] for r in result}


def panels_show_what_happened(prom: PrometheusPeer) -> None:
    """A few panels, read for their meaning: the namespace target is down (its
    second outage), on the overview and its own dashboard."""
    overview, target = "continuity-overview.json", "continuity-target.json"
    (down,) = panel_result(prom, overview, "Down now")
    assert down["value"][1] == "1"
    (active,) = panel_result(prom, overview, "Active outages")
    assert (active["metric"]["target"], active["metric"]["state"]) == ("bts-ns", "down")
    (cause,) = panel_result(prom, overview, "Active outages", "B")
    assert (cause["metric"]["target"], cause["metric"]["check"]) == ("bts-ns", "icmp")
    grid = panel_result(prom, overview, "$province", province="Quang Ngai")
    assert by_target(grid) == {"core-lo": "0", "bts-ns": "5", "ups-snmp": "0"}
    worst = panel_result(prom, overview, "Worst 10 targets by availability ($window)", window="30d")
    assert min(worst, key=lambda r: float(r["value"][1]))["metric"]["target"] == "bts-ns"
    # A range query's last step may come before the newest sample: poll a little.
    deadline = time.monotonic() + 10
    while True:
        outages = panel_result(prom, target, "Outages in the time range", target="bts-ns")
        if len({o["metric"]["start"] for o in outages}) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len({o["metric"]["start"] for o in outages}) == 2, outages
    (power,) = panel_result(prom, target, "Power", target="ups-snmp")
    assert power["value"][1] == "1"  # the recording is of a UPS on battery
    (days,) = panel_result(prom, target, "TLS certificate: days left", target="portal-https")
    assert float(days["value"][1]) > 14
