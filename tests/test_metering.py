"""Reading meter samples: energy register, power and current per phase, units."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.core.metering import current_by_phase, energy_register_wh, parse_number, power_w
from appliance.store.transactions import SampleRow

T0 = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)


def s(value, measurand="Energy.Active.Import.Register", unit="Wh", phase="", location="", at=T0, fmt="Raw"):
    return SampleRow(at, measurand, phase, location, "", unit, fmt, parse_number(value), value)


@pytest.mark.parametrize("samples, expected_wh", [
    ([s("1500")], 1500),
    ([s("1.5", unit="kWh")], 1500),
    ([s("1.2345", unit="kWh")], 1234),  # rounded to whole Wh
    ([s("100", at=T0), s("250", at=T0 + dt.timedelta(minutes=1))], 250),  # the latest reading
    ([s("250", at=T0 + dt.timedelta(minutes=1)), s("100", at=T0)], 250),  # whatever the order
    ([s("900", phase="L1")], None),  # a per-phase register is not the meter total
    ([s("900", location="Inlet")], None),  # the grid side of the charger, not what the car got
    ([s("900", location="Outlet")], 900),
    ([s("7200", measurand="Power.Active.Import", unit="W")], None),
    ([s("abc")], None),  # not a number
    ([s("1500", unit="varh")], None),  # unknown unit: better no figure than a wrong one
    ([s("AB12CD", fmt="SignedData")], None),  # signed data is kept verbatim, not read
])
def test_energy_register_wh(samples, expected_wh):
    found = energy_register_wh(samples)
    assert (found[0] if found else None) == expected_wh


@pytest.mark.parametrize("samples, expected_w", [
    ([s("7200", "Power.Active.Import", "W")], 7200),
    ([s("7.2", "Power.Active.Import", "kW")], 7200),
    ([s("2000", "Power.Active.Import", "W", "L1"), s("2100", "Power.Active.Import", "W", "L2")], 4100),
    ([s("11000", "Power.Active.Import", "W"), s("2000", "Power.Active.Import", "W", "L1")], 11000),  # total wins
    ([s("1500")], None),
])
def test_power_w(samples, expected_w):
    assert power_w(samples) == expected_w


def test_current_by_phase():
    samples = [s("16", "Current.Import", "A", "L1"), s("15.5", "Current.Import", "A", "L2-N"),
               s("3", "Current.Import", "A", "L3", location="Inlet"), s("8", "Current.Import", "A")]
    assert current_by_phase(samples) == {"L1": 8.0, "L2": 15.5}


@pytest.mark.parametrize("raw, value", [("1", 1.0), ("-2.5", -2.5), ("nan", None), ("inf", None), ("", None)])
def test_parse_number(raw, value):
    assert parse_number(raw) == value
