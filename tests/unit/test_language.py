"""One language: every text a person reads in ``[monitor] language``, machine fields unchanged.

The catalogue (``monitor.i18n``) has every key in English and Vietnamese; the
Vietnamese alert texts, status-page words and the whole report (Markdown and
HTML) contain none of the English catalogue texts, while label values and
``alertname`` in the JSON payloads stay as machines expect them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.payload import alert_document
from alerts.templates import Renderer, sample_notifications
from monitor.i18n import _TEXTS, LANGUAGES, alert_title, missing_translations, reason_word, texts
from monitor.report_render import render
from monitor.status_page import (
    Locale,
    banner_alerts,
    format_percent,
    phone_number,
    reason_text,
    window_label,
)
from tests.unit.test_report import make_report

EN, VI = texts("en"), texts("vi")


def test_every_key_has_both_languages() -> None:
    assert LANGUAGES == ("en", "vi")
    assert missing_translations() == []
    assert set(EN) == set(VI) == set(_TEXTS)


def english_left(text: str, families: tuple[str, ...]) -> list[str]:
    """English catalogue texts of ``families`` found in ``text`` (whole words)."""
    found = []
    for key, (english, vietnamese) in _TEXTS.items():
        if not key.startswith(families) or english in vietnamese or len(english) < 4:
            continue  # "MTTR" is the same word in both
        probe = re.sub(r"\{[a-z_]+\}", "\x00", english)
        parts = [re.escape(p) for p in probe.split("\x00")]
        if re.search(r"\b" + ".*?".join(parts) + r"\b", text, re.IGNORECASE):
            found.append(f"{key}: {english}")
    return found


def test_vietnamese_alert_texts_have_no_english_words() -> None:
    renderer = Renderer(language="vi", timezone="Asia/Ho_Chi_Minh", instance="noc")
    for notification in sample_notifications():
        title, text = renderer.title(notification), renderer.text(notification)
        assert "Mất kết nối" in title and "TargetDown" not in title + text
        assert "nghiêm trọng" in text
        families = ("alertname.", "severity.", "status.")
        assert english_left(title + "\n" + text, families) == [], (title, text)
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
    assert text == "icmp: hết thời gian chờ (no reply within 1s)"
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
    words = re.sub(r"<style>.*?</style>|<[^>]+>", " ", text, flags=re.S)
    for outage in report.total.outages:  # probes' messages are data, not catalogue texts
        words = words.replace(outage.message.replace("|", "\\|"), " ")
    assert english_left(words, ("report.", "why.", "cause.")) == []
    assert "Báo cáo độ khả dụng" in text and "Tổng cộng" in text
    assert "hết thời gian chờ" in text  # the reason code "timeout" in words
    assert "(không còn trong cấu hình)" in text and "(not in config)" not in text
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
