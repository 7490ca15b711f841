"""Message texts: Jinja2 templates in English and Vietnamese, rendered in a sandbox.

Every channel that writes words for people (email subject and body, the
``title``/``text`` fields of webhook and MQTT payloads) renders them here.
Operators may override a channel's templates in config; a template is
checked at load by rendering it with a sample alert (:func:`check_template`),
so a typo is a config error, not a failed page at 3 a.m. Templates run in
Jinja2's immutable sandbox with undefined names as errors; the HTML
environment autoescapes, the text one does not (plain text has nothing to
escape).

The context a template sees (see :func:`context`): ``status``, ``state``
(the localized word), ``reason``, ``instance``, ``count``, ``group``,
``alerts`` (each with ``name`` (the title in the channel's language),
``alertname`` (the label, as machines see it), ``target``, ``severity``
(localized; ``severity_code`` as in the label), ``state``,
``cause`` (the reason in words, in the channel's language), ``since``,
``ended``, ``duration``, ``address`` (the site's), ``coordinates``, ``lat``,
``lon``, ``contact``, ``runbook``, ``target_address``, ``dark_at``
(SiteGoingDark's predicted dark, local), ``affected`` (how many targets are
out behind it), ``consequences`` (their first names), ``path`` (where the path
to a DOWN target breaks, from the trace at the outage), ``link`` (the target's page under
``[monitor] external_url``), ``labels``, ``annotations``),
``alert`` (the first one), ``firing`` and ``resolved`` (the alerts of each
status) and ``dedup_key``.
"""

from __future__ import annotations

import datetime
import json
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from alerts.model import Alert, Notification, Site
from monitor.i18n import alert_cause, alert_title, detail_words, texts

Language = Literal["en", "vi"]
Kind = Literal["text", "html", "json"]


def _words(language: str) -> Mapping[str, str]:
    """The people-facing words (``monitor.i18n``): alert titles, severities, states."""
    return texts(language)


_TIME_FORMAT = {"en": "%Y-%m-%d %H:%M:%S %Z", "vi": "%H:%M:%S ngày %d/%m/%Y (%Z)"}

_TITLE = {
    "en": "[{{ state }}] {{ alert.name }} {{ alert.target }}"
    "{% if count > 1 %} (+{{ count - 1 }} more){% endif %}",
    "vi": "[{{ state }}] {{ alert.name }} {{ alert.target }}"
    "{% if count > 1 %} (+{{ count - 1 }} cảnh báo khác){% endif %}",
}

_TEXT = {
    "en": """\
{% for a in alerts %}
{{ a.state }}: {{ a.name }} on {{ a.target }} ({{ a.severity }})
{% if a.cause %}Cause: {{ a.cause }}
{% endif %}
{% if a.target_address %}Address: {{ a.target_address }}
{% endif %}
{% if a.affected %}Affected: {{ a.affected }} behind it unreachable: {{ a.consequences }}
{% endif %}
{% if a.path %}Path: {{ a.path }}
{% endif %}
Since: {{ a.since }}
{% if a.dark_at %}Goes dark at about: {{ a.dark_at }}
{% endif %}
{% if a.ended %}Ended: {{ a.ended }} (lasted {{ a.duration }})
{% endif %}
{% if a.address %}Site: {{ a.address }}
{% endif %}
{% if a.coordinates %}Coordinates: {{ a.coordinates }}
{% endif %}
{% if a.contact %}Contact: {{ a.contact }}
{% endif %}
{% if a.runbook %}Runbook: {{ a.runbook }}
{% endif %}
{% if a.link %}Details: {{ a.link }}
{% endif %}

{% endfor %}
-- continuity-monitor {{ instance }}
""",
    "vi": """\
{% for a in alerts %}
{{ a.state }}: {{ a.name }} tại {{ a.target }} (mức {{ a.severity }})
{% if a.cause %}Nguyên nhân: {{ a.cause }}
{% endif %}
{% if a.target_address %}Địa chỉ thiết bị: {{ a.target_address }}
{% endif %}
{% if a.affected %}Ảnh hưởng: {{ a.affected }} điểm phía sau mất liên lạc: {{ a.consequences }}
{% endif %}
{% if a.path %}Đường truyền: {{ a.path }}
{% endif %}
Bắt đầu lúc: {{ a.since }}
{% if a.dark_at %}Dự kiến mất điện lúc: {{ a.dark_at }}
{% endif %}
{% if a.ended %}Kết thúc lúc: {{ a.ended }} (kéo dài {{ a.duration }})
{% endif %}
{% if a.address %}Địa điểm: {{ a.address }}
{% endif %}
{% if a.coordinates %}Tọa độ: {{ a.coordinates }}
{% endif %}
{% if a.contact %}Liên hệ: {{ a.contact }}
{% endif %}
{% if a.runbook %}Hướng dẫn xử lý: {{ a.runbook }}
{% endif %}
{% if a.link %}Chi tiết: {{ a.link }}
{% endif %}

{% endfor %}
-- continuity-monitor {{ instance }}
""",
}

DEFAULTS: Mapping[str, Mapping[str, str]] = {
    lang: {"title": _TITLE[lang], "text": _TEXT[lang]} for lang in ("en", "vi")
}
"""The built-in ``title`` and ``text`` templates per language."""


def _undefined_in_json(value: object) -> object:
    # ``{{ alert.nmae | tojson }}`` hands the filter an Undefined; fail as a
    # template error naming the attribute, not as a json TypeError.
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _undefined_in_json}
    return env


def format_time(when: float | None, timezone: str, language: str) -> str | None:
    if when is None:
        return None
    moment = datetime.datetime.fromtimestamp(when, zoneinfo.ZoneInfo(timezone))
    return moment.strftime(_TIME_FORMAT.get(language, _TIME_FORMAT["en"]))


def format_span(seconds: float, language: str = "en") -> str:
    """``3725`` -> ``1h 2m`` (``1 giờ 2 phút``); coarse on purpose, it is for people."""
    words = _words(language)
    seconds = max(0, round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [words["span.d"].format(n=days)] if days else []
    if hours:
        parts.append(words["span.h"].format(n=hours))
    if minutes and not days:
        parts.append(words["span.m"].format(n=minutes))
    if not parts:
        parts.append(words["span.s"].format(n=secs))
    return " ".join(parts)


def _coordinates(site: Site | None) -> str | None:
    if site is None or site.lat is None or site.lon is None:
        return None
    return f"{site.lat:.5f}, {site.lon:.5f}"


def _dark_at(annotations: Mapping[str, str], timezone: str, language: str) -> str | None:
    """SiteGoingDark's predicted dark as a local time in the channel's words."""
    stamp = annotations.get("predicted_dark_timestamp")
    try:
        return format_time(float(stamp), timezone, language) if stamp else None
    except ValueError:
        return None


def alert_view(alert: Alert, language: str, timezone: str) -> dict[str, Any]:
    """What a template sees of one alert."""
    words = _words(language)
    site = alert.site or Site()
    annotations = dict(alert.annotations)
    return {
        "name": alert_title(alert.name, words),
        "alertname": alert.name,
        "target": alert.target,
        "severity": words.get(f"severity.{alert.severity}", alert.severity),
        "severity_code": alert.severity,
        "status": alert.status,
        "state": words[f"status.{alert.status}"],
        # The real reason first ("timed out (0/3 replies from 10.80.2.2 within the
        # deadline); failed checks: icmp"); a rule's rendered summary where there is
        # no description.
        "cause": alert_cause(annotations, words),
        "description": annotations.get("description", ""),
        "since": format_time(alert.starts_at, timezone, language),
        "ended": format_time(alert.ends_at, timezone, language),
        "duration": None
        if alert.ends_at is None
        else format_span(alert.ends_at - alert.starts_at, language),
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "address": site.address,
        "lat": site.lat,
        "lon": site.lon,
        "coordinates": _coordinates(alert.site),
        "contact": site.contact,
        "runbook": annotations.get("runbook_url") or annotations.get("runbook"),
        "target_address": annotations.get("address", ""),
        "affected": int(annotations.get("affected") or 0),
        "consequences": annotations.get("consequences", ""),
        "path": detail_words(annotations.get("path", ""), words),
        "link": alert.generator_url,
        "dark_at": _dark_at(annotations, timezone, language),
        "labels": dict(alert.labels),
        "annotations": annotations,
        "fingerprint": alert.fingerprint,
    }


def context(
    notification: Notification, *, language: str, timezone: str, instance: str
) -> dict[str, Any]:
    """The template context of a notification."""
    views = [alert_view(a, language, timezone) for a in notification.alerts]
    words = _words(language)
    return {
        "status": notification.status,
        "state": words[f"status.{notification.status}"],
        "reason": notification.reason,
        "instance": instance,
        "count": len(views),
        "group": dict(notification.group),
        "alerts": views,
        "alert": views[0] if views else {},
        "firing": [v for v in views if v["status"] == "firing"],
        "resolved": [v for v in views if v["status"] == "resolved"],
        "dedup_key": notification.key,
    }


class RenderError(Exception):
    """A template failed on this notification's data; retrying cannot help."""


@dataclass
class Renderer:
    """Renders notifications with the default or overriding templates.

    One per channel; compiled templates are cached on it (never globally).
    """

    language: str = "en"
    timezone: str = "UTC"
    instance: str = "continuity-monitor"

    def __post_init__(self) -> None:
        self._text = _environment(autoescape=False)
        self._html = _environment(autoescape=True)
        self._cache: dict[tuple[str, bool], Any] = {}

    def default(self, name: str) -> str:
        """The built-in template ``name`` (``title`` or ``text``) in this language."""
        return DEFAULTS.get(self.language, DEFAULTS["en"])[name]

    def compile(self, source: str, *, html: bool = False) -> Any:
        """The compiled template (cached); raises jinja2's TemplateSyntaxError."""
        template = self._cache.get((source, html))
        if template is None:
            env = self._html if html else self._text
            template = self._cache[(source, html)] = env.from_string(source)
        return template

    def context(self, notification: Notification) -> dict[str, Any]:
        return context(
            notification, language=self.language, timezone=self.timezone, instance=self.instance
        )

    def render(self, source: str, notification: Notification, *, html: bool = False) -> str:
        """Render ``source`` (template text) for ``notification``; RenderError if it fails."""
        template = self.compile(source, html=html)
        ctx = context(
            notification, language=self.language, timezone=self.timezone, instance=self.instance
        )
        try:
            return str(template.render(ctx))
        except Exception as exc:  # a template is user code: any error is its own
            raise RenderError(f"template failed: {type(exc).__name__}: {exc}") from None

    def title(self, notification: Notification, source: str | None = None) -> str:
        return self.render(source or self.default("title"), notification).strip()

    def text(self, notification: Notification, source: str | None = None) -> str:
        return self.render(source or self.default("text"), notification)


def sample_notifications() -> tuple[Notification, ...]:
    """A firing and a resolved notification with every field set, for load-time checks."""
    alert = Alert(
        labels={
            "alertname": "TargetDown",
            "target": "sample-site",
            "severity": "critical",
            "check": "icmp",
        },
        starts_at=1_700_000_000.0,
        annotations={
            "summary": "sample-site: down",
            "description": "0/3 replies from 10.80.0.2 within the deadline (check:icmp)",
            "reason": "timeout",
            "cause": "check:icmp",
            "runbook_url": "https://runbooks.example/target-down",
            "path": "path breaks after hop 2 (10.80.2.2, dp-rtr)",
        },
        site=Site(address="Binh Son, Quang Ngai", lat=15.29, lon=108.76, contact="+84 255 000 000"),
    )
    resolved = alert.resolved(1_700_000_600.0)
    return (
        Notification(key=alert.key, channel="sample", alerts=(alert,), created_at=1.7e9),
        Notification(key=resolved.key, channel="sample", alerts=(resolved,), created_at=1.7e9),
    )


def check_template(source: str, kind: Kind = "text") -> str:
    """Compile and render ``source`` with sample alerts; ValueError says what is wrong.

    ``kind="json"`` also requires the output to be valid JSON (webhook bodies).
    Returns the source, so it can serve as a pydantic validator.
    """
    renderer = Renderer()
    for sample in sample_notifications():
        try:
            template = renderer.compile(source, html=kind == "html")
            out = str(template.render(renderer.context(sample)))
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line else ""
            raise ValueError(f"bad template{where}: {exc.message or exc}") from None
        except Exception as exc:  # a template is user code: any error is its own
            raise ValueError(f"bad template: {type(exc).__name__}: {exc}") from None
        if kind == "json":
            try:
                json.loads(out)
            except ValueError as exc:
                raise ValueError(f"template does not render valid JSON: {exc}") from None
    return source
