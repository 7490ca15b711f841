"""The exporter skips figures that would write the series it already has.

Random sequences of figures (the same object again, equal copies, copies
differing only in ``observed_since``, real changes), target removals and
re-additions (a reload) and label changes: after each step the figures'
series are exactly those of the last figures given for each target present,
as if every one had been written.
"""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from monitor.engine.availability import Figures
from monitor.engine.exporter import Exporter, SelfMetrics
from monitor.engine.state import Health, TargetState
from monitor.history.store import FAMILIES

FIGURE_FAMILIES = {f.name for f in FAMILIES}
AVAILABILITY = st.sampled_from(
    [
        {"1h": 1.0, "24h": 1.0, "7d": 1.0, "30d": 1.0},
        {"1h": None, "24h": 1.0, "7d": 1.0, "30d": 1.0},
        {"30d": 1.0, "7d": 1.0, "24h": 1.0, "1h": 1.0},  # equal, another order
        {"1h": 0.5, "24h": 0.75, "7d": None, "30d": 0.99},
    ]
)
FIGURES = st.builds(
    Figures,
    st.integers(0, 2),
    st.sampled_from([0.0, 0.0, 12.5]),
    AVAILABILITY,
    st.sampled_from([None, None, 30.0]),
    st.sampled_from([None, 600.0]),
    st.sampled_from([None, 1.0, 2.0]),
)
NAMES = st.sampled_from(["a", "b"])
OPS = st.one_of(
    st.tuples(st.just("put"), NAMES, FIGURES),
    st.tuples(st.just("again"), NAMES),  # the very object given last
    st.tuples(st.just("since"), NAMES, st.floats(0, 10)),  # only observed_since moves
    st.tuples(st.just("remove"), NAMES),
    st.tuples(st.just("labels"), NAMES, st.sampled_from(["x", "y"])),
)


def figure_samples(exporter: Exporter) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    text = exporter.store.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in FIGURE_FAMILIES
    }


def expected_samples(
    shown: Mapping[str, Figures], labels: Mapping[str, str]
) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    out = set()
    for name, f in shown.items():
        base = (("site", labels[name]), ("target", name))
        out.add(("continuity_outages_total", base, float(f.outages_total)))
        out.add(("continuity_downtime_seconds_total", base, f.downtime_seconds_total))
        for window, ratio in f.availability.items():
            if ratio is not None:
                key = tuple(sorted((*base, ("window", window))))
                out.add(("continuity_availability_ratio", key, ratio))
        for family, value in (
            ("continuity_mttr_seconds", f.mttr_seconds),
            ("continuity_mtbf_seconds", f.mtbf_seconds),
        ):
            if value is not None:
                out.add((family, tuple(sorted((*base, ("window", "30d")))), value))
    return out


def add(exporter: Exporter, name: str, site: str) -> None:
    exporter.set_target(name, {"site": site})
    exporter.target_state(TargetState(name, Health.UP, since=1.0))


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(OPS, max_size=40))
def test_the_figures_series_are_those_of_the_last_figures_given(
    ops: list[tuple[object, ...]],
) -> None:
    exporter = Exporter(FAMILIES, SelfMetrics())
    labels = {"a": "x", "b": "x"}
    shown: dict[str, Figures] = {}
    present = {"a", "b"}
    for name in present:
        add(exporter, name, labels[name])
    for kind, name, *args in ops:
        assert isinstance(name, str)
        if name not in present:  # a reload adds it back, without figures until given
            add(exporter, name, labels[name])
            present.add(name)
        if kind == "put":
            figures = args[0]
            assert isinstance(figures, Figures)
        elif kind == "again":
            figures = shown.get(name, Figures(0, 0.0, {}, None, None))
        elif kind == "since":
            last = shown.get(name, Figures(0, 0.0, {}, None, None))
            figures = Figures(
                last.outages_total,
                last.downtime_seconds_total,
                last.availability,
                last.mttr_seconds,
                last.mtbf_seconds,
                args[0],  # type: ignore[arg-type]
            )
        elif kind == "remove":
            exporter.remove_target(name)
            present.discard(name)
            shown.pop(name, None)
            continue
        else:
            labels[name] = str(args[0])
            exporter.set_target(name, {"site": labels[name]})
            continue
        exporter.figures(name, figures)
        shown[name] = figures
        assert figure_samples(exporter) == expected_samples(shown, labels)
    assert figure_samples(exporter) == expected_samples(shown, labels)


def test_the_same_figures_are_not_written_again() -> None:
    """What the skip saves: an unchanged target's cells are not replaced (the family
    keeps the very cell objects), a changed one's are."""
    exporter = Exporter(FAMILIES, SelfMetrics())
    add(exporter, "a", "x")
    exporter.figures("a", Figures(0, float("2.5"), {"1h": 1.0}, None, None, 5.0))
    cells = exporter.store._families["continuity_downtime_seconds_total"].cells
    kept = next(iter(cells.values()))
    exporter.figures("a", Figures(0, float("2.5"), {"1h": 1.0}, None, None, 6.0))
    assert next(iter(cells.values())) is kept
    exporter.figures("a", Figures(0, 1.5, {"1h": 1.0}, None, None, 6.0))
    assert next(iter(cells.values())) == 1.5
