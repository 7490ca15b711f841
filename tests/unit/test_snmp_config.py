"""SNMP settings and ``[snmp_modules]``: every bad value is a config error naming its key.

Also the small pure rules the settings feed (reboot detection with the
TimeTicks wrap, interface selection), which need no agent.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.contract import MetricFamily
from monitor.engine.config import load_config
from probes.snmp import KIND, SnmpSettings, detect_reboot, user_module_families
from probes.snmp_modules import InterfaceFilter
from probes.snmp_user_modules import SnmpModulesSection, user_metric_name
from tests.helpers import config_errors, write_config
from tests.prometheus_peer import check_metrics

TARGET = """
[[targets]]
name = "t0"
address = "127.0.0.1"
checks = ["snmp"]
"""


INVALID = [
    # (id, config text, exact errors)
    (
        "unknown-module",
        TARGET + 'snmp = { community = "public", modules = ["system", "if_mbi"] }\n',
        [
            "targets[0].snmp.modules[1]: unknown module 'if_mbi' "
            "(available: system, if_mib, ups, host, entity_sensor)"
        ],
    ),
    (
        "unknown-module-lists-user-modules",
        '[snmp_modules.cisco_cpu]\noid = "1.3.6.1.4.1.9.9.109.1.1.1.1.8"\nindex = ["cpu"]\n'
        + TARGET
        + 'snmp = { community = "public", modules = ["cpu"] }\n',
        [
            "targets[0].snmp.modules[0]: unknown module 'cpu' "
            "(available: system, if_mib, ups, host, entity_sensor, cisco_cpu)"
        ],
    ),
    (
        "module-twice",
        TARGET + 'snmp = { community = "public", modules = ["system", "system"] }\n',
        ["targets[0].snmp.modules[1]: module 'system' is listed twice"],
    ),
    (
        "template-module",
        '[templates.bts]\nchecks = ["snmp"]\nsnmp = { community = "public", modules = ["upss"] }\n'
        '[[targets]]\nname = "b"\naddress = "127.0.0.1"\ntemplate = "bts"\n',
        [
            "targets[0].snmp.modules[0]: unknown module 'upss' "
            "(available: system, if_mib, ups, host, entity_sensor)"
        ],
    ),
    (
        "oid-not-numeric",
        '[snmp_modules.cpu]\noid = "1.3.6.x"\n' + TARGET + 'snmp = { community = "public" }\n',
        [
            "snmp_modules.cpu.oid: expected a numeric OID such as '1.3.6.1.4.1.9.2.1.58.0', got '1.3.6.x'"
        ],
    ),
    (
        "oid-symbolic",
        '[snmp_modules.cpu]\noid = "sysUpTime.0"\n' + TARGET + 'snmp = { community = "public" }\n',
        [
            "snmp_modules.cpu.oid: expected a numeric OID such as '1.3.6.1.4.1.9.2.1.58.0', "
            "got 'sysUpTime.0'"
        ],
    ),
    (
        "lookup-oid",
        '[snmp_modules.cpu]\noid = "1.3.6.1.4.1.9.9.109.1.1.1.1.8"\nindex = ["cpu"]\n'
        'lookup = { oid = "entPhysicalName", label = "name" }\n'
        + TARGET
        + 'snmp = { community = "public" }\n',
        [
            "snmp_modules.cpu.lookup.oid: expected a numeric OID such as '1.3.6.1.4.1.9.2.1.58.0', "
            "got 'entPhysicalName'"
        ],
    ),
    (
        "module-type",
        '[snmp_modules.cpu]\noid = "1.3.6.1.4.1.9.2.1.58.0"\ntype = "histogram"\n'
        + TARGET
        + 'snmp = { community = "public" }\n',
        ["snmp_modules.cpu.type: must be one of 'gauge', 'counter' or 'info', got 'histogram'"],
    ),
    (
        "module-unknown-key",
        '[snmp_modules.cpu]\noid = "1.3.6.1.4.1.9.2.1.58.0"\nkind = "gauge"\n'
        + TARGET
        + 'snmp = { community = "public" }\n',
        ["snmp_modules.cpu.kind: unknown key"],
    ),
    (
        "module-builtin-name",
        '[snmp_modules.ups]\noid = "1.3.6.1.4.1.318.1.1.1.2.2.3.0"\n'
        + TARGET
        + 'snmp = { community = "public" }\n',
        ["snmp_modules.ups: 'ups' is a built-in module; choose another name"],
    ),
    (
        "module-bad-name",
        '[snmp_modules.Cpu-Load]\noid = "1.3.6.1.4.1.9.2.1.58.0"\n'
        + TARGET
        + 'snmp = { community = "public" }\n',
        ["snmp_modules.Cpu-Load: module names must match [a-z_][a-z0-9_]*, got 'Cpu-Load'"],
    ),
    (
        "module-index-label",
        '[snmp_modules.cpu]\noid = "1.3.6.1.4.1.9.9.109.1.1.1.1.8"\nindex = ["target"]\n'
        + TARGET
        + 'snmp = { community = "public" }\n',
        [
            "snmp_modules.cpu.index[0]: 'target' is set by the monitor itself; choose another label name"
        ],
    ),
    (
        "lookup-without-index",
        '[snmp_modules.cpu]\noid = "1.3.6.1.4.1.9.2.1.58.0"\nlookup = { oid = "1.3.6.1.2.1.47.1.1.1.1.7", label = "name" }\n'
        + TARGET
        + 'snmp = { community = "public" }\n',
        ["snmp_modules.cpu: lookup needs index labels: a scalar has no index to look up"],
    ),
    (
        "v3-without-user",
        TARGET + 'snmp = { version = "3" }\n',
        ["targets[0].snmp.user: required with version 3"],
    ),
    (
        "priv-without-auth",
        TARGET
        + 'snmp = { version = "3", user = "noc", priv_protocol = "aes128", priv_key = "privkey-456" }\n',
        [
            "targets[0].snmp.priv_protocol: needs auth_protocol and auth_key: USM has no privacy without authentication"
        ],
    ),
    (
        "auth-protocol-without-key",
        TARGET + 'snmp = { version = "3", user = "noc", auth_protocol = "sha256" }\n',
        ["targets[0].snmp.auth_key: required when auth_protocol is set"],
    ),
    (
        "auth-key-without-protocol",
        TARGET + 'snmp = { version = "3", user = "noc", auth_key = "authkey-123" }\n',
        ["targets[0].snmp.auth_protocol: required when auth_key is set"],
    ),
    (
        "auth-key-short",
        TARGET
        + 'snmp = { version = "3", user = "noc", auth_protocol = "sha", auth_key = "short" }\n',
        ["targets[0].snmp.auth_key: must be at least 8 characters long (RFC 3414), got 5"],
    ),
    (
        "priv-key-short",
        TARGET
        + 'snmp = { version = "3", user = "noc", auth_protocol = "sha", auth_key = "authkey-123", '
        'priv_protocol = "aes", priv_key = "1234567" }\n',
        ["targets[0].snmp.priv_key: must be at least 8 characters long (RFC 3414), got 7"],
    ),
    (
        "auth-protocol-name",
        TARGET
        + 'snmp = { version = "3", user = "noc", auth_protocol = "sha1", auth_key = "authkey-123" }\n',
        [
            "targets[0].snmp.auth_protocol: must be one of 'md5', 'sha', 'sha224', 'sha256', "
            "'sha384' or 'sha512', got 'sha1'"
        ],
    ),
    (
        "priv-protocol-name",
        TARGET
        + 'snmp = { version = "3", user = "noc", auth_protocol = "sha", auth_key = "authkey-123", '
        'priv_protocol = "aes512", priv_key = "privkey-456" }\n',
        [
            "targets[0].snmp.priv_protocol: must be one of 'des', '3des', 'aes', 'aes128', "
            "'aes192', 'aes256', 'aes192b' or 'aes256b', got 'aes512'"
        ],
    ),
    (
        "port-zero",
        TARGET + 'snmp = { community = "public", port = 0 }\n',
        ["targets[0].snmp.port: must be at least 1, got 0"],
    ),
    (
        "port-too-big",
        TARGET + 'snmp = { community = "public", port = 70000 }\n',
        ["targets[0].snmp.port: must be at most 65535, got 70000"],
    ),
    (
        "version-as-number",
        TARGET + 'snmp = { version = 2, community = "public" }\n',
        ["targets[0].snmp.version: must be one of '1', '2c' or '3', got 2"],
    ),
    (
        "v2c-without-community",
        TARGET + "snmp = { }\n",
        ["targets[0].snmp.community: required with version 2c"],
    ),
    (
        "community-env-missing",
        TARGET + 'snmp = { community = "env:CONTINUITY_TEST_NO_SUCH_VARIABLE" }\n',
        [
            "targets[0].snmp.community: environment variable CONTINUITY_TEST_NO_SUCH_VARIABLE is not set"
        ],
    ),
    (
        "retries",
        TARGET + 'snmp = { community = "public", retries = 11 }\n',
        ["targets[0].snmp.retries: must be at most 10, got 11"],
    ),
    (
        "max-repetitions",
        TARGET + 'snmp = { community = "public", max_repetitions = 0 }\n',
        ["targets[0].snmp.max_repetitions: must be at least 1, got 0"],
    ),
    (
        "include-regex",
        TARGET + 'snmp = { community = "public", interfaces_include = "Gi[" }\n',
        [
            "targets[0].snmp.interfaces_include: not a valid regular expression 'Gi[' (RE2): "
            "missing ]: ["
        ],
    ),
    (
        "admin-down",
        TARGET + 'snmp = { community = "public", interfaces_admin_down = "hide" }\n',
        [
            "targets[0].snmp.interfaces_admin_down: must be one of 'include' or 'exclude', got 'hide'"
        ],
    ),
    (
        "battery-runtime",
        TARGET + 'snmp = { community = "public", battery_min_runtime = "soon" }\n',
        [
            "targets[0].snmp.battery_min_runtime: expected a duration such as '30s', '5m' or '250ms', got 'soon'"
        ],
    ),
    (
        "unknown-key",
        TARGET + 'snmp = { community = "public", comunity = "x" }\n',
        ["targets[0].snmp.comunity: unknown key; did you mean community?"],
    ),
    (
        "defaults-layer",
        "[defaults.snmp]\nport = 0\n" + TARGET + 'snmp = { community = "public" }\n',
        ["defaults.snmp.port: must be at least 1, got 0"],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [row[1:] for row in INVALID], ids=[row[0] for row in INVALID]
)
def test_invalid(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert config_errors(tmp_path, text) == expected


def test_full_config_loads_with_secrets_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNMP_COMMUNITY", "s3cret-community")
    (tmp_path / "auth.key").write_text("authkey-123\n")
    (tmp_path / "priv.key").write_text("privkey-456\n")
    config = load_config(
        write_config(
            tmp_path,
            f"""
            [templates.bts]
            checks = ["snmp"]
            snmp = {{ version = "2c", community = "env:SNMP_COMMUNITY", modules = ["system", "if_mib", "ups"] }}

            [snmp_modules.cisco_cpu]
            oid = "1.3.6.1.4.1.9.9.109.1.1.1.1.8"
            type = "gauge"
            index = ["cpu"]
            lookup = {{ oid = "1.3.6.1.2.1.47.1.1.1.1.7", label = "name" }}

            [[targets]]
            name = "qng-core-1"
            address = "127.0.0.1"
            checks = ["snmp"]

            [targets.snmp]
            version = "3"
            user = "noc"
            auth_protocol = "sha256"
            auth_key = "file:{tmp_path}/auth.key"
            priv_protocol = "aes128"
            priv_key = "file:{tmp_path}/priv.key"
            modules = ["system", "if_mib", "cisco_cpu"]
            interfaces_include = "^(Gi|Te)"
            interfaces_exclude = "Vl"
            battery_min_runtime = "10m"

            [[targets]]
            name = "bts-binh-son-02"
            template = "bts"
            address = "127.0.0.2"
            snmp = {{ port = 1161, retries = 2, max_repetitions = 10 }}
            """,
        )
    )
    core = config.target("qng-core-1")
    assert core is not None
    check = core.check("snmp")
    assert check is not None
    settings = check.settings
    assert isinstance(settings, SnmpSettings)
    assert settings.auth_key is not None
    assert settings.auth_key.reveal() == "authkey-123"
    assert str(settings.auth_key) == "<secret>"
    assert "authkey-123" not in repr(settings)
    assert settings.battery_min_runtime == 600.0
    bts = config.target("bts-binh-son-02")
    assert bts is not None
    bts_check = bts.check("snmp")
    assert bts_check is not None
    bts_settings = bts_check.settings
    assert isinstance(bts_settings, SnmpSettings)
    assert bts_settings.community is not None
    assert bts_settings.community.reveal() == "s3cret-community"
    assert (bts_settings.port, bts_settings.retries, bts_settings.max_repetitions) == (1161, 2, 10)
    assert bts_settings.modules == ["system", "if_mib", "ups"]
    section = config.sections["snmp_modules"]
    assert isinstance(section, SnmpModulesSection)
    assert user_metric_name("cisco_cpu", section.root["cisco_cpu"]) == "continuity_snmp_cisco_cpu"


def test_metric_families() -> None:
    names = [f.name for f in KIND.families]
    assert len(names) == len(set(names))
    assert all(n.startswith("continuity_") for n in names)
    assert all(f.name.endswith("_total") == (f.type == "counter") for f in KIND.families)
    section = SnmpModulesSection.model_validate(
        {
            "cpu": {"oid": "1.3.6.1.4.1.9.9.109.1.1.1.1.8", "index": ["cpu"]},
            "drops": {
                "oid": "1.3.6.1.4.1.9.2.2.1.1.26",
                "index": ["if"],
                "type": "counter",
                "help": "Drops.",
            },
            "serial": {"oid": "1.3.6.1.4.1.9.3.6.3.0", "type": "info"},
        }
    )
    assert user_module_families(section) == (
        MetricFamily(
            "continuity_snmp_cpu", "gauge", "SNMP user module cpu (1.3.6.1.4.1.9.9.109.1.1.1.1.8)."
        ),
        MetricFamily("continuity_snmp_drops_total", "counter", "Drops."),
        MetricFamily(
            "continuity_snmp_serial_info",
            "info",
            "SNMP user module serial (1.3.6.1.4.1.9.3.6.3.0).",
        ),
    )
    assert user_module_families(None) == ()


@pytest.mark.needs("promtool")
def test_metric_names_pass_promtool() -> None:
    text = "".join(
        f"# HELP {f.name} {f.help}\n# TYPE {f.name} {'gauge' if f.type == 'info' else f.type}\n"
        f'{f.name}{{target="x"}} 1\n'
        for f in KIND.families
    )
    check_metrics(text)


# --------------------------------------------------------------------------
# Pure rules fed by the settings
# --------------------------------------------------------------------------

WRAP = 1 << 32


@pytest.mark.parametrize(
    ("previous", "now", "elapsed", "rebooted"),
    [
        (None, 100, 60.0, False),  # first poll
        (1000, 7000, 60.0, False),  # normal
        (100_000, 500, 60.0, True),  # went backwards
        (WRAP - 3000, 3000, 60.0, False),  # the 497-day TimeTicks wrap
        (WRAP - 3000, 3000 + 50_000, 60.0, True),  # "wrapped" too far: a reboot after all
        (WRAP - 100, 10, 600.0, True),  # wrap would put it near 59900, not 10
        (WRAP - 1, 0, 0.0, False),  # just wrapped
    ],
)
def test_detect_reboot_from_uptime(
    previous: int | None, now: int, elapsed: float, rebooted: bool
) -> None:
    assert detect_reboot(previous, now, elapsed) is rebooted


@pytest.mark.parametrize(
    ("previous", "now", "rebooted"),
    [
        ((3, 500), (4, 20), True),  # boots went up
        ((3, 500), (4, 900), True),
        ((3, 500), (3, 560), False),
        ((3, 500), (3, 2), True),  # same boots, time went back (boots not persisted)
    ],
)
def test_engine_boots_and_time_decide_when_known(
    previous: tuple[int, int], now: tuple[int, int], rebooted: bool
) -> None:
    # sysUpTime is ignored then: here it says the opposite every time.
    ticks = (10, 100_000) if rebooted else (100_000, 10)
    assert detect_reboot(ticks[0], ticks[1], 60.0, previous_engine=previous, engine=now) is rebooted


@pytest.mark.parametrize(
    ("include", "exclude", "admin_down", "name", "alias", "admin_up", "selected"),
    [
        (None, None, "include", "Gi0/1", "", True, True),
        (None, None, "include", "Gi0/1", "", False, True),
        (None, None, "exclude", "Gi0/1", "", False, False),
        ("^Gi", None, "include", "Gi0/1", "", True, True),
        ("^Gi", None, "include", "Vl1", "", True, False),
        ("uplink", None, "include", "Gi0/49", "uplink to qng-core-1", True, True),
        (None, "^(Nu|Vl)", "include", "Nu0", "", True, False),
        (None, "test", "include", "Gi0/3", "test port", True, False),
        ("^Gi", "^Gi0/4", "include", "Gi0/48", "", True, False),
    ],
)
def test_interface_filter(
    include: str | None,
    exclude: str | None,
    admin_down: str,
    name: str,
    alias: str,
    admin_up: bool,
    selected: bool,
) -> None:
    select = InterfaceFilter(
        include=re.compile(include) if include else None,
        exclude=re.compile(exclude) if exclude else None,
        admin_down=admin_down,  # type: ignore[arg-type]
    )
    assert select.selects(name, alias, admin_up) is selected
