"""Delivery config: ``[channels.NAME]``, ``[alerts]``, ``[[alerts.routes]]`` (exact
messages with key paths), and the message templates in English and Vietnamese."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest

from alerts.channels.alertmanager import AlertmanagerSettings
from alerts.channels.email import EmailSettings
from alerts.channels.mqtt import MqttSettings
from alerts.channels.webhook import WebhookSettings
from alerts.config import alerts_language, validate_alerting
from alerts.model import Alert, Notification, Site
from alerts.templates import Renderer, check_template

GOOD = """
[channels.noc-mqtt]
type = "mqtt"
url = "mqtts://broker.noc.example:8883"
username = "continuity"
password = "env:TEST_MQTT_PASSWORD"

[channels.oncall]
type = "webhook"
url = "https://pager.example/hook"
secret = "env:TEST_PAGER_HMAC"
headers = { Authorization = "Bearer abc" }

[channels.am]
type = "alertmanager"
urls = ["http://127.0.0.1:9093", "http://127.0.0.2:9093"]

[channels.mail]
type = "email"
smarthost = "smtp.example.vn:587"
from = "noc@example.vn"
to = ["oncall@example.vn"]
username = "noc"
password = "literal-password"

[alerts]
language = "vi"

[[alerts.routes]]
match = { severity = "critical" }
channels = ["noc-mqtt", "oncall"]
repeat_interval = "30m"
continue = true
escalate_after = "15m"
escalate_to = ["mail"]
fallback = "mail"

[[alerts.routes]]
channels = ["am"]
group_by = ["site"]
group_wait = "0s"
"""


def load(text: str) -> tuple[dict[str, Any], Any, list[str]]:
    doc = tomllib.loads(text)
    channels, alerts, issues = validate_alerting(doc.get("channels", {}), doc.get("alerts"))
    return channels, alerts, [str(i) for i in issues]


def test_good_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MQTT_PASSWORD", "mqtt-pass")
    monkeypatch.setenv("TEST_PAGER_HMAC", "hmac-key")
    channels, alerts, issues = load(GOOD)
    assert issues == []
    mqtt = channels["noc-mqtt"]
    assert isinstance(mqtt, MqttSettings)
    assert mqtt.host_port == ("broker.noc.example", 8883) and mqtt.tls
    assert mqtt.qos == 1 and mqtt.topic == "continuity/alerts/{severity}/{target}"
    assert mqtt.password is not None and mqtt.password.reveal() == "mqtt-pass"
    assert "mqtt-pass" not in repr(mqtt)
    hook = channels["oncall"]
    assert isinstance(hook, WebhookSettings)
    assert "hmac-key" not in repr(hook) and "Bearer abc" not in repr(hook)
    assert isinstance(channels["am"], AlertmanagerSettings)
    mail = channels["mail"]
    assert isinstance(mail, EmailSettings)
    assert mail.sender == "noc@example.vn" and mail.security == "starttls"
    assert "literal-password" not in repr(mail)
    first, second = alerts.routes
    assert first.continue_ and first.repeat_interval == 1800 and first.escalate_after == 900
    assert second.repeat_interval == 4 * 3600 and second.send_resolved
    assert second.group_wait == 0 and second.group_by == ["site"]
    assert alerts_language(alerts, "en") == "vi"


def test_language_defaults_to_monitor() -> None:
    _, alerts, issues = load("")
    assert issues == [] and alerts_language(alerts, "vi") == "vi"


HOOK = '[channels.hook]\ntype = "webhook"\nurl = "https://h.example/x"\n'
MQTT = '[channels.m]\ntype = "mqtt"\nurl = "mqtt://127.0.0.1"\n'
ROUTE = '[[alerts.routes]]\nchannels = ["hook"]\n'

INVALID = [
    # (id, config text, exact errors)
    (
        "route-unknown-channel",
        HOOK + '[[alerts.routes]]\nchannels = ["hook", "pager"]\n',
        ["alerts.routes[0].channels[1]: unknown channel 'pager' (known: hook)"],
    ),
    (
        "route-unknown-channel-none-defined",
        '[[alerts.routes]]\nchannels = ["pager"]\n',
        ["alerts.routes[0].channels[0]: unknown channel 'pager' (known: none defined)"],
    ),
    (
        "unknown-fallback-and-escalation",
        HOOK + ROUTE + 'fallback = "sms"\nescalate_after = "5m"\nescalate_to = ["boss"]\n',
        [
            "alerts.routes[0].escalate_to[0]: unknown channel 'boss' (known: hook)",
            "alerts.routes[0].fallback: unknown channel 'sms' (known: hook)",
        ],
    ),
    (
        "escalation-half-set",
        HOOK + ROUTE + 'escalate_after = "5m"\n',
        ["alerts.routes[0]: escalate_after and escalate_to go together"],
    ),
    (
        "route-without-channels",
        HOOK + "[[alerts.routes]]\nmatch = {}\n",
        ["alerts.routes[0].channels: required key is missing"],
    ),
    (
        "route-empty-channels",
        HOOK + "[[alerts.routes]]\nchannels = []\n",
        ["alerts.routes[0].channels: must have at least 1 item(s)"],
    ),
    ("route-unknown-key", HOOK + ROUTE + "repeat = 3\n", ["alerts.routes[0].repeat: unknown key"]),
    (
        "route-bad-duration",
        HOOK + ROUTE + 'repeat_interval = "often"\n',
        [
            "alerts.routes[0].repeat_interval: expected a duration such as '30s', '5m' or '250ms', "
            "got 'often'"
        ],
    ),
    (
        "route-bad-regex",
        HOOK + ROUTE + 'match_re = { target = "bts-(" }\n',
        [
            "alerts.routes[0].match_re.target: not a valid regular expression 'bts-(' (RE2): "
            "missing ): bts-("
        ],
    ),
    (
        "alerts-language",
        '[alerts]\nlanguage = "fr"\n',
        ["alerts.language: must be one of 'en' or 'vi', got 'fr'"],
    ),
    ("alerts-unknown-key", "[alerts]\nlanguages = 1\n", ["alerts.languages: unknown key"]),
    (
        "mqtt-bad-scheme",
        '[channels.noc-mqtt]\ntype = "mqtt"\nurl = "http://broker:1883"\n',
        ["channels.noc-mqtt.url: expected an mqtt:// or mqtts:// URL, got http://"],
    ),
    (
        "mqtt-no-host",
        '[channels.noc-mqtt]\ntype = "mqtt"\nurl = "mqtt://:1883"\n',
        ["channels.noc-mqtt.url: expected an mqtt:// or mqtts:// URL with a host"],
    ),
    (
        "mqtt-bad-port",
        '[channels.noc-mqtt]\ntype = "mqtt"\nurl = "mqtt://broker:99999"\n',
        ["channels.noc-mqtt.url: expected an mqtt:// or mqtts:// URL with a valid port"],
    ),
    (
        "mqtt-unknown-placeholder",
        MQTT + 'topic = "noc/{sevrity}/{target}"\n',
        [
            "channels.m.topic: unknown placeholder {sevrity} (available: {severity}, {target}, "
            "{alertname}, {status}, {instance}, {fingerprint})"
        ],
    ),
    (
        "mqtt-wildcard-topic",
        MQTT + 'state_topic = "state/#"\n',
        ["channels.m.state_topic: a topic to publish to cannot contain the wildcards + or #"],
    ),
    ("mqtt-qos", MQTT + "qos = 3\n", ["channels.m.qos: must be one of 0, 1 or 2, got 3"]),
    (
        "mqtt-tls-files-without-mqtts",
        MQTT + 'ca_file = "/etc/hostname"\n',
        ["channels.m: ca_file, cert_file and key_file need an mqtts:// URL"],
    ),
    (
        "mqtt-unreadable-ca",
        '[channels.m]\ntype = "mqtt"\nurl = "mqtts://b"\nca_file = "/nonexistent/ca.pem"\n',
        ["channels.m.ca_file: cannot read file /nonexistent/ca.pem"],
    ),
    (
        "missing-secret-env",
        MQTT + 'username = "u"\npassword = "env:TEST_NOT_SET_ANYWHERE"\n',
        ["channels.m.password: environment variable TEST_NOT_SET_ANYWHERE is not set"],
    ),
    (
        "unknown-type",
        '[channels.p]\ntype = "pagerduty"\n',
        [
            "channels.p.type: unknown channel type 'pagerduty' "
            "(available: alertmanager, email, mqtt, webhook)"
        ],
    ),
    ("missing-type", '[channels.p]\nurl = "x"\n', ["channels.p.type: required key is missing"]),
    ("channel-not-a-table", "channels.p = 5\n", ["channels.p: expected a table, got 5"]),
    ("channel-unknown-key", HOOK + "retries = 3\n", ["channels.hook.retries: unknown key"]),
    (
        "channel-bad-name",
        '[channels."no tify"]\ntype = "webhook"\nurl = "https://h/x"\n',
        [
            'channels."no tify": channel names must start with a letter or digit and hold only '
            "letters, digits, '-', '_' and '.' (at most 63)"
        ],
    ),
    (
        "webhook-url",
        '[channels.hook]\ntype = "webhook"\nurl = "ftp://h/x?token=SECRET"\n',
        ["channels.hook.url: expected an http:// or https:// URL, got ftp://"],
    ),
    (
        "webhook-bad-template",
        HOOK + "template = '{\"t\": {{ alert.nmae | tojson }}}'\n",
        ["channels.hook.template: bad template: 'dict object' has no attribute 'nmae'"],
    ),
    (
        "webhook-template-syntax",
        HOOK + "template = '{% for a in alerts %}'\n",
        [
            "channels.hook.template: bad template (line 1): Unexpected end of template. Jinja was "
            "looking for the following tags: 'endfor' or 'else'. The innermost block that needs to "
            "be closed is 'for'."
        ],
    ),
    (
        "webhook-template-not-json",
        HOOK + "template = '{{ alert.target }}'\n",
        [
            "channels.hook.template: template does not render valid JSON: "
            "Expecting value: line 1 column 1 (char 0)"
        ],
    ),
    (
        "webhook-template-sandboxed",
        HOOK + "template = '{{ alert.__class__.__mro__ }}'\n",
        [
            "channels.hook.template: bad template: access to attribute '__class__' of 'dict' "
            "object is unsafe."
        ],
    ),
    (
        "email-bad-subject",
        '[channels.mail]\ntype = "email"\nsmarthost = "smtp:25"\nfrom = "a@b.vn"\n'
        'to = ["c@d.vn"]\nsubject = "{{ alert.target"\n',
        [
            "channels.mail.subject: bad template (line 1): unexpected end of template, "
            "expected 'end of print statement'."
        ],
    ),
    (
        "email-fields",
        '[channels.mail]\ntype = "email"\nsmarthost = "smtp"\nfrom = "noc"\nto = []\n'
        'security = "ssl"\nusername = "u"\n',
        [
            "channels.mail.smarthost: expected HOST:PORT such as 'smtp.example.vn:587', got 'smtp'",
            "channels.mail.security: must be one of 'starttls', 'tls' or 'none', got 'ssl'",
            "channels.mail.from: expected an email address, got 'noc'",
            "channels.mail.to: must have at least 1 item(s)",
        ],
    ),
    (
        "alertmanager-urls",
        '[channels.am]\ntype = "alertmanager"\nurls = ["http://127.0.0.1:9093", "am:9093"]\n',
        ["channels.am.urls[1]: expected an http:// or https:// URL, got am://"],
    ),
    (
        "alertmanager-two-auths",
        '[channels.am]\ntype = "alertmanager"\nurls = ["http://127.0.0.1:9093"]\n'
        'bearer_token = "t"\nusername = "u"\npassword = "p"\n',
        ["channels.am: set either bearer_token or username/password, not both"],
    ),
    (
        "timeout-zero",
        HOOK + 'timeout = "0s"\n',
        ["channels.hook.timeout: must be greater than 0, got 0ms"],
    ),
    (
        "every-error-at-once",
        '[channels.m]\ntype = "mqtt"\nurl = "tcp://x"\n[[alerts.routes]]\nchannels = ["m", "x"]\n',
        [
            "channels.m.url: expected an mqtt:// or mqtts:// URL, got tcp://",
            # 'm' is declared (if invalid): only the truly unknown name is reported
            "alerts.routes[0].channels[1]: unknown channel 'x' (known: m)",
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid(text: str, expected: list[str]) -> None:
    _, _, issues = load(text)
    assert issues == expected


# -- templates --------------------------------------------------------------------

ALERT = Alert(
    labels={"alertname": "TargetDown", "target": "bts-binh-son-02", "severity": "critical"},
    starts_at=1_700_000_000.0,
    annotations={"summary": "no reply to ping", "runbook_url": "https://runbooks.example/down"},
    site=Site(address="Binh Son, Quang Ngai", lat=15.29, lon=108.76, contact="+84 255 000 000"),
)


def notification(alert: Alert) -> Notification:
    return Notification(key=alert.key, channel="c", alerts=(alert,))


def test_english_text() -> None:
    r = Renderer("en", "Asia/Ho_Chi_Minh", "noc-qng-1")
    firing = notification(ALERT)
    assert r.title(firing) == "[FIRING] Target down bts-binh-son-02"
    assert r.text(firing) == (
        "FIRING: Target down on bts-binh-son-02 (critical)\n"
        "Cause: no reply to ping\n"
        "Since: 2023-11-15 05:13:20 +07\n"
        "Site: Binh Son, Quang Ngai\n"
        "Coordinates: 15.29000, 108.76000\n"
        "Contact: +84 255 000 000\n"
        "Runbook: https://runbooks.example/down\n"
        "\n"
        "-- continuity-monitor noc-qng-1\n"
    )
    resolved = notification(ALERT.resolved(1_700_003_725.0))
    assert r.title(resolved) == "[RESOLVED] Target down bts-binh-son-02"
    assert "Ended: 2023-11-15 06:15:25 +07 (lasted 1h 2m)\n" in r.text(resolved)


# A state alert as the rule engine makes it: the English description with the codes.
STATE_ALERT = Alert(
    labels=ALERT.labels,
    starts_at=ALERT.starts_at,
    annotations={
        "summary": "bts-binh-son-02: down",
        "description": "0/3 replies from 10.80.3.12 within the deadline (check:icmp)",
        "reason": "timeout",
        "cause": "check:icmp",
        "runbook_url": "https://runbooks.example/down",
    },
    site=ALERT.site,
)


def test_english_text_of_a_state_alert_has_no_codes() -> None:
    text = Renderer("en", "Asia/Ho_Chi_Minh", "noc-qng-1").text(notification(STATE_ALERT))
    assert (
        "Cause: timed out (0/3 replies from 10.80.3.12 within the deadline); failed checks: icmp\n"
    ) in text
    assert "check:icmp" not in text


def test_vietnamese_text() -> None:
    r = Renderer("vi", "Asia/Ho_Chi_Minh", "noc-qng-1")
    assert r.title(notification(STATE_ALERT)) == "[CẢNH BÁO] Mất kết nối bts-binh-son-02"
    text = r.text(notification(STATE_ALERT.resolved(1_700_000_600.0)))
    assert text.startswith("ĐÃ KHẮC PHỤC: Mất kết nối tại bts-binh-son-02 (mức nghiêm trọng)\n")
    for line in (
        "Nguyên nhân: hết thời gian chờ (0/3 gói trả lời từ 10.80.3.12 trong thời hạn chờ); "
        "kiểm tra lỗi: icmp",
        "Bắt đầu lúc: 05:13:20 ngày 15/11/2023 (+07)",
        "Kết thúc lúc: 05:23:20 ngày 15/11/2023 (+07) (kéo dài 10 phút)",
        "Địa điểm: Binh Son, Quang Ngai",
        "Tọa độ: 15.29000, 108.76000",
        "Liên hệ: +84 255 000 000",
        "Hướng dẫn xử lý: https://runbooks.example/down",
    ):
        assert line + "\n" in text


def test_group_title_counts_the_rest() -> None:
    other = Alert({**ALERT.labels, "target": "b"}, ALERT.starts_at)
    n = Notification("k", "c", (ALERT, other))
    assert Renderer("en").title(n) == "[FIRING] Target down bts-binh-son-02 (+1 more)"
    assert Renderer("vi").title(n) == "[CẢNH BÁO] Mất kết nối bts-binh-son-02 (+1 cảnh báo khác)"


def test_html_autoescapes_and_text_does_not() -> None:
    hostile = Alert({**ALERT.labels, "target": "<script>x</script>"}, ALERT.starts_at)
    n = notification(hostile)
    source = "<p>{{ alert.target }}</p>"
    assert check_template(source, "html") == source
    assert Renderer().render(source, n, html=True) == "<p>&lt;script&gt;x&lt;/script&gt;</p>"
    assert Renderer().render("{{ alert.target }}", n) == "<script>x</script>"


def test_json_template_with_tojson() -> None:
    source = '{"text": {{ alert.target | tojson }}, "n": {{ count }}}'
    check_template(source, "json")
    tricky = Alert({**ALERT.labels, "target": 'a"b\\c'}, ALERT.starts_at)
    assert json.loads(Renderer().render(source, notification(tricky))) == {
        "text": 'a"b\\c',
        "n": 1,
    }


def test_webhook_url_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", "https://hooks.example/services/T0/B0/XYZ?token=abc")
    channels, _, issues = load('[channels.hook]\ntype = "webhook"\nurl = "env:TEST_HOOK_URL"\n')
    assert issues == []
    hook = channels["hook"]
    assert hook.url.reveal() == "https://hooks.example/services/T0/B0/XYZ?token=abc"
    assert str(hook.url) == "https://hooks.example/<secret>"
    assert "XYZ" not in repr(hook) and "abc" not in repr(hook)
    _, _, issues = load('[channels.am]\ntype = "alertmanager"\nurls = ["http://127.0.0.1:9093"]\n')
    assert issues == []
