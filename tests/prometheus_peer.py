"""A real Prometheus (the Debian ``prometheus`` package) for tests, on a loopback port.

``with PrometheusPeer(workdir, targets=["127.0.0.1:9925"], rule_files=[...]) as prom:``
writes its own config (scraping those targets in job ``continuity``, every
second by default, with the rule files loaded), starts Prometheus with its
own storage directory on a free 127.0.0.1 port, waits until ``/-/ready``
answers, and stops it on exit, also when the test failed.

The HTTP API helpers raise :class:`PrometheusError` with Prometheus' own
message for a bad query, so a test failure names the broken expression.
Everything is bounded in time; only loopback is contacted. A test that uses it
carries ``@pytest.mark.needs("prometheus", "promtool")`` (see tests/conftest.py).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.helpers import PEERS, free_port, require_peer

PROMETHEUS = PEERS["prometheus"][0]
PROMTOOL = PEERS["promtool"][0]
START_TIMEOUT = 20.0
REQUEST_TIMEOUT = 10.0


def check_metrics(text: str) -> str:
    """``promtool check metrics`` over an exposition: fails the test on an error,
    returns what promtool said (lint warnings; "" when clean). Needs promtool."""
    require_peer("promtool")
    check = subprocess.run(
        [PROMTOOL, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    return check.stdout + check.stderr


class PrometheusError(RuntimeError):
    """The API answered with an error (bad query, timeout) or not at all."""


class PrometheusPeer:
    """One private Prometheus scraping ``targets`` in job ``job``."""

    def __init__(
        self,
        workdir: Path,
        targets: Sequence[str] = (),
        *,
        rule_files: Sequence[Path] = (),
        job: str = "continuity",
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        target_labels: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.targets = list(targets)
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.job = job
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.target_labels = dict(target_labels or {})
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "prometheus.log"
        self.started_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        """The configuration as data (written as JSON, which YAML accepts)."""
        static: dict[str, Any] = {"targets": self.targets}
        if self.target_labels:
            static["labels"] = self.target_labels
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [{"job_name": self.job, "static_configs": [static]}],
        }

    def start(self) -> PrometheusPeer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(json.dumps(self.config(), indent=2))
        storage = self.workdir / "tsdb"
        storage.mkdir(exist_ok=True)
        command = [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.started_at = time.time()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=0.5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"prometheus not ready after {START_TIMEOUT:g} s: {self.tail()}")

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def __enter__(self) -> PrometheusPeer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- HTTP API -------------------------------------------------------------------

    def api(self, path: str, params: Sequence[tuple[str, str]] = (), *, post: bool = False) -> Any:
        """GET ``/api/v1/<path>`` (or POST the params as a form, for long queries);
        the ``data`` of a success, :class:`PrometheusError` otherwise."""
        encoded = urllib.parse.urlencode(list(params))
        if post:
            request = urllib.request.Request(
                f"{self.url}/api/v1/{path}",
                data=encoded.encode(),
                method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            request = urllib.request.Request(f"{self.url}/api/v1/{path}?{encoded}")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                answer = json.loads(text)
            except ValueError:
                raise PrometheusError(f"{path}: HTTP {exc.code}: {text[:500]}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PrometheusError(f"{path}: {exc}") from None
        if answer.get("status") != "success":
            raise PrometheusError(f"{answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query; the result list (vector, or one scalar as a list)."""
        params = [("query", expr)] + ([("time", f"{at:.3f}")] if at is not None else [])
        return _results(self.api("query", params, post=True))

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query; the matrix as a list of series."""
        params = [
            ("query", expr),
            ("start", f"{start:.3f}"),
            ("end", f"{end:.3f}"),
            ("step", f"{step:g}"),
        ]
        return _results(self.api("query_range", params, post=True))

    def label_values(self, label: str, match: str | None = None) -> list[str]:
        """Values of ``label``, optionally among the series matching ``match``."""
        params = [("match[]", match)] if match else []
        return list(self.api(f"label/{urllib.parse.quote(label)}/values", params))

    def rule_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self.api("rules")["groups"]
        return groups

    def wait_for(
        self, expr: str, timeout: float, check: Callable[[list[dict[str, Any]]], bool] = bool
    ) -> list[dict[str, Any]]:
        """Poll an instant query until ``check(result)`` holds; bounded."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if check(result):
                return result
            time.sleep(0.25)
        raise AssertionError(f"{expr}: still {result} after {timeout:g} s")


def _results(data: dict[str, Any]) -> list[dict[str, Any]]:
    if data["resultType"] in ("scalar", "string"):
        return [{"metric": {}, "value": data["result"]}]
    result: list[dict[str, Any]] = data["result"]
    return result
