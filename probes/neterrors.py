"""Network failures as result reasons, shared by the http, tcp and dns probes.

One exception type, :class:`ProbeFailure`, carries an expected failure
(reason and message) out of a probe's steps to its ``probe`` method, which
turns it into a result. :func:`os_failure` sorts an ``OSError`` from the
network: a refused connection, any other connect error, or the one that
says nothing about the target, :data:`LOCAL_RESOURCES`.

``local_resources``: this machine could not get a socket or a buffer
(``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``). The target was not
checked at all, so such a result must never count against it; the monitor
reports itself degraded instead. Every probe kind that opens sockets lists
the reason in its ``REASONS``.
"""

from __future__ import annotations

import errno
from typing import Final

__all__ = [
    "LOCAL_ERRNOS",
    "LOCAL_RESOURCES",
    "ProbeFailure",
    "local_errno",
    "local_failure",
    "os_failure",
    "os_text",
]

LOCAL_RESOURCES: Final = "local_resources"
"""The reason of a run that could not get a socket, descriptor or buffer here."""

LOCAL_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

_WHAT: Final = {
    errno.EMFILE: "no file descriptor left for this process (open files limit)",
    errno.ENFILE: "no file descriptor left on this machine (system-wide limit)",
    errno.ENOBUFS: "no socket buffer space left on this machine",
    errno.ENOMEM: "out of memory for a socket on this machine",
}


class ProbeFailure(Exception):
    """An expected failure on the way (caught in a prober's ``probe`` method).

    ``host`` and ``port`` say where, when a caller needs them (the HTTP
    probe reads a certificate that failed verification).
    """

    def __init__(self, reason: str, message: str, host: str = "", port: int = 0) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message
        self.host = host
        self.port = port


def os_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def local_errno(exc: BaseException | None) -> int | None:
    """The local-resource errno of ``exc`` or of an error it wraps, if any.

    Libraries wrap the ``OSError`` of ``socket()``: aiohttp in ``os_error``,
    others in ``__cause__`` / ``__context__``.
    """
    seen = 0
    while exc is not None and seen < 8:
        seen += 1
        code = getattr(exc, "errno", None)
        if code in LOCAL_ERRNOS:
            return int(code)
        inner = getattr(exc, "os_error", None)
        if isinstance(inner, OSError) and inner is not exc:
            exc = inner
            continue
        exc = exc.__cause__ or exc.__context__
    return None


def local_failure(exc: BaseException, doing: str) -> ProbeFailure | None:
    """``local_resources`` if ``exc`` (or what it wraps) is a shortage of this machine."""
    code = local_errno(exc)
    if code is None:
        return None
    return ProbeFailure(
        LOCAL_RESOURCES,
        f"{doing}: {_WHAT[code]} ({errno.errorcode[code]}); the target was not checked",
    )


def os_failure(exc: OSError, where: str) -> ProbeFailure:
    """An ``OSError`` from opening a connection to ``where`` (``host:port``)."""
    local = local_failure(exc, f"cannot connect to {where}")
    if local is not None:
        return local
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return ProbeFailure("connect_refused", f"connection to {where} refused")
    return ProbeFailure("connect_error", f"cannot connect to {where}: {os_text(exc)}")
