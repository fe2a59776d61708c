"""The load-management plan as staff and technicians keep it: circuits, how each charger is wired to
them, priorities and the charge-first flag. The DLM controller reads it and acts on its events."""

from __future__ import annotations

from typing import Any

from appliance.core import events as ev
from appliance.core.journal import Journal
from appliance.store import chargers as charger_store
from appliance.store import circuits as store
from appliance.store.circuits import CircuitRecord, MemberRecord
from appliance.store.database import Database

SITE_PHASES = ("L1", "L2", "L3")
ROTATIONS = ("RST", "RTS", "SRT", "STR", "TRS", "TSR")
METER_MEASURES = ("other", "total")
PRIORITY_KINDS = ("company", "user", "vehicle")


class PlanError(ValueError):
    """A change to the plan that cannot be made; the message says why."""


class NotInPlan(PlanError, LookupError):
    """The named circuit, charger or session does not exist."""


class Circuits:
    def __init__(self, db: Database, bus: ev.EventBus, journal: Journal) -> None:
        self.db = db
        self.bus = bus
        self.journal = journal

    async def _change(self, fn, event: ev.LoadPlanChanged):
        return await self.journal.change(fn, event, lambda: PlanError(f"{event.subject} {event.name!r} already exists"))

    # -- circuits -------------------------------------------------------------------------

    async def add(self, name: str, max_current_a: float, phases: int = 3, parent: str | None = None,
                  **fields: Any) -> CircuitRecord:
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise PlanError("a circuit's name must be 1 to 100 characters")
        values = _circuit_fields(dict(fields, max_current_a=max_current_a, phases=phases))
        values.setdefault("phases", 3)
        values.setdefault("phase", "L1")

        def add_sync() -> CircuitRecord:
            parent_record = self._parent_sync(parent)
            _check_carried(values, parent_record)
            store.add_circuit(name, parent_record.id if parent_record else None, ev.utcnow(), **values)
            return store.get_circuit(name)

        return await self._change(add_sync, ev.LoadPlanChanged("circuit", name, "added"))

    async def edit(self, name: str, parent: str | None = None, no_parent: bool = False,
                   **fields: Any) -> CircuitRecord:
        values = _circuit_fields({k: v for k, v in fields.items() if v is not None})

        def edit_sync() -> CircuitRecord:
            current = self._circuit_sync(name)
            merged = _circuit_fields({**{f: getattr(current, f) for f in store.CIRCUIT_FIELDS}, **values})
            parent_name = None if no_parent else (parent if parent is not None else current.parent)
            parent_record = self._parent_sync(parent_name)
            if parent_record and name in self._ancestors_sync(parent_record.name):
                raise PlanError(f"circuit {name!r} cannot hang from {parent_record.name!r}, which hangs from it")
            _check_carried(merged, parent_record)
            for child in store.list_circuits():
                if child.parent == name:
                    _check_carried({f: getattr(child, f) for f in store.CIRCUIT_FIELDS}, _as_record(merged, name))
            for member in store.list_members(circuit=name):
                _check_member_phase(member.phases, member.phase, _as_record(merged, name))
            store.update_circuit(name, ev.utcnow(), parent=parent_record.id if parent_record else None, **values)
            return store.get_circuit(name)

        return await self._change(edit_sync, ev.LoadPlanChanged("circuit", name, "edited"))

    async def remove(self, name: str) -> None:
        def remove_sync() -> None:
            self._circuit_sync(name)
            children, chargers = store.circuit_dependants(name)
            if children or chargers:
                hanging = [f"sub-circuit(s) {', '.join(children)}"] if children else []
                hanging += [f"charger(s) {', '.join(chargers)}"] if chargers else []
                raise PlanError(f"circuit {name!r} still feeds {' and '.join(hanging)}; move or unassign them first")
            store.remove_circuit(name)

        await self._change(remove_sync, ev.LoadPlanChanged("circuit", name, "removed"))

    async def list(self) -> list[CircuitRecord]:
        return await self.db.read(store.list_circuits)

    async def get(self, name: str) -> CircuitRecord:
        return await self.db.read(self._circuit_sync, name)

    # -- wiring ---------------------------------------------------------------------------

    async def assign(self, circuit: str, identity: str, evse_number: int = 0, *, phases: int | None = None,
                     phase: str | None = None, rotation: str = "RST", max_current_a: float | None = None,
                     voltage_v: float = 230.0, throttle_key: str = "") -> list[MemberRecord]:
        """Wire a charger (evse_number 0: all its EVSEs) or one of its EVSEs to a circuit."""
        if evse_number < 0:
            raise PlanError("an EVSE number is 1 or more (0: every EVSE of the charger)")
        if max_current_a is not None and not 0 < max_current_a <= 1000:
            raise PlanError("an EVSE's maximum current must be above 0 and at most 1000 A")
        if not 100 <= voltage_v <= 1000:
            raise PlanError("the voltage must be between 100 and 1000 V")
        if rotation not in ROTATIONS:
            raise PlanError(f"phase rotation must be one of {', '.join(ROTATIONS)}")
        if len(throttle_key) > 50:
            raise PlanError("a throttle configuration key has at most 50 characters")

        def assign_sync() -> list[MemberRecord]:
            target = self._circuit_sync(circuit)
            charger = charger_store.get(identity)
            if charger is None:
                raise NotInPlan(f"no charger {identity!r}")
            n_phases = phases if phases is not None else (target.phases if target.phases == 1 else 3)
            wired_phase = phase or (target.phase if target.phases == 1 else "L1")
            _check_member_phase(n_phases, wired_phase, target)
            store.assign(charger.id, evse_number, target.id, max_current_a=max_current_a, phases=n_phases,
                         phase=wired_phase, rotation=rotation, voltage_v=voltage_v, throttle_key=throttle_key)
            return store.list_members(identity=identity)

        return await self._change(assign_sync, ev.LoadPlanChanged("member", identity, f"assigned to {circuit}"))

    async def unassign(self, identity: str, evse_number: int | None = None) -> None:
        def unassign_sync() -> None:
            charger = charger_store.get(identity)
            if charger is None:
                raise NotInPlan(f"no charger {identity!r}")
            if not store.unassign(charger.id, evse_number):
                raise NotInPlan(f"charger {identity!r}{f' EVSE {evse_number}' if evse_number else ''} "
                                "is not wired to any circuit")

        await self._change(unassign_sync, ev.LoadPlanChanged("member", identity, "unassigned"))

    async def members(self, circuit: str | None = None, identity: str | None = None) -> list[MemberRecord]:
        return await self.db.read(store.list_members, circuit, identity)

    # -- priorities -----------------------------------------------------------------------

    async def set_priority(self, kind: str, name: str, priority: int) -> None:
        if kind not in PRIORITY_KINDS:
            raise PlanError(f"a priority belongs to a {', '.join(PRIORITY_KINDS)}")
        if not -100 <= priority <= 100:
            raise PlanError("a priority is a whole number from -100 to 100 (higher goes first; 0 is the default)")

        def set_sync() -> None:
            if not store.set_priority(kind, name, priority):
                raise NotInPlan(f"no {kind} {name!r}")

        await self._change(set_sync, ev.LoadPlanChanged("priority", f"{kind} {name}", str(priority)))

    async def priorities(self) -> list[tuple[str, str, int]]:
        return await self.db.read(store.priorities)

    async def set_charge_first(self, transaction_id: int, on: bool = True) -> None:
        def set_sync() -> None:
            if not store.set_charge_first(transaction_id, on):
                raise NotInPlan(f"no session {transaction_id}")

        await self._change(set_sync, ev.LoadPlanChanged("session", str(transaction_id),
                                                        "charge first" if on else "in turn"))

    # -- for the controller and the load profile --------------------------------------------

    async def active_sessions(self, charger_ids: list[int]) -> list[store.ActiveSession]:
        return await self.db.read(store.active_sessions, charger_ids)

    async def known_evses(self, charger_ids: list[int]) -> dict[str, list[store.EvseFacts]]:
        return await self.db.read(store.known_evses, charger_ids)

    async def evse_limits(self) -> list[store.EvseLimitRecord]:
        return await self.db.read(store.evse_limits)

    async def save_evse_limits(self, rows: list[store.EvseLimitRecord]) -> None:
        await self.db.write(store.save_evse_limits, rows)

    async def record_load(self, rows: list[store.LoadRecord]) -> None:
        await self.db.write(store.record_load, rows)

    async def load_history(self, circuit: str, since, until=None) -> list[store.LoadRecord]:
        await self.get(circuit)
        return await self.db.read(store.load_history, circuit, since, until)

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _circuit_sync(name: str) -> CircuitRecord:
        record = store.get_circuit(name)
        if record is None:
            raise NotInPlan(f"no circuit {name!r}")
        return record

    def _parent_sync(self, name: str | None) -> CircuitRecord | None:
        if name is None:
            return None
        record = store.get_circuit(name)
        if record is None:
            raise NotInPlan(f"no parent circuit {name!r}")
        return record

    @staticmethod
    def _ancestors_sync(name: str) -> set[str]:
        by_name = {c.name: c for c in store.list_circuits()}
        seen: set[str] = set()
        while name is not None and name not in seen:
            seen.add(name)
            name = by_name[name].parent if name in by_name else None
        return seen


def _circuit_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Check the given circuit fields; what a technician typed wrong is named."""
    unknown = set(fields) - set(store.CIRCUIT_FIELDS)
    if unknown:
        raise PlanError(f"unknown circuit field(s): {', '.join(sorted(unknown))}")
    if "max_current_a" in fields and not 0 < fields["max_current_a"] <= 10000:
        raise PlanError("a circuit's limit must be above 0 and at most 10000 A per phase")
    if "phases" in fields and fields["phases"] not in (1, 3):
        raise PlanError("a circuit has 1 or 3 phases")
    if "phase" in fields and fields["phase"] not in SITE_PHASES:
        raise PlanError(f"a 1-phase circuit is on one of {', '.join(SITE_PHASES)}")
    if "reserve_a" in fields and fields["reserve_a"] < 0:
        raise PlanError("the reserve must not be negative")
    if "min_current_a" in fields and not 0 <= fields["min_current_a"] <= 100:
        raise PlanError("the minimum current per EVSE must be between 0 and 100 A")
    if "voltage_v" in fields and not 100 <= fields["voltage_v"] <= 1000:
        raise PlanError("the voltage must be between 100 and 1000 V")
    if "meter_measures" in fields and fields["meter_measures"] not in METER_MEASURES:
        raise PlanError("a site meter measures 'other' (the loads besides the chargers) or 'total' (everything)")
    if "meter_url" in fields and len(fields["meter_url"]) > 500:
        raise PlanError("a site meter address has at most 500 characters")
    if fields.get("max_current_a") is not None and fields.get("reserve_a") is not None \
            and fields["reserve_a"] >= fields["max_current_a"]:
        raise PlanError("the reserve must be less than the circuit's limit")
    return fields


def carried_phases(phases: int, phase: str) -> tuple[str, ...]:
    return SITE_PHASES if phases == 3 else (phase,)


def _check_carried(values: dict[str, Any], parent: CircuitRecord | None) -> None:
    """A sub-circuit can only carry phases its parent carries."""
    if parent is None:
        return
    mine = set(carried_phases(values["phases"], values.get("phase", "L1")))
    theirs = set(carried_phases(parent.phases, parent.phase))
    if not mine <= theirs:
        raise PlanError(f"circuit {parent.name!r} carries only {', '.join(sorted(theirs))}; a sub-circuit of it "
                        f"cannot carry {', '.join(sorted(mine - theirs))}")


def _check_member_phase(phases: int, phase: str, circuit: CircuitRecord) -> None:
    if phases not in (1, 3):
        raise PlanError("an EVSE has 1 or 3 phases")
    if phase not in SITE_PHASES:
        raise PlanError(f"a 1-phase EVSE is wired to one of {', '.join(SITE_PHASES)}")
    carried = carried_phases(circuit.phases, circuit.phase)
    if phases == 3 and circuit.phases == 1:
        raise PlanError(f"circuit {circuit.name!r} has one phase ({circuit.phase}); wire the EVSE with 1 phase")
    if phases == 1 and phase not in carried:
        raise PlanError(f"circuit {circuit.name!r} does not carry {phase} (it carries {', '.join(carried)})")


def _as_record(values: dict[str, Any], name: str) -> CircuitRecord:
    return CircuitRecord(0, name, None, values["max_current_a"], values["phases"], values["phase"],
                         values["reserve_a"], values["min_current_a"], values["voltage_v"], values["meter_url"],
                         values["meter_measures"])
