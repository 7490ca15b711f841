"""Values outside their MIB range are unknown: no sample, no event, counted (table tests)."""

from __future__ import annotations

import pytest

from probes import snmp_modules as m
from probes import snmp_user_modules
from probes.snmp_codec import GAUGE32, INTEGER, OCTET_STRING, oid_to_ber
from probes.snmp_mibs import entity_sensor, host, if_mib
from probes.snmp_mibs import ups as ups_mib

ONE = b"\x01"


def names(out: m.Output) -> set[str]:
    return {s.name for s in out.samples}


@pytest.mark.parametrize(
    ("value", "valid", "expected", "unknown"),
    [
        (5, (0, 10), 5, False),
        (0, (0, 10), 0, False),
        (10, (0, 10), 10, False),
        (-1, (0, 10), None, True),
        (11, (0, 10), None, True),
        (4294967295, m.POSITIVE, None, True),
        (0, m.POSITIVE, None, True),
    ],
)
def test_ranged(value: int, valid: tuple[int, int], expected: int | None, unknown: bool) -> None:
    out = m.Output()
    assert m.ranged(out, (INTEGER, value), "x", valid) == expected
    assert out.unknowns == ([f"x={value}"] if unknown else [])
    assert out.problems == []


def ups(**overrides: int) -> m.Fetched:
    scalars = {
        ups_mib.UPS_OUTPUT_SOURCE: 3,
        ups_mib.UPS_BATTERY_STATUS: 2,
        ups_mib.UPS_SECONDS_ON_BATTERY: 0,
        ups_mib.UPS_MINUTES_REMAINING: 40,
        ups_mib.UPS_CHARGE_REMAINING: 90,
    }
    keys = {
        "source": ups_mib.UPS_OUTPUT_SOURCE,
        "status": ups_mib.UPS_BATTERY_STATUS,
        "seconds": ups_mib.UPS_SECONDS_ON_BATTERY,
        "minutes": ups_mib.UPS_MINUTES_REMAINING,
        "charge": ups_mib.UPS_CHARGE_REMAINING,
    }
    for key, value in overrides.items():
        scalars[keys[key]] = value
    return m.Fetched(
        scalars={oid: (INTEGER, value) for oid, value in scalars.items()},
        columns={
            ups_mib.UPS_INPUT_VOLTAGE: {ONE: (INTEGER, 230)},
            ups_mib.UPS_OUTPUT_LOAD: {ONE: (INTEGER, 30)},
        },
    )


@pytest.mark.parametrize(
    ("overrides", "missing", "events"),
    [
        ({}, set(), []),
        ({"minutes": 5}, set(), ["BatteryLow"]),  # a real low runtime still pages
        ({"minutes": -1}, {"continuity_ups_battery_runtime_seconds"}, []),
        ({"minutes": 0}, {"continuity_ups_battery_runtime_seconds"}, []),  # PositiveInteger
        ({"charge": -1}, {"continuity_ups_battery_charge_ratio"}, []),
        ({"charge": 101}, {"continuity_ups_battery_charge_ratio"}, []),
        ({"status": 0}, {"continuity_ups_battery_status"}, []),
        ({"status": 9}, {"continuity_ups_battery_status"}, []),
        ({"seconds": -1}, {"continuity_ups_seconds_on_battery"}, []),
        # An unknown output source falls back to seconds on battery (0 here): on mains.
        ({"source": -1}, set(), []),
        ({"source": 5}, set(), ["OnBattery"]),
    ],
)
def test_ups_unknowns(overrides: dict[str, int], missing: set[str], events: list[str]) -> None:
    out = m.Output()
    ups_mib.parse_ups(ups(**overrides), out, m.ModuleMemory(), 900.0)
    assert not (names(out) & missing)
    assert "continuity_ups_on_battery" in names(out)
    assert [e.kind for e in out.events] == events
    assert out.problems == []
    assert len(out.unknowns) == len(missing) + ("source" in overrides and overrides["source"] < 1)


def test_if_mib_unknown_status_is_no_status_and_no_flap() -> None:
    two = b"\x02"
    fetched = m.Fetched(
        columns={
            if_mib.IF_ADMIN: {ONE: (INTEGER, 1), two: (INTEGER, 1)},
            if_mib.IF_OPER: {ONE: (INTEGER, 1), two: (INTEGER, 1)},
            if_mib.IF_NAME: {ONE: (OCTET_STRING, b"ge-0/0/1"), two: (OCTET_STRING, b"ge-0/0/2")},
        }
    )
    memory = m.ModuleMemory()
    if_mib.parse_if_mib(fetched, m.Output(), memory, m.InterfaceFilter())
    fetched.columns[if_mib.IF_OPER][two] = (INTEGER, 99)  # not an ifOperStatus code
    out = m.Output()
    if_mib.parse_if_mib(fetched, out, memory, m.InterfaceFilter())
    assert out.events == []  # no InterfaceDown for an unknown status
    assert out.problems == []
    assert out.unknowns == ["ifOperStatus.2=99"]
    up = {dict(s.labels)["interface"] for s in out.samples if s.name.endswith("interface_up")}
    assert up == {"ge-0/0/1"}


def test_host_and_sensor_ranges() -> None:
    fetched = m.Fetched(
        columns={
            host.HR_PROCESSOR_LOAD: {ONE: (INTEGER, 12), b"\x02": (INTEGER, -1)},
            entity_sensor.ENT_SENSOR_TYPE: {ONE: (INTEGER, 8), b"\x02": (INTEGER, 8)},
            entity_sensor.ENT_SENSOR_SCALE: {ONE: (INTEGER, 9), b"\x02": (INTEGER, 9)},
            entity_sensor.ENT_SENSOR_PRECISION: {ONE: (INTEGER, 0), b"\x02": (INTEGER, 0)},
            entity_sensor.ENT_SENSOR_VALUE: {ONE: (INTEGER, 41), b"\x02": (INTEGER, 2_000_000_000)},
            entity_sensor.ENT_SENSOR_STATUS: {ONE: (INTEGER, 1), b"\x02": (INTEGER, 1)},
        }
    )
    out = m.Output()
    host.parse_host(fetched, out)
    entity_sensor.parse_entity_sensor(fetched, out)
    loads = [s for s in out.samples if s.name == "continuity_snmp_cpu_load_ratio"]
    assert [s.value for s in loads] == [0.12]
    temps = [s for s in out.samples if s.name == "continuity_snmp_sensor_temperature_celsius"]
    assert [s.value for s in temps] == [41.0]
    assert out.unknowns == ["hrProcessorLoad.2=-1", "entPhySensorValue.2=2000000000"]


def test_user_module_min_max() -> None:
    module = snmp_user_modules.UserModule.model_validate(
        {"oid": "1.3.6.1.4.1.9.9.1", "index": ["i"], "min": 0}
    )
    oid = oid_to_ber(module.oid)
    fetched = m.Fetched(
        columns={oid: {ONE: (INTEGER, 7), b"\x02": (GAUGE32, 5), b"\x03": (INTEGER, -1)}}
    )
    out = m.Output()
    snmp_user_modules.parse_user(fetched, out, "temp", module)
    assert [(dict(s.labels)["i"], s.value) for s in out.samples] == [("1", 7.0), ("2", 5.0)]
    assert out.unknowns == ["temp{3}=-1"]
    with pytest.raises(ValueError, match="above max"):
        snmp_user_modules.UserModule.model_validate(
            {"oid": "1.3.6.1.4.1.9.9.1.0", "min": 5, "max": 1}
        )
