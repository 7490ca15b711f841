"""Probe values as people read them: names without units, milliseconds, percent, seconds.

Probes report machine values (``rtt_avg_seconds=2.7e-05``,
``packet_loss_ratio=0.25``); the ``probe`` command and the status page show
``rtt avg 0.03 ms`` and ``packet loss 25 %``. The unit is taken from the
name's suffix, the way Prometheus names carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

_SUFFIXES = ("_seconds", "_ratio", "_bytes", "_total", "_celsius")


def label(key: str) -> str:
    """``rtt_avg_seconds`` -> ``rtt avg``; ``cert_expiry_timestamp_seconds`` -> ``cert expiry``."""
    name = key
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    return name.removesuffix("_timestamp").replace("_", " ")


def amount(key: str, value: float, words: Mapping[str, str] | None = None) -> str:
    """The value with a unit that fits its size (``words``: see :func:`seconds`)."""
    if key.endswith("_timestamp_seconds"):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if key.endswith("_seconds"):
        return seconds(value, words)
    if key.endswith("_ratio"):
        return _mark(f"{value * 100:.4g} %", words)
    if key.endswith("_bytes"):
        return _mark(size(value), words)
    if key.endswith("_celsius"):
        return _mark(f"{value:.3g} °C", words)
    return _mark(f"{value:.6g}", words)


def _mark(text: str, words: Mapping[str, str] | None) -> str:
    """``text`` with the language's decimal mark (``3,5 ms`` in Vietnamese)."""
    mark = words.get("number.decimal", ".") if words else "."
    return text if mark == "." else text.replace(".", mark)


def seconds(value: float, words: Mapping[str, str] | None = None) -> str:
    """Under a second in ms (two decimals under 10 ms), else s, min, h or d.

    ``words``: the texts of a language (``monitor.i18n.texts``) whose ``unit.s``,
    ``unit.min``, ``unit.h`` and ``unit.d`` name the units (``giây``, ``phút``...).
    """
    unit = words or _UNITS
    magnitude = abs(value)
    if magnitude < 0.01:
        text = f"{value * 1000:.2f} ms"
    elif magnitude < 1:
        text = f"{value * 1000:.1f} ms"
    elif magnitude < 120:
        text = f"{value:.3g} {unit['unit.s']}"
    elif magnitude < 7200:
        text = f"{value / 60:.1f} {unit['unit.min']}"
    elif magnitude < 172800:
        text = f"{value / 3600:.1f} {unit['unit.h']}"
    else:
        text = f"{value / 86400:.1f} {unit['unit.d']}"
    return _mark(text, words)


_UNITS = {"unit.s": "s", "unit.min": "min", "unit.h": "h", "unit.d": "d"}


def size(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.4g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def describe(values: Mapping[str, float], separator: str = ", ") -> str:
    """Every value as ``label amount``, in a stable order."""
    return separator.join(f"{label(k)} {amount(k, v)}" for k, v in sorted(values.items()))
