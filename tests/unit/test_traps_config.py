"""``[traps]``: every bad value is a config error naming its key, with an exact message."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from monitor.config_types import Secret
from monitor.contract import ProbeContext
from monitor.engine.config import load_config
from probes import LISTENERS
from probes.snmp import SnmpSettings
from probes.traps import (
    LISTENER,
    TrapListener,
    TrapsSection,
    TrapUser,
    default_engine_id,
    open_listener,
)
from tests.helpers import config_errors, write_config

BASE = """
[defaults]
checks = ["icmp"]

[[targets]]
name = "core"
address = "127.0.0.1"
"""


def user(**fields: str) -> str:
    """A ``[traps]`` table with one community and one v3 user made of ``fields``."""
    inline = ", ".join(f'{key} = "{value}"' for key, value in fields.items())
    return f'[traps]\ncommunities = ["public"]\nusers = [{{ {inline} }}]\n'


GOOD_V3 = {
    "user": "noc",
    "auth_protocol": "sha",
    "auth_key": "authkey-123",
    "priv_protocol": "aes128",
    "priv_key": "privkey-456",
}

INVALID = [
    # (id, [traps] text, exact errors)
    (
        "v3-user-without-auth-key",
        user(user="noc"),
        [
            "traps.users[0].auth_key: required: unauthenticated (noAuthNoPriv) v3 traps "
            "are not accepted"
        ],
    ),
    (
        "v3-user-without-auth-key-but-protocol",
        user(user="noc", auth_protocol="sha"),
        [
            "traps.users[0].auth_key: required: unauthenticated (noAuthNoPriv) v3 traps "
            "are not accepted"
        ],
    ),
    (
        "priv-without-auth",
        user(user="noc", priv_protocol="aes", priv_key="privkey-456"),
        [
            "traps.users[0].auth_key: required with priv_protocol: USM has no privacy "
            "without authentication"
        ],
    ),
    (
        "auth-key-too-short",
        user(user="noc", auth_protocol="sha", auth_key="short"),
        ["traps.users[0].auth_key: must be at least 8 characters long (RFC 3414), got 5"],
    ),
    (
        "priv-key-too-short",
        user(**{**GOOD_V3, "priv_key": "1234567"}),
        ["traps.users[0].priv_key: must be at least 8 characters long (RFC 3414), got 7"],
    ),
    (
        "auth-key-without-protocol",
        user(user="noc", auth_key="authkey-123"),
        ["traps.users[0].auth_protocol: required when auth_key is set"],
    ),
    (
        "priv-protocol-without-key",
        user(user="noc", auth_protocol="sha", auth_key="authkey-123", priv_protocol="aes"),
        ["traps.users[0].priv_key: required when priv_protocol is set"],
    ),
    (
        "priv-key-without-protocol",
        user(user="noc", auth_protocol="sha", auth_key="authkey-123", priv_key="privkey-456"),
        ["traps.users[0].priv_protocol: required when priv_key is set"],
    ),
    (
        "unknown-auth-protocol",
        user(**{**GOOD_V3, "auth_protocol": "sha1"}),
        [
            "traps.users[0].auth_protocol: must be one of 'md5', 'sha', 'sha224', 'sha256', "
            "'sha384' or 'sha512', got 'sha1'"
        ],
    ),
    (
        "unknown-priv-protocol",
        user(**{**GOOD_V3, "priv_protocol": "aes-128"}),
        [
            "traps.users[0].priv_protocol: must be one of 'des', '3des', 'aes', 'aes128', "
            "'aes192', 'aes256', 'aes192b' or 'aes256b', got 'aes-128'"
        ],
    ),
    (
        "user-name-too-long",
        user(**{**GOOD_V3, "user": "u" * 33}),
        [f"traps.users[0].user: must be 1 to 32 octets long (RFC 3414), got '{'u' * 33}'"],
    ),
    (
        "user-twice",
        '[traps]\nusers = [{ user = "noc", auth_protocol = "sha", auth_key = "authkey-123" },\n'
        '  { user = "noc", auth_protocol = "md5", auth_key = "authkey-456" }]\n',
        ["traps.users[1].user: user 'noc' is listed twice"],
    ),
    (
        "engine-id-not-hex",
        '[traps]\nusers = [{ user = "noc", auth_protocol = "sha", auth_key = "authkey-123",'
        ' engine_ids = ["0x80001f88zz"] }]\n',
        [
            "traps.users[0].engine_ids[0]: expected an SNMP engine ID of 5 to 32 octets in hex "
            "such as '0x80001f8880c71100000a1b2c3d', got '0x80001f88zz'"
        ],
    ),
    (
        "own-engine-id-too-short",
        '[traps]\ncommunities = ["public"]\nengine_id = "0x80001f"\n',
        [
            "traps.engine_id: expected an SNMP engine ID of 5 to 32 octets in hex "
            "such as '0x80001f8880c71100000a1b2c3d', got '0x80001f'"
        ],
    ),
    (
        "listen-without-port",
        '[traps]\nlisten = "0.0.0.0"\ncommunities = ["public"]\n',
        ["traps.listen: expected HOST:PORT such as '0.0.0.0:162', got '0.0.0.0'"],
    ),
    (
        "listen-port-too-large",
        '[traps]\nlisten = "0.0.0.0:1620000"\ncommunities = ["public"]\n',
        ["traps.listen: port must be between 0 and 65535, got 1620000"],
    ),
    (
        "listen-host-name",
        '[traps]\nlisten = "traps.example.vn:162"\ncommunities = ["public"]\n',
        [
            "traps.listen: the host must be an IP address such as 0.0.0.0 or [::], "
            "got 'traps.example.vn'"
        ],
    ),
    (
        "listen-ipv6-without-brackets",
        '[traps]\nlisten = "::1:162"\ncommunities = ["public"]\n',
        ["traps.listen: write IPv6 addresses in brackets, e.g. '[::]:162', got '::1:162'"],
    ),
    (
        "listen-bad-ipv6",
        '[traps]\nlisten = "[::g]:162"\ncommunities = ["public"]\n',
        ["traps.listen: the host must be an IP address such as 0.0.0.0 or [::], got '::g'"],
    ),
    (
        "listen-not-a-string",
        '[traps]\nlisten = 162\ncommunities = ["public"]\n',
        ["traps.listen: expected a string, got 162"],
    ),
    (
        "accepts-nothing",
        '[traps]\nlisten = "0.0.0.0:162"\n',
        ["traps.communities: list at least one community or v3 user: nothing is accepted"],
    ),
    (
        "community-not-a-list",
        '[traps]\ncommunities = "public"\n',
        ["traps.communities: expected a list, got 'public'"],
    ),
    (
        "community-from-missing-env",
        '[traps]\ncommunities = ["env:CONTINUITY_TEST_NO_SUCH_VARIABLE"]\n',
        ["traps.communities[0]: environment variable CONTINUITY_TEST_NO_SUCH_VARIABLE is not set"],
    ),
    (
        "max-per-second-zero",
        '[traps]\ncommunities = ["public"]\nmax_per_second = 0\n',
        ["traps.max_per_second: must be at least 1, got 0"],
    ),
    (
        "max-v3-per-second-zero",
        '[traps]\ncommunities = ["public"]\nmax_v3_per_second = 0\n',
        ["traps.max_v3_per_second: must be at least 1, got 0"],
    ),
    (
        "log-rate-negative",
        '[traps]\ncommunities = ["public"]\nlog_rate = -1\n',
        ["traps.log_rate: must be at least 0, got -1"],
    ),
    (
        "unknown-key",
        '[traps]\ncommunities = ["public"]\nport = 162\n',
        ["traps.port: unknown key"],
    ),
    (
        "unknown-key-in-user",
        user(**{**GOOD_V3, "password": "authkey-123"}),
        ["traps.users[0].password: unknown key"],
    ),
    (
        "several-at-once",
        '[traps]\nlisten = "0.0.0.0"\nusers = [{ user = "a" }, '
        '{ user = "b", auth_protocol = "md5", auth_key = "1234" }]\n',
        [
            "traps.listen: expected HOST:PORT such as '0.0.0.0:162', got '0.0.0.0'",
            "traps.users[0].auth_key: required: unauthenticated (noAuthNoPriv) v3 traps "
            "are not accepted",
            "traps.users[1].auth_key: must be at least 8 characters long (RFC 3414), got 4",
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [pytest.param(text, exp, id=name) for name, text, exp in INVALID]
)
def test_bad_traps_config_is_an_error_naming_the_key(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    assert config_errors(tmp_path, BASE, text) == expected


def test_secrets_are_never_printed(tmp_path: Path) -> None:
    text = user(**{**GOOD_V3, "auth_key": "sekrit-auth-1"}) + 'max_per_second = "x"\n'
    message = "\n".join(config_errors(tmp_path, BASE, text))
    assert "sekrit" not in message and "public" not in message


def test_valid_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAP_COMMUNITY", "from-env")
    (tmp_path / "priv.key").write_text("privkey-456\n")
    config = load_config(
        write_config(
            tmp_path,
            BASE,
            """
            [traps]
            listen = "[::]:10162"
            communities = ["public", "env:TRAP_COMMUNITY"]
            engine_id = "80001F8880C71100000A1B2C3D"

            [[traps.users]]
            user = "noc"
            auth_protocol = "sha256"
            auth_key = "authkey-123"
            priv_protocol = "aes256b"
            priv_key = "file:PRIV"
            engine_ids = ["0x8000000001020304"]

            [[traps.users]]
            user = "watch"
            auth_protocol = "md5"
            auth_key = "authkey-789"
            """.replace("PRIV", str(tmp_path / "priv.key")),
        )
    )
    section = config.sections["traps"]
    assert isinstance(section, TrapsSection)
    assert section.listen == "[::]:10162"
    assert [c.reveal() for c in section.communities] == ["public", "from-env"]
    assert section.engine_id == "80001f8880c71100000a1b2c3d"
    noc = section.users[0]
    assert noc.priv_key is not None and noc.priv_key.reveal() == "privkey-456"
    assert noc.engine_ids == ["8000000001020304"]
    assert "authkey" not in repr(section) and "from-env" not in repr(section)
    assert (section.max_per_second, section.max_per_source_per_second) == (2000, 500)
    assert (section.max_v3_per_second, section.max_v3_per_source_per_second) == (200, 50)
    assert section.sources == [] and section.log_rate == 10


def test_defaults() -> None:
    section = TrapsSection.model_validate({"communities": ["public"]})
    assert section.listen == "0.0.0.0:162"
    assert section.users == [] and section.engine_id is None


def test_same_protocol_names_as_polling() -> None:
    """One v3 user is written alike under [traps] and in a target's snmp table."""
    for name in ("auth_protocol", "priv_protocol"):
        ours = TrapUser.model_fields[name].annotation
        polling = SnmpSettings.model_fields[name].annotation
        assert set(get_args(get_args(ours)[0])) == set(get_args(get_args(polling)[0])), name


def test_registered_as_the_traps_listener() -> None:
    assert LISTENERS["traps"] is LISTENER
    assert (LISTENER.section, LISTENER.model) == ("traps", TrapsSection)
    section = TrapsSection.model_validate({"communities": ["public"]})
    opened = open_listener(ProbeContext(sections={"traps": section}, instance="noc-qng-1"))
    assert isinstance(opened, TrapListener)
    assert opened.engine_id == default_engine_id("noc-qng-1")


def test_default_engine_id_is_stable_and_per_instance() -> None:
    first = default_engine_id("noc-qng-1")
    assert first == default_engine_id("noc-qng-1")
    assert first != default_engine_id("noc-qng-2")
    assert 5 <= len(first) <= 32 and first[0] & 0x80  # RFC 3411 format with an enterprise


def test_reload_equality_compares_secret_values() -> None:
    # The daemon reopens the listener only when the section changed.
    one = TrapsSection.model_validate({"communities": [Secret("a")]})
    assert one == TrapsSection.model_validate({"communities": ["a"]})
    assert one != TrapsSection.model_validate({"communities": ["b"]})
