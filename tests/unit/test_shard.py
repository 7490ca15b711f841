"""Sharding: rendezvous hashing, parent co-location, and what one shard runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.cli import build_parser
from monitor.daemon import Daemon, Overrides
from monitor.engine.config import Config, ConfigError, MonitorSection, Target, load_config
from monitor.engine.shard import assign, effective_keys, score, select, shard_of
from monitor.engine.shard_spec import Shard, parse_shard

NAMES = [f"site-{i:05d}" for i in range(10_000)]


# -- parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0/1", Shard(0, 1)), ("2/3", Shard(2, 3)), (" 1/4 ", Shard(1, 4)), ("07/10", Shard(7, 10))],
)
def test_parse_shard(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected
    assert str(expected) == f"{expected.index}/{expected.count}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/3", "the shard index must be between 0 and 2, got 3"),
        ("0/0", "the shard count must be between 1 and 1024, got 0"),
        ("0/2000", "the shard count must be between 1 and 1024, got 2000"),
        ("1", "expected 'i/n' such as '0/3' (shard i of n, from 0), got '1'"),
        ("-1/3", "expected 'i/n' such as '0/3' (shard i of n, from 0), got '-1/3'"),
        ("a/b", "expected 'i/n' such as '0/3' (shard i of n, from 0), got 'a/b'"),
        ("1/3/4", "expected 'i/n' such as '0/3' (shard i of n, from 0), got '1/3/4'"),
    ],
)
def test_parse_shard_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_shard(text)
    assert str(info.value) == message


# -- the hash ------------------------------------------------------------------


def test_scores_are_stable_across_processes_and_versions() -> None:
    """Golden values: blake2b of key NUL index, 64 bits big-endian. A change here moves
    targets between running instances, so it must never happen by accident."""
    assert score("a", 0) == 9115024098097600277
    assert [shard_of(n, 3) for n in ("qng-core-1", "bts-binh-son-02", "post-tracking-api")] == [
        1,
        0,
        1,
    ]
    assert [shard_of(f"t{i}", 10) for i in range(10)] == [2, 7, 8, 3, 0, 7, 8, 9, 6, 2]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_10000_names_are_covered_once_and_balanced(count: int) -> None:
    shards = assign({n: {} for n in NAMES}, {}, count)
    assert set(shards) == set(NAMES)
    sizes = [sum(1 for s in shards.values() if s == i) for i in range(count)]
    assert sum(sizes) == len(NAMES)
    expected = len(NAMES) / count
    assert all(abs(size - expected) <= 0.1 * expected for size in sizes), sizes


@pytest.mark.parametrize("count", range(1, 10))
def test_growing_by_one_moves_about_one_share_all_to_the_new_shard(count: int) -> None:
    before = {n: shard_of(n, count) for n in NAMES}
    after = {n: shard_of(n, count + 1) for n in NAMES}
    moved = [n for n in NAMES if before[n] != after[n]]
    assert {after[n] for n in moved} <= {count}, "a target moved between old shards"
    share = len(moved) / len(NAMES)
    assert abs(share - 1 / (count + 1)) <= 0.15 / (count + 1), (count, share)


def test_shrinking_by_one_moves_only_the_removed_shards_targets() -> None:
    before = {n: shard_of(n, 5) for n in NAMES}
    after = {n: shard_of(n, 4) for n in NAMES}
    assert {before[n] for n in NAMES if before[n] != after[n]} == {4}


# -- effective keys: parents and children together -----------------------------


def test_children_follow_their_root_without_labels() -> None:
    parents = {"core": (), "agg": ("core",), "bts-1": ("agg",), "bts-2": ("agg",), "lone": ()}
    keys = effective_keys({n: {} for n in parents}, parents)
    assert keys == {"core": "core", "agg": "core", "bts-1": "core", "bts-2": "core", "lone": "lone"}


def test_shard_key_label_wins_and_is_inherited() -> None:
    parents = {"core": (), "agg": ("core",), "bts": ("agg",), "ups": ("bts",)}
    labels: dict[str, dict[str, str]] = {n: {} for n in parents}
    labels["agg"] = {"shard_key": "QNG"}
    keys = effective_keys(labels, parents)
    assert keys == {"core": "core", "agg": "QNG", "bts": "QNG", "ups": "QNG"}


def test_only_the_first_parent_decides() -> None:
    parents = {"a": (), "b": (), "child": ("b", "a")}
    keys = effective_keys({n: {} for n in parents}, parents)
    assert keys["child"] == "b"


def test_a_cycle_ends_where_it_closes() -> None:
    """The config refuses cycles; the function must still terminate if handed one."""
    parents = {"x": ("y",), "y": ("x",)}
    keys = effective_keys({n: {} for n in parents}, parents)
    assert set(keys) == {"x", "y"} and len(set(keys.values())) == 1


def test_a_deep_chain_is_not_recursive() -> None:
    depth = 5000
    parents = {f"n{i}": ((f"n{i - 1}",) if i else ()) for i in range(depth)}
    keys = effective_keys({n: {} for n in parents}, parents)
    assert set(keys.values()) == {"n0"}


# -- select: one shard's config -----------------------------------------------


def target(name: str, *parents: str, **labels: str) -> Target:
    return Target(name=name, address="127.0.0.1", checks=(), labels=labels, parents=parents)


def config_of(targets: list[Target], canaries: tuple[str, ...] = ()) -> Config:
    return Config(monitor=MonitorSection(canaries=list(canaries)), targets=tuple(targets))


def test_shards_partition_the_targets_and_keep_trees_together() -> None:
    targets = [target(f"core-{r}") for r in range(30)]
    targets += [target(f"bts-{r}-{c}", f"core-{r}") for r in range(30) for c in range(5)]
    config = config_of(targets)
    parts = [select(config, Shard(i, 3)) for i in range(3)]
    names = [[t.name for t in p.config.targets] for p in parts]
    assert sorted(n for part in names for n in part) == sorted(t.name for t in targets)
    assert all(part for part in names), "each shard has some of 30 trees"
    for part in parts:
        held = {t.name for t in part.config.targets}
        for t in part.config.targets:
            assert set(t.parents) <= held
        assert part.cut_links == ()
        assert part.config.monitor.shard == str(part.shard)
        assert part.total == len(targets)


def test_a_parent_on_another_shard_is_cut_and_reported() -> None:
    # Two roots on different shards; 'child' follows its first parent only.
    roots = [n for n in (f"r{i}" for i in range(50)) if shard_of(n, 2) == 0][:1]
    roots += [n for n in (f"r{i}" for i in range(50)) if shard_of(n, 2) == 1][:1]
    config = config_of([target(roots[0]), target(roots[1]), target("child", *roots)])
    home = select(config, Shard(0, 2))
    child = home.config.target("child")
    assert child is not None and child.parents == (roots[0],)
    assert home.cut_links == (("child", roots[1]),)
    assert select(config, Shard(1, 2)).config.target("child") is None


def test_canaries_are_on_every_shard() -> None:
    targets = [target(f"t{i}") for i in range(20)] + [target("gw")]
    config = config_of(targets, canaries=("gw",))
    parts = [select(config, Shard(i, 4)).config for i in range(4)]
    assert all(p.target("gw") is not None for p in parts)
    others = sorted(t.name for p in parts for t in p.targets if t.name != "gw")
    assert others == sorted(f"t{i}" for i in range(20))


def test_one_shard_of_one_is_everything() -> None:
    config = config_of([target("a"), target("b", "a")])
    assert select(config, Shard(0, 1)).config.targets == config.targets


# -- config, command line, daemon ----------------------------------------------


def write_config(tmp_path: Path, monitor: str, count: int = 40) -> Path:
    targets = "".join(
        f'[[targets]]\nname = "t{i}"\naddress = "127.0.0.{i + 1}"\n' for i in range(count)
    )
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(monitor) + '\n[defaults]\nchecks = ["icmp"]\n' + targets, encoding="utf-8"
    )
    return path


def test_monitor_shard_is_validated_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, '[monitor]\nshard = "3/3"\n'))
    assert [str(i) for i in info.value.issues] == [
        "monitor.shard: the shard index must be between 0 and 2, got 3"
    ]
    assert load_config(write_config(tmp_path, '[monitor]\nshard = "1/3"\n')).monitor.shard == "1/3"


def test_cli_shard_option_is_parsed_and_refused_when_bad(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    assert parser.parse_args(["run", "--shard", "1/2"]).shard == Shard(1, 2)
    assert parser.parse_args(["probe", "--shard", "0/2", "t1"]).shard == Shard(0, 2)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["run", "--shard", "2/2"])
    assert info.value.code == 2
    assert "the shard index must be between 0 and 1, got 2" in capsys.readouterr().err


def test_daemon_load_applies_the_shard_and_the_option_wins(tmp_path: Path) -> None:
    """``Daemon.load`` is what start and every reload call, so the filter survives reloads."""
    path = write_config(tmp_path, '[monitor]\nshard = "0/2"\n')
    expected = {f"t{i}" for i in range(40) if shard_of(f"t{i}", 2) == 0}
    loaded = Daemon(path).load()
    assert {t.name for t in loaded.targets} == expected
    other = Daemon(path, Overrides(shard=Shard(1, 2))).load()
    assert {t.name for t in other.targets} == {f"t{i}" for i in range(40)} - expected
    assert other.monitor.shard == "1/2"
    unsharded = Daemon(write_config(tmp_path, "")).load()
    assert len(unsharded.targets) == 40 and unsharded.monitor.shard is None
