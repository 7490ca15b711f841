"""``language = "vi"``: everything a person reads from a running daemon is Vietnamese.

One daemon process with a Vietnamese config, a target that answers (ping to
127.0.0.1) and one whose TCP port is closed (refused), a webhook receiver
(plain ``http.server`` on 127.0.0.1) for its notifications. Read as people
read them: the CLI (``status``, ``maintenance``/``silence`` add and list,
``probe``), the status page and the target page, the notification texts and
the ``report`` (Markdown and HTML). None contains an English text of the
catalogue (``tests.language_check``); machine fields keep their codes.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.daemon_process import API_TOKEN, REPO, DaemonProcess, free_port, monitor_command
from tests.language_check import english_left, visible_text

CONFIG = """
[monitor]
instance = "noc-vi"
language = "vi"
timezone = "Asia/Ho_Chi_Minh"

[defaults]
interval = "1s"
timeout = "1s"
fall = 1
rise = 1

[[targets]]
name = "lo-1"
address = "127.0.0.1"
checks = ["icmp"]
icmp = {{ count = 1 }}

[[targets]]
name = "cong-dong"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {closed} }}

[channels.hook]
type = "webhook"
url = "http://127.0.0.1:{hook}/"

[[alerts.routes]]
match = {{ severity = "critical" }}
channels = ["hook"]
"""


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[dict[str, object]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.bodies.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUITY_")}
    return subprocess.run(
        monitor_command(*args),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**clean, "PYTHONPATH": str(REPO)},
        check=False,
    )


def vietnamese(text: str, what: str) -> str:
    assert english_left(text) == [], (what, text)
    return text


def test_everything_a_person_reads_is_vietnamese(
    tmp_path: Path, hook: http.server.ThreadingHTTPServer
) -> None:
    config = CONFIG.format(closed=free_port(), hook=hook.server_address[1])
    with DaemonProcess(config, tmp_path) as daemon:
        daemon.wait_for("continuity_target_up", 1, timeout=10, target="lo-1")
        daemon.wait_for("continuity_target_up", 0, timeout=10, target="cong-dong")
        # The CLI reads the daemon's address, token and language from a config.
        client = tmp_path / "client.toml"
        client.write_text(
            f'[monitor]\nlisten = "127.0.0.1:{daemon.port}"\nlanguage = "vi"\n'
            f'[web]\napi_token = "{API_TOKEN}"\n'
        )
        status = cli("status", "--config", str(client))
        assert status.returncode == 1, status.stderr
        lines = vietnamese(status.stdout, "status").splitlines()
        assert lines[0].split() == ["ĐỐI", "TƯỢNG", "TRẠNG", "THÁI", "TỪ", "LÚC", "NGUYÊN", "NHÂN"]
        (row,) = [line for line in lines if line.startswith("cong-dong")]
        assert "mất kết nối" in row and "kiểm tra lỗi: tcp; tcp: kết nối bị từ chối" in row
        assert "(kết nối tới 127.0.0.1:" in row and "bị từ chối)" in row
        assert lines[-1].startswith("2 đối tượng: ")

        added = cli("maintenance", "add", "lo-1", "--for", "2h", "--comment", "thay cáp quang",
                    "--config", str(client))  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert vietnamese(added.stdout, "maintenance add").startswith("bảo trì ")
        listed = cli("maintenance", "list", "--config", str(client)).stdout
        assert vietnamese(listed, "maintenance list").splitlines()[0].split()[:3] == [
            "MÃ",
            "HIỆN",
            "TẠI",
        ]
        assert "đang áp dụng" in listed
        silenced = cli("silence", "add", "--match", "target=cong-dong", "--for", "1h",
                       "--comment", "đang sửa", "--config", str(client))  # fmt: skip
        assert silenced.returncode == 0, silenced.stderr
        vietnamese(silenced.stdout, "silence add")
        silences = cli("silence", "list", "--config", str(client)).stdout
        assert "ĐIỀU KIỆN" in vietnamese(silences, "silence list")
        again = cli("status", "--config", str(client)).stdout
        assert "bảo trì" in vietnamese(again, "status with maintenance")

        reloaded = cli("reload", "--config", str(client))
        assert reloaded.returncode == 0, reloaded.stderr
        assert vietnamese(reloaded.stdout, "reload").startswith("đã nạp lại: 2 đối tượng; ")

        probe = cli("probe", "--config", str(daemon.config))
        assert probe.returncode == 1
        lines = vietnamese(probe.stdout, "probe").splitlines()
        assert lines[0].startswith("ĐẠT  lo-1 icmp trong ") and "RTT trung bình" in lines[0]
        assert lines[1].startswith("LỖI cong-dong tcp (kết nối bị từ chối) trong ")
        assert (
            lines[-1]
            == "LỖI: 1 trên 2 kiểm tra của 2 đối tượng: cong-dong tcp (kết nối bị từ chối)"
        )

        for path in ("/", "/targets/cong-dong", "/targets/lo-1"):
            code, page = daemon.get(path)
            assert code == 200 and '<html lang="vi"' in page
            vietnamese(visible_text(page), path)
        code, page = daemon.get("/targets/cong-dong")
        assert "kết nối tới 127.0.0.1:" in page  # the check's message, translated

        # The notification (title and text) of the DOWN, while machine fields keep codes.
        end = time.monotonic() + 15
        while not hook.bodies and time.monotonic() < end:  # type: ignore[attr-defined]
            time.sleep(0.1)
        bodies = list(hook.bodies)  # type: ignore[attr-defined]
        assert bodies, daemon.log()
        for body in bodies:
            vietnamese(str(body["title"]) + "\n" + str(body["text"]), "notification")
        down = next(b for b in bodies if "cong-dong" in str(b["title"]))
        assert "Mất kết nối" in str(down["title"]) and "kết nối bị từ chối" in str(down["text"])
        assert "TargetDown" in json.dumps(down)  # the alertname as machines read it

        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        for fmt in ("md", "html"):
            done = cli("report", "--config", str(daemon.config), "--state-dir",
                       str(tmp_path / "state"), "--since", since, "--until", until,
                       "--format", fmt)  # fmt: skip
            assert done.returncode == 0, done.stderr
            text = visible_text(done.stdout) if fmt == "html" else done.stdout
            vietnamese(text, f"report {fmt}")
            assert "kết nối bị từ chối" in text and "Báo cáo độ khả dụng" in text
            if fmt == "html":
                assert '<html lang="vi">' in done.stdout
