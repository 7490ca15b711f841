"""TLS pieces shared by the ``http`` and ``tcp`` kinds.

* :class:`TlsCheckSettings`: the TLS keys both kinds accept (``verify_tls``,
  ``ca_file``, ``client_cert_file``/``client_key_file``, ``server_name``,
  ``cert_min_days``), with the files checked when the config is loaded so a
  missing or malformed file is a config error naming the key.
* :class:`TlsContexts`: one :class:`ssl.SSLContext` per distinct TLS setting,
  built on first use and kept by the prober, because building one with the
  system trust store costs about 20 ms.
* :func:`peer_certificates`: the certificate figures of an established
  connection (leaf expiry, earliest expiry in the presented chain, subjects,
  protocol version), and :func:`fetch_certificates`, a separate unverified
  handshake used only after verification failed, so an expired certificate
  still shows its expiry timestamp.
* :func:`tls_samples`, :func:`tls_values`, :func:`expiry_event`: what a
  result carries about certificates, identical for both kinds.
* :func:`verify_failure`: a certificate verification error as a reason code
  (``tls_expired``, ``tls_hostname``, ``tls_verify``) and a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

from cryptography import x509
from pydantic import AfterValidator, Field, model_validator

from monitor.contract import CheckSettings, MetricFamily, ProbeEvent, Sample

__all__ = [
    "CERT_EXPIRY_METRIC",
    "CHAIN_EXPIRY_METRIC",
    "TLS_FAMILIES",
    "TLS_VALUES",
    "TLS_VERSION_METRIC",
    "PeerCertificates",
    "TlsCheckSettings",
    "TlsContexts",
    "certificates_from_der",
    "expiry_event",
    "fetch_certificates",
    "peer_certificates",
    "tls_samples",
    "tls_values",
    "verify_failure",
]

CERT_EXPIRY_METRIC: Final = "continuity_tls_certificate_expiry_timestamp_seconds"
CHAIN_EXPIRY_METRIC: Final = "continuity_tls_chain_earliest_expiry_timestamp_seconds"
TLS_VERSION_METRIC: Final = "continuity_tls_version_info"

TLS_FAMILIES: Final = (
    MetricFamily(
        CERT_EXPIRY_METRIC,
        "gauge",
        "UNIX time the server's leaf certificate expires (notAfter).",
    ),
    MetricFamily(
        CHAIN_EXPIRY_METRIC,
        "gauge",
        "UNIX time the first certificate of the presented chain expires "
        "(an intermediate may expire before the leaf).",
    ),
    # ``tls_version``, not ``version``: a target label named ``version`` (a firmware
    # release, say) would otherwise collide and make the whole scrape invalid.
    MetricFamily(
        TLS_VERSION_METRIC, "info", "1 with the negotiated TLS version as label tls_version."
    ),
)

EXPIRING_EVENT: Final = "CertificateExpiring"
_DAY: Final = 86400.0

# OpenSSL X509_V_ERR_* codes that get their own reason: the operator's action
# differs (renew the certificate, fix the name) from a generic trust problem.
_EXPIRED_CODES: Final = frozenset({10})  # X509_V_ERR_CERT_HAS_EXPIRED
_HOSTNAME_CODES: Final = frozenset({62, 64})  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


class _NoPassword(Exception):
    """Raised by the password callback: an encrypted key cannot be used unattended."""


def _refuse_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal and block the daemon.
    raise _NoPassword


def _readable(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise ValueError(f"{what} {path} does not exist or is not a file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{what} {path} is not readable")


def _ca_file(path: str) -> str:
    """A CA bundle that exists and holds at least one PEM certificate."""
    _readable(path, "CA file")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError:
        raise ValueError(f"CA file {path} holds no PEM certificate") from None
    return path


def check_client_pair(cert: str, key: str | None) -> None:
    """Load a client certificate (and key) once, to report problems at config load."""
    _readable(cert, "client certificate")
    if key is not None:
        _readable(key, "client key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(cert, key, password=_refuse_password)
    except _NoPassword:
        raise ValueError(
            "the client key is encrypted; use an unencrypted key file readable only by the monitor"
        ) from None
    except ssl.SSLError as exc:
        raise ValueError(
            f"cannot use {cert}" + (f" with key {key}" if key else "") + f": {_ssl_text(exc)}"
        ) from None


def _server_name(value: str) -> str:
    if not value or any(c.isspace() for c in value) or "/" in value:
        raise ValueError(f"expected a host name such as 'tracking.example.vn', got {value!r}")
    return value


class TlsCheckSettings(CheckSettings):
    """TLS keys shared by ``http`` and ``tcp`` (``tcp`` uses them when ``tls = true``).

    File paths are read when the config is loaded (relative paths from the
    daemon's working directory; prefer absolute ones).
    """

    verify_tls: bool = True
    ca_file: Annotated[str, AfterValidator(_ca_file)] | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    server_name: Annotated[str, AfterValidator(_server_name)] | None = None
    cert_min_days: Annotated[int, Field(ge=0, le=3650)] = 14

    @model_validator(mode="after")
    def _client_pair(self) -> TlsCheckSettings:
        if self.client_key_file is not None and self.client_cert_file is None:
            raise ValueError("client_key_file needs client_cert_file")
        if self.client_cert_file is not None:
            check_client_pair(self.client_cert_file, self.client_key_file)
        return self

    @property
    def tls_key(self) -> tuple[bool, str | None, str | None, str | None]:
        """What makes TLS contexts differ; the key of :class:`TlsContexts`."""
        return (self.verify_tls, self.ca_file, self.client_cert_file, self.client_key_file)


# --------------------------------------------------------------------------
# Contexts
# --------------------------------------------------------------------------


def build_context(
    verify: bool, ca_file: str | None, cert: str | None, key: str | None
) -> ssl.SSLContext:
    """A client context. With ``ca_file`` only that bundle is trusted (a private CA)."""
    if verify:
        context = ssl.create_default_context(cafile=ca_file)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(cert, key, password=_refuse_password)
    return context


class TlsContexts:
    """SSL contexts by TLS setting, built once each (a prober owns one of these)."""

    _LIMIT: Final = 1024  # distinct settings; past it the cache starts over

    def __init__(self) -> None:
        self._contexts: dict[tuple[bool, str | None, str | None, str | None], ssl.SSLContext] = {}
        self._unverified: ssl.SSLContext | None = None

    def get(self, settings: TlsCheckSettings) -> ssl.SSLContext | str:
        """The context for these settings, or a message when it cannot be built.

        Files were checked at config load; they may have changed since, so a
        failure here is a result (``tls_config``), not a crash.
        """
        key = settings.tls_key
        context = self._contexts.get(key)
        if context is not None:
            return context
        try:
            context = build_context(*key)
        except _NoPassword:
            return f"the client key {settings.client_key_file} is encrypted"
        except (OSError, ssl.SSLError) as exc:
            return f"cannot set up TLS: {_ssl_text(exc)}"
        if len(self._contexts) >= self._LIMIT:
            self._contexts.clear()
        self._contexts[key] = context
        return context

    def unverified(self) -> ssl.SSLContext:
        """A context that accepts any certificate: only to read one after a failure."""
        if self._unverified is None:
            self._unverified = build_context(False, None, None, None)
        return self._unverified


_SSL_NOISE: Final = re.compile(r"^\[[A-Z0-9_ ]+\]\s*|\s*\(_ssl\.c:\d+\)$")
# OpenSSL's words for a file that is not what it should be say little.
_SSL_PLAIN: Final = {"pem lib": "no PEM certificate and private key found"}


def _ssl_text(exc: BaseException) -> str:
    """OpenSSL's reason without the ``[SSL: X]`` prefix and ``(_ssl.c:123)`` suffix."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        text = str(exc.reason).lower().replace("_", " ")
    elif isinstance(exc, OSError) and exc.strerror:
        text = _SSL_NOISE.sub("", exc.strerror)
    else:
        text = _SSL_NOISE.sub("", str(exc)) or type(exc).__name__
    return _SSL_PLAIN.get(text.lower(), text)


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerCertificates:
    """What a handshake showed: protocol version and expiry figures of the chain."""

    version: str
    leaf_subject: str
    leaf_not_after: float
    earliest_subject: str
    earliest_not_after: float

    def days_left(self, now: float) -> float:
        """Days until the first certificate of the chain expires (negative once expired)."""
        return (self.earliest_not_after - now) / _DAY


def certificates_from_der(version: str, chain: Sequence[bytes]) -> PeerCertificates | None:
    """Figures of a presented chain (leaf first, as sent); ``None`` without a certificate."""
    parsed = []
    for der in chain:
        try:
            parsed.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue  # one unparsable extra certificate must not hide the others
    if not parsed:
        return None
    leaf = parsed[0]
    earliest = min(parsed, key=lambda c: c.not_valid_after_utc)
    return PeerCertificates(
        version=version,
        leaf_subject=_subject(leaf),
        leaf_not_after=leaf.not_valid_after_utc.timestamp(),
        earliest_subject=_subject(earliest),
        earliest_not_after=earliest.not_valid_after_utc.timestamp(),
    )


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def presented_chain(ssl_object: Any) -> list[bytes]:
    """The certificates the server sent, leaf first, as DER.

    Python 3.13 has ``SSLObject.get_unverified_chain()``; 3.11 and 3.12 have
    the same call one level down, on the ``_ssl`` object. Without either,
    the leaf alone.
    """
    public = getattr(ssl_object, "get_unverified_chain", None)
    if public is not None:
        return [bytes(c) for c in public() or ()]
    inner = getattr(ssl_object, "_sslobj", None)
    getter = getattr(inner, "get_unverified_chain", None)
    if getter is not None:
        import _ssl  # noqa: PLC0415 (only where the private API is the way)

        return [c.public_bytes(_ssl.ENCODING_DER) for c in getter() or ()]
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def peer_certificates(ssl_object: Any) -> PeerCertificates | None:
    """Figures of an established TLS connection's peer (``None`` without a certificate)."""
    if ssl_object is None:
        return None
    return certificates_from_der(ssl_object.version() or "unknown", presented_chain(ssl_object))


async def fetch_certificates(
    contexts: TlsContexts,
    host: str,
    port: int,
    server_hostname: str,
    *,
    deadline: float,
    local_addr: tuple[str, int] | None = None,
) -> PeerCertificates | None:
    """Handshake without verification to read the certificates, ``None`` if that fails too.

    Used only after a verification failure, so an expired or untrusted
    certificate still exports its expiry; costs one extra handshake then.
    """
    writer = None
    try:
        async with asyncio.timeout_at(deadline):
            _, writer = await asyncio.open_connection(
                host,
                port,
                ssl=contexts.unverified(),
                server_hostname=server_hostname,
                local_addr=local_addr,
            )
            return peer_certificates(writer.get_extra_info("ssl_object"))
    except (OSError, TimeoutError, ssl.SSLError, ValueError):
        return None
    finally:
        if writer is not None:
            writer.transport.abort()  # no TLS close_notify exchange: we are done with it


# --------------------------------------------------------------------------
# What results carry
# --------------------------------------------------------------------------


def tls_samples(certs: PeerCertificates) -> list[Sample]:
    """Expiry timestamps (leaf, earliest in chain) and the TLS version."""
    return [
        Sample(CERT_EXPIRY_METRIC, certs.leaf_not_after),
        Sample(CHAIN_EXPIRY_METRIC, certs.earliest_not_after),
        Sample(TLS_VERSION_METRIC, 1.0, (("tls_version", certs.version),)),
    ]


TLS_VALUES: Final = frozenset(
    {"cert_expiry_timestamp_seconds", "chain_expiry_timestamp_seconds", "cert_days_left"}
)


def tls_values(certs: PeerCertificates, now: float) -> dict[str, float]:
    """Named figures for rules: ``<kind>.cert_days_left`` is the one to alert on."""
    return {
        "cert_expiry_timestamp_seconds": certs.leaf_not_after,
        "chain_expiry_timestamp_seconds": certs.earliest_not_after,
        "cert_days_left": round(certs.days_left(now), 4),
    }


def expiry_event(
    certs: PeerCertificates, now: float, min_days: int, check: str
) -> ProbeEvent | None:
    """A ``CertificateExpiring`` warning while the chain expires within ``min_days``.

    Emitted on every run where it holds (the alerting layer dedups by
    identity); the check itself stays ok.
    """
    days_left = certs.days_left(now)
    if days_left >= min_days:
        return None
    which = (
        "certificate"
        if certs.earliest_subject == certs.leaf_subject
        and certs.earliest_not_after == certs.leaf_not_after
        else "chain certificate"
    )
    when = datetime.datetime.fromtimestamp(certs.earliest_not_after, datetime.UTC)
    state = "expired" if days_left < 0 else "expires"
    message = (
        f"{which} {certs.earliest_subject} {state} {when:%Y-%m-%d %H:%M} UTC "
        f"({days_left:.1f} days left, cert_min_days {min_days})"
    )
    return ProbeEvent(
        EXPIRING_EVENT,
        message,
        labels=(("check", check),),
        values={
            "days_left": round(days_left, 4),
            "expiry_timestamp_seconds": certs.earliest_not_after,
        },
    )


def verify_failure(exc: ssl.SSLCertVerificationError) -> tuple[str, str]:
    """A verification error as (reason, message)."""
    code = getattr(exc, "verify_code", None)
    text = getattr(exc, "verify_message", None) or _ssl_text(exc)
    if code in _EXPIRED_CODES:
        return "tls_expired", f"certificate verify failed: {text}"
    if code in _HOSTNAME_CODES:
        return "tls_hostname", f"certificate verify failed: {text}"
    return "tls_verify", f"certificate verify failed: {text}"


def tls_error_text(exc: BaseException) -> str:
    """A short text for a handshake failure that is not a verification error."""
    return _ssl_text(exc)


def close_quietly(writer: asyncio.StreamWriter | None) -> None:
    """Drop a connection without waiting (TLS close_notify is not worth a deadline)."""
    if writer is not None:
        with contextlib.suppress(Exception):
            writer.transport.abort()
