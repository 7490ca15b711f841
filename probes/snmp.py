"""SNMP polling probe: the ``snmp`` settings model, the prober and the registry entry.

One poll of a device is: one GET of every scalar the modules need (sysUpTime
always, for reboot detection), then column walks (GETBULK on v2c/v3,
GETNEXT on v1) of the table columns they need, then pure parsing by
:mod:`probes.snmp_modules` (the built-ins one file each in :mod:`probes.snmp_mibs`,
user modules from :mod:`probes.snmp_user_modules`). v1/v2c go through our own codec and the shared
UDP engine (:mod:`probes.snmp_codec`, :mod:`probes.snmp_engine`); v3 with the
USM of :mod:`probes.snmp_usm` over the same engine (:mod:`probes.snmp_v3`).

Per-target memory (last uptime, engine boots, reboot count, cached
index -> name columns, last oper status, flap counts, UPS state) lives on
the prober keyed by target name, never on config objects.

Counters are exported as the device reports them. After a device reboot they
start again from zero; Prometheus' ``rate()``/``increase()`` treat a drop as
a counter reset, so no negative rates appear and nothing here adjusts them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import AfterValidator, Field

from monitor.config_types import Duration, Port, SecretStr, host_problem
from monitor.contract import (
    CheckSettings,
    MetricFamily,
    ProbeContext,
    ProbeEvent,
    ProbeKind,
    ProbeResult,
    ProbeTarget,
    Sample,
)
from monitor.regex import compile_regex
from probes import snmp_modules as mods
from probes.neterrors import LOCAL_RESOURCES
from probes.snmp_codec import (
    END_OF_MIB_VIEW,
    GET,
    GETBULK,
    GETNEXT,
    RESPONSE,
    SnmpCodecError,
    decode_message,
    encode_request,
    format_oid,
    oid_after,
)
from probes.snmp_codec import ERROR_NAMES as _ERROR_NAMES
from probes.snmp_codec import Message as _Message
from probes.snmp_credentials import Problems, UsmUser
from probes.snmp_engine import Failure, Reply, SnmpUdpEngine, SockAddr
from probes.snmp_mibs import BUILTIN, if_mib
from probes.snmp_modules import (
    Fetched,
    InterfaceFilter,
    ModuleContext,
    ModuleMemory,
    Output,
    Plan,
    SnmpModule,
)
from probes.snmp_user_modules import SnmpModulesSection, UserModule, user_module
from probes.snmp_v3 import V3Session

log = logging.getLogger(__name__)

__all__ = [
    "KIND",
    "REASONS",
    "SnmpProber",
    "SnmpSettings",
    "check_settings",
    "detect_reboot",
    "open_prober",
    "user_module_families",
    "walk_columns",
]

REASONS: Final = (
    "ok",
    "timeout",
    "dns",
    "send_error",
    "local_resources",
    "unknown_user",
    "auth",
    "decrypt",
    "security",
    "agent_error",
    "decode_error",
    "no_such_object",
    "bad_value",
    LOCAL_RESOURCES,
)
"""Every reason an SNMP result can carry (a bounded label set)."""

TIMETICKS_WRAP: Final = 1 << 32
"""TimeTicks wrap after 2^32 centiseconds (about 497 days)."""
_SCALARS_PER_GET: Final = 20
_VARBINDS_PER_REQUEST: Final = 100
_MAX_REQUESTS_PER_WALK: Final = 5000
_NO_SUCH_NAME: Final = 2
_TOO_BIG: Final = 1
_VERSIONS: Final = {"1": 0, "2c": 1, "3": 3}

# ==========================================================================
# Settings
# ==========================================================================


def _regex(value: str) -> str:
    compile_regex(value)  # RE2: matched against names the device sends; ValueError if bad
    return value


Regex = Annotated[str, AfterValidator(_regex)]


class SnmpSettings(CheckSettings, UsmUser):
    """``snmp = { version = "2c", community = "env:SNMP_COMMUNITY", modules = [...] }``."""

    version: Literal["1", "2c", "3"] = "2c"
    community: SecretStr | None = None
    port: Port = 161
    retries: Annotated[int, Field(ge=0, le=10)] = 1
    max_repetitions: Annotated[int, Field(ge=1, le=200)] = 25
    modules: list[str] = Field(default_factory=lambda: ["system"])
    context: str = ""
    interfaces_include: Regex | None = None
    interfaces_exclude: Regex | None = None
    interfaces_admin_down: Literal["include", "exclude"] = "include"
    battery_min_runtime: Duration = 900.0


def check_settings(settings: SnmpSettings, sections: Mapping[str, Any]) -> Problems:
    """Cross-field rules and module names, reported at the key to edit."""
    problems: Problems = []
    user_modules = _user_modules(sections.get("snmp_modules"))
    available = [*BUILTIN, *sorted(user_modules)]
    seen: set[str] = set()
    for index, name in enumerate(settings.modules):
        if name not in available:
            problems.append(
                (("modules", index), f"unknown module {name!r} (available: {', '.join(available)})")
            )
        elif name in seen:
            problems.append((("modules", index), f"module {name!r} is listed twice"))
        seen.add(name)
    if settings.version == "3":
        problems.extend(_check_v3(settings))
    elif settings.community is None:
        problems.append((("community",), f"required with version {settings.version}"))
    return problems


def _check_v3(settings: SnmpSettings) -> Problems:
    problems: Problems = []
    if not settings.user:
        problems.append((("user",), "required with version 3"))
    return problems + settings.usm_problems()


def _user_modules(section: Any) -> Mapping[str, UserModule]:
    if isinstance(section, SnmpModulesSection):
        return section.root
    return {}


# ==========================================================================
# Clients: the same small interface over our codec (v1/v2c) and USM (v3)
# ==========================================================================


class Client(Protocol):
    """GET/GETNEXT/GETBULK against one agent for one poll."""

    version: int

    async def get(self, oids: Sequence[bytes]) -> Reply | Failure: ...

    async def next(self, oids: Sequence[bytes]) -> Reply | Failure: ...

    async def bulk(self, oids: Sequence[bytes], max_repetitions: int) -> Reply | Failure: ...


class CommunityClient:
    """v1/v2c through the codec and the shared UDP engine."""

    def __init__(
        self,
        engine: SnmpUdpEngine,
        family: int,
        addr: SockAddr,
        *,
        version: int,
        community: bytes,
        retries: int,
        try_timeout: float,
        deadline: float,
    ) -> None:
        self.version = version
        self._engine = engine
        self._family = family
        self._addr = addr
        self._community = community
        self._retries = retries
        self._try_timeout = try_timeout
        self._deadline = deadline

    async def get(self, oids: Sequence[bytes]) -> Reply | Failure:
        return await self._call(GET, oids, 0)

    async def next(self, oids: Sequence[bytes]) -> Reply | Failure:
        return await self._call(GETNEXT, oids, 0)

    async def bulk(self, oids: Sequence[bytes], max_repetitions: int) -> Reply | Failure:
        return await self._call(GETBULK, oids, max_repetitions)

    async def _call(self, pdu_type: int, oids: Sequence[bytes], reps: int) -> Reply | Failure:
        version, community = self.version, self._community

        def build(request_id: int) -> bytes:
            return encode_request(
                version, community, pdu_type, request_id, oids, max_repetitions=reps
            )

        raw = await self._engine.request(
            self._family,
            self._addr,
            build,
            retries=self._retries,
            try_timeout=self._try_timeout,
            deadline=self._deadline,
        )
        if isinstance(raw, Failure):
            return raw
        try:
            message = decode_message(raw)
        except SnmpCodecError as exc:
            return Failure("decode_error", f"malformed response: {exc}")
        if not isinstance(message, _Message) or message.pdu_type != RESPONSE:
            return Failure("decode_error", "the agent answered with something else than a Response")
        return Reply(message.error_status, message.error_index, message.varbinds)


# ==========================================================================
# Fetching: scalars and column walks (version independent)
# ==========================================================================


async def get_scalars(
    client: Client, oids: Sequence[bytes], out: Output
) -> dict[bytes, Any] | Failure:
    """GET ``oids`` in chunks; missing ones on v1 (noSuchName) are left out and retried.

    Returns OID -> (tag, value). A failure of the very first request is
    returned as such (the agent did not answer); later ones become problems.
    """
    found: dict[bytes, Any] = {}
    pending = [list(oids[i : i + _SCALARS_PER_GET]) for i in range(0, len(oids), _SCALARS_PER_GET)]
    answered = False
    budget = len(oids) + 2 * len(pending) + 4
    while pending and budget > 0:
        budget -= 1
        chunk = pending.pop(0)
        reply = await client.get(chunk)
        if isinstance(reply, Failure):
            if not answered:
                return reply
            out.problem(reply.reason, f"GET: {reply.message}")
            break
        answered = True
        if reply.error_status == _NO_SUCH_NAME and 1 <= reply.error_index <= len(chunk):
            del chunk[reply.error_index - 1]  # v1: drop the missing object, ask again
            if chunk:
                pending.insert(0, chunk)
            continue
        if reply.error_status == _TOO_BIG and len(chunk) > 1:
            half = len(chunk) // 2
            pending[:0] = [chunk[:half], chunk[half:]]
            continue
        if reply.error_status:
            out.problem("agent_error", f"GET: agent error {_error_name(reply.error_status)}")
            continue
        _store_scalars(chunk, reply, found, out)
    return found


def _store_scalars(
    chunk: Sequence[bytes], reply: Reply, found: dict[bytes, Any], out: Output
) -> None:
    for asked, (oid, tag, value) in zip(chunk, reply.varbinds, strict=False):
        if oid != asked:
            out.problem(
                "bad_value", f"asked for {format_oid(asked)}, the agent answered {format_oid(oid)}"
            )
            continue
        found[oid] = (tag, value)
    if len(reply.varbinds) != len(chunk):
        out.problem("bad_value", f"asked for {len(chunk)} objects, got {len(reply.varbinds)}")


@dataclass
class _Walk:
    """State of one column being walked."""

    prefix: bytes
    last: bytes
    rows: dict[bytes, Any] = field(default_factory=dict)
    done: bool = False


async def walk_columns(
    client: Client, columns: Sequence[bytes], max_repetitions: int, out: Output
) -> dict[bytes, dict[bytes, Any]]:
    """Walk several table columns side by side; return column -> index suffix -> cell.

    Columns are requested together (one varbind each per GETNEXT, or
    ``max_repetitions`` rows each per GETBULK), as many as keep a request
    under about :data:`_VARBINDS_PER_REQUEST` varbinds. A column ends at
    the first OID outside it or at endOfMibView. What the agent returned
    before an error, a timeout or an out-of-order OID is kept; the problem
    is recorded in ``out``.
    """
    walks = [_Walk(column, column) for column in columns]
    bulk = client.version != 0
    per_request = max(1, _VARBINDS_PER_REQUEST // max_repetitions) if bulk else len(walks)
    for start in range(0, len(walks), per_request):
        await _walk_group(client, walks[start : start + per_request], bulk, max_repetitions, out)
    return {w.prefix: w.rows for w in walks}


async def _walk_group(
    client: Client, walks: list[_Walk], bulk: bool, max_repetitions: int, out: Output
) -> None:
    reps = max_repetitions
    for _ in range(_MAX_REQUESTS_PER_WALK):
        active = [w for w in walks if not w.done]
        if not active:
            return
        oids = [w.last for w in active]
        reply = await (client.bulk(oids, reps) if bulk else client.next(oids))
        if isinstance(reply, Failure):
            out.problem(reply.reason, f"walk of {format_oid(active[0].prefix)}: {reply.message}")
            return
        if reply.error_status:
            if reply.error_status == _NO_SUCH_NAME and 1 <= reply.error_index <= len(active):
                active[reply.error_index - 1].done = True  # v1 end of MIB
                continue
            if reply.error_status == _TOO_BIG and reps > 1:
                reps = max(1, reps // 2)
                continue
            out.problem(
                "agent_error",
                f"walk of {format_oid(active[0].prefix)}: "
                f"agent error {_error_name(reply.error_status)}",
            )
            return
        if not reply.varbinds:
            out.problem("bad_value", f"walk of {format_oid(active[0].prefix)}: empty response")
            return
        _consume(active, reply.varbinds, out)
    out.problem("bad_value", "walk did not finish within the request budget")


def _consume(active: list[_Walk], varbinds: Sequence[Any], out: Output) -> None:
    """Spread a (bulk) response over its columns: varbind n belongs to column n % k."""
    width = len(active)
    for n, (oid, tag, value) in enumerate(varbinds):
        walk = active[n % width]
        if walk.done:
            continue
        prefix = walk.prefix
        if tag == END_OF_MIB_VIEW or len(oid) <= len(prefix) or not oid.startswith(prefix):
            walk.done = True
            continue
        if not oid_after(oid, walk.last, len(prefix)):
            # Not increasing: a broken agent would loop us forever.
            walk.done = True
            out.problem(
                "bad_value",
                f"walk of {format_oid(prefix)}: OID {format_oid(oid)} does not increase",
            )
            continue
        walk.last = oid
        walk.rows[oid[len(prefix) :]] = (tag, value)
    # A row's worth of varbinds that never reached a column means the agent
    # truncated the response: the next request continues from walk.last.


def _error_name(status: int) -> str:
    return _ERROR_NAMES[status] if 0 <= status < len(_ERROR_NAMES) else str(status)


# ==========================================================================
# Reboot detection (pure)
# ==========================================================================


def detect_reboot(
    previous_ticks: int | None,
    ticks: int,
    elapsed: float,
    *,
    previous_engine: tuple[int, int] | None = None,
    engine: tuple[int, int] | None = None,
) -> bool:
    """Whether the device rebooted between two polls ``elapsed`` seconds apart.

    On v3, ``engine`` is ``(snmpEngineBoots, snmpEngineTime)`` of the same
    engine ID: a change of boots, or engine time (seconds, no 497-day wrap)
    going backwards, is a reboot. Otherwise sysUpTime going backwards is a
    reboot, unless it is the TimeTicks wrap: the previous value plus the
    elapsed time passed 2^32 and the new value is about where the wrap puts it.
    """
    if previous_engine is not None and engine is not None:
        return engine[0] != previous_engine[0] or engine[1] < previous_engine[1]
    if previous_ticks is None or ticks >= previous_ticks:
        return False
    expected = previous_ticks + elapsed * 100.0
    slack = max(3000.0, elapsed * 10.0)  # 30 s or 10 % of the interval, in ticks
    wrapped = expected + slack >= TIMETICKS_WRAP and abs(expected - TIMETICKS_WRAP - ticks) <= slack
    return not wrapped


# ==========================================================================
# The prober
# ==========================================================================


@dataclass
class TargetMemory:
    """What the prober remembers about one target between polls."""

    uptime_ticks: int | None = None
    engine: tuple[int, int] | None = None
    engine_id: str | None = None
    seen_at: float = 0.0
    reboots: int = 0
    lookups: dict[bytes, dict[bytes, Any]] = field(default_factory=dict)
    lookups_at: float = 0.0
    if_table_last_change: int | None = None
    modules: ModuleMemory = field(default_factory=ModuleMemory)


Resolver = Callable[[str, int], Awaitable[Sequence[tuple[int, SockAddr]]]]


async def system_resolver(host: str, port: int) -> list[tuple[int, SockAddr]]:
    """``getaddrinfo`` in the loop's executor."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    return [(fam, sockaddr) for fam, _t, _p, _c, sockaddr in infos]  # type: ignore[misc]


class SnmpProber:
    """The live ``snmp`` kind: ``async with SnmpProber(modules=...) as prober``.

    ``memory`` holds what is remembered per target name between polls
    (uptime, engine ID and boots, cached lookups); pass a mapping to own it,
    e.g. to look at what a poll learnt.
    """

    def __init__(
        self,
        *,
        modules: SnmpModulesSection | None = None,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.monotonic,
        memory: dict[str, TargetMemory] | None = None,
    ) -> None:
        self._user_modules = _user_modules(modules)
        self._modules: Mapping[str, SnmpModule] = {
            **BUILTIN,
            **{name: user_module(name, m) for name, m in self._user_modules.items()},
        }
        self._resolver = resolver
        self._clock = clock
        self._engine = SnmpUdpEngine()
        self._v3 = V3Session(self._engine)
        self._memory = {} if memory is None else memory

    async def __aenter__(self) -> SnmpProber:
        await self._engine.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._engine.close()

    def _memory_of(self, target: str) -> TargetMemory:
        return self._memory.setdefault(target, TargetMemory())

    async def probe(
        self, target: ProbeTarget, settings: SnmpSettings, *, deadline: float
    ) -> ProbeResult:
        """Poll ``target`` once; never raises for network or agent trouble."""
        started = time.time()
        loop = asyncio.get_running_loop()
        begin = loop.time()
        deadline = min(deadline, begin + settings.timeout)
        memory = self._memory_of(target.name)
        address = await self._resolve(target.address, settings.port, deadline)
        if isinstance(address, Failure):
            return self._failed(memory, address, started, loop.time() - begin)
        client = await self._client(settings, address, deadline)
        out = Output()
        failure = await self._poll(client, settings, memory, out)
        duration = loop.time() - begin
        if out.unknowns:
            # Out-of-range values are the agent saying "unknown": counted and
            # logged here, never exported nor turned into events.
            out.values["unknown_values"] = float(len(out.unknowns))
            log.debug(
                "%s: values outside their MIB range: %s", target.name, ", ".join(out.unknowns)
            )
        if failure is not None:
            return self._failed(memory, failure, started, duration)
        return _result(target, memory, out, started, duration)

    # -- one poll -----------------------------------------------------------

    async def _poll(
        self, client: Client, settings: SnmpSettings, memory: TargetMemory, out: Output
    ) -> Failure | None:
        context = ModuleContext(
            version=client.version,
            memory=memory.modules,
            interfaces=_interface_filter(settings),
            battery_min_runtime=settings.battery_min_runtime,
        )
        plan = self._plan(settings, context)
        scalars = await get_scalars(client, plan.scalars, out)
        if isinstance(scalars, Failure):
            return scalars
        fetched = Fetched(scalars=scalars)
        self._uptime(fetched, memory, out)
        stale = self._lookups_stale(fetched, memory, plan.cached)
        columns = plan.columns + (plan.cached if stale else [])
        if columns:
            fetched.columns = await walk_columns(client, columns, settings.max_repetitions, out)
        self._hc_fallback(fetched, memory, out)
        if (
            "if_mib" in settings.modules
            and memory.modules.hc_missing
            and if_mib.IF_IN_OCTETS not in fetched.columns
        ):
            fetched.columns.update(
                await walk_columns(client, if_mib.IF_32_COLUMNS, settings.max_repetitions, out)
            )
        self._cache_lookups(plan, fetched, memory, stale)
        self._parse(settings, fetched, context, out)
        return None

    def _plan(self, settings: SnmpSettings, context: ModuleContext) -> Plan:
        plan = Plan()
        plan.add(scalars=(mods.SYS_UPTIME,))
        if context.version == 3:
            plan.add(scalars=(mods.ENGINE_ID, mods.ENGINE_BOOTS, mods.ENGINE_TIME))
        for name in settings.modules:
            module = self._modules.get(name)
            if module is not None:  # names are checked at config load
                module.plan(plan, context)
        return plan

    def _uptime(self, fetched: Fetched, memory: TargetMemory, out: Output) -> None:
        """Uptime samples and reboot detection; a reboot drops cached lookups."""
        cell = fetched.scalars.get(mods.SYS_UPTIME)
        ticks = mods.number(cell)
        if ticks is None:
            if cell is None:
                out.problem("no_such_object", "sysUpTime: no value")
            elif mods.check_type(out, cell, "sysUpTime", frozenset({0x43})):
                out.problem("bad_value", "sysUpTime is not a number")
            return
        engine = _engine_clock(fetched)
        engine_id = mods.text(fetched.scalars.get(mods.ENGINE_ID))
        if engine_id != memory.engine_id:
            # Boots and time of another engine (a replaced unit, a reset
            # engine ID) say nothing about this one: use sysUpTime this time.
            memory.engine = None
        memory.engine_id = engine_id
        now = self._clock()
        if detect_reboot(
            memory.uptime_ticks,
            ticks,
            now - memory.seen_at,
            previous_engine=memory.engine,
            engine=engine,
        ):
            memory.reboots += 1
            previous = (memory.uptime_ticks or 0) / 100.0
            out.events.append(
                ProbeEvent(
                    "DeviceRebooted",
                    f"device rebooted (uptime was {previous:.0f}s, now {ticks / 100.0:.0f}s)",
                    values={"previous_uptime_seconds": previous, "uptime_seconds": ticks / 100.0},
                )
            )
            memory.lookups.clear()
            memory.modules.oper_up.clear()
        memory.uptime_ticks, memory.engine, memory.seen_at = ticks, engine, now
        out.sample("continuity_snmp_uptime_seconds", ticks / 100.0)
        out.values["uptime_seconds"] = ticks / 100.0

    def _lookups_stale(self, fetched: Fetched, memory: TargetMemory, cached: list[bytes]) -> bool:
        marker = mods.number(fetched.scalars.get(if_mib.IF_TABLE_LAST_CHANGE))
        changed = marker != memory.if_table_last_change
        memory.if_table_last_change = marker
        too_old = self._clock() - memory.lookups_at > mods.LOOKUP_MAX_AGE
        # A module added to the check since the last walk has no lookups yet.
        missing = any(oid not in memory.lookups for oid in cached)
        return changed or too_old or missing

    def _cache_lookups(
        self, plan: Plan, fetched: Fetched, memory: TargetMemory, stale: bool
    ) -> None:
        if stale:
            memory.lookups = {oid: fetched.columns.get(oid, {}) for oid in plan.cached}
            memory.lookups_at = self._clock()
        else:
            for oid in plan.cached:
                fetched.columns[oid] = memory.lookups.get(oid, {})

    @staticmethod
    def _hc_fallback(fetched: Fetched, memory: TargetMemory, out: Output) -> None:
        """Remember an agent without HC counters (old v2c agents) and use the 32-bit ones."""
        hc = fetched.columns.get(if_mib.IF_HC_IN_OCTETS)
        if hc is not None and not hc and fetched.columns.get(if_mib.IF_OPER):
            memory.modules.hc_missing = True
            for oid in if_mib.IF_HC_COLUMNS:
                fetched.columns.pop(oid, None)

    def _parse(
        self, settings: SnmpSettings, fetched: Fetched, context: ModuleContext, out: Output
    ) -> None:
        for name in settings.modules:
            module = self._modules.get(name)
            if module is not None:
                module.parse(fetched, out, context)

    # -- plumbing -----------------------------------------------------------

    async def _client(
        self, settings: SnmpSettings, address: tuple[int, SockAddr], deadline: float
    ) -> Client:
        family, sockaddr = address
        retries = settings.retries
        try_timeout = settings.timeout / (retries + 1)
        if settings.version == "3":
            return self._v3.client(
                _credentials(settings),
                family,
                sockaddr,
                retries=retries,
                try_timeout=try_timeout,
                deadline=deadline,
            )
        assert settings.community is not None
        return CommunityClient(
            self._engine,
            family,
            sockaddr,
            version=_VERSIONS[settings.version],
            community=settings.community.reveal().encode(),
            retries=retries,
            try_timeout=try_timeout,
            deadline=deadline,
        )

    async def _resolve(
        self, host: str, port: int, deadline: float
    ) -> tuple[int, SockAddr] | Failure:
        literal = _literal(host, port)
        if literal is not None:
            return literal
        try:
            async with asyncio.timeout_at(deadline):
                infos = await self._resolver(host, port)
        except TimeoutError:
            return Failure("dns", f"resolving {host!r} did not finish before the deadline")
        except (OSError, UnicodeError) as exc:
            return Failure("dns", f"cannot resolve {host!r}: {exc}")
        for family, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                return family, sockaddr
        return Failure("dns", f"{host!r} has no IPv4 or IPv6 address")

    @staticmethod
    def _failed(
        memory: TargetMemory, failure: Failure, started: float, duration: float
    ) -> ProbeResult:
        samples = (Sample("continuity_snmp_reboots_total", float(memory.reboots)),)
        return ProbeResult(False, failure.reason, failure.message, started, duration, samples)


def _engine_clock(fetched: Fetched) -> tuple[int, int] | None:
    boots = mods.number(fetched.scalars.get(mods.ENGINE_BOOTS))
    seconds = mods.number(fetched.scalars.get(mods.ENGINE_TIME))
    return None if boots is None or seconds is None else (boots, seconds)


def _literal(host: str, port: int) -> tuple[int, SockAddr] | None:
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return socket.AF_INET, (str(ip.ipv4_mapped), port)
        return socket.AF_INET6, (str(ip), port, 0, 0)
    return socket.AF_INET, (str(ip), port)


def _credentials(
    settings: SnmpSettings,
) -> tuple[str, str | None, str | None, str | None, str | None, str]:
    return (
        settings.user or "",
        settings.auth_protocol,
        settings.auth_key.reveal() if settings.auth_key is not None else None,
        settings.priv_protocol,
        settings.priv_key.reveal() if settings.priv_key is not None else None,
        settings.context,
    )


def _interface_filter(settings: SnmpSettings) -> InterfaceFilter:
    return InterfaceFilter(
        include=compile_regex(settings.interfaces_include) if settings.interfaces_include else None,
        exclude=compile_regex(settings.interfaces_exclude) if settings.interfaces_exclude else None,
        admin_down=settings.interfaces_admin_down,
    )


def _result(
    target: ProbeTarget, memory: TargetMemory, out: Output, started: float, duration: float
) -> ProbeResult:
    out.sample("continuity_snmp_reboots_total", float(memory.reboots))
    out.values["reboots_total"] = float(memory.reboots)
    if out.problems:
        reason = out.problems[0][0]
        shown = "; ".join(message for _r, message in out.problems[:5])
        more = f" (+{len(out.problems) - 5} more)" if len(out.problems) > 5 else ""
        ok, message = False, f"{shown}{more}"
    else:
        ok, reason = True, "ok"
        uptime = out.values.get("uptime_seconds")
        message = f"{target.address} answered" + (
            f", uptime {uptime:.0f}s" if uptime is not None else ""
        )
    return ProbeResult(
        ok,
        reason,
        message,
        started,
        duration,
        tuple(out.samples),
        dict(out.values),
        tuple(out.events),
    )


# ==========================================================================
# Registry entry
# ==========================================================================


def open_prober(context: ProbeContext) -> SnmpProber:
    """The kind's factory: user modules come from the ``snmp_modules`` section."""
    section = context.sections.get("snmp_modules")
    return SnmpProber(modules=section if isinstance(section, SnmpModulesSection) else None)


def user_module_families(section: SnmpModulesSection | None) -> tuple[MetricFamily, ...]:
    """HELP/TYPE entries of the user modules' metrics (``KIND.families`` has the built-ins)."""
    modules = _user_modules(section).items()
    return tuple(f for name, module in modules for f in user_module(name, module).families)


CORE_FAMILIES: Final = (
    MetricFamily("continuity_snmp_uptime_seconds", "gauge", "sysUpTime of the device's agent."),
    MetricFamily(
        "continuity_snmp_reboots_total",
        "counter",
        "Device reboots detected by this monitor (sysUpTime or snmpEngineBoots).",
    ),
)
"""What every poll reports whatever its modules (uptime and reboot detection)."""


KIND = ProbeKind(
    name="snmp",
    reasons=REASONS,
    settings=SnmpSettings,
    open=open_prober,
    families=(*CORE_FAMILIES, *(f for m in BUILTIN.values() for f in m.families)),
    description=(
        "SNMP v1/v2c/v3 polling: uptime and reboots, interfaces, UPS, host, sensors, user modules."
    ),
    sections={"snmp_modules": SnmpModulesSection},
    check=check_settings,
    section_families=lambda sections: user_module_families(sections.get("snmp_modules")),
    check_address=lambda address, settings: host_problem(address),
)
