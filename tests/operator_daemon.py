"""The operator's daemon of the CLI and language e2e tests, and the CLI run as an operator.

Both :mod:`tests.e2e.test_operator_cli` and :mod:`tests.e2e.test_vietnamese`
start a daemon with one target that answers (ping to 127.0.0.1) and one whose
TCP port is closed (refused), paging critical alerts to a
:class:`tests.peers.WebhookReceiver`; they differ in the instance, the
language and the targets' names. The CLI runs as a subprocess without the
test runner's ``CONTINUITY_*`` variables, so that only what a test gives it
(a config file, ``--url``, ``env``) leads it to the daemon.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.daemon_process import REPO, DaemonProcess, monitor_command
from tests.peers import WebhookReceiver

UP = "lo-1"
"""The target that answers (ICMP echo to 127.0.0.1)."""


def operator_config(
    *,
    instance: str,
    refused: str,
    closed_port: int,
    hook: WebhookReceiver,
    monitor: str = "",
    up_labels: str = "",
) -> str:
    """The daemon's config: :data:`UP` and ``refused`` (a closed TCP port), fall = rise = 1,
    critical alerts to ``hook``. ``monitor``: more ``[monitor]`` lines; ``up_labels``: an
    inline table for :data:`UP`'s labels. Without ``monitor`` lines, :data:`UP`'s
    ``icmp`` is on line 15 (tests quote config errors with their line)."""
    labels = f"labels = {up_labels}\n" if up_labels else ""
    more = monitor.strip() + "\n" if monitor.strip() else ""
    return f"""
[monitor]
instance = "{instance}"
{more}
[defaults]
interval = "1s"
timeout = "1s"
fall = 1
rise = 1

[[targets]]
name = "{UP}"
address = "127.0.0.1"
checks = ["icmp"]
icmp = {{ count = 1 }}
{labels}
[[targets]]
name = "{refused}"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {closed_port} }}

[channels.hook]
type = "webhook"
url = "{hook.url}"

[[alerts.routes]]
match = {{ severity = "critical" }}
channels = ["hook"]
"""


def operator_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with only ``env`` of the ``CONTINUITY_*`` variables (bounded: 30 s)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUITY_")}
    return subprocess.run(
        monitor_command(*args),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**clean, "PYTHONPATH": str(REPO), **(env or {})},
        check=False,
    )


def client_config(directory: Path, daemon: DaemonProcess, token: str, language: str = "") -> Path:
    """A config whose [monitor] listen and [web] api_token lead to the daemon (and its
    ``language``, if given, is the CLI's)."""
    path = directory / "client.toml"
    words = f'language = "{language}"\n' if language else ""
    path.write_text(
        f'[monitor]\nlisten = "127.0.0.1:{daemon.port}"\n{words}[web]\napi_token = "{token}"\n'
    )
    return path
