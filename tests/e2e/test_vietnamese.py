"""``language = "vi"``: everything a person reads from a running daemon is Vietnamese.

One daemon process with a Vietnamese config, a target that answers (ping to
127.0.0.1) and one whose TCP port is closed (refused), a webhook receiver
(:class:`tests.peers.WebhookReceiver`; the daemon is
:func:`tests.operator_daemon.operator_config`'s) for its notifications. Read as people
read them: the CLI (``status``, ``maintenance``/``silence`` add and list,
``probe``), the status page and the target page, the notification texts and
the ``report`` (Markdown and HTML). None contains an English text of the
catalogue (``tests.language_check``); machine fields keep their codes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.daemon_process import API_TOKEN, DaemonProcess
from tests.detect_lab import is_page
from tests.helpers import free_port
from tests.language_check import english_left, visible_text
from tests.operator_daemon import client_config, operator_cli, operator_config
from tests.peers import WebhookReceiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def vietnamese(text: str, what: str) -> str:
    assert english_left(text) == [], (what, text)
    return text


def test_everything_a_person_reads_is_vietnamese(tmp_path: Path, hook: WebhookReceiver) -> None:
    config = operator_config(
        instance="noc-vi",
        refused="cong-dong",
        closed_port=free_port(),
        hook=hook,
        monitor='language = "vi"\ntimezone = "Asia/Ho_Chi_Minh"',
    )
    with DaemonProcess(config, tmp_path) as daemon:
        daemon.wait_for("continuity_target_up", 1, timeout=10, target="lo-1")
        daemon.wait_for("continuity_target_up", 0, timeout=10, target="cong-dong")
        # The CLI reads the daemon's address, token and language from a config.
        client = client_config(tmp_path, daemon, API_TOKEN, language="vi")
        status = operator_cli("status", "--config", str(client))
        assert status.returncode == 1, status.stderr
        lines = vietnamese(status.stdout, "status").splitlines()
        assert lines[0].split() == ["ĐỐI", "TƯỢNG", "TRẠNG", "THÁI", "TỪ", "LÚC", "NGUYÊN", "NHÂN"]
        (row,) = [line for line in lines if line.startswith("cong-dong")]
        assert "mất kết nối" in row and "kiểm tra lỗi: tcp; tcp: kết nối bị từ chối" in row
        assert "(kết nối tới 127.0.0.1:" in row and "bị từ chối)" in row
        assert lines[-1].startswith("2 đối tượng: ")

        added = operator_cli("maintenance", "add", "lo-1", "--for", "2h", "--comment", "thay cáp quang",
                    "--config", str(client))  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert vietnamese(added.stdout, "maintenance add").startswith("bảo trì ")
        listed = operator_cli("maintenance", "list", "--config", str(client)).stdout
        assert vietnamese(listed, "maintenance list").splitlines()[0].split()[:3] == [
            "MÃ",
            "HIỆN",
            "TẠI",
        ]
        assert "đang áp dụng" in listed
        silenced = operator_cli("silence", "add", "--match", "target=cong-dong", "--for", "1h",
                       "--comment", "đang sửa", "--config", str(client))  # fmt: skip
        assert silenced.returncode == 0, silenced.stderr
        vietnamese(silenced.stdout, "silence add")
        silences = operator_cli("silence", "list", "--config", str(client)).stdout
        assert "ĐIỀU KIỆN" in vietnamese(silences, "silence list")
        again = operator_cli("status", "--config", str(client)).stdout
        assert "bảo trì" in vietnamese(again, "status with maintenance")

        reloaded = operator_cli("reload", "--config", str(client))
        assert reloaded.returncode == 0, reloaded.stderr
        assert vietnamese(reloaded.stdout, "reload").startswith("đã nạp lại: 2 đối tượng; ")

        probe = operator_cli("probe", "--config", str(daemon.config))
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
        paged = hook.wait(is_page("TargetDown", "cong-dong"), 15)
        assert paged is not None, daemon.log()
        bodies = hook.bodies()
        for body in bodies:
            vietnamese(str(body["title"]) + "\n" + str(body["text"]), "notification")
        down = next(b for b in bodies if "cong-dong" in str(b["title"]))
        assert "Mất kết nối" in str(down["title"]) and "kết nối bị từ chối" in str(down["text"])
        assert "TargetDown" in json.dumps(down)  # the alertname as machines read it

        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        for fmt in ("md", "html"):
            done = operator_cli("report", "--config", str(daemon.config), "--state-dir",
                       str(tmp_path / "state"), "--since", since, "--until", until,
                       "--format", fmt)  # fmt: skip
            assert done.returncode == 0, done.stderr
            text = visible_text(done.stdout) if fmt == "html" else done.stdout
            vietnamese(text, f"report {fmt}")
            assert "kết nối bị từ chối" in text and "Báo cáo độ khả dụng" in text
            if fmt == "html":
                assert '<html lang="vi">' in done.stdout
