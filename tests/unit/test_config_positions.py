"""Config errors as an operator reads them: ``file:line (target): key: message; did you mean X?``.

Exact texts, one table row per kind of mistake: positions in the main file and
in included files, suggestions from the known keys, kinds and target names,
one error at the layer to edit, no follow-on errors, the line where an
unclosed array opened, addresses that are typos, bounds with their reason,
and rule metrics checked against the values the matched checks produce.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.engine.config import ConfigError, load_config
from monitor.engine.config_locator import Locator, unclosed_array_line

TARGETS = "".join(f'\n[[targets]]\nname = "t{i}"\naddress = "127.0.0.{i + 1}"\n' for i in range(5))

CASES = [
    (
        "typo-with-suggestion",
        '[defaults]\nchecks = ["icmp"]\n\n[[targets]]\nname = "core-1"\naddress = "127.0.0.1"\n'
        '\n[[targets]]\nname = "bts-binh-son-01"\naddress = "127.0.0.2"\ntempalte = "bts"\n',
        ["config.toml:11 (bts-binh-son-01): tempalte: unknown key; did you mean template?"],
    ),
    (
        "inline-table-key",
        '[[targets]]\nname = "a"\naddress = "127.0.0.1"\nchecks = ["icmp"]\nicmp = { cuont = 3 }\n',
        ["config.toml:5 (a): icmp.cuont: unknown key; did you mean count?"],
    ),
    (
        "section-key",
        '[monitor]\ninstance = "x"\nlisten_on = "127.0.0.1:1"\n',
        ["config.toml:3: monitor.listen_on: unknown key; did you mean listen?"],
    ),
    (
        "defaults-value-reported-once",
        '[defaults]\nchecks = ["icmp"]\n\n[defaults.icmp]\ncount = 0\n' + TARGETS,
        ["config.toml:5: defaults.icmp.count: must be at least 1, got 0"],
    ),
    (
        "defaults-cross-field-reported-once",
        '[defaults]\nchecks = ["icmp"]\ninterval = "5s"\ntimeout = "10s"\n' + TARGETS,
        ["config.toml:1: defaults: timeout 10s must not be longer than interval 5s"],
    ),
    (
        "bad-template-without-follow-on-errors",
        '[monitor]\ncanaries = ["core-1"]\n\n[templates.bts]\nchecks = ["icmp"]\n'
        'icmp = { cuont = 3 }\n\n[[targets]]\nname = "core-1"\naddress = "127.0.0.1"\n'
        'template = "bts"\n\n[[targets]]\nname = "bts-1"\naddress = "127.0.0.2"\n'
        'checks = ["icmp"]\nparents = ["core-1"]\n',
        ["config.toml:6: templates.bts.icmp.cuont: unknown key; did you mean count?"],
    ),
    (
        "unknown-parent-suggests-a-name",
        '[defaults]\nchecks = ["icmp"]\n\n[[targets]]\nname = "qng-core-1"\n'
        'address = "127.0.0.1"\n\n[[targets]]\nname = "bts-1"\naddress = "127.0.0.2"\n'
        'parents = ["qng-core1"]\n',
        [
            "config.toml:11 (bts-1): parents[0]: unknown target 'qng-core1'; did you mean qng-core-1?"
        ],
    ),
    (
        "unknown-kind-and-template-suggest",
        '[templates.bts]\nchecks = ["icmp"]\n\n[[targets]]\nname = "a"\naddress = "127.0.0.1"\n'
        'checks = ["icmp", "icpm"]\n\n[[targets]]\nname = "b"\naddress = "127.0.0.2"\n'
        'template = "btss"\n',
        [
            "config.toml:7 (a): checks[1]: unknown check kind 'icpm' "
            "(available: dns, http, icmp, snmp, tcp); did you mean icmp?",
            "config.toml:12 (b): template: unknown template 'btss' (known: bts); did you mean bts?",
        ],
    ),
    (
        "unclosed-array-at-its-line",
        '[[targets]]\nname = "a"\naddress = "127.0.0.1"\nchecks = ["icmp"\n\n'
        '[[targets]]\nname = "b"\naddress = "127.0.0.2"\n',
        ["config.toml:4: TOML syntax error: this array is not closed (missing ']')"],
    ),
    (
        "unclosed-array-at-the-end",
        '[[targets]]\nname = "a"\naddress = "127.0.0.1"\nchecks = ["icmp",\n',
        ["config.toml:4: TOML syntax error: this array is not closed (missing ']')"],
    ),
    (
        "addresses-that-are-typos",
        '[defaults]\nchecks = ["icmp"]\n\n[[targets]]\nname = "a"\naddress = "127.0.2.400"\n'
        '\n[[targets]]\nname = "b"\naddress = "10.80.3.12.5"\n\n[[targets]]\nname = "web"\n'
        'address = "http://10.80.2.300:8080/health"\nchecks = ["http"]\n\n[[targets]]\n'
        'name = "fine"\naddress = "10.80.0.1"\n',
        [
            "config.toml:6 (a): address: '127.0.2.400' is not a valid IPv4 address",
            "config.toml:10 (b): address: '10.80.3.12.5' is not a valid IPv4 address",
            "config.toml:14 (web): address: '10.80.2.300' is not a valid IPv4 address",
        ],
    ),
    (
        "bounds-say-why",
        '[monitor]\nretention = "20000d"\n\n[[targets]]\nname = "a"\naddress = "127.0.0.1"\n'
        'checks = ["icmp"]\ninterval = "365d"\n',
        [
            "config.toml:2: monitor.retention: must be at most 3650d, got 20000d "
            "(the history is read for reports; ten years is plenty)",
            "config.toml:8 (a): interval: must be at most 1d, got 365d "
            "(a check that runs less than daily cannot notice an outage while it lasts)",
        ],
    ),
    (
        "rule-metrics-the-checks-produce",
        '[[targets]]\nname = "bts-1"\naddress = "127.0.0.1"\nchecks = ["icmp"]\n'
        'labels = { kind = "bts" }\n\n[[alerts.rules]]\nname = "HighPacketLoss"\n'
        'match = { kind = "bts" }\nmetric = "icmp.packet_loss"\nabove = 0.2\n\n'
        '[[alerts.rules]]\nname = "SlowWeb"\nmatch = { kind = "bts" }\n'
        'metric = "http.phase_total_seconds"\nabove = 2.0\n',
        [
            "config.toml:10: alerts.rules[0].metric: rule HighPacketLoss: icmp checks have no "
            "value 'packet_loss'; they have icmp.jitter_seconds, icmp.packet_loss_ratio, "
            "icmp.packets_received, icmp.packets_sent, icmp.rtt_avg_seconds, "
            "icmp.rtt_max_seconds, icmp.rtt_min_seconds; did you mean icmp.packet_loss_ratio?",
            "config.toml:16: alerts.rules[1].metric: rule SlowWeb: no target it matches has a "
            "http check (the 1 it matches have: icmp)",
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_text(tmp_path: Path, text: str, expected: list[str]) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "config.toml")
    assert str(info.value).replace(f"{tmp_path}/", "").splitlines() == expected


def test_included_file_errors_name_that_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "targets.d").mkdir()
    (tmp_path / "targets.d/sites.toml").write_text(
        '[[targets]]\nname = "ok"\naddress = "127.0.0.1"\n\n'
        '[[targets]]\nname = "bts-2"\naddress = "127.0.0.2"\nicmp = { count = 0 }\n'
    )
    (tmp_path / "config.toml").write_text(
        'include = ["targets.d/*.toml"]\n[defaults]\nchecks = ["icmp"]\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "config.toml")
    assert str(info.value).replace(f"{tmp_path}/", "") == (
        "targets.d/sites.toml:8 (bts-2): icmp.count: must be at least 1, got 0"
    )


def test_a_valid_rule_on_a_declared_value_loads(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[[targets]]\nname = "a"\naddress = "127.0.0.1"\nchecks = ["icmp"]\n'
        '[[alerts.rules]]\nname = "Loss"\nmetric = "icmp.packet_loss_ratio"\nabove = 0.2\n'
        '[[alerts.rules]]\nname = "Later"\nmatch = { kind = "none-yet" }\n'
        'metric = "http.anything"\nabove = 1.0\n'
    )
    assert len(load_config(tmp_path / "config.toml").alerts.rules) == 2


LOCATOR = """\
# comment
title = "x"          # 2
[a.b]                # 3
c = { d = 1, e = { f = [1,
  2] } }             # 4-5
'g.h' = \"\"\"
multi
line\"\"\"
i = [
  "x",               # 10
  { j = 1 },         # 11
]
[[t]]                # 13
name = "first"
[t.sub]              # 15
k = 1
[[t]]                # 17
name = "second"      # 18
l.m = 2              # 19
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("title",), 2),
        (("a", "b"), 3),
        (("a", "b", "c", "d"), 4),
        (("a", "b", "c", "e", "f", 1), 5),
        (("a", "b", "g.h"), 6),
        (("a", "b", "i", 0), 10),
        (("a", "b", "i", 1, "j"), 11),
        (("t", 0), 13),
        (("t", 0, "sub", "k"), 16),
        (("t", 1, "name"), 18),
        (("t", 1, "l", "m"), 19),
        (("t", 1, "missing", "deeper"), 17),  # the nearest written prefix
    ],
)
def test_locator_lines(path: tuple[str | int, ...], line: int) -> None:
    assert Locator(LOCATOR).line_of(path) == line


def test_unclosed_array_line_ignores_closed_nested_arrays() -> None:
    assert unclosed_array_line('a = [\n  ["x", "y"],\n  [1]\n]\nb = 1\n') is None
    assert unclosed_array_line("a = 1\nb = [1,\n2\nc = 3\n") == 2


def test_csv_inventory_errors_name_the_row_and_target(tmp_path: Path) -> None:
    (tmp_path / "inv.csv").write_text(
        "name,address,location.lat\nbts-a,127.0.0.1,north\nbts-b,10.80.2.300,\n"
    )
    (tmp_path / "config.toml").write_text('include = ["inv.csv"]\n[defaults]\nchecks = ["icmp"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "config.toml")
    assert str(info.value).replace(f"{tmp_path}/", "").splitlines() == [
        "inv.csv:2 (bts-a): location.lat: expected a number, got 'north'",
        "inv.csv:3 (bts-b): address: '10.80.2.300' is not a valid IPv4 address",
    ]
