"""Email channel: one message per notification through an SMTP smarthost (aiosmtplib).

Subject and body come from the language's default templates or the
channel's own (``subject``, ``body``; ``html`` adds an HTML alternative,
rendered with autoescaping). ``security`` is ``starttls`` (required),
``tls`` (implicit TLS, usually port 465) or ``none``. A 4xx reply or a
connection problem is transient; a 5xx reply (unknown recipient, rejected
authentication) is permanent. One connection per message: SMTP servers drop
idle sessions, and alerts are rare.
"""

from __future__ import annotations

import email.utils
import ssl
from email.message import EmailMessage
from typing import Annotated, Literal

import aiosmtplib
from pydantic import AfterValidator, Field, model_validator

from alerts.channels.base import (
    ChannelContext,
    ChannelKind,
    ChannelSettings,
    PermanentError,
    TransientError,
    readable_file,
)
from alerts.channels.webhook import os_reason
from alerts.model import Notification
from alerts.templates import Renderer, RenderError, check_template
from monitor.config_types import SecretStr


def _smarthost(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT such as 'smtp.example.vn:587', got {value!r}")
    return value


def _text_template(value: str | None) -> str | None:
    return None if value is None else check_template(value, "text")


def _html_template(value: str | None) -> str | None:
    return None if value is None else check_template(value, "html")


def _address(value: str) -> str:
    _, addr = email.utils.parseaddr(value)
    if "@" not in addr:
        raise ValueError(f"expected an email address, got {value!r}")
    return value


Address = Annotated[str, AfterValidator(_address)]
TextTemplate = Annotated[str | None, AfterValidator(_text_template)]


class EmailSettings(ChannelSettings):
    """``[channels.NAME]`` with ``type = "email"``."""

    type: Literal["email"]
    smarthost: Annotated[str, AfterValidator(_smarthost)]
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: Address = Field(alias="from")
    to: Annotated[list[Address], Field(min_length=1)]
    subject: TextTemplate = None
    body: TextTemplate = None
    html: Annotated[str | None, AfterValidator(_html_template)] = None
    ca_file: Annotated[str | None, AfterValidator(readable_file)] = None

    @model_validator(mode="after")
    def _auth_pair(self) -> EmailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.smarthost.rpartition(":")
        return host.strip("[]"), int(port)


def classify_smtp(exc: BaseException, host: str, port: int) -> TransientError | PermanentError:
    """An aiosmtplib failure as a safe transient or permanent error."""
    where = f"SMTP {host}:{port}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        codes = [r.code for r in exc.recipients]
        text = f"{where}: all recipients refused ({', '.join(map(str, codes))})"
        return PermanentError(text) if all(c >= 500 for c in codes) else TransientError(text)
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code > 0:
        text = f"{where}: {exc.code} {exc.message}".strip()
        return PermanentError(text) if 500 <= exc.code < 600 else TransientError(text)
    if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError):
        return TransientError(f"{where}: timed out")
    return TransientError(f"{where}: {os_reason(exc)}")


class EmailChannel:
    """Sends each notification as one email."""

    def __init__(self, settings: EmailSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self.renderer = Renderer(context.language, context.timezone, context.instance)

    async def __aenter__(self) -> EmailChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def message(self, notification: Notification) -> EmailMessage:
        s = self.settings
        message = EmailMessage()
        message["Subject"] = self.renderer.title(notification, s.subject)
        message["From"] = s.sender
        message["To"] = ", ".join(s.to)
        message["Date"] = email.utils.formatdate(localtime=False)
        message["Message-ID"] = email.utils.make_msgid(domain="continuity-monitor")
        message["X-Continuity-Dedup-Key"] = notification.key
        message.set_content(self.renderer.text(notification, s.body))
        if s.html is not None:
            message.add_alternative(
                self.renderer.render(s.html, notification, html=True), subtype="html"
            )
        return message

    async def send(self, notification: Notification) -> None:
        s = self.settings
        host, port = s.host_port
        try:
            message = self.message(notification)
        except RenderError as exc:
            raise PermanentError(str(exc)) from None
        tls = ssl.create_default_context(cafile=s.ca_file) if s.security != "none" else None
        try:
            await aiosmtplib.send(
                message,
                hostname=host,
                port=port,
                username=s.username,
                password=s.password.reveal() if s.password is not None else None,
                use_tls=s.security == "tls",
                start_tls=s.security == "starttls",
                tls_context=tls,
                timeout=s.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise classify_smtp(exc, host, port) from None


def open_email(settings: EmailSettings, context: ChannelContext) -> EmailChannel:
    return EmailChannel(settings, context)


KIND = ChannelKind("email", EmailSettings, open_email, "email through an SMTP smarthost")
