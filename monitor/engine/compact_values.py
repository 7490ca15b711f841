"""A result's named measurements (``ProbeResult.values``) kept compactly in a check's state.

Every target's state keeps its checks' last results, and with them their
``values`` (seven floats for an ICMP echo train). As a dict that is a table
of about 200 bytes plus a float object (24 bytes) per value: 370 bytes a
target, 18 MB at 50,000 targets. :class:`CompactValues` holds the names as
a tuple (taken over from the check's previous result when the names are the
same, so a check keeps one tuple however many results it had) and the numbers
packed as doubles in one bytes object: about 230 bytes for the same seven. It is a read-only
``Mapping``, so the readers (rules, the CLI, the status page, the power
board) see what a dict showed them; it compares equal to a dict with the
same items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from struct import Struct, pack
from typing import Final

_DOUBLE = Struct("d")
_PACKERS: Final = tuple(Struct(f"{n}d") for n in range(17))
"""Compiled formats for up to 16 values (an echo train has seven): a format built
and looked up per result cost 0.15 µs more."""


_new_object: Final = object.__new__


class CompactValues(Mapping[str, float]):
    """Read-only mapping of measurement names to floats, names shared between results."""

    __slots__ = ("_names", "_numbers")

    def __init__(self, names: tuple[str, ...], numbers: bytes) -> None:
        self._names = names
        self._numbers = numbers

    @classmethod
    def of(cls, values: Mapping[str, float], previous: object = None) -> CompactValues:
        """``values`` compacted; the names tuple is ``previous``'s when it is a
        :class:`CompactValues` with the same names (the check's last values)."""
        names = tuple(values)
        # type(), not isinstance(): a Mapping subclass's isinstance goes through the ABC
        if type(previous) is CompactValues and previous._names == names:
            names = previous._names
        n = len(names)
        numbers = (
            _PACKERS[n].pack(*values.values())
            if n < len(_PACKERS)
            else pack(f"{n}d", *values.values())
        )
        # Built without a call of __init__ (a Python frame: 0.1 µs of the 0.65)
        made = _new_object(cls)
        made._names = names
        made._numbers = numbers
        return made

    def __getitem__(self, key: str) -> float:
        try:
            index = self._names.index(key)
        except ValueError:
            raise KeyError(key) from None
        value: float = _DOUBLE.unpack_from(self._numbers, 8 * index)[0]
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, key: object) -> bool:
        return key in self._names

    def __repr__(self) -> str:
        return f"CompactValues({dict(self)!r})"
