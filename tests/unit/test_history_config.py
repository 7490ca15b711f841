"""``[history]``: defaults, the shipped example, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.engine.config import ConfigError, load_config

TARGET = '[[targets]]\nname = "a"\naddress = "127.0.0.1"\nchecks = ["icmp"]\n'


def load(tmp_path: Path, history: str) -> object:
    path = tmp_path / "config.toml"
    path.write_text(f"[history]\n{history}\n{TARGET}")
    return load_config(path).history


def test_defaults_and_the_shipped_example(tmp_path: Path) -> None:
    defaults = load(tmp_path, "")
    assert (defaults.fine_bucket, defaults.fine_retention) == (60, 14 * 86400)  # type: ignore[attr-defined]
    assert (defaults.coarse_bucket, defaults.coarse_retention) == (3600, 400 * 86400)  # type: ignore[attr-defined]
    shipped = (Path(__file__).parents[2] / "config.toml").read_text()
    start = shipped.index("# [history]")
    block = shipped[start : shipped.index("\n#\n", start)]
    lines = [line.removeprefix("# ").split("  #")[0] for line in block.splitlines()[1:]]
    example = load(tmp_path, "\n".join(lines))
    assert example.rtt_buckets == [0.001, 0.005, 0.025, 0.1, 0.5, 2.5]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ('fine_bucket = "7m"', "coarse_bucket must be a whole multiple of fine_bucket"),
        ('fine_bucket = "5s"', "at least 10s"),
        ('coarse_bucket = "7h"', "coarse_bucket must divide a day"),
        ("rtt_buckets = [0.1, 0.01]", "increasing"),
        ('fine_retention = "2y"', "expected a duration"),
        ("colour = 1", "colour"),
    ],
)
def test_errors_name_the_problem(tmp_path: Path, history: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, history)
    text = "\n".join(str(i) for i in info.value.issues)
    assert "history" in text and message in text, text
