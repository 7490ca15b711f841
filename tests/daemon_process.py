"""Running the daemon as a real process for end-to-end tests.

``with DaemonProcess(config_text, tmp_path) as d:`` writes the config, starts
``python -m monitor run`` on a free loopback port, waits until ``/-/ready``
answers, and on exit sends SIGTERM (SIGKILL if it lingers) and keeps the
log for assertions. Everything it does is bounded in time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[1]
API_TOKEN = "test-token-0123456789"


def monitor_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", *args]


def run_cli(
    *args: str, timeout: float = 60, drop_net_raw: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion; ``drop_net_raw`` runs it without CAP_NET_RAW (root only)."""
    command = monitor_command(*args)
    if drop_net_raw:
        command = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", *command]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


class DaemonProcess:
    """The daemon under test, as a subprocess."""

    def __init__(
        self,
        config_text: str,
        directory: Path,
        *,
        extra_args: tuple[str, ...] = (),
        log_name: str = "daemon.log",
    ) -> None:
        self.directory = directory
        self.config = directory / "config.toml"
        if "[web]" not in config_text:
            # Mutating endpoints need a bearer token; tests use this one unless they set [web].
            config_text += f'\n[web]\napi_token = "{API_TOKEN}"\n'
        self.config.write_text(config_text)
        self.port = free_port()
        self.log_path = directory / log_name
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True) -> DaemonProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            monitor_command(
                "run",
                "--config",
                str(self.config),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--state-dir",
                str(self.directory / "state"),
                *self.extra_args,
            ),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        if wait_ready:
            try:
                self.wait_ready()
            except BaseException:
                self.stop()  # never leave a daemon behind when a test fails early
                raise
        return self

    def wait_ready(self, timeout: float = 20) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.get("/-/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"daemon not ready after {timeout} s:\n{self.log()}")

    def json(self, path: str) -> object:
        status, text = self.get(path)
        assert status == 200, (status, text)
        return json.loads(text)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def get(self, path: str) -> tuple[int, str]:
        return self.request("GET", path)

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        token: str | None = API_TOKEN,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, str]:
        data = None if body is None else json.dumps(body).encode()
        headers = dict(headers or {})
        if body is not None:
            headers["Content-Type"] = "application/json"
        if token is not None and method != "GET":
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.url + path, method=method, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        status, text = self.get("/metrics")
        assert status == 200
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out.setdefault(sample.name, []).append((sample.labels, sample.value))
        return out

    def value(self, name: str, **labels: str) -> float | None:
        for sample_labels, value in self.metrics().get(name, []):
            if all(sample_labels.get(k) == v for k, v in labels.items()):
                return value
        return None

    def wait_for(self, name: str, expected: float, timeout: float, **labels: str) -> float:
        """Poll /metrics until the series has the value; returns seconds waited."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.value(name, **labels) == expected:
                return time.monotonic() - start
            time.sleep(0.05)
        raise AssertionError(
            f"{name}{labels} != {expected} after {timeout} s (is {self.value(name, **labels)})"
        )

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
