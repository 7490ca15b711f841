"""SiteGoingDark: fired a lead time before the predicted dark, resolved by mains or a
better outlook, with the clock time in the monitor's zone and the site's contact."""

from __future__ import annotations

import pytest

from alerts.model import Alert, Notification, Site
from alerts.rules import BuiltinSetting, RuleBook, TargetInfo
from alerts.templates import Renderer
from monitor.alert_flow import dark_notes
from monitor.engine.power import Estimate

T0 = 1_796_528_400.0  # 2026-12-06 03:40:00 UTC, 10:40 in Ho Chi Minh City
LEAD = 1800.0
SITE = Site("Binh Son, Quang Ngai", 15.29, 108.76, "+84 255 000 000")
UPS = TargetInfo("ups-binh-son", {"site": "BS-02"}, SITE, "127.0.0.1")


def estimate(dark_at: float, method: str = "trend") -> Estimate:
    return Estimate(dark_at, method, None, dark_at, 0.5, 0.0001, T0 - 600)  # type: ignore[arg-type]


def outlook(book: RuleBook, dark_at: float | None, at: float) -> list[Alert]:
    if dark_at is None:
        return book.going_dark(UPS, None, at, lead=LEAD)
    found = estimate(dark_at)
    return book.going_dark(
        UPS,
        dark_at,
        at,
        lead=LEAD,
        notes=lambda: dark_notes(found, at, "Asia/Ho_Chi_Minh", ["bts-1", "bts-2"]),
    )


# (seconds after T0, predicted dark after T0 or None, what is sent: "" / "firing" / "resolved")
FIRE_THEN_MAINS = [
    (0, 3600, ""),  # an hour left: more than the lead time
    (60, 2000, ""),  # 32 min: still outside
    (120, 1920, "firing"),  # 30 min left: the lead time
    (180, 1900, ""),  # still firing: nothing new
    (240, None, "resolved"),  # mains is back
]
BETTER_OUTLOOK = [
    (0, 1000, "firing"),  # 16 min left at the first poll: at once
    (60, 60 + 1850, ""),  # 30 min 50 s: within the 10 % margin, stays firing
    (120, 120 + 2000, "resolved"),  # 33 min: beyond lead + 10 %, the load was shed
    (180, 180 + 1700, "firing"),  # and closer again: a new episode
]
PAST_DUE = [
    (0, -60, "firing"),  # predicted a minute ago (the site may be dark already)
    (60, -120, ""),
]


@pytest.mark.parametrize(
    "timeline", [FIRE_THEN_MAINS, BETTER_OUTLOOK, PAST_DUE], ids=["mains", "better", "past"]
)
def test_fires_at_the_lead_time_and_resolves(
    timeline: list[tuple[float, float | None, str]],
) -> None:
    book = RuleBook(instance="noc-qng-1")
    for offset, dark, expected in timeline:
        at = T0 + offset
        sent = outlook(book, None if dark is None else T0 + dark, at)
        assert [a.status for a in sent] == ([expected] if expected else []), (offset, dark)


def test_the_alert_carries_the_clock_time_site_and_what_goes_dark() -> None:
    book = RuleBook(instance="noc-qng-1")
    (alert,) = outlook(book, T0 + 28 * 60, T0)
    assert alert.name == "SiteGoingDark" and alert.severity == "critical"
    assert alert.labels["site"] == "BS-02" and alert.target == "ups-binh-son"
    assert alert.site == SITE  # the location and contact, as TargetDown carries them
    notes = alert.annotations
    assert notes["predicted_dark"] == "2026-12-06 11:08 +0700"
    assert notes["minutes_left"] == "28"
    assert notes["method"] == "trend"
    assert notes["affected"] == "2" and notes["consequences"] == "bts-1, bts-2"
    assert notes["description"] == (
        "battery runs out at about 11:08 +0700 (in 28 min, by the discharge trend); "
        "2 behind it go dark too: bts-1, bts-2"
    )


def test_power_restored_resolves_it_and_off_means_silent() -> None:
    book = RuleBook(instance="noc-qng-1")
    assert outlook(book, T0 + 600, T0)
    (resolved,) = book.device_event("PowerRestored", UPS, T0 + 5, {}, "UPS input power is back")
    assert resolved.name == "SiteGoingDark" and resolved.status == "resolved"
    off = RuleBook(instance="x", builtin={"SiteGoingDark": BuiltinSetting(enabled=False)})
    assert outlook(off, T0 + 600, T0) == []


def test_notes_use_the_device_wording() -> None:
    description, notes = dark_notes(estimate(T0 + 300, "device"), T0, "UTC", [])
    assert (
        description == "battery runs out at about 03:45 +0000 (in 5 min, by the device's runtime)"
    )
    assert notes["method"] == "device" and "affected" not in notes


@pytest.mark.parametrize(
    ("offset", "minute"), [(299.4, "03:44"), (299.6, "03:45"), (300.4, "03:45"), (359.6, "03:46")]
)
def test_the_named_minute_is_the_named_seconds_minute(offset: float, minute: str) -> None:
    """Near a minute's edge the clock time and the timestamp name the same second."""
    _, notes = dark_notes(estimate(T0 + offset, "device"), T0, "UTC", [])
    stamp = int(notes["predicted_dark_timestamp"])
    assert stamp == round(T0 + offset)
    assert notes["predicted_dark"] == f"2026-12-06 {minute} +0000"


def test_texts_name_the_dark_time_in_the_channel_language() -> None:
    book = RuleBook(instance="noc-qng-1")
    (alert,) = outlook(book, T0 + 28 * 60, T0)
    note = Notification(key=alert.key, channel="c", alerts=(alert,), created_at=T0)
    vi = Renderer(language="vi", timezone="Asia/Ho_Chi_Minh").text(note)
    en = Renderer(language="en", timezone="Asia/Ho_Chi_Minh").text(note)
    assert "Trạm sắp mất điện" in vi and "Dự kiến mất điện lúc: 11:08:00 ngày 06/12/2026" in vi
    assert "Site going dark" in en and "Goes dark at about: 2026-12-06 11:08:00 +07" in en
    assert "Liên hệ: +84 255 000 000" in vi


def test_a_restored_alert_still_resolves_when_mains_is_back() -> None:
    """After a restart the outbox's firing SiteGoingDark is active again; the first poll
    on mains must resolve it (and a poll still on battery must not page twice)."""
    before = RuleBook(instance="noc-qng-1")
    (alert,) = outlook(before, T0 + 600, T0)
    after = RuleBook(instance="noc-qng-1")
    after.restore([alert])
    assert outlook(after, T0 + 600, T0 + 30) == []
    (resolved,) = outlook(after, None, T0 + 60)
    assert resolved.status == "resolved" and resolved.fingerprint == alert.fingerprint
