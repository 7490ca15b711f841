"""A reload validates only the targets whose inputs changed (``monitor.engine.config_memo``).

Each case loads a config (main file, CSV inventory, included TOML file)
with a memo, edits it, and loads it again: the targets built again are new
objects, the others the very objects of the first load. Whatever the memo
reuses, the result equals a load from scratch, errors still name the file,
line and key, a load that fails leaves the memo as it was, and a target
that reads a file at load (a ``file:`` secret) is validated every time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.engine.config import Config, ConfigError, ConfigSchema, Target, load_config
from monitor.engine.config_memo import TargetMemo
from tests.helpers import write_config

MAIN = """
include = ["inventory.csv", "targets.d/*.toml"]

[monitor]
instance = "memo"

[defaults]
checks = ["icmp"]
interval = "30s"

[defaults.icmp]
count = 1

[defaults.tcp]
port = 22

[templates.web]
checks = ["icmp", "tcp"]
labels = { role = "web" }
"""

INVENTORY = """\
name,address,template,parents,label.site
core,127.0.0.1,,,S0
a,127.0.0.2,,core,S1
b,127.0.0.3,,core,S1
w,127.0.0.4,web,core,S2
"""

INCLUDED = """
[[targets]]
name = "x"
address = "127.0.0.5"
parents = ["core"]

[[targets]]
name = "y"
address = "127.0.0.6"
"""

ALL = {"core", "a", "b", "w", "x", "y"}

CASES = [
    # (id, file, text replaced, replacement, targets validated again)
    ("nothing changed", "config.toml", "", "", set()),
    ("a row's address", "inventory.csv", "a,127.0.0.2,", "a,127.0.0.12,", {"a"}),
    ("a row's label", "inventory.csv", "b,127.0.0.3,,core,S1", "b,127.0.0.3,,core,S9", {"b"}),
    ("a row's parents", "inventory.csv", "b,127.0.0.3,,core,", "b,127.0.0.3,,a,", {"b"}),
    ("a row's template", "inventory.csv", "b,127.0.0.3,,", "b,127.0.0.3,web,", {"b"}),
    ("a row inserted above", "inventory.csv", "core,", "n,127.0.0.9,,,S0\ncore,", {"n"}),
    ("a row removed", "inventory.csv", "b,127.0.0.3,,core,S1\n", "", set()),
    ("[defaults] interval: every row", "config.toml", 'interval = "30s"', 'interval = "40s"', ALL),
    ("[defaults.icmp]: every row has icmp", "config.toml", "count = 1", "count = 2", ALL),
    ("[defaults.tcp]: only the web row", "config.toml", "port = 22", "port = 23", {"w"}),
    ("a template: its targets", "config.toml", 'role = "web"', 'role = "www"', {"w"}),
    ("[monitor]: no target", "config.toml", 'instance = "memo"', 'instance = "m2"', set()),
    ("an included file's target", "targets.d/extra.toml", '"127.0.0.5"', '"127.0.0.15"', {"x"}),
    (
        "a target added to an included file",
        "targets.d/extra.toml",
        'name = "y"',
        'name = "z"\naddress = "127.0.0.7"\n\n[[targets]]\nname = "y"',
        {"z"},
    ),
    (
        "an included file's target table written in another order",
        "targets.d/extra.toml",
        'name = "y"\naddress = "127.0.0.6"',
        'address = "127.0.0.6"\nname = "y"',
        {"y"},  # the same values: only a miss, built again and equal
    ),
]


def write(tmp_path: Path) -> Path:
    return write_config(
        tmp_path, MAIN, files={"inventory.csv": INVENTORY, "targets.d/extra.toml": INCLUDED}
    )


def edit(tmp_path: Path, file: str, old: str, new: str) -> None:
    path = tmp_path / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1))


def validated_again(before: Config, after: Config) -> set[str]:
    """Names of the targets of ``after`` that are not the objects ``before`` had."""
    old = {t.name: t for t in before.targets}
    return {t.name for t in after.targets if old.get(t.name) is not t}


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_only_targets_whose_inputs_changed_are_validated_again(
    tmp_path: Path, file: str, old: str, new: str, expected: set[str]
) -> None:
    path = write(tmp_path)
    schema, memo = ConfigSchema(), TargetMemo[Target]()
    first = load_config(path, schema=schema, memo=memo)
    assert (memo.validated, memo.reused) == (len(ALL), 0)
    edit(tmp_path, file, old, new)
    second = load_config(path, schema=schema, memo=memo)
    assert validated_again(first, second) == expected
    assert memo.validated == len(expected)
    assert memo.reused == len(second.targets) - len(expected)
    assert second.targets == load_config(path).targets  # the same as a load from scratch


def test_a_failed_load_reports_where_and_leaves_the_memo_as_it_was(tmp_path: Path) -> None:
    path = write(tmp_path)
    schema, memo = ConfigSchema(), TargetMemo[Target]()
    first = load_config(path, schema=schema, memo=memo)
    edit(tmp_path, "inventory.csv", "a,127.0.0.2,", "a,127.0.2.400,")
    with pytest.raises(ConfigError) as info:
        load_config(path, schema=schema, memo=memo)
    (issue,) = info.value.issues
    assert str(issue) == "inventory.csv:3: address: '127.0.2.400' is not a valid IPv4 address"
    assert (issue.file, issue.line, issue.target, issue.key) == (
        str(tmp_path / "inventory.csv"),
        3,
        "a",
        "address",
    )
    assert len(memo) == len(ALL)
    edit(tmp_path, "inventory.csv", "a,127.0.2.400,", "a,127.0.0.2,")
    again = load_config(path, schema=schema, memo=memo)
    assert validated_again(first, again) == set()


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("inventory.csv", "core,127.0.0.1,,,S0\n", "", "unknown target 'core'"),
        ("inventory.csv", "w,127.0.0.4,web", "a,127.0.0.4,web", "duplicate target name 'a'"),
        ("config.toml", 'labels = { role = "web" }', 'labels = { job = "web" }', "'job' is set"),
        ("config.toml", "port = 22", 'port = "x"', "defaults.tcp.port"),
    ],
    ids=["parent removed", "duplicate name", "template label reserved", "defaults broken"],
)
def test_unchanged_targets_do_not_hide_errors_around_them(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    """Targets taken from the memo still go through the checks across targets, and an
    error outside them (a template, [defaults]) still fails the load."""
    path = write(tmp_path)
    schema, memo = ConfigSchema(), TargetMemo[Target]()
    load_config(path, schema=schema, memo=memo)
    edit(tmp_path, file, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(path, schema=schema, memo=memo)
    assert any(message in str(issue) for issue in info.value.issues), info.value.issues
    assert (memo.validated, memo.reused) == (len(ALL), 0)  # still the first load's


def test_a_target_with_an_error_is_never_remembered(tmp_path: Path) -> None:
    """A target built despite an error of its own (a settings table for a check it does
    not have) must report that error again at every load, memo or not."""
    path = write(tmp_path)
    edit(tmp_path, "targets.d/extra.toml", 'name = "y"', 'name = "y"\ntcp = { port = 25 }')
    schema, memo = ConfigSchema(), TargetMemo[Target]()
    for _ in range(2):
        with pytest.raises(ConfigError) as info:
            load_config(path, schema=schema, memo=memo)
        assert any(
            "tcp: settings for a check that is not in checks" in str(i) for i in info.value.issues
        )
    assert len(memo) == 0


def test_a_schema_or_registries_not_both(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        load_config(write(tmp_path), {}, schema=ConfigSchema())


@pytest.mark.parametrize(
    "table",
    [
        'name = "s"\naddress = "127.0.0.8"\nchecks = ["snmp"]\nSNMP\n',
        'name = "s"\naddress = "127.0.0.8"\ntemplate = "sec"\n',
    ],
    ids=["written in the target", "written in its template"],
)
def test_a_target_that_reads_a_file_at_load_is_validated_every_time(
    tmp_path: Path, table: str
) -> None:
    """A ``file:`` secret is read when the config loads: a rotated password must reach
    the probe at the next reload although no config text changed."""
    snmp = f'snmp = {{ version = "2c", community = "file:{tmp_path}/community" }}\n'
    path = write(tmp_path)
    extra = "[[targets]]\n" + table.replace("SNMP\n", snmp) + "\n[[targets]]"
    edit(tmp_path, "targets.d/extra.toml", "[[targets]]", extra)
    template = f'[templates.sec]\nchecks = ["snmp"]\n{snmp}\n[templates.web]'
    edit(tmp_path, "config.toml", "[templates.web]", template)
    (tmp_path / "community").write_text("one\n")
    schema, memo = ConfigSchema(), TargetMemo[Target]()
    first = load_config(path, schema=schema, memo=memo)
    (tmp_path / "community").write_text("two\n")
    second = load_config(path, schema=schema, memo=memo)
    assert validated_again(first, second) == {"s"}
    assert (memo.validated, memo.reused) == (1, len(ALL))
    target = second.target("s")
    assert target is not None
    check = target.check("snmp")
    assert check is not None
    assert check.settings.community.reveal() == "two"  # type: ignore[attr-defined]
