"""Reading meter samples: pure functions from version-neutral samples to figures the core uses."""

from __future__ import annotations

from appliance.store.transactions import SampleRow

# The version-neutral sampled value adapters build; stored as it is.
Sample = SampleRow

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"

_TO_BASE = {"wh": 1.0, "kwh": 1000.0, "w": 1.0, "kw": 1000.0, "a": 1.0, "": 1.0}


def parse_number(raw: str) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def in_base_unit(sample: SampleRow) -> float | None:
    """The sample's value in Wh, W or A, or None if it is not a plain number in a known unit."""
    factor = _TO_BASE.get(sample.unit.lower())
    if sample.value is None or factor is None:
        return None
    return sample.value * factor


def energy_register_wh(samples: list[SampleRow]) -> tuple[int, SampleRow] | None:
    """The latest whole-meter energy register reading (not a per-phase one), in integer Wh."""
    best: tuple[int, SampleRow] | None = None
    for s in samples:
        if s.measurand != ENERGY_REGISTER or s.phase or s.location not in ("", "Outlet"):
            continue
        value = in_base_unit(s)
        if value is not None and (best is None or s.sampled_at >= best[1].sampled_at):
            best = (round(value), s)
    return best


def power_w(samples: list[SampleRow]) -> float | None:
    """Active power now: the total if the charger reports one, else the sum of its phases."""
    total = [in_base_unit(s) for s in samples if s.measurand == POWER and not s.phase]
    if any(v is not None for v in total):
        return next(v for v in reversed(total) if v is not None)
    phases = {s.phase: in_base_unit(s) for s in samples if s.measurand == POWER and s.phase}
    values = [v for v in phases.values() if v is not None]
    return sum(values) if values else None


def current_by_phase(samples: list[SampleRow]) -> dict[str, float]:
    """Current drawn per phase (L1, L2, L3); a phase-less reading counts as L1."""
    currents: dict[str, float] = {}
    for s in samples:
        if s.measurand == CURRENT and s.location in ("", "Outlet"):
            value = in_base_unit(s)
            if value is not None:
                currents[(s.phase or "L1").split("-")[0]] = value
    return currents
