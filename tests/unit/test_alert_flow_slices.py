"""A reload's changes reach the alert flow in slices, and with the removed names the
flow builds no set of every name; the outcome is that of describing every target."""

from __future__ import annotations

from pathlib import Path

from alerts.model import Alert
from monitor.alert_flow import CONFIGURE_SLICE, AlertFlow
from monitor.engine.config import Config, load_config
from monitor.engine.pipeline import diff_config


def config(tmp_path: Path, count: int, site: str, first: int = 0) -> Config:
    rows = "".join(
        f"t{i},10.80.{i // 250}.{i % 250 + 1},{site}\n" for i in range(first, first + count)
    )
    (tmp_path / "inventory.csv").write_text("name,address,label.site\n" + rows)
    path = tmp_path / "config.toml"
    path.write_text('include = ["inventory.csv"]\n[defaults]\nchecks = ["icmp"]\n')
    return load_config(path)


def flow() -> AlertFlow:
    return AlertFlow(wall=lambda: 1_700_000_000.0, mute=lambda alert: None)


def test_changed_and_removed_give_what_describing_every_target_gives(tmp_path: Path) -> None:
    old = config(tmp_path, CONFIGURE_SLICE * 2, "A")
    new = config(tmp_path, CONFIGURE_SLICE * 2, "B", first=10)  # 10 gone, 10 new, all relabelled
    diff = diff_config(old.targets, new)
    by_diff, everything = flow(), flow()
    by_diff.configure(old)
    everything.configure(old)
    out: list[Alert] = []
    steps = by_diff.configure_steps(new, out, diff.changed, diff.removed)
    next(steps)  # after the first slice: the running targets are still the old ones
    assert by_diff.targets["t0"].labels == {"site": "A"}
    assert sum(1 for _ in steps) == 1  # 1,000 changed: a turn after each 500
    everything.configure(new)
    assert by_diff.targets == everything.targets
    assert "t0" not in by_diff.targets and by_diff.targets["t1009"].labels == {"site": "B"}
