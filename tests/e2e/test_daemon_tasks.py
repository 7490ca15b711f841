"""The daemon's periodic loops run in one task group: one that raises stops it loudly."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from monitor.daemon import Daemon
from tests.helpers import free_port


class Broken(RuntimeError):
    pass


class DaemonWithABrokenLoop(Daemon):
    """The real daemon plus one periodic task that fails after a moment."""

    def _loops(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        return [*super()._loops(), ("broken", self._broken())]

    async def _broken(self) -> None:
        await asyncio.sleep(0.3)
        raise Broken("periodic task bug")


def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[monitor]
listen = "127.0.0.1:{free_port()}"
state_dir = "{tmp_path / "state"}"

[[targets]]
name = "portal"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {free_port()} }}
"""
    )
    return path


async def test_a_periodic_task_that_raises_stops_the_daemon_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = DaemonWithABrokenLoop(config(tmp_path))
    async with asyncio.timeout(10):
        with pytest.raises(ExceptionGroup) as raised:
            await daemon.run()
    assert raised.group_contains(Broken)
    assert "a periodic task failed; stopping" in caplog.text
    assert not daemon.ready


async def test_stop_ends_every_periodic_task(tmp_path: Path) -> None:
    daemon = Daemon(config(tmp_path))
    running = asyncio.create_task(daemon.run())
    async with asyncio.timeout(10):
        while not daemon.ready:
            await asyncio.sleep(0.05)
        daemon.stop()
        await running
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert not names & {"maintenance", "figures", "slo", "alerts", "gc"}
