"""URLs shown to people: passwords and query values replaced, as Prometheus does.

A target address may be ``https://user:PASS@host/health?token=T``: the
address is needed to probe, but wherever it is shown (API, status pages,
logs, probe output, alert texts) it becomes
``https://user:<secret>@host/health?token=<secret>``. Every query value is
replaced, not only those of keys that look sensitive: a health URL's query
is as often a token as anything else, and the keys (kept) say enough to
recognise it. A fragment is replaced too. Text that is not a URL with a
scheme (a host name, an IP address) is returned unchanged.
"""

from __future__ import annotations

import re
import urllib.parse

SECRET = "<secret>"  # noqa: S105 - the placeholder shown instead of one
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s\"'<>]+")


def redact_url(text: str) -> str:
    """``text`` with a URL's password, query values and fragment replaced by ``<secret>``."""
    if "://" not in text:
        return text
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return text.split("://", 1)[0] + "://" + SECRET  # unparsable: show nothing of it
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{SECRET}@{hostport}" if colon else f"{user}@{hostport}"
    query = "&".join(
        f"{key}={SECRET}" if sep else key
        for key, sep, _ in (item.partition("=") for item in parts.query.split("&") if item)
    )
    fragment = SECRET if parts.fragment else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_urls(text: str) -> str:
    """Every URL inside a free text (a probe's message) redacted with :func:`redact_url`."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
