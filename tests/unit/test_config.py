"""Config loading: every error names its key path and says what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config_types import Secret, format_duration, parse_duration, resolve_secret
from monitor.engine.config import load_config, split_host_port
from probes import KINDS
from tests.helpers import config_errors, write_config

BASE = """
[[targets]]
name = "t0"
address = "127.0.0.1"
"""


DEFAULTS = '\n[defaults]\nchecks = ["icmp"]\n'


def with_defaults(text: str) -> str:
    """``text`` with the checks default its targets rely on, unless it sets its own."""
    return text if "[defaults]" in text else text + DEFAULTS


INVALID = [
    # (id, config text, exact errors)
    (
        "count-zero",
        BASE + "icmp = { count = 0 }\n",
        ["targets[0].icmp.count: must be at least 1, got 0"],
    ),
    (
        "count-string",
        BASE + 'icmp = { count = "5" }\n',
        ["targets[0].icmp.count: expected an integer, got '5'"],
    ),
    ("unknown-top-key", 'colour = "red"\n' + BASE, ["colour: unknown key"]),
    (
        "unknown-target-key",
        BASE + 'adress = "x"\n',
        ["targets[0].adress: unknown key; did you mean address?"],
    ),
    (
        "unknown-check-key",
        BASE + "icmp = { cuont = 3 }\n",
        ["targets[0].icmp.cuont: unknown key; did you mean count?"],
    ),
    (
        "unknown-monitor-key",
        '[monitor]\nlisten_on = "x"\n',
        ["monitor.listen_on: unknown key; did you mean listen?"],
    ),
    (
        "missing-name",
        '[[targets]]\naddress = "127.0.0.1"\n',
        ["targets[0].name: required key is missing"],
    ),
    (
        "missing-address",
        '[[targets]]\nname = "a"\n',
        ["targets[0].address: required key is missing"],
    ),
    (
        "empty-name",
        '[[targets]]\nname = " "\naddress = "127.0.0.1"\n',
        ["targets[0].name: must not be empty"],
    ),
    (
        "bad-duration",
        BASE + 'interval = "30 parsecs"\n',
        [
            "targets[0].interval: expected a duration such as '30s', '5m' or '250ms', got '30 parsecs'"
        ],
    ),
    (
        "duration-without-unit",
        BASE + "interval = 30\n",
        ["targets[0].interval: expected a duration such as '30s', '5m' or '250ms', got 30"],
    ),
    (
        "zero-duration",
        BASE + 'timeout = "0s"\n',
        ["targets[0].timeout: must be greater than 0, got 0ms"],
    ),
    (
        "timeout-over-interval",
        BASE + 'interval = "5s"\ntimeout = "10s"\n',
        ["targets[0]: timeout 10s must not be longer than interval 5s"],
    ),
    (
        "echoes-exceed-timeout",
        BASE + 'icmp = { count = 6, packet_interval = "1s", timeout = "5s" }\n',
        [
            "targets[0].icmp: count x packet_interval must leave time for the last reply: "
            "5 x 1s = 5s is not shorter than timeout 5s"
        ],
    ),
    (
        "family-literal",
        BASE + 'icmp = { family = "ipx" }\n',
        ["targets[0].icmp.family: must be one of 'auto', 'ipv4' or 'ipv6', got 'ipx'"],
    ),
    (
        "loss-ratio-range",
        BASE + "icmp = { max_loss_ratio = 1.5 }\n",
        ["targets[0].icmp.max_loss_ratio: must be at most 1, got 1.5"],
    ),
    (
        "unknown-kind",
        BASE + 'checks = ["gopher"]\n',
        [
            f"targets[0].checks[0]: unknown check kind 'gopher' (available: {', '.join(sorted(KINDS))})"
        ],
    ),
    (
        "kind-twice",
        BASE + 'checks = ["icmp", "icmp"]\n',
        ["targets[0].checks: a check kind is listed twice"],
    ),
    (
        "labels-not-strings",
        BASE + "labels = { site = 5 }\n",
        ["targets[0].labels.site: expected a string, got 5"],
    ),
    (
        "label-bad-name",
        BASE + 'labels = { "my-site" = "x" }\n',
        [
            "targets[0].labels.my-site: label names must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __"
        ],
    ),
    (
        "label-quoted",
        BASE + 'labels = { "my site" = "x" }\n',
        [
            'targets[0].labels."my site": label names must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __'
        ],
    ),
    (
        "label-reserved",
        BASE + 'labels = { target = "x" }\n',
        [
            "targets[0].labels.target: 'target' is set by the monitor itself; choose another label name"
        ],
    ),
    (
        "unknown-template",
        BASE + 'template = "bts"\n',
        ["targets[0].template: unknown template 'bts' (known: none defined)"],
    ),
    (
        "unknown-parent",
        BASE + 'parents = ["core"]\n',
        ["targets[0].parents[0]: unknown target 'core'"],
    ),
    (
        "self-parent",
        BASE + 'parents = ["t0"]\n',
        ["targets[0].parents[0]: a target cannot be its own parent"],
    ),
    (
        "duplicate-name",
        BASE + BASE,
        ["targets[1].name: duplicate target name 't0' (also at targets[0])"],
    ),
    (
        "bad-listen",
        '[monitor]\nlisten = "localhost"\n',
        ["monitor.listen: expected HOST:PORT such as '127.0.0.1:9925', got 'localhost'"],
    ),
    (
        "listen-port-range",
        '[monitor]\nlisten = "127.0.0.1:70000"\n',
        ["monitor.listen: port must be between 0 and 65535, got 70000"],
    ),
    (
        "bad-timezone",
        '[monitor]\ntimezone = "Mars/Olympus"\n',
        [
            "monitor.timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as 'Asia/Ho_Chi_Minh')"
        ],
    ),
    (
        "bad-language",
        '[monitor]\nlanguage = "fr"\n',
        ["monitor.language: must be one of 'en' or 'vi', got 'fr'"],
    ),
    (
        "unknown-canary",
        '[monitor]\ncanaries = ["gw"]\n',
        ["monitor.canaries[0]: unknown target 'gw'"],
    ),
    (
        "lat-range",
        BASE + "location = { lat = 95.0 }\n",
        ["targets[0].location.lat: must be at most 90, got 95"],
    ),
    (
        "location-unknown-key",
        BASE + 'location = { street = "x" }\n',
        ["targets[0].location.street: unknown key"],
    ),
    (
        "check-settings-not-in-checks",
        BASE + "checks = []\nicmp = { count = 2 }\n",
        ["targets[0].icmp: settings for a check that is not in checks (add 'icmp' to checks)"],
    ),
    ("targets-not-a-list", 'targets = "all"\n', ["targets: expected a list, got 'all'"]),
    (
        "template-unknown-check-key",
        "[templates.bts]\nicmp = { cnt = 1 }\n" + BASE,
        ["templates.bts.icmp.cnt: unknown key; did you mean count?"],
    ),
    (
        "defaults-bad-value",
        '[defaults]\nchecks = ["icmp"]\nfall = 0\n' + BASE,
        ["defaults.fall: must be at least 1, got 0"],
    ),
    (
        "error-from-template",
        "[templates.bts]\nicmp = { count = 500 }\n" + BASE + 'template = "bts"\n',
        ["templates.bts.icmp.count: must be at most 100, got 500"],
    ),
    ("include-missing", 'include = ["sites.csv"]\n', ["include[0]: file not found: sites.csv"]),
    (
        "address-not-a-host",
        '[[targets]]\nname = "a"\naddress = "not a host!"\n',
        [
            "targets[0].address: expected an IP address or a host name, got 'not a host!' (for the icmp check)"
        ],
    ),
    (
        "address-not-a-url",
        '[[targets]]\nname = "a"\naddress = "ftp://x/"\nchecks = ["icmp", "http"]\n',
        [
            "targets[0].address: expected an IP address or a host name, got 'ftp://x/' (for the icmp check)",
            "targets[0].address: unsupported scheme 'ftp' in 'ftp://x/' (use http or https) (for the http check)",
        ],
    ),
    (
        "kind-concurrency-unknown",
        "[monitor.kind_concurrency]\ngopher = 5\n",
        ["monitor.kind_concurrency.gopher: unknown check kind 'gopher'"],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_config_reports_exact_errors(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    assert config_errors(tmp_path, with_defaults(text)) == expected


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    text = """
    [monitor]
    language = "fr"

    [[targets]]
    name = "a"
    address = "127.0.0.1"
    icmp = { count = 0, payload_size = -1 }

    [[targets]]
    name = "b"
    address = "127.0.0.2"
    parents = ["zz"]
    """
    assert config_errors(tmp_path, with_defaults(text)) == [
        "monitor.language: must be one of 'en' or 'vi', got 'fr'",
        "targets[0].icmp.count: must be at least 1, got 0",
        "targets[0].icmp.payload_size: must be at least 0, got -1",
        "targets[1].parents[0]: unknown target 'zz'",
    ]


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    (message,) = config_errors(tmp_path, with_defaults('[monitor]\ninstance = "x\n'))
    assert message == (
        f"{tmp_path / 'config.toml'}:2: TOML syntax error: Illegal character '\\n' (column 14)"
    )


def test_dependency_cycle_is_named(tmp_path: Path) -> None:
    text = "".join(
        f'[[targets]]\nname = "{n}"\naddress = "127.0.0.1"\nparents = ["{p}"]\n'
        for n, p in [("a", "b"), ("b", "c"), ("c", "a")]
    )
    assert config_errors(tmp_path, with_defaults(text)) == [
        "targets[0].parents: dependency cycle: a -> b -> c -> a"
    ]


def test_layers_merge_in_order(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
    [defaults]
    checks = ["icmp"]
    interval = "10s"
    fall = 4
    [defaults.icmp]
    count = 2
    [templates.bts]
    labels = { kind = "bts", site = "T" }
    location = { contact = "+84 255 000 000" }
    icmp = { packet_interval = "500ms" }
    [[targets]]
    name = "b"
    address = "127.0.0.2"
    template = "bts"
    labels = { site = "BS-02" }
    location = { address = "Binh Son" }
    timeout = "2s"
    icmp = { count = 3 }
    """,
    )
    (target,) = load_config(path).targets
    settings = target.checks[0].settings
    assert (settings.interval, settings.timeout, settings.fall, settings.rise) == (10.0, 2.0, 4, 2)
    assert (settings.count, settings.packet_interval) == (3, 0.5)  # type: ignore[attr-defined]
    assert target.labels == {"kind": "bts", "site": "BS-02"}
    assert target.location is not None
    assert (target.location.address, target.location.contact) == ("Binh Son", "+84 255 000 000")


def test_csv_inventory_of_1000_rows_loads(tmp_path: Path) -> None:
    rows = ["name,address,template,label.site,label.province,location.lat,location.lon,parents"]
    rows += [
        f"bts-{i:04d},127.1.{i // 250}.{i % 250 + 1},bts,S{i // 10},Quang Ngai,15.{i},108.{i},"
        + ("core" if i else "")
        for i in range(1000)
    ]
    path = write_config(
        tmp_path,
        'include = ["inventory/*.csv"]\n[templates.bts]\nchecks = ["icmp"]\nlabels = { kind = "bts" }\n'
        '[[targets]]\nname = "core"\naddress = "127.0.0.1"\n' + DEFAULTS,
        files={"inventory/sites.csv": "\n".join(rows) + "\n"},
    )
    config = load_config(path)
    assert len(config.targets) == 1001
    bts = config.target("bts-0999")
    assert bts is not None
    assert bts.labels == {"kind": "bts", "site": "S99", "province": "Quang Ngai"}
    assert bts.parents == ("core",)
    assert bts.location is not None and bts.location.lat == pytest.approx(15.999)


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        (
            "name,addr\n",
            [
                "inventory/s.csv:1: missing column 'address'",
                "inventory/s.csv:1: unknown column 'addr' (expected name, address, template, "
                "checks, parents, label.NAME or location.address/lat/lon/contact)",
            ],
        ),
        (
            "name,address,location.lat\na,127.0.0.1,north\n",
            ["inventory/s.csv:2: location.lat: expected a number, got 'north'"],
        ),
        ("name,address\na,127.0.0.1,extra\n", ["inventory/s.csv:2: 3 cells but the header has 2"]),
        (
            "name,address,label.site\na,,S1\n",
            ["inventory/s.csv:2: address: required key is missing"],
        ),
        (
            "name,address\nt0,127.0.0.9\n",
            ["inventory/s.csv:2: name: duplicate target name 't0' (also at targets[0])"],
        ),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path: Path, csv_text: str, expected: list[str]) -> None:
    assert (
        config_errors(
            tmp_path,
            with_defaults('include = ["inventory/*.csv"]\n' + BASE),
            files={"inventory/s.csv": csv_text},
        )
        == expected
    )


def test_included_toml_targets_and_errors(tmp_path: Path) -> None:
    files = {
        "targets.d/a.toml": '[[targets]]\nname = "x"\naddress = "127.0.0.2"\nicmp = { count = 0 }\n',
        "targets.d/b.toml": '[monitor]\ninstance = "y"\n',
    }
    assert config_errors(
        tmp_path, with_defaults('include = ["targets.d/*.toml"]\n'), files=files
    ) == [
        "targets.d/b.toml: monitor: only [[targets]] and [templates.NAME] may appear in an included file",
        "targets.d/a.toml: targets[0].icmp.count: must be at least 1, got 0",
    ]


def test_empty_glob_is_fine(tmp_path: Path) -> None:
    config = load_config(
        write_config(tmp_path, with_defaults('include = ["targets.d/*.toml"]\n' + BASE))
    )
    assert [t.name for t in config.targets] == ["t0"]


def test_config_objects_are_frozen(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, with_defaults(BASE)))
    with pytest.raises(Exception, match="frozen"):
        config.monitor.listen = "0.0.0.0:1"  # type: ignore[misc]


def test_shipped_config_is_valid() -> None:
    config = load_config(Path(__file__).parents[2] / "config.toml")
    assert config.targets


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1.5h", 5400), ("250ms", 0.25), ("2d", 172800), ("1w", 604800)],
)
def test_durations_round_trip(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:9925", ("127.0.0.1", 9925)), ("[::1]:80", ("::1", 80)), (":9925", ("", 9925))],
)
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


def test_secrets_resolve_and_never_print(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("s3cr3t-file\n")
    from_file = resolve_secret(f"file:{key}")
    from_env = resolve_secret("env:CM_TEST_SECRET", {"CM_TEST_SECRET": "s3cr3t-env"})
    assert (from_file.reveal(), from_env.reveal()) == ("s3cr3t-file", "s3cr3t-env")
    for secret in (from_file, from_env, Secret("literal")):
        assert str(secret) == repr(secret) == f"{secret!s}" == "<secret>"
    with pytest.raises(ValueError, match="environment variable NOPE is not set"):
        resolve_secret("env:NOPE", {})
    with pytest.raises(ValueError, match="cannot read secret file"):
        resolve_secret(f"file:{tmp_path / 'missing'}")


def test_the_commented_examples_in_config_toml_are_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference examples must not rot: uncomment them and load the result."""
    text = (Path(__file__).parents[2] / "config.toml").read_text()
    head, _, examples = text.partition("# --- More examples")
    lines = [
        line[2:] if line.startswith("# ") else ("" if line == "#" else line)
        for line in examples.splitlines()[1:]
    ]
    for name in ("auth.key", "priv.key", "mqtt.pass"):
        (tmp_path / name).write_text("s3cret-value\n")
    body = "\n".join(lines).replace("file:/etc/continuity/", f"file:{tmp_path}/")
    for var in ("SNMP_COMMUNITY", "SNMP_TRAP_COMMUNITY", "PAGER_HMAC"):
        monkeypatch.setenv(var, "s3cret-value")
    monkeypatch.setenv("CONTINUITY_API_TOKEN", "a-token-of-24-characters")
    path = tmp_path / "config.toml"
    path.write_text(head + body)
    config = load_config(path)
    assert {
        "qng-core-1",
        "bts-binh-son-02",
        "post-tracking-api",
        "post-office-smtp",
        "post-dns",
    } <= {t.name for t in config.targets}
    assert (
        config.slos
        and config.maintenance
        and config.alerts.rules
        and set(config.channels) == {"noc-mqtt", "oncall", "am"}
    )
