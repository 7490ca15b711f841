"""pysnmp's USM protocol objects by our protocol names, for the v3 trap receiver.

Polling no longer uses pysnmp (:mod:`probes.snmp_v3` runs USM on our own
codec); the trap and inform receiver still hands v3 datagrams to pysnmp's
notification receiver, which needs these objects. Imported only when the
receiver has v3 users (pysnmp takes about a second to import).
"""

from __future__ import annotations

from typing import Any, Final

from pysnmp.hlapi.v3arch.asyncio import (
    usm3DESEDEPrivProtocol,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
)

__all__ = ["AUTH_PROTOCOLS", "PRIV_PROTOCOLS"]

AUTH_PROTOCOLS: Final[dict[str, Any]] = {
    "md5": usmHMACMD5AuthProtocol,
    "sha": usmHMACSHAAuthProtocol,
    "sha224": usmHMAC128SHA224AuthProtocol,
    "sha256": usmHMAC192SHA256AuthProtocol,
    "sha384": usmHMAC256SHA384AuthProtocol,
    "sha512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS: Final[dict[str, Any]] = {
    "des": usmDESPrivProtocol,
    "3des": usm3DESEDEPrivProtocol,
    "aes": usmAesCfb128Protocol,
    "aes128": usmAesCfb128Protocol,
    # aes192/aes256 extend the key as Cisco does (Reeder; net-snmp "AES-192-C"),
    # the "b" variants as draft-blumenthal (net-snmp "AES-192").
    "aes192": usmAesCfb192Protocol,
    "aes256": usmAesCfb256Protocol,
    "aes192b": usmAesBlumenthalCfb192Protocol,
    "aes256b": usmAesBlumenthalCfb256Protocol,
}
