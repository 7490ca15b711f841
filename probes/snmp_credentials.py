"""The USM user's fields, one model for SNMP polling and the trap receiver.

Protocol names, key and user-name rules (RFC 3414: keys of at least 8
characters, user names of 1 to 32 octets) are written once here, so a user
reads the same in a target's ``snmp`` table and in ``[traps] users``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator

from monitor.config_types import SecretStr

__all__ = ["AuthProtocol", "PrivProtocol", "UserName", "UsmKey"]

AuthProtocol = Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["des", "3des", "aes", "aes128", "aes192", "aes256", "aes192b", "aes256b"]
"""The names of :data:`probes.snmp_usm.AUTH` and :data:`~probes.snmp_usm.PRIV` (a test checks)."""

_MIN_KEY: Final = 8


def _key_length(value: Any) -> Any:
    if len(value.reveal()) < _MIN_KEY:
        raise ValueError(
            f"must be at least 8 characters long (RFC 3414), got {len(value.reveal())}"
        )
    return value


def _user_name(value: str) -> str:
    if not 1 <= len(value.encode()) <= 32:
        raise ValueError(f"must be 1 to 32 octets long (RFC 3414), got {value!r}")
    return value


UsmKey = Annotated[SecretStr, AfterValidator(_key_length)]
UserName = Annotated[str, AfterValidator(_user_name)]
