"""A webhook receiver on loopback, in a thread: the real HTTP peer that tells a
test whether the daemon paged anyone (a false page is the failure an attack aims at)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.received.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WebhookReceiver(ThreadingHTTPServer):
    """``with WebhookReceiver() as hook:`` then ``hook.url``, ``hook.messages()``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.received: list[Any] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def messages(self) -> list[Any]:
        with self.lock:
            return list(self.received)

    def wait(self, predicate: Any, timeout: float) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for message in self.messages():
                if predicate(message):
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no matching webhook message in {timeout} s: {self.messages()}")

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()
        self.server_close()


def alertnames(message: Any, status: str) -> set[str]:
    """The names of the alerts with that status in a webhook message (the default payload)."""
    if not isinstance(message, dict):
        return set()
    return {
        str(a.get("alertname"))
        for a in message.get("alerts", [])
        if isinstance(a, dict) and a.get("status") == status
    }
