"""User SNMP modules: the ``[snmp_modules.NAME]`` tables, validated at config
load, and each one as an :class:`~probes.snmp_modules.SnmpModule` like the
built-ins (:func:`user_module`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from monitor.config_types import StrictModel
from monitor.contract import MetricFamily
from probes.snmp_codec import SnmpCodecError, decode_arcs, oid_to_ber, parse_oid
from probes.snmp_mibs import BUILTIN
from probes.snmp_modules import (
    MISSING_TAGS,
    Cell,
    Fetched,
    Output,
    Plan,
    SnmpModule,
    index_text,
    number,
    text,
    type_name,
)

# ==========================================================================
# User modules: the [snmp_modules.NAME] section
# ==========================================================================

_NAME_RE: Final = re.compile(r"^[a-z_][a-z0-9_]*$")
_LABEL_RE: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Labels the exporter or the snmp kind set themselves.
_RESERVED_LABELS: Final = frozenset({"target", "check", "state", "instance", "job"})


def _oid_text(value: str) -> str:
    try:
        parse_oid(value)
    except SnmpCodecError:
        raise ValueError(
            f"expected a numeric OID such as '1.3.6.1.4.1.9.2.1.58.0', got {value!r}"
        ) from None
    return value.lstrip(".")


def _label_name(value: str) -> str:
    if not _LABEL_RE.match(value) or value.startswith("__"):
        raise ValueError(
            f"label names must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __, got {value!r}"
        )
    if value in _RESERVED_LABELS:
        raise ValueError(f"{value!r} is set by the monitor itself; choose another label name")
    return value


OidText = Annotated[str, AfterValidator(_oid_text)]
LabelName = Annotated[str, AfterValidator(_label_name)]


class Lookup(StrictModel):
    """``lookup = { oid = "1.3.6.1.2.1.31.1.1.1.1", label = "interface" }``: a column
    indexed like the module's table whose (string) value becomes a label."""

    oid: OidText
    label: LabelName


class UserModule(StrictModel):
    """``[snmp_modules.NAME]``: one named OID (scalar) or table column.

    With ``index = []`` (the default) ``oid`` is fetched with GET, so name
    the instance (``...0`` for a scalar). With index labels it is walked as
    a column and each index sub-identifier becomes a label (the last label
    takes the rest of the index, dotted, when it is longer).
    """

    oid: OidText
    type: Literal["gauge", "counter", "info"] = "gauge"
    index: list[LabelName] = Field(default_factory=list)
    lookup: Lookup | None = None
    scale: float = 1.0
    help: str = ""
    min: int | None = None
    """Lowest valid raw value (the MIB's range); values outside are unknown: no sample."""
    max: int | None = None
    """Highest valid raw value; e.g. ``min = 0`` drops an agent's -1 for "unknown"."""

    @model_validator(mode="after")
    def _lookup_needs_index(self) -> UserModule:
        if self.lookup is not None and not self.index:
            raise ValueError("lookup needs index labels: a scalar has no index to look up")
        if self.lookup is not None and self.lookup.label in self.index:
            raise ValueError(f"lookup label {self.lookup.label!r} is also an index label")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


def _module_name_problem(name: str) -> str | None:
    if not _NAME_RE.match(name):
        return f"module names must match [a-z_][a-z0-9_]*, got {name!r}"
    if name in BUILTIN:
        return f"{name!r} is a built-in module; choose another name"
    return None


class SnmpModulesSection(RootModel[dict[str, UserModule]]):
    """The top-level ``[snmp_modules]`` table: user module name -> definition."""

    model_config = ConfigDict(frozen=True, strict=True)

    @model_validator(mode="after")
    def _names(self) -> SnmpModulesSection:
        # Reported at snmp_modules.NAME (a key validator would say "[key]").
        errors = [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "{error}", {"error": problem}),
                loc=(name,),
                input=name,
            )
            for name in self.root
            if (problem := _module_name_problem(name)) is not None
        ]
        if errors:
            raise ValidationError.from_exception_data("snmp_modules", errors)
        return self


def user_metric_name(name: str, module: UserModule) -> str:
    """``continuity_snmp_<name>``, with ``_total`` for counters and ``_info`` for info."""
    base = f"continuity_snmp_{name}"
    if module.type == "counter" and not base.endswith("_total"):
        return base + "_total"
    if module.type == "info" and not base.endswith("_info"):
        return base + "_info"
    return base


# ==========================================================================
# user modules
# ==========================================================================


def user_plan(plan: Plan, module: UserModule) -> None:
    if not module.index:
        plan.add(scalars=(oid_to_ber(module.oid),))
        return
    plan.add(columns=(oid_to_ber(module.oid),))
    if module.lookup is not None:
        plan.add(cached=(oid_to_ber(module.lookup.oid),))


def parse_user(fetched: Fetched, out: Output, name: str, module: UserModule) -> None:
    """A user module's samples: one per scalar or per row of its column."""
    metric = user_metric_name(name, module)
    oid = oid_to_ber(module.oid)
    if not module.index:
        cell = fetched.scalars.get(oid)
        if cell is None or cell[0] in MISSING_TAGS:
            shown = type_name(cell[0]) if cell is not None else "no value"
            out.problem("no_such_object", f"module {name}: {module.oid}: {shown}")
            return
        _user_sample(out, name=name, module=module, metric=metric, cell=cell, labels=())
        return
    column = fetched.column(oid)
    if not column:
        out.problem("no_such_object", f"module {name}: no rows under {module.oid}")
        return
    lookup = fetched.column(oid_to_ber(module.lookup.oid)) if module.lookup is not None else {}
    for suffix, cell in sorted(column.items()):
        labels = _index_labels(module.index, suffix)
        if module.lookup is not None:
            labels.append((module.lookup.label, text(lookup.get(suffix)) or index_text(suffix)))
        _user_sample(out, name=name, module=module, metric=metric, cell=cell, labels=tuple(labels))


def _index_labels(names: Sequence[str], suffix: bytes) -> list[tuple[str, str]]:
    try:
        arcs = [str(a) for a in decode_arcs(suffix)]
    except SnmpCodecError:
        arcs = [suffix.hex()]
    if len(arcs) > len(names):
        arcs = [*arcs[: len(names) - 1], ".".join(arcs[len(names) - 1 :])]
    return list(zip(names, arcs, strict=False))


def _user_sample(
    out: Output,
    *,
    name: str,
    module: UserModule,
    metric: str,
    cell: Cell,
    labels: tuple[tuple[str, str], ...],
) -> None:
    if module.type == "info":
        shown = text(cell)
        if shown is None:
            out.problem("bad_value", f"module {name}: {type_name(cell[0])} is not displayable")
            return
        out.sample(metric, 1.0, *labels, (name, shown[:256]))
        return
    value = number(cell)
    if value is None:
        out.problem("bad_value", f"module {name}: {type_name(cell[0])} is not a number")
        return
    if (module.min is not None and value < module.min) or (
        module.max is not None and value > module.max
    ):
        shown = ",".join(v for _l, v in labels)
        out.unknown(f"{name}{'{' + shown + '}' if shown else ''}", value)
        return
    out.sample(metric, value * module.scale, *labels)


def user_module(name: str, module: UserModule) -> SnmpModule:
    """A ``[snmp_modules.NAME]`` table as a module like the built-ins."""
    help_text = module.help or f"SNMP user module {name} ({module.oid})."
    return SnmpModule(
        name=name,
        description=help_text,
        plan=lambda plan, _context: user_plan(plan, module),
        parse=lambda fetched, out, _context: parse_user(fetched, out, name, module),
        families=(MetricFamily(user_metric_name(name, module), module.type, help_text),),
    )
