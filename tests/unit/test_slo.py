"""SLO budgets and burn-rate conditions as tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.engine.slo import SloConfig, pool, status
from tests.helpers import config_errors

SLO = SloConfig.model_validate(
    {"name": "bts", "match": {"kind": "bts"}, "objective": 0.999, "window": "30d"}
)


@pytest.mark.parametrize(
    ("pooled", "fast", "slow", "remaining"),
    [
        # burn = (downtime / observed) / (1 - 0.999)
        # nothing down anywhere
        (
            {
                "5m": (0, 300),
                "30m": (0, 1800),
                "1h": (0, 3600),
                "6h": (0, 21600),
                "3d": (0, 259200),
                "slo": (0, 2592000),
            },
            False,
            False,
            1.0,
        ),
        # 60 s down in the last 5 minutes and the last hour: burn 200 and 16.7 -> fast
        (
            {
                "5m": (60, 300),
                "30m": (60, 1800),
                "1h": (60, 3600),
                "6h": (60, 21600),
                "3d": (60, 259200),
                "slo": (60, 2592000),
            },
            True,
            False,
            1 - (60 / 2592000) / 0.001,
        ),
        # down earlier in the hour but not in the last 5 minutes: not fast any more
        (
            {
                "5m": (0, 300),
                "30m": (60, 1800),
                "1h": (60, 3600),
                "6h": (60, 21600),
                "3d": (60, 259200),
                "slo": (60, 2592000),
            },
            False,
            False,
            1 - (60 / 2592000) / 0.001,
        ),
        # 30 minutes down within 6 hours and still down: burn 83 over 6h, 1000 over 30m
        (
            {
                "5m": (300, 300),
                "30m": (1800, 1800),
                "1h": (1800, 3600),
                "6h": (1800, 21600),
                "3d": (1800, 259200),
                "slo": (1800, 2592000),
            },
            True,
            True,
            1 - (1800 / 2592000) / 0.001,
        ),
        # a slow leak: 0.2 % over 3 days -> burn 2 over 3d -> slow
        (
            {
                "5m": (0, 300),
                "30m": (0, 1800),
                "1h": (0, 3600),
                "6h": (0, 21600),
                "3d": (518.4, 259200),
                "slo": (518.4, 2592000),
            },
            False,
            True,
            1 - (518.4 / 2592000) / 0.001,
        ),
        # nothing observed yet
        ({}, False, False, None),
    ],
)
def test_burn_conditions(
    pooled: dict[str, tuple[float, float]], fast: bool, slow: bool, remaining: float | None
) -> None:
    result = status(SLO, pooled)
    assert (result.fast, result.slow) == (fast, slow)
    if remaining is None:
        assert result.budget_remaining is None
    else:
        assert result.budget_remaining == pytest.approx(remaining)


def test_pool_weighs_targets_by_observed_time() -> None:
    pooled = pool([{"1h": (36.0, 3600.0)}, {"1h": (0.0, 1800.0)}])
    assert pooled == {"1h": (36.0, 5400.0)}
    assert status(SLO, pooled).burn["1h"] == pytest.approx((36 / 5400) / 0.001)


def test_selection() -> None:
    assert SLO.selects("x", {"kind": "bts"}) and not SLO.selects("x", {"kind": "core"})


BASE = '[defaults]\nchecks = ["icmp"]\n[[targets]]\nname = "a"\naddress = "127.0.0.1"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[slo]]\nname = "x"\nobjective = 0.999\n',
            ["slo[0]: name the targets (targets = [...]) or select them (match = {...})"],
        ),
        (
            '[[slo]]\nname = "x"\ntargets = ["a"]\nobjective = 1.0\n',
            ["slo[0].objective: must be at most 0.999999, got 1"],
        ),
        (
            '[[slo]]\nname = "x"\ntargets = ["zz"]\nobjective = 0.99\n',
            ["slo[0].targets[0]: unknown target 'zz'"],
        ),
        (
            '[[slo]]\nname = "x"\ntargets = ["a"]\nobjective = 0.99\n[[slo]]\nname = "x"\ntargets = ["a"]\nobjective = 0.9\n',
            ["slo[1].name: duplicate SLO name 'x' (also at slo[0])"],
        ),
        ('[[slo]]\nname = "x"\ntargets = ["a"]\n', ["slo[0].objective: required key is missing"]),
    ],
)
def test_slo_config_errors(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert config_errors(tmp_path, BASE, text) == expected
