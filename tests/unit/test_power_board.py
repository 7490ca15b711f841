"""The status page's power board: sites on battery, soonest dark first, in both languages."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from monitor.engine.config import Config, Location, MonitorSection, Target
from monitor.engine.policy import Policy
from monitor.engine.power import Estimate
from monitor.engine.state import Health, TargetState, Topology, World
from monitor.web.page_locale import Locale
from monitor.web.power_board import board_rows

NOW = 1_796_528_400.0  # 2026-12-06 10:40 in Ho Chi Minh City
PARENTS: dict[str, tuple[str, ...]] = {
    "ups-a": (),
    "ups-b": (),
    "ups-c": (),
    "rtr-a": ("ups-a",),
    "bts-1": ("rtr-a",),
    "bts-2": ("rtr-a", "ups-b"),  # fed from both: dark only when both are
}


def estimate(left: float, method: str = "trend") -> Estimate:
    return Estimate(NOW + left, method, None, NOW + left, 0.42, 1e-4, NOW - 900)  # type: ignore[arg-type]


def rows(outlook: dict[str, Estimate | None], language: str = "en") -> list[dict[str, object]]:
    targets = tuple(
        Target(
            name,
            "127.0.0.1",
            (),
            labels={"site": name.upper()},
            parents=parents,
            location=Location(contact="+84 255 000 000") if name == "ups-a" else None,
        )
        for name, parents in PARENTS.items()
    )
    states = {name: TargetState(name, Health.UP, NOW - 3600, own=Health.UP) for name in PARENTS}
    policy = Policy(states, Topology.build(PARENTS), World())
    loc = Locale(language, ZoneInfo("Asia/Ho_Chi_Minh"), NOW)
    return board_rows(outlook, Config(MonitorSection(), targets), policy, loc)


def test_soonest_dark_first_and_unknown_last() -> None:
    board = rows({"ups-c": None, "ups-b": estimate(3 * 3600), "ups-a": estimate(25 * 60)})
    assert [r["name"] for r in board] == ["ups-a", "ups-b", "ups-c"]
    first, second, third = board
    assert first["left_text"] == "in 25 min" and first["level"] == "critical"
    assert first["dark_text"] == "11:05:00" and first["method_text"] == "discharge trend"
    assert first["charge_text"] == "42 %" and first["battery_text"] == "on battery for 15 min"
    assert first["contact"] == "+84 255 000 000" and first["site"] == "UPS-A"
    # What goes dark with it: the router and the site behind only it, not the one fed twice.
    assert [c["name"] for c in first["behind"]] == ["rtr-a", "bts-1"]  # type: ignore[index]
    assert second["level"] == "later" and second["behind"] == []
    assert third["left_text"] == "estimating…" and third["seconds_left"] is None


@pytest.mark.parametrize(
    ("language", "left", "text", "level"),
    [
        ("en", -300, "overdue by 5 min", "dark"),
        ("vi", -300, "đã quá 5 phút", "dark"),
        ("vi", 5400, "còn 1 giờ 30 phút", "soon"),
        ("en", 45, "in 45 s", "critical"),
    ],
)
def test_time_left_in_words(language: str, left: float, text: str, level: str) -> None:
    (row,) = rows({"ups-a": estimate(left, "device")}, language)
    assert row["left_text"] == text and row["level"] == level
    assert row["method_text"] == (
        "thời gian thiết bị báo" if language == "vi" else "device's runtime"
    )


def test_a_target_gone_from_the_config_is_not_shown() -> None:
    assert rows({"ups-x": estimate(60)}) == []
