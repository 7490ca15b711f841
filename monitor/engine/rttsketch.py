"""A mergeable summary of round-trip times: counts, loss and a log-scale histogram.

One :class:`Summary` holds what one history bucket (a minute, an hour) knows
about one check of one target: how many results, packets sent and lost, the
exact smallest and largest time, and a histogram of the times in fixed
log-scale slots (:data:`PER_OCTAVE` slots per doubling from :data:`BASE`
seconds). The slots are the same for every summary, so merging two is adding
their counts: an hour made of sixty minutes is exactly the summary of every
time of that hour, and its quantiles are what they would be from the raw
times, within one slot (about 9 %: ``2 ** (1/8)``).

Quantiles use the nearest rank (the ``ceil(q * n)``-th smallest time); the
value reported is the geometric middle of the slot holding that rank,
clamped to the exact minimum and maximum. The binary form (:func:`encode`)
lists only the slots in use, so a minute with four results takes a few bytes.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping

BASE = 1e-5
"""Lower edge of slot 1 (10 µs); faster times share slot 0."""
PER_OCTAVE = 8
SLOTS = 200
"""Slot 199 ends at ``BASE * 2 ** 25`` (335 s); slower times share it."""
QUANTILES = (0.1, 0.5, 0.9)
_LOG2_BASE = math.log2(BASE)


def slot(seconds: float) -> int:
    """The slot a time falls into (clamped to the first and last)."""
    if seconds <= BASE:
        return 0
    index = int((math.log2(seconds) - _LOG2_BASE) * PER_OCTAVE) + 1
    return min(index, SLOTS - 1)


def slot_bounds(index: int) -> tuple[float, float]:
    """``[low, high)`` of a slot in seconds (slot 0 starts at 0)."""
    if index <= 0:
        return 0.0, BASE
    return BASE * 2 ** ((index - 1) / PER_OCTAVE), BASE * 2 ** (index / PER_OCTAVE)


def slot_middle(index: int) -> float:
    low, high = slot_bounds(index)
    return math.sqrt(low * high) if low > 0 else high / 2


class Summary:
    """Results of one check in one bucket (mutable while the bucket is open).

    The histogram is kept packed: one ``array('I')`` of (slot, count) pairs
    in slot order, 88 bytes for a minute's few slots where a dict took 224;
    every open bucket of 50,000 checks (a fine and a coarse one each) has one.
    :attr:`slots` gives it as a dict.
    """

    __slots__ = ("_packed", "count", "high", "lost", "low", "sent")

    def __init__(
        self,
        count: int = 0,
        sent: int = 0,
        lost: int = 0,
        low: float | None = None,
        high: float | None = None,
        *,
        slots: Mapping[int, int] | None = None,
    ) -> None:
        self.count = count
        """Results."""
        self.sent = sent
        """Packets (ICMP) or attempts (one per result of other kinds)."""
        self.lost = lost
        self.low = low
        self.high = high
        self._packed = array("I")
        if slots:
            for index in sorted(slots):
                if slots[index]:
                    self._packed.extend((index, slots[index]))

    @property
    def slots(self) -> dict[int, int]:
        """Count per slot in use (a copy)."""
        packed = self._packed
        return dict(zip(packed[::2], packed[1::2], strict=True))

    @property
    def samples(self) -> int:
        """Times in the histogram."""
        return sum(self._packed[1::2])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Summary):
            return NotImplemented
        return (self.count, self.sent, self.lost, self.low, self.high, self._packed) == (
            other.count,
            other.sent,
            other.lost,
            other.low,
            other.high,
            other._packed,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"Summary(count={self.count}, sent={self.sent}, lost={self.lost}, "
            f"low={self.low!r}, high={self.high!r}, slots={self.slots!r})"
        )

    def add(self, *, sent: int, lost: int, seconds: float | None) -> None:
        """One result: its packets (or one attempt) and its time, if it had one."""
        self.count += 1
        self.sent += sent
        self.lost += lost
        if seconds is not None and seconds >= 0 and math.isfinite(seconds):
            self.observe(seconds)

    def observe(self, seconds: float) -> None:
        self._count_slot(slot(seconds), 1)
        self.low = seconds if self.low is None else min(self.low, seconds)
        self.high = seconds if self.high is None else max(self.high, seconds)

    def observe_all(self, times: tuple[float, ...]) -> None:
        """:meth:`observe` of each time (an echo train's round trips) in one call;
        times that are negative or not finite are left out, as :class:`Recorder` does."""
        low, high = self.low, self.high
        # A run's echoes mostly fall in one slot (a slot is 9 % wide): counted
        # together, one scan of the packed pairs a slot instead of one an echo.
        last, same = -1, 0
        for seconds in times:
            if not 0.0 <= seconds < math.inf:
                continue
            index = slot(seconds)
            if index == last:
                same += 1
            else:
                if same:
                    self._count_slot(last, same)
                last, same = index, 1
            if low is None or seconds < low:
                low = seconds
            if high is None or seconds > high:
                high = seconds
        if same:
            self._count_slot(last, same)
        self.low, self.high = low, high

    def _count_slot(self, index: int, n: int) -> None:
        packed = self._packed
        for i in range(0, len(packed), 2):  # a few slots: a scan beats a search
            if packed[i] == index:
                packed[i + 1] += n
                return
            if packed[i] > index:
                packed[i:i] = array("I", (index, n))
                return
        packed.extend((index, n))

    def merge(self, other: Summary) -> None:
        """Add ``other`` into this summary (the rollup of buckets)."""
        self.count += other.count
        self.sent += other.sent
        self.lost += other.lost
        if other.low is not None:
            self.low = other.low if self.low is None else min(self.low, other.low)
        if other.high is not None:
            self.high = other.high if self.high is None else max(self.high, other.high)
        theirs = other._packed
        if not self._packed:
            self._packed = array("I", theirs)
            return
        for i in range(0, len(theirs), 2):
            self._count_slot(theirs[i], theirs[i + 1])

    def quantile(self, q: float) -> float | None:
        """The nearest-rank ``q`` quantile (None without times); 0 and 1 are exact."""
        total = self.samples
        if not total or self.low is None or self.high is None:
            return None
        if q <= 0:
            return self.low
        if q >= 1:
            return self.high
        rank = max(1, math.ceil(q * total))
        seen = 0
        packed = self._packed
        for i in range(0, len(packed), 2):  # in slot order
            seen += packed[i + 1]
            if seen >= rank:
                return min(max(slot_middle(packed[i]), self.low), self.high)
        return self.high  # not reached: the counts add up to total

    def loss_ratio(self) -> float | None:
        return self.lost / self.sent if self.sent else None

    def copy(self) -> Summary:
        out = Summary(self.count, self.sent, self.lost, self.low, self.high)
        out._packed = array("I", self._packed)
        return out


def merged(summaries: Iterable[Summary]) -> Summary:
    """One summary of several buckets."""
    out = Summary()
    for summary in summaries:
        out.merge(summary)
    return out


# -- storage form ---------------------------------------------------------------

MICRO = 1_000_000
"""Times are stored as whole microseconds (an integer column is a few bytes)."""


def encode_slots(slots: Mapping[int, int]) -> bytes:
    """The histogram as bytes: for each slot in use, its index and count (varint)."""
    out = bytearray()
    for index in sorted(slots):
        out.append(index)
        n = slots[index]
        while n >= 0x80:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        out.append(n)
    return bytes(out)


def decode_slots(data: bytes) -> dict[int, int]:
    """The inverse of :func:`encode_slots`; raises ValueError on bytes it did not make."""
    slots: dict[int, int] = {}
    i, size = 0, len(data)
    while i < size:
        index = data[i]
        i += 1
        n = shift = 0
        while True:
            if i >= size:
                raise ValueError("truncated histogram")
            byte = data[i]
            i += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        if index >= SLOTS:
            raise ValueError(f"histogram slot {index} out of range")
        slots[index] = slots.get(index, 0) + n
    return slots


Row = tuple[int, int, int, int | None, int | None, bytes]
"""count, sent, lost, min µs, max µs, histogram: the columns of a stored bucket."""


def to_row(summary: Summary) -> Row:
    low = None if summary.low is None else round(summary.low * MICRO)
    high = None if summary.high is None else round(summary.high * MICRO)
    return summary.count, summary.sent, summary.lost, low, high, encode_slots(summary.slots)


def from_row(row: Row) -> Summary:
    count, sent, lost, low, high, data = row
    return Summary(
        count,
        sent,
        lost,
        None if low is None else low / MICRO,
        None if high is None else high / MICRO,
        slots=decode_slots(data),
    )
