"""The daily commands against a running daemon: maintenance, silences, acks, status.

They talk to the daemon's HTTP API (``/api/v1``) like curl would, so what
they can do is exactly what the API allows. Where the daemon is and which
token to send is found, first match wins, in:

1. ``--url`` / ``--token`` on the command line;
2. the environment: ``CONTINUITY_URL``, ``CONTINUITY_TOKEN`` (and
   ``CONTINUITY_BASIC_AUTH=user:password`` when reads need basic auth);
3. the config file (``--config``, default ``config.toml``): ``[monitor]
   listen`` (``https`` when ``[web]`` has TLS files) and ``[web] api_token``
   (``env:``/``file:`` references resolved as the daemon resolves them).

What the commands print is in the config's ``[monitor] language``
(``monitor.i18n``); identifiers (target names, ids, check kinds) as they are.

Every failure is one line on stderr: the daemon is not running, the token
is refused, or the API's own message naming the field it refused.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import signal
import ssl
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from monitor.config_types import parse_duration
from monitor.i18n import LANGUAGES, cause_words, detail_words, failure_words, texts
from monitor.web.api import parse_rfc3339, rfc3339
from monitor.web.security import WebSection

ENV_URL = "CONTINUITY_URL"
ENV_TOKEN = "CONTINUITY_TOKEN"  # noqa: S105 - the name of a variable, not a secret
ENV_BASIC = "CONTINUITY_BASIC_AUTH"
DEFAULT_URL = "http://127.0.0.1:9925"
TIMEOUT = 10.0

# States shown by ``status``: everything a person has to look at.
NOT_UP = ("down", "unreachable", "isolated", "flapping", "maintenance")


ENGLISH = texts("en")  # errors raised before the config (and so the language) is read


class ClientError(Exception):
    """A one-line message for the operator (exit code 1)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the daemon answers and what to authenticate with."""

    url: str
    token: str | None = None
    basic: str | None = None  # "user:password"
    cafile: str | None = None
    language: str = "en"  # [monitor] language: the words of the output


def endpoint_from(
    config: Path, url: str | None, token: str | None, environ: Mapping[str, str]
) -> Endpoint:
    """Resolve the endpoint from flags, environment and config (in that order)."""
    from_file = _from_config(config) if config.is_file() else Endpoint(DEFAULT_URL)
    return Endpoint(
        url=(url or environ.get(ENV_URL) or from_file.url).rstrip("/"),
        token=token or environ.get(ENV_TOKEN) or from_file.token,
        basic=environ.get(ENV_BASIC),
        cafile=from_file.cafile,
        language=from_file.language,
    )


def _from_config(path: Path) -> Endpoint:
    """``[monitor] listen`` and ``[web]`` of the config; nothing else is read."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ClientError(f"cannot read {path}: {exc}") from None
    monitor = document.get("monitor", {})
    listen = monitor.get("listen", "127.0.0.1:9925") if isinstance(monitor, dict) else ""
    language = monitor.get("language", "en") if isinstance(monitor, dict) else "en"
    try:
        web = WebSection.model_validate(document.get("web", {}))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ClientError(f"{path}: web.{where}: {first['msg']}") from None
    host, _, port = str(listen).rpartition(":")
    if host in ("", "0.0.0.0"):  # noqa: S104 - an address read from the config
        host = "127.0.0.1"
    elif host == "[::]":
        host = "[::1]"
    scheme = "https" if web.tls_cert_file else "http"
    return Endpoint(
        url=f"{scheme}://{host}:{port}",
        token=web.api_token.reveal() if web.api_token is not None else None,
        cafile=web.tls_cert_file,
        language=language if language in LANGUAGES else "en",
    )


class Client:
    """Synchronous JSON requests to the daemon (a CLI command makes one or two)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.t = texts(endpoint.language)

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self._request("POST", path, body)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    def post_reload(self) -> Any:
        """``POST /-/reload``; a refused file raises with every problem, one a line."""
        return self._request("POST", "/-/reload", {})

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if method != "GET" and self.endpoint.token:
            headers["Authorization"] = f"Bearer {self.endpoint.token}"
        elif method == "GET" and self.endpoint.basic:
            encoded = base64.b64encode(self.endpoint.basic.encode()).decode()
            headers["Authorization"] = f"Basic {encoded}"
        url = self.endpoint.url + path
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        context = None
        if url.startswith("https:"):
            context = ssl.create_default_context(cafile=self.endpoint.cafile)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as resp:  # noqa: S310
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise ClientError(self._refusal(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(
                self.t["cli.error.unreachable"].format(
                    url=self.endpoint.url, reason=reason, env=ENV_URL
                )
            ) from None
        return json.loads(text) if text.strip() else None

    def _refusal(self, exc: urllib.error.HTTPError) -> str:
        try:
            document = json.loads(exc.read().decode())
            message = document.get("error", "") if isinstance(document, dict) else ""
            field = document.get("field") if isinstance(document, dict) else None
        except (ValueError, UnicodeDecodeError):
            document, message, field = None, "", None
        if exc.code == 401 and exc.headers.get("WWW-Authenticate", "").startswith("Bearer"):
            key = "cli.error.no_token" if not self.endpoint.token else "cli.error.bad_token"
            return self.t[key].format(url=self.endpoint.url, env=ENV_TOKEN)
        if exc.code == 401:
            return self.t["cli.error.basic"].format(url=self.endpoint.url, env=ENV_BASIC)
        issues = document.get("issues") if isinstance(document, dict) else None
        if isinstance(issues, list) and issues:
            return f"{message}:\n" + "\n".join(f"  {i}" for i in issues)
        detail = f"{field}: {message}" if field else message or exc.reason
        return self.t["cli.error.refused"].format(code=exc.code, detail=detail)


# --------------------------------------------------------------------------
# Commands (each returns an exit code and writes to ``out``)
# --------------------------------------------------------------------------


def end_time(
    for_: str | None, until: str | None, now: float, t: Mapping[str, str] = ENGLISH
) -> str:
    """``--for 2h`` or ``--until 2026-12-01T02:00:00+07:00`` as an RFC 3339 time."""
    if (for_ is None) == (until is None):
        raise ClientError(t["cli.error.for_or_until"])
    if for_ is not None:
        try:
            seconds = parse_duration(for_)
        except ValueError as exc:
            raise ClientError(f"--for: {exc}") from None
        return rfc3339(now + seconds) or ""
    assert until is not None
    try:
        return rfc3339(parse_rfc3339(until)) or ""
    except ValueError as exc:
        raise ClientError(f"--until: {exc}") from None


def matchers(pairs: Sequence[str], option: str, t: Mapping[str, str] = ENGLISH) -> dict[str, str]:
    """``["province=Quang Ngai", "operator=vnpt"]`` -> a dict; errors name the pair."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ClientError(t["cli.error.pair"].format(option=option, pair=repr(pair)))
        out[name.strip()] = value
    return out


def who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "continuity-monitor-cli"


def maintenance_add(
    client: Client,
    out: TextIO,
    *,
    targets: Sequence[str],
    match: Sequence[str],
    for_: str | None,
    until: str | None,
    comment: str,
    now: float | None = None,
) -> int:
    if not targets and not match:
        raise ClientError(client.t["cli.error.no_targets"])
    body = {
        "targets": list(targets),
        "match": matchers(match, "--match", client.t),
        "end": end_time(for_, until, time.time() if now is None else now, client.t),
        "comment": comment,
        "created_by": who(),
    }
    created = client.post("/api/v1/maintenance", body)
    until = _local(created["end"])
    out.write(client.t["cli.maintenance.added"].format(id=created["id"], until=until) + "\n")
    return 0


def maintenance_list(client: Client, out: TextIO) -> int:
    t = client.t
    windows = client.get("/api/v1/maintenance")["windows"]
    rows = [
        (
            w["id"],
            t["cli.active"] if w["active"] else "-",
            ", ".join(w["targets"]) or _pairs(w["match"]),
            _local(w["start"]) if w["start"] else _schedule(w),
            _local(w["end"]) if w["end"] else "",
            w["comment"],
        )
        for w in windows
    ]
    header = _header(t, "id", "now", "targets", "from", "until", "comment")
    out.write(table(header, rows, t["cli.maintenance.none"]))
    return 0


def maintenance_end(client: Client, window_id: str, out: TextIO) -> int:
    if window_id.startswith("config:"):
        raise ClientError(client.t["cli.error.config_window"].format(id=window_id))
    client.delete(f"/api/v1/maintenance/{urllib.parse.quote(window_id, safe='')}")
    out.write(client.t["cli.maintenance.ended"].format(id=window_id) + "\n")
    return 0


def silence_add(
    client: Client,
    out: TextIO,
    *,
    match: Sequence[str],
    for_: str | None,
    until: str | None,
    comment: str,
    now: float | None = None,
) -> int:
    pairs = matchers(match, "--match", client.t)
    if not pairs:
        raise ClientError(client.t["cli.error.no_matchers"])
    body = {
        "matchers": [{"name": k, "value": v, "isRegex": False} for k, v in pairs.items()],
        "ends_at": end_time(for_, until, time.time() if now is None else now, client.t),
        "created_by": who(),
        "comment": comment,
    }
    created = client.post("/api/v1/silences", body)
    until = _local(created["ends_at"])
    out.write(client.t["cli.silence.added"].format(id=created["id"], until=until) + "\n")
    return 0


def silence_list(client: Client, out: TextIO) -> int:
    silences = client.get("/api/v1/silences")["silences"]
    rows = [
        (
            s["id"],
            " ".join(
                f"{m['name']}{'=~' if m['isRegex'] else '='}{m['value']}" for m in s["matchers"]
            ),
            _local(s["ends_at"]),
            s["created_by"],
            s["comment"],
        )
        for s in silences
    ]
    header = _header(client.t, "id", "matchers", "until", "by", "comment")
    out.write(table(header, rows, client.t["cli.silence.none"]))
    return 0


def silence_expire(client: Client, silence_id: str, out: TextIO) -> int:
    client.delete(f"/api/v1/silences/{urllib.parse.quote(silence_id, safe='')}")
    out.write(client.t["cli.silence.expired"].format(id=silence_id) + "\n")
    return 0


def ack(client: Client, fingerprint: str, out: TextIO) -> int:
    client.post(f"/api/v1/alerts/{urllib.parse.quote(fingerprint, safe='')}/ack", {})
    out.write(client.t["cli.acked"].format(fingerprint=fingerprint) + "\n")
    return 0


def reload(client: Client, pid: int | None, out: TextIO) -> int:
    """``POST /-/reload`` (needs the token); without one, SIGHUP to ``pid``.

    Exit 1 when the daemon refuses the new file: ``systemctl reload`` then fails
    and the journal shows each problem.
    """
    if client.endpoint.token:
        answer = client.post_reload()
        out.write(detail_words(answer["message"], client.t) + "\n")
        return 0
    if pid is None:
        raise ClientError(client.t["cli.error.reload_token"].format(env=ENV_TOKEN))
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise ClientError(
            client.t["cli.error.signal"].format(pid=pid, reason=exc.strerror)
        ) from None
    out.write(client.t["cli.sighup"].format(pid=pid) + "\n")
    return 0


def status(client: Client, out: TextIO, show_all: bool = False) -> int:
    """What is not up, with its cause; exit 0 when everything is up, else 1."""
    t = client.t
    document = client.get("/api/v1/targets")
    targets = document["targets"]
    shown = [x for x in targets if show_all or x["state"] in NOT_UP]
    rows = [
        (
            x["name"],
            _state(x["state"], t)
            + (
                " (" + t["cli.in_maintenance"] + ")"
                if x["maintenance"] and x["state"] != "maintenance"
                else ""
            ),
            _local(x["since"]) if x["since"] else "",
            _cause(x, t),
        )
        for x in shown
    ]
    counts: dict[str, int] = {}
    for x in targets:
        counts[x["state"]] = counts.get(x["state"], 0) + 1
    summary = ", ".join(f"{n} {_state(s, t)}" for s, n in sorted(counts.items()))
    if document.get("isolated"):
        summary += "; " + t["cli.isolated"]
    header = _header(t, "target", "state", "since", "cause")
    out.write(table(header, rows, t["cli.all_up"]))
    out.write(t["cli.count"].format(count=len(targets), summary=summary or t["none"]) + "\n")
    return 0 if all(x["state"] == "up" for x in targets) else 1


def _state(state: str, t: Mapping[str, str]) -> str:
    """A state as the status page words it, lower case in a terminal table."""
    return t.get(f"state.{state}", state).lower()


def _header(t: Mapping[str, str], *keys: str) -> tuple[str, ...]:
    return tuple(t[f"cli.col.{key}"] for key in keys)


def _cause(target: Mapping[str, Any], t: Mapping[str, str]) -> str:
    """Why a target is not up, in words (the status page's wording)."""
    failing = [c for c in target["checks"] if c["last"] is not None and not c["last"]["ok"]]
    details = "; ".join(
        failure_words(c["check"], c["last"]["reason"], c["last"]["message"], t) for c in failing
    )
    if target.get("outage"):
        cause = cause_words(target["outage"]["cause"], t)
        parent = str(target["outage"]["cause"] or "").startswith("parent:")
        return f"{cause}; {details}" if details and not parent else cause
    return details


def table(header: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    """Columns padded to their widest cell; ``empty`` when there are no rows."""
    if not rows:
        return f"({empty})\n"
    cells = [list(header), *([str(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"


def _local(stamp: str) -> str:
    """An RFC 3339 time from the API in the terminal's local time, to the minute."""
    moment = datetime.fromtimestamp(parse_rfc3339(stamp), UTC).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M %z")


def _pairs(match: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in match.items())


def _schedule(window: Mapping[str, Any]) -> str:
    schedule = window.get("schedule") or {}
    return " ".join(f"{k}={v}" for k, v in schedule.items())
