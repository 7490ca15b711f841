"""The email channel against an aiosmtpd server: plain, STARTTLS with AUTH, implicit
TLS, HTML alternative, and the transient/permanent classification of SMTP replies."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import trustme

from alerts.channels.base import ChannelContext, PermanentError, TransientError
from alerts.channels.email import EmailChannel, EmailSettings
from alerts.model import Alert, Notification, Site
from tests.peers import SmtpServer

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[SmtpServer]:
    with SmtpServer(users={"noc": "smtp-pass"}, tls=server_context(ca)) as server:
        yield server


def settings(port: int, **extra: Any) -> EmailSettings:
    base = {
        "type": "email",
        "smarthost": f"127.0.0.1:{port}",
        "security": "none",
        "from": "Continuity <noc@example.vn>",
        "to": ["oncall@example.vn"],
        "timeout": "3s",
    }
    return EmailSettings.model_validate({**base, **extra})


def notification(target: str = "bts-binh-son-02") -> Notification:
    alert = Alert(
        labels={"alertname": "TargetDown", "target": target, "severity": "critical"},
        starts_at=T0,
        annotations={"summary": "no reply to ping"},
        site=Site(address="Binh Son, Quang Ngai", contact="+84 255 000 000"),
    )
    return Notification(alert.key, "mail", (alert,))


async def send(s: EmailSettings, language: str = "en", n: Notification | None = None) -> None:
    async with EmailChannel(s, ChannelContext("mail", "noc-1", language, "Asia/Ho_Chi_Minh")) as ch:
        await ch.send(n or notification())


def text_of(message: Message, subtype: str = "plain") -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/{subtype} part")


async def test_plain_delivery(smtp_server: SmtpServer) -> None:
    await send(settings(smtp_server.port))
    [message] = smtp_server.messages
    assert smtp_server.envelopes == [("noc@example.vn", ["oncall@example.vn"])]
    assert message["Subject"] == "[FIRING] Target down bts-binh-son-02"
    assert message["From"] == "Continuity <noc@example.vn>"
    assert message["X-Continuity-Dedup-Key"] == notification().key
    body = text_of(message)
    assert "Cause: no reply to ping" in body and "Contact: +84 255 000 000" in body


async def test_vietnamese_subject_and_body(smtp_server: SmtpServer) -> None:
    await send(settings(smtp_server.port), language="vi")
    [message] = smtp_server.messages
    assert (
        str(make_header(decode_header(message["Subject"])))
        == "[CẢNH BÁO] Mất kết nối bts-binh-son-02"
    )
    assert "Địa điểm: Binh Son, Quang Ngai" in text_of(message)


async def test_starttls_with_auth(tls_server: SmtpServer, ca_file: Path) -> None:
    s = settings(
        tls_server.port,
        security="starttls",
        username="noc",
        password="smtp-pass",
        ca_file=str(ca_file),
    )
    await send(s)
    assert tls_server.auth_attempts == ["noc"] and len(tls_server.messages) == 1


async def test_wrong_password_is_permanent(tls_server: SmtpServer, ca_file: Path) -> None:
    s = settings(
        tls_server.port,
        security="starttls",
        username="noc",
        password="wrong-pass",
        ca_file=str(ca_file),
    )
    with pytest.raises(PermanentError) as info:
        await send(s)
    assert str(info.value).startswith(f"SMTP 127.0.0.1:{tls_server.port}: 535")
    assert "wrong-pass" not in str(info.value)


async def test_untrusted_certificate_is_transient(tls_server: SmtpServer) -> None:
    # The system CAs do not know the test CA: the operator must fix ca_file; until then retry.
    s = settings(tls_server.port, security="starttls", username="noc", password="smtp-pass")
    with pytest.raises(TransientError):
        await send(s)


async def test_implicit_tls(ca: trustme.CA, ca_file: Path) -> None:
    server = SmtpServer(implicit_tls=server_context(ca))
    with server:
        await send(settings(server.port, security="tls", ca_file=str(ca_file)))
    assert len(server.messages) == 1


@pytest.mark.parametrize(
    ("to", "error", "code"),
    [("later@example.vn", TransientError, "451"), ("reject@example.vn", PermanentError, "550")],
)
async def test_recipient_replies(
    smtp_server: SmtpServer, to: str, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as info:
        await send(settings(smtp_server.port, to=[to]))
    assert f"({code})" in str(info.value)


async def test_one_recipient_refused_still_delivers(smtp_server: SmtpServer) -> None:
    await send(settings(smtp_server.port, to=["oncall@example.vn", "reject@example.vn"]))
    assert smtp_server.envelopes == [("noc@example.vn", ["oncall@example.vn"])]


async def test_html_alternative_is_escaped(smtp_server: SmtpServer) -> None:
    s = settings(smtp_server.port, html="<p>{{ alert.target }}: {{ alert.cause }}</p>")
    await send(s, n=notification("<b>bts</b>"))
    html = text_of(smtp_server.messages[0], "html")
    assert "<p>&lt;b&gt;bts&lt;/b&gt;: no reply to ping</p>" in html


async def test_custom_subject_template(smtp_server: SmtpServer) -> None:
    await send(settings(smtp_server.port, subject="{{ alert.target }} is {{ alert.status }}"))
    assert smtp_server.messages[0]["Subject"] == "bts-binh-son-02 is firing"
