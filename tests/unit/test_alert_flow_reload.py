"""A reload tells the alert flow only what changed: unchanged targets keep their
descriptions (no work per target at 50,000), changed and new ones are
described again, removed ones are forgotten; a new external URL redoes all."""

from __future__ import annotations

from pathlib import Path

from monitor.alert_flow import AlertFlow
from monitor.engine.config import Config, load_config
from monitor.engine.pipeline import diff_config


def config(tmp_path: Path, rows: str, url: str = "") -> Config:
    (tmp_path / "inventory.csv").write_text("name,address,label.site\n" + rows)
    monitor = f'\n[monitor]\nexternal_url = "{url}"\n' if url else ""
    path = tmp_path / "config.toml"
    path.write_text(f'include = ["inventory.csv"]\n{monitor}\n[defaults]\nchecks = ["icmp"]\n')
    return load_config(path)


def test_only_changed_targets_are_described_again(tmp_path: Path) -> None:
    flow = AlertFlow(wall=lambda: 1_700_000_000.0, mute=lambda alert: None)
    old = config(tmp_path, "a,127.0.0.1,S1\nb,127.0.0.2,S1\nc,127.0.0.3,S1\n")
    flow.configure(old)
    before = dict(flow.targets)
    new = config(tmp_path, "a,127.0.0.1,S1\nb,127.0.0.2,S2\nd,127.0.0.4,S1\n")
    flow.configure(new, diff_config(old.targets, new).changed)
    assert set(flow.targets) == {"a", "b", "d"}
    assert flow.targets["a"] is before["a"]  # unchanged: the same description
    assert flow.targets["b"].labels == {"site": "S2"}
    assert flow.targets["d"].address == "127.0.0.4"
    moved = config(
        tmp_path, "a,127.0.0.1,S1\nb,127.0.0.2,S2\nd,127.0.0.4,S1\n", "https://mon.example"
    )
    flow.configure(moved, diff_config(new.targets, moved).changed)
    assert flow.targets["a"].url == "https://mon.example/targets/a"  # a new URL redoes all
