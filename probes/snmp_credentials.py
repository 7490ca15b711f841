"""The USM user, one model for SNMP polling and the trap receiver.

Protocol names, key and user-name rules (RFC 3414: keys of at least 8
characters, user names of 1 to 32 octets) and which fields go in pairs are
written once here (:class:`UsmUser`), so a user reads the same in a target's
``snmp`` table and in ``[traps] users``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator

from monitor.config_types import SecretStr, StrictModel

__all__ = ["AuthProtocol", "PrivProtocol", "Problems", "UserName", "UsmKey", "UsmUser"]

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

Problems = list[tuple[tuple[str | int, ...], str]]
"""``(loc inside the table, message)`` pairs."""

NO_PRIVACY_WITHOUT_AUTH: Final = "USM has no privacy without authentication"


class UsmUser(StrictModel):
    """A USM user's name, protocols and keys (the fields a v3 table shares)."""

    user: UserName | None = None
    auth_protocol: AuthProtocol | None = None
    auth_key: UsmKey | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: UsmKey | None = None

    def usm_problems(self, *, unauthenticated: str | None = None) -> Problems:
        """Protocols without keys and the reverse, privacy without authentication.

        ``unauthenticated`` is the message when there is no ``auth_key`` at
        all, for a side that refuses noAuthNoPriv (the trap receiver); None
        allows it (polling a device that has such a user).
        """
        private = self.priv_protocol is not None or self.priv_key is not None
        problems: Problems = []
        if self.auth_key is None and unauthenticated is not None:
            why = f"required with priv_protocol: {NO_PRIVACY_WITHOUT_AUTH}"
            problems.append((("auth_key",), why if private else unauthenticated))
        elif self.auth_key is None and self.auth_protocol is not None:
            problems.append((("auth_key",), "required when auth_protocol is set"))
        if self.auth_key is not None and self.auth_protocol is None:
            problems.append((("auth_protocol",), "required when auth_key is set"))
        if self.priv_protocol is not None and self.priv_key is None:
            problems.append((("priv_key",), "required when priv_protocol is set"))
        if self.priv_key is not None and self.priv_protocol is None:
            problems.append((("priv_protocol",), "required when priv_key is set"))
        if unauthenticated is None and self.priv_protocol is not None and not self.auth_protocol:
            why = f"needs auth_protocol and auth_key: {NO_PRIVACY_WITHOUT_AUTH}"
            problems.append((("priv_protocol",), why))
        return problems
