"""One language: every text a person reads in ``[monitor] language``, machine fields unchanged.

The catalogue (``monitor.i18n``) has every key in English and Vietnamese; the
Vietnamese alert texts, status-page words and the whole report (Markdown and
HTML) contain none of the English catalogue texts, while label values and
``alertname`` in the JSON payloads stay as machines expect them.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts.payload import alert_document
from alerts.templates import Renderer, sample_notifications
from monitor.engine.paths import diagnose
from monitor.history.report_render import render
from monitor.i18n import (
    _TEXTS,
    LANGUAGES,
    alert_title,
    detail_words,
    failure_words,
    message_words,
    missing_translations,
    reason_word,
    texts,
)
from monitor.web.page_locale import Locale, format_percent
from monitor.web.status_page import (
    banner_alerts,
    check_rows,
    phone_number,
    reason_text,
    window_label,
)
from probes import dns, http, icmp, snmp, tcp
from probes.icmp import summarize
from probes.icmp_engine import PingOutcome, send_failure
from probes.icmp_packet import _V4_UNREACH_CODES, _V6_UNREACH_CODES, describe_error
from probes.neterrors import local_failure, os_failure
from probes.snmp_mibs.if_mib import _track_flap
from probes.snmp_modules import ModuleMemory, Output
from tests.language_check import english_left, visible_text
from tests.unit.test_path_trace import DIAGNOSES
from tests.unit.test_report import make_report

EN, VI = texts("en"), texts("vi")


def test_every_key_has_both_languages() -> None:
    assert LANGUAGES == ("en", "vi")
    assert missing_translations() == []
    assert set(EN) == set(VI) == set(_TEXTS)
    # A Vietnamese text left in English would escape the "no English left" checks:
    # only texts made of fields and punctuation are the same in both.
    same = sorted(key for key, (english, vietnamese) in _TEXTS.items() if english == vietnamese)
    assert same == [
        "bars.figure",
        "msg.icmp_error",
        "msg.icmp_ok",
        "msg.path.clauses",
        "msg.where_os",
    ]


def test_vietnamese_alert_texts_have_no_english_words() -> None:
    renderer = Renderer(language="vi", timezone="Asia/Ho_Chi_Minh", instance="noc")
    for notification in sample_notifications():
        title, text = renderer.title(notification), renderer.text(notification)
        assert "Mất kết nối" in title and "TargetDown" not in title + text
        assert "nghiêm trọng" in text
        assert english_left(title + "\n" + text) == [], (title, text)
        assert "hết thời gian chờ (0/3 gói trả lời từ 10.80.0.2 trong thời hạn chờ)" in text
        # machine fields do not change with the language
        document = alert_document(notification.alerts[0])
        assert document["alertname"] == "TargetDown" and document["severity"] == "critical"
        assert json.loads(json.dumps(document))["labels"]["alertname"] == "TargetDown"


def test_alert_titles_severities_and_reasons_in_words() -> None:
    assert alert_title("TargetDown", VI) == "Mất kết nối"
    assert alert_title("TargetDown", EN) == "Target down"
    assert alert_title("MyOwnRule", VI) == "MyOwnRule"  # an operator's rule keeps its name
    assert reason_word("timeout", VI) == "hết thời gian chờ"
    assert reason_word("some_new_code", VI) == "some new code"
    text = reason_text("down", None, [("icmp", "timeout", "no reply within 1s")], VI)
    assert text == "icmp: hết thời gian chờ"  # a message no pattern knows is left out
    known = "0/3 replies from 10.80.0.2 within the deadline"
    text = reason_text("down", "check:icmp", [("icmp", "timeout", known)], VI)
    assert text == "icmp: hết thời gian chờ (0/3 gói trả lời từ 10.80.0.2 trong thời hạn chờ)"
    english = reason_text("down", "check:icmp", [("icmp", "timeout", known)], EN)
    assert english == f"icmp: timed out ({known})"
    banner = banner_alerts(
        [
            {
                "labels": {"alertname": "TargetDown", "severity": "critical", "target": "a"},
                "annotations": {},
                "starts_at": None,
                "muted": None,
            }
        ],
        _Loc(),
    )
    assert banner[0]["alertname"] == "Mất kết nối"
    assert (banner[0]["severity"], banner[0]["severity_text"]) == ("critical", "nghiêm trọng")


class _Loc:
    """The part of a status-page Locale that banner_alerts reads."""

    t = VI

    def time(self, timestamp: float | None) -> str:
        return "—"


@pytest.mark.parametrize(
    ("contact", "number"),
    [
        ("Kỹ thuật Đức Phổ: 0255 3 859 123", "02553859123"),
        ("+84 255 000 000", "+84255000000"),
        ("Anh Tuấn (trực ca) +84-905-123-456, sau 22h gọi tổng đài", "+84905123456"),
        ("the operator on duty", None),
        ("ext 12", None),
    ],
)
def test_tel_links_dial_only_the_number(contact: str, number: str | None) -> None:
    assert phone_number(contact) == number


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_the_vietnamese_report_has_no_english_catalogue_texts(
    report_database: Path,
    fmt: str,
) -> None:
    report = dataclasses.replace(make_report(report_database), language="vi")
    text = render(report, fmt)
    words = visible_text(text) if fmt == "html" else text
    # The fixture's messages ("fibre cut") are free text of the test, not a probe's.
    for outage in report.total.outages:
        words = words.replace(outage.message.replace("|", "\\|"), " ")
    assert english_left(words) == []
    assert "Báo cáo độ khả dụng" in text and "Tổng cộng" in text
    assert "hết thời gian chờ" in text  # the reason code "timeout" in words
    assert "(không còn trong cấu hình)" in text and "(not in config)" not in text
    assert "1 giờ 18 phút 45 giây" in text and "94,034%" in text  # units and decimal comma
    if fmt == "html":
        assert '<html lang="vi">' in text
    english = render(make_report(report_database), fmt)
    assert "Availability report" in english
    if fmt == "html":
        assert '<html lang="en">' in english


def test_status_page_headers_are_distinct_in_each_language() -> None:
    tables = {
        "overview": ("state", "target", "address", "since", "availability.24h", "availability.30d", "reason"),
        "checks": ("check", "state", "since", "last_result", "reason", "message", "duration", "at", "measurements"),
        "outages": ("start", "end", "duration", "cause", "reason", "message"),
    }  # fmt: skip
    for language in LANGUAGES:
        t = texts(language)
        for name, keys in tables.items():
            headers = [t[k] for k in keys]
            assert len(set(headers)) == len(headers), (language, name, headers)


def test_windows_longer_than_the_history_say_since_when() -> None:
    now = 1_765_022_400.0  # 2025-12-06 12:00 UTC
    loc = Locale("en", ZoneInfo("UTC"), now)
    assert window_label("30d", now - 360, loc) == "since 11:54:00 (6 min)"
    assert window_label("1h", now - 7200, loc) == "1 h"
    assert window_label("30d", None, loc) == "30 d"
    vi = Locale("vi", ZoneInfo("UTC"), now)
    assert window_label("24h", now - 360, vi) == "từ 11:54:00 (6 phút)"
    assert format_percent(0.886761, "vi") == "88,67 %"
    assert format_percent(0.99999, "en") == "99.99 %"
    assert format_percent(1.0, "en") == "100.00 %"


# -- reason codes and check messages ---------------------------------------------------


def fixed_reasons() -> set[str]:
    """Every reason a check result can carry: the fixed sets of the probe kinds."""
    return {code for kind in (icmp, http, tcp, dns, snmp) for code in kind.REASONS}


def test_every_fixed_reason_code_has_words_in_both_languages() -> None:
    codes = fixed_reasons()
    assert {"timeout", "connect_refused", "local_resources", "too_many_redirects"} <= codes
    for code in sorted(codes):
        assert f"why.{code}" in _TEXTS, code
        english, vietnamese = reason_word(code, EN), reason_word(code, VI)
        # a phrase, not the code: no underscore, and not the code itself (but "auth"...)
        assert "_" not in english and english != code, (code, english)
        assert vietnamese.strip() and vietnamese != english, (code, vietnamese)


def probe_messages() -> list[str]:
    """Messages as the probes' own code writes them (a changed text fails here)."""

    def ping(rtts: tuple[float | None, ...], failures: tuple[tuple[str, str], ...] = ()) -> str:
        outcome = PingOutcome("10.80.0.2", rtts, failures)
        return summarize(outcome, 0.2, name="10.80.0.2", started=0.0, duration=1.0).message

    def oserror(code: int) -> OSError:
        return OSError(code, os.strerror(code))

    icmp_errors = [describe_error(3, code) for code in _V4_UNREACH_CODES]
    icmp_errors += [describe_error(1, code, v6=True) for code in _V6_UNREACH_CODES]
    icmp_errors += [describe_error(11, 0), describe_error(3, 0, v6=True), describe_error(3, 99)]
    messages = [
        ping((0.001, 0.002, 0.0015)),
        ping((0.001,)),
        ping((0.001, None, None)),
        ping((None, None, None)),
        *(ping((None,), (("unreachable", f"{what} (from 10.80.0.1)"),)) for what in icmp_errors),
        ping((None,), (send_failure(oserror(errno.EHOSTUNREACH), v6=False),)),
        ping((None,), (send_failure(oserror(errno.ENETUNREACH), v6=True),)),
        os_failure(ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "127.0.0.1:25").message,
        os_failure(oserror(errno.ETIMEDOUT), "127.0.0.1:25").message,
        os_failure(oserror(errno.ECONNRESET), "127.0.0.1:25").message,
    ]
    for up in (False, True):  # an interface changing state between two polls
        out, memory = Output(), ModuleMemory(oper_up={b"1": not up})
        _track_flap(out, memory, b"1", up, (("interface", "Gi0/1"), ("alias", "")))
        messages += [event.message for event in out.events]
    for code in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
        failure = local_failure(oserror(code), "cannot connect to 127.0.0.1:25")
        assert failure is not None
        messages.append(failure.message)
    return messages


def test_the_probes_messages_are_known_in_vietnamese() -> None:
    for message in probe_messages():
        words = message_words(message, VI)
        assert words is not None, message
        assert english_left(words) == [], (message, words)
        assert message_words(message, EN) == message  # English is the probe's own text
    assert message_words("something no probe writes", VI) is None
    assert detail_words("something no probe writes", VI) == "something no probe writes"
    assert (
        message_words("2/3 replies from dp-rtr: host unreachable (from 10.80.0.1)", VI)
        == "2/3 gói trả lời từ dp-rtr: máy đích không tới được (từ 10.80.0.1)"
    )


@pytest.mark.parametrize(
    ("message", "vietnamese"),
    [
        (
            "no complete response within 2s (waiting for the response headers)",
            "không nhận đủ phản hồi trong 2 giây (đang chờ phần đầu phản hồi)",
        ),
        (
            "503 from http://127.0.0.1:8080/health, expected 200-299",
            "503 từ http://127.0.0.1:8080/health, mong đợi 200-299",
        ),
        ("no response", "không có phản hồi"),
        ("interface Gi0/1 is down (linkDown trap)", "cổng Gi0/1 mất kết nối (bẫy SNMP linkDown)"),
        ("device restarted (coldStart trap)", "thiết bị đã khởi động lại (bẫy SNMP coldStart)"),
        (
            "UPS is running on battery, 12 min of battery left (alarm)",
            "UPS đang chạy bằng ắc quy, ắc quy còn 12 phút (báo động)",
        ),
        ("UPS input power is back (alarm cleared)", "UPS đã có điện lưới trở lại (hết báo động)"),
        (
            "certificate CN=post.example expires 2026-12-10 10:00 UTC "
            "(4.2 days left, cert_min_days 14)",
            "chứng chỉ CN=post.example hết hạn lúc 2026-12-10 10:00 UTC "
            "(còn 4.2 ngày, cert_min_days 14)",
        ),
        (
            "canaries down: gw-1, gw-2; 40/50 targets failing, 2 on their own: a, b",
            "thiết bị mốc mất kết nối: gw-1, gw-2; 40/50 đối tượng lỗi, 2 tự lỗi: a, b",
        ),
    ],
)
def test_other_messages_in_vietnamese(message: str, vietnamese: str) -> None:
    assert message_words(message, VI) == vietnamese


def test_failure_words_put_the_reason_first() -> None:
    refused = "connection to 127.0.0.1:25 refused"
    assert failure_words("tcp", "connect_refused", refused, EN) == (
        "tcp: connection refused (connection to 127.0.0.1:25 refused)"
    )
    assert failure_words("tcp", "connect_refused", refused, VI) == (
        "tcp: kết nối bị từ chối (kết nối tới 127.0.0.1:25 bị từ chối)"
    )
    assert failure_words("", "timeout", "", VI) == "hết thời gian chờ"


def test_measurements_on_the_target_page_have_labels_and_units() -> None:
    """``jitter 0.03 ms``, not ``jitter_seconds=0.0278``, in each language."""
    now = 1_765_022_400.0
    view = {
        "checks": [
            {
                "check": "icmp",
                "state": "up",
                "since": None,
                "last": {
                    "ok": True,
                    "reason": "ok",
                    "message": "3/3 replies from 10.80.0.2, rtt min/avg/max 0.1/0.2/0.3 ms",
                    "duration_seconds": 0.0021,
                    "at": None,
                    "values": {
                        "jitter_seconds": 0.0000278,
                        "packet_loss_ratio": 0.0,
                        "uptime_seconds": 302400.0,
                    },
                },
            }
        ]
    }
    (english,) = check_rows(view, Locale("en", ZoneInfo("UTC"), now))
    assert english["values"] == "jitter 0.03 ms · packet loss 0 % · uptime 3.5 d"
    (vietnamese,) = check_rows(view, Locale("vi", ZoneInfo("UTC"), now))
    assert vietnamese["values"] == (
        "độ dao động trễ 0,03 ms · tỷ lệ mất gói 0 % · thời gian hoạt động 3,5 ngày"
    )
    assert vietnamese["message"] == (
        "3/3 gói trả lời từ 10.80.0.2, RTT nhỏ nhất/trung bình/lớn nhất 0.1/0.2/0.3 ms"
    )
    assert vietnamese["result_text"] == "Đạt"


@pytest.mark.parametrize("case", DIAGNOSES, ids=[c[0] for c in DIAGNOSES])
def test_path_diagnoses_in_vietnamese(case: tuple[Any, ...]) -> None:
    """Every wording of monitor.paths, as alerts and pages show it in Vietnamese."""
    _, trace, baseline, names, _ = case
    text = diagnose(trace, baseline, lambda a: names.get(a, []), at=1.0).text
    words = detail_words(text, VI)
    assert words != text and "đường truyền" in words
    assert english_left(words) == [], words
    assert detail_words(text, EN) == text
