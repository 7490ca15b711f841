"""Hostile credentials: refused with 401/429, never a 500 or a traceback, never on the loop.

Raw bytes go over a real socket to the real aiohttp server (clients would
refuse to send non-ASCII headers), so what is tested is what a stranger can send.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator

import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config_types import SecretStr
from monitor.web.security import AccessControl, FailureLimiter, WebSection

TOKEN = "tok-ABCDEFGHIJKLMNOP"


async def ok(_: web.Request) -> web.Response:
    return web.Response(text="ok")


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(4)).decode()
    section = WebSection(api_token=SecretStr(TOKEN), basic_auth_users={"noc": hashed})
    access = AccessControl(section, limiter=FailureLimiter(max_failures=5, window=60.0))
    app = web.Application(middlewares=[access.middleware])
    app.router.add_get("/read", ok)
    app.router.add_post("/write", ok)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()
        access.close()


async def raw(server: TestServer, request: bytes, source: str = "127.0.0.1") -> int:
    """Send raw request bytes; the status code of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0))
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        return int(line.split()[1])
    finally:
        writer.close()


def get(authorization: bytes, method: bytes = b"GET", path: bytes = b"/read") -> bytes:
    return (
        method
        + b" "
        + path
        + b" HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + authorization
        + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )


HOSTILE = [
    pytest.param(b"Bearer \xff\xfe\xfd", b"POST", b"/write", id="bearer-latin1"),
    pytest.param("Bearer tök-ABCDEFGHIJKLMNOP".encode(), b"POST", b"/write", id="bearer-utf8"),
    pytest.param(b"Basic \xff\xfe\xfd", b"GET", b"/read", id="basic-latin1"),
    pytest.param("Basic ñoc:right".encode(), b"GET", b"/read", id="basic-not-base64"),
    pytest.param(
        b"Basic " + base64.b64encode(b"noc:\xff\xfe"), b"GET", b"/read", id="basic-bad-utf8"
    ),
    pytest.param(
        b"Basic " + base64.b64encode("noc:mật khẩu".encode()), b"GET", b"/read", id="basic-utf8"
    ),
    pytest.param(
        b"Basic " + base64.b64encode(b"noc:" + b"x" * 73), b"GET", b"/read", id="basic-73-bytes"
    ),
    pytest.param(
        b"Basic " + base64.b64encode(b"noc:" + b"x" * 5000), b"GET", b"/read", id="basic-5000-bytes"
    ),
    pytest.param(
        b"Basic " + base64.b64encode(b"u" * 5000 + b":x"), b"GET", b"/read", id="basic-long-user"
    ),
    pytest.param(
        b"Basic " + base64.b64encode(b"\x00\x1b[31m:x"), b"GET", b"/read", id="basic-control"
    ),
]


@pytest.mark.parametrize(("authorization", "method", "path"), HOSTILE)
async def test_hostile_credentials_are_401_without_traceback(
    server: TestServer,
    authorization: bytes,
    method: bytes,
    path: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert await raw(server, get(authorization, method, path)) == 401
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_the_right_password_still_works(server: TestServer) -> None:
    good = b"Basic " + base64.b64encode(b"noc:right")
    assert await raw(server, get(good)) == 200
    assert await raw(server, get(b"Bearer " + TOKEN.encode(), b"POST", b"/write")) == 200


async def test_a_client_that_keeps_failing_gets_429_and_others_do_not(server: TestServer) -> None:
    wrong = b"Basic " + base64.b64encode(b"noc:wrong")
    codes = [await raw(server, get(wrong), source="127.0.3.1") for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    # Even the right password waits (a guess that succeeds must not be told so).
    good = b"Basic " + base64.b64encode(b"noc:right")
    assert await raw(server, get(good), source="127.0.3.1") == 429
    # Another client logs in as usual.
    assert await raw(server, get(good), source="127.0.3.2") == 200
    bad_token = get(b"Bearer nope-nope-nope-nope", b"POST", b"/write")
    codes = [await raw(server, bad_token, source="127.0.3.3") for _ in range(6)]
    assert codes == [401] * 5 + [429]


def test_failure_limiter_window_and_retry_after() -> None:
    limiter = FailureLimiter(max_failures=3, window=60.0, max_clients=2)
    for at in (0.0, 1.0, 2.0):
        assert limiter.retry_after("a", at) == 0.0
        limiter.failed("a", at)
    assert limiter.retry_after("a", 3.0) == pytest.approx(57.0)
    assert limiter.retry_after("b", 3.0) == 0.0
    assert limiter.retry_after("a", 60.5) == 0.0  # the first failure left the window
    limiter.failed("b", 61.0)
    limiter.failed("c", 61.0)  # over max_clients: the least recent ("a") is forgotten
    assert limiter.retry_after("a", 61.0) == 0.0


def test_the_limiter_forgets_the_least_recent_client_past_its_cap() -> None:
    limiter = FailureLimiter(max_failures=3, window=60.0, max_clients=2)
    for at in (0.0, 1.0, 2.0):
        limiter.failed("a", at)
    assert limiter.retry_after("a", 3.0) == pytest.approx(57.0)  # held back
    limiter.failed("b", 3.0)
    limiter.failed("c", 3.0)  # a third client: "a", the least recent, is forgotten
    assert limiter.retry_after("a", 3.0) == 0.0
    for at in (4.0, 5.0):  # "b" and "c" were kept: two more failures hold them back
        limiter.failed("b", at)
        limiter.failed("c", at)
    assert limiter.retry_after("b", 5.0) == pytest.approx(58.0)
    assert limiter.retry_after("c", 5.0) == pytest.approx(58.0)


@pytest.mark.slow
async def test_unknown_user_costs_what_a_known_one_does() -> None:
    """The decoy has the configured cost: timing does not tell which users exist."""
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(12)).decode()
    access = AccessControl(WebSection(basic_auth_users={"noc": hashed}))
    try:
        await access.checker.check(b"warm-up", None)  # the decoy is made once
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        for _ in range(3):
            for who, reference in (("known", hashed.encode()), ("unknown", None)):
                start = time.perf_counter()
                assert not await access.checker.check(b"wrong", reference)
                timings[who].append(time.perf_counter() - start)
        known, unknown = min(timings["known"]), min(timings["unknown"])
        assert 0.5 < unknown / known < 2.0, timings  # cost 12 against cost 10 would be 4x
    finally:
        access.close()
