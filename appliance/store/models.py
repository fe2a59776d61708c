"""Every peewee model of the appliance, bound to one database proxy.

Times are naive UTC datetimes in storage (SQLite has no zone type; PostgreSQL's columns are TIMESTAMP
without one, the same convention); energy is integer Wh.
Columns that take part in a replay-detecting unique index use '' rather than NULL, because
SQL treats NULLs as distinct and the index would then not catch a replay.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    SQL,
    TextField,
)

database = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = IntegerField()
    applied_at = DateTimeField()


class ChargerGroup(BaseModel):
    """Chargers managed together (a row of bays, a company's corner of the yard)."""

    id = AutoField()
    name = CharField(max_length=100, unique=True)
    created_at = DateTimeField()


class Charger(BaseModel):
    id = AutoField()
    identity = CharField(max_length=64, unique=True)
    protocol = CharField(max_length=16)  # ocpp1.5-soap, ocpp1.6-soap, ocpp1.6-json, ocpp2.0.1
    password_hash = CharField(max_length=200, null=True)
    registration = CharField(max_length=16, default="pending")  # accepted, pending, rejected
    description = CharField(max_length=200, default="")
    vendor = CharField(max_length=50, default="")
    model = CharField(max_length=50, default="")
    serial_number = CharField(max_length=50, default="")
    firmware_version = CharField(max_length=50, default="")
    iccid = CharField(max_length=20, default="")
    imsi = CharField(max_length=20, default="")
    meter_type = CharField(max_length=50, default="")
    meter_serial_number = CharField(max_length=50, default="")
    connection_state = CharField(max_length=32, default="never_connected")
    endpoint_url = CharField(max_length=500, default="")  # SOAP callback address
    group = ForeignKeyField(ChargerGroup, null=True, backref="chargers", on_delete="SET NULL")
    # Whether commands reach the charger (SOAP: the callback address answers): '', 'yes' or 'no'.
    reachable = CharField(max_length=3, default="")
    reachable_detail = CharField(max_length=200, default="")
    reachable_at = DateTimeField(null=True)
    firmware_status = CharField(max_length=32, default="")
    firmware_status_at = DateTimeField(null=True)
    diagnostics_status = CharField(max_length=32, default="")
    diagnostics_status_at = DateTimeField(null=True)
    last_boot_at = DateTimeField(null=True)
    last_contact_at = DateTimeField(null=True)
    connected_at = DateTimeField(null=True)
    created_at = DateTimeField()
    created_by = CharField(max_length=64, default="")  # 'boot' when recorded as unknown


class Evse(BaseModel):
    id = AutoField()
    charger = ForeignKeyField(Charger, backref="evses", on_delete="CASCADE")
    evse_number = IntegerField()  # 1-based; OCPP 1.x connector N sits on EVSE N
    max_power_w = IntegerField(null=True)
    supply_phases = IntegerField(null=True)  # from the 2.0.1 device model

    class Meta:
        indexes = ((("charger", "evse_number"), True),)


class Connector(BaseModel):
    """A charger's connector: `connector_number` is what OCPP 1.x calls the connector and 2.0.1 the
    EVSE (0 is the charger as a whole); `evse_connector_id` is 2.0.1's connector id within that EVSE,
    so an EVSE with two cables keeps two rows. A 1.x connector is the only one on its EVSE (1)."""

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="connectors", on_delete="CASCADE")
    evse = ForeignKeyField(Evse, null=True, backref="connectors", on_delete="CASCADE")
    connector_number = IntegerField()
    evse_connector_id = IntegerField(default=1)
    connector_type = CharField(max_length=20, default="")  # 2.0.1 ConnectorType, from the device model
    current_type = CharField(max_length=2, default="AC")  # AC or DC
    max_power_w = IntegerField(null=True)
    status = CharField(max_length=32, default="Unknown")
    error_code = CharField(max_length=50, default="NoError")
    info = CharField(max_length=50, default="")
    vendor_error_code = CharField(max_length=50, default="")
    status_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("charger", "connector_number", "evse_connector_id"), True),)


class StatusHistory(BaseModel):
    id = AutoField()
    charger = ForeignKeyField(Charger, on_delete="CASCADE")
    connector_number = IntegerField()
    evse_connector_id = IntegerField(default=1)
    status = CharField(max_length=32)
    error_code = CharField(max_length=50, default="NoError")
    info = CharField(max_length=50, default="")
    vendor_error_code = CharField(max_length=50, default="")
    reported_at = DateTimeField()  # the charger's timestamp, or receipt time when it gave none
    received_at = DateTimeField()

    class Meta:
        indexes = ((("charger", "reported_at"), False),)


class Company(BaseModel):
    id = AutoField()
    name = CharField(max_length=100, unique=True)
    # load management: a higher one is served first. A SQL default too, so raw inserts need not name it.
    priority = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    created_at = DateTimeField()


class Driver(BaseModel):
    id = AutoField()
    name = CharField(max_length=100, unique=True)
    company = ForeignKeyField(Company, null=True, backref="drivers", on_delete="SET NULL")
    email = CharField(max_length=200, default="")
    priority = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    created_at = DateTimeField()


class Vehicle(BaseModel):
    """A vehicle of the fleet: a taxi's card stays with the car whoever drives it."""

    id = AutoField()
    name = CharField(max_length=100, unique=True)  # fleet number or plate
    company = ForeignKeyField(Company, null=True, backref="vehicles", on_delete="SET NULL")
    priority = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    created_at = DateTimeField()


class Tag(BaseModel):
    id = AutoField()
    id_tag = CharField(max_length=64, unique=True)  # normalised, see core.tags.normalise_id_tag
    token_type = CharField(max_length=20, default="ISO14443")
    driver = ForeignKeyField(Driver, null=True, backref="tags", on_delete="SET NULL")
    vehicle = ForeignKeyField(Vehicle, null=True, backref="tags", on_delete="SET NULL")  # a tag has a driver or a vehicle
    # A card enrolled to a company before anyone is given it (batch enrolment); a driver's or
    # vehicle's company comes first.
    company = ForeignKeyField(Company, null=True, backref="pool_tags", on_delete="SET NULL")
    status = CharField(max_length=16, default="active")  # active, blocked
    expires_at = DateTimeField(null=True)
    parent_id_tag = CharField(max_length=64, default="")
    max_concurrent_tx = IntegerField(default=1)
    note = CharField(max_length=200, default="")
    created_at = DateTimeField()
    updated_at = DateTimeField()


class ChargerAccess(BaseModel):
    """A company whose tags may charge at a charger; a charger with none is open to the whole depot."""

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="access", on_delete="CASCADE")
    company = ForeignKeyField(Company, on_delete="CASCADE")

    class Meta:
        indexes = ((("charger", "company"), True),)


class GroupAccess(BaseModel):
    """A company whose tags may charge at the chargers of a group that have no access of their own."""

    id = AutoField()
    group = ForeignKeyField(ChargerGroup, backref="access", on_delete="CASCADE")
    company = ForeignKeyField(Company, on_delete="CASCADE")

    class Meta:
        indexes = ((("group", "company"), True),)


class UnknownTag(BaseModel):
    """A tag tapped at a charger that nobody has enrolled, so staff can assign it in one step."""

    id = AutoField()
    id_tag = CharField(max_length=64, unique=True)  # normalised
    first_seen_at = DateTimeField()
    last_seen_at = DateTimeField()
    charger_identity = CharField(max_length=64)  # where it was last tapped
    seen_count = IntegerField(default=1)


class Transaction(BaseModel):
    id = AutoField()  # the transactionId given to OCPP 1.x chargers
    # no index of its own: every index below that starts with it serves the foreign key (see migration 16)
    charger = ForeignKeyField(Charger, backref="transactions", on_delete="CASCADE", index=False)
    connector_number = IntegerField()
    evse_number = IntegerField(null=True)
    remote_tx_id = CharField(max_length=36, default="")  # charger-minted id (OCPP 2.0.1)
    id_tag = CharField(max_length=64)
    tag = ForeignKeyField(Tag, null=True, on_delete="SET NULL")
    driver = ForeignKeyField(Driver, null=True, on_delete="SET NULL")
    # the idTagInfo status answered at start; 20: 2.0.1's longest is NotAllowedTypeEVSE (SQLite does not enforce
    # a VARCHAR's length, PostgreSQL does)
    auth_status = CharField(max_length=20)
    reservation_id = IntegerField(null=True)
    started_at = DateTimeField()
    meter_start_wh = IntegerField()
    last_meter_wh = IntegerField(null=True)
    last_meter_at = DateTimeField(null=True)
    stopped_at = DateTimeField(null=True)
    meter_stop_wh = IntegerField(null=True)
    energy_wh = IntegerField(null=True)
    stop_reason = CharField(max_length=32, default="")
    stop_id_tag = CharField(max_length=64, default="")
    stop_auth_status = CharField(max_length=20, default="")
    charging_state = CharField(max_length=20, default="")  # 2.0.1: Charging, EVConnected, SuspendedEV, ...
    # 2.0.1: the latest timestamp among its events, so an event later than all of them extends the
    # transaction instead of rebuilding it from every event (store.transactions.extend_with_event)
    last_event_at = DateTimeField(null=True)
    offline = BooleanField(default=False)  # some of its events were queued while the charger was offline
    remote_start_id = IntegerField(null=True)  # 2.0.1: the id of the RequestStartTransaction behind it
    # load management: staff put it before every priority. FALSE, not 0: PostgreSQL's booleans are no integers.
    charge_first = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])
    created_at = DateTimeField()

    class Meta:
        indexes = (
            # A StartTransaction replayed after a reconnect carries the same four values.
            (("charger", "connector_number", "started_at", "id_tag", "meter_start_wh"), True),
            (("stopped_at",), False),
            (("charger", "remote_tx_id"), False),
            (("started_at",), False),  # periods: the dashboard's figures, statements, reports
            # reports: sessions that started before a period and stopped in or after it, from the index alone
            (("stopped_at", "started_at"), False),
            # reports: the energy of the sessions in a period, added up per bucket from the index alone
            (("started_at", "stopped_at", "energy_wh"), False),
        )


class TransactionEvent(BaseModel):
    """One OCPP 2.0.1 TransactionEvent as received: the record that lets a transaction be rebuilt
    whatever order its events come in, and shows which sequence numbers never arrived."""

    id = AutoField()
    transaction = ForeignKeyField(Transaction, backref="events", on_delete="CASCADE", index=False)
    seq_no = IntegerField()
    event_type = CharField(max_length=8)  # Started, Updated, Ended
    timestamp = DateTimeField()
    trigger_reason = CharField(max_length=32)
    offline = BooleanField(default=False)
    charging_state = CharField(max_length=20, default="")
    id_tag = CharField(max_length=64, default="")
    stopped_reason = CharField(max_length=32, default="")
    received_at = DateTimeField()

    class Meta:
        indexes = (
            # A replay repeats all of these; a charger that reuses a seqNo for another event loses nothing.
            (("transaction", "seq_no", "event_type", "timestamp"), True),
        )


class MeterSample(BaseModel):
    id = AutoField()
    # Neither key has an index of its own: the two below start with them. Every reading writes a row
    # into each index, at a place of its own, and the commit copies every page it touched.
    charger = ForeignKeyField(Charger, on_delete="CASCADE", index=False)
    connector_number = IntegerField()
    transaction = ForeignKeyField(Transaction, null=True, backref="samples", on_delete="CASCADE", index=False)
    sampled_at = DateTimeField()
    measurand = CharField(max_length=50, default="Energy.Active.Import.Register")
    phase = CharField(max_length=8, default="")
    location = CharField(max_length=8, default="")
    context = CharField(max_length=32, default="")
    unit = CharField(max_length=16, default="")
    format = CharField(max_length=16, default="Raw")
    value = FloatField(null=True)  # parsed number; NULL for signed data
    raw_value = TextField()  # verbatim, so signed meter data stays verifiable

    class Meta:
        indexes = (
            # Replayed MeterValues are recognised by this key and not stored twice.
            (("charger", "connector_number", "sampled_at", "measurand", "phase", "location", "context"), True),
            (("transaction", "sampled_at"), False),
        )


class DeviceVariable(BaseModel):
    """One attribute of an OCPP 2.0.1 device model variable, as the charger last reported it."""

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="variables", on_delete="CASCADE")
    component = CharField(max_length=50)
    component_instance = CharField(max_length=50, default="")
    evse_number = IntegerField(default=0)  # 0: not on an EVSE
    evse_connector_id = IntegerField(default=0)
    variable = CharField(max_length=50)
    variable_instance = CharField(max_length=50, default="")
    attribute_type = CharField(max_length=8, default="Actual")
    value = CharField(max_length=2500, null=True)
    mutability = CharField(max_length=10, default="")
    data_type = CharField(max_length=20, default="")
    unit = CharField(max_length=16, default="")
    max_limit = FloatField(null=True)
    values_list = TextField(default="")
    updated_at = DateTimeField()

    class Meta:
        indexes = ((("charger", "component", "component_instance", "evse_number", "evse_connector_id", "variable",
                     "variable_instance", "attribute_type"), True),)


class ChargerReport(BaseModel):
    """What a charger notifies that has no table of its own: security events, device events, charging
    limits and profiles it reports, EV charging needs, reservation updates, log uploads."""

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="reports", on_delete="CASCADE")
    kind = CharField(max_length=40)
    reported_at = DateTimeField()  # the charger's time, or receipt time when it gave none
    received_at = DateTimeField()
    summary = CharField(max_length=200, default="")
    payload = TextField(default="{}")

    class Meta:
        indexes = ((("charger", "kind", "received_at"), False),)


class LocalListState(BaseModel):
    """What the appliance last got a charger to accept as its local authorization list."""

    id = AutoField()
    charger = ForeignKeyField(Charger, unique=True, on_delete="CASCADE")
    version = IntegerField(default=0)  # the version the charger accepted last (0: none)
    entries = TextField(default="[]")  # those entries, as JSON
    left_out = TextField(default="[]")  # tags the rules allow that did not fit on the charger
    synced_at = DateTimeField(null=True)
    error = TextField(default="")  # why the last sync failed, '' when it did not
    attempted_at = DateTimeField(null=True)


class Circuit(BaseModel):
    """A breaker of the site: the main at the root, sub-boards below it, EVSEs wired to them."""

    id = AutoField()
    name = CharField(max_length=100, unique=True)
    # A circuit with sub-circuits or EVSEs cannot be removed (RESTRICT): the CLI says what hangs from it.
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    max_current_a = FloatField()  # per phase
    phases = IntegerField(default=3)  # 1 or 3
    phase = CharField(max_length=2, default="L1")  # the site phase a 1-phase circuit is on
    reserve_a = FloatField(default=0.0)  # per phase: loads on it the appliance cannot control
    min_current_a = FloatField(default=6.0)  # an EVSE that cannot get this gets nothing and waits (IEC 61851: 6 A)
    voltage_v = FloatField(default=230.0)
    meter_url = CharField(max_length=500, default="")  # a site meter whose reading replaces the reserve
    meter_measures = CharField(max_length=8, default="other")  # other: the other loads; total: chargers included
    created_at = DateTimeField()
    updated_at = DateTimeField()


class CircuitMember(BaseModel):
    """How a charger's EVSEs are wired: evse_number 0 is every EVSE of it without a row of its own."""

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="circuit_members", on_delete="CASCADE")
    evse_number = IntegerField(default=0)
    circuit = ForeignKeyField(Circuit, backref="members", on_delete="RESTRICT")
    max_current_a = FloatField(null=True)  # None: from the charger's reported power, else 32 A
    phases = IntegerField(default=3)
    phase = CharField(max_length=2, default="L1")  # 1-phase: the site phase it is wired to
    rotation = CharField(max_length=3, default="RST")  # 3-phase: which site phases feed its L1, L2, L3
    voltage_v = FloatField(default=230.0)
    # OCPP 1.5 has no smart charging; some models take a current limit in a vendor configuration key.
    throttle_key = CharField(max_length=50, default="")

    class Meta:
        indexes = ((("charger", "evse_number"), True),)


class EvseLimit(BaseModel):
    """What load management last got an EVSE to accept, so a restart knows what an absent charger
    may still be drawing, and why a charger is not trusted."""

    id = AutoField()
    charger = ForeignKeyField(Charger, on_delete="CASCADE")
    evse_number = IntegerField()
    limit_a = FloatField(null=True)  # the limit in force (session profile, or the default one)
    default_limit_a = FloatField(null=True)  # the default profile's start current
    safe_share_a = FloatField(null=True)  # what its profiles fall back to when not renewed
    accepted_at = DateTimeField(null=True)
    flag = CharField(max_length=20, default="")  # '', rejects, ignores: held at its maximum
    flag_detail = CharField(max_length=200, default="")
    flagged_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("charger", "evse_number"), True),)


class CircuitLoad(BaseModel):
    """A circuit's load over time, per phase: what it may carry, what was allocated, what was measured."""

    id = AutoField()
    circuit = ForeignKeyField(Circuit, backref="load", on_delete="CASCADE")
    at = DateTimeField()
    available_a = TextField()  # JSON {phase: A}
    allocated_a = TextField()
    measured_a = TextField()
    sessions = IntegerField(default=0)
    waiting = IntegerField(default=0)  # sessions held back for lack of their minimum

    class Meta:
        indexes = ((("circuit", "at"), False),)


class Tariff(BaseModel):
    """A price list; prices include VAT and are kept as Decimal text (`definition`, JSON)."""

    id = AutoField()
    name = CharField(max_length=100, unique=True)
    kind = CharField(max_length=20)  # free, flat, duration_energy, time_of_day, power_levels
    currency = CharField(max_length=3, default="EUR")
    definition = TextField(default="{}")  # the tariff's prices, bands and limits (billing.tariffs.Tariff)
    created_at = DateTimeField()
    updated_at = DateTimeField()


class TariffGroup(BaseModel):
    """The tariffs of some EVSEs: a base tariff, and ordered ones for named companies or drivers."""

    id = AutoField()
    name = CharField(max_length=100, unique=True)
    base_tariff = ForeignKeyField(Tariff, on_delete="RESTRICT")
    created_at = DateTimeField()


class TariffRule(BaseModel):
    """A tariff of a group for one company's or one driver's sessions (a driver's is more specific)."""

    id = AutoField()
    group = ForeignKeyField(TariffGroup, backref="rules", on_delete="CASCADE")
    position = IntegerField()
    tariff = ForeignKeyField(Tariff, on_delete="RESTRICT")
    company = ForeignKeyField(Company, null=True, on_delete="CASCADE")
    driver = ForeignKeyField(Driver, null=True, on_delete="CASCADE")


class EvseTariff(BaseModel):
    """Which tariff group prices a charger's EVSEs (evse_number 0: all of them without a row of their own)."""

    id = AutoField()
    charger = ForeignKeyField(Charger, on_delete="CASCADE")
    evse_number = IntegerField(default=0)
    group = ForeignKeyField(TariffGroup, on_delete="RESTRICT")

    class Meta:
        indexes = ((("charger", "evse_number"), True),)


class ChargeDetailRecord(BaseModel):
    """One priced, finished session for head office (OCPI 2.2.1 CDR shape in `document`), written in the
    same commit that finishes the session; never changed once written: a correction is a credit record
    that cancels it plus a new one. `id` orders the outbox."""

    id = AutoField()
    cdr_id = CharField(max_length=39, unique=True)  # OCPI CDR.id: unique per party, what head office dedupes by
    transaction = ForeignKeyField(Transaction, backref="cdrs", on_delete="RESTRICT")
    kind = CharField(max_length=8, default="cdr")  # cdr, credit
    credits = CharField(max_length=39, default="")  # the cdr_id a credit cancels
    document = TextField()  # JSON
    currency = CharField(max_length=3)
    total_incl_vat = CharField(max_length=20)  # Decimal text
    total_excl_vat = CharField(max_length=20)
    created_at = DateTimeField()
    sent_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    last_error = TextField(default="")

    class Meta:
        indexes = ((("sent_at", "id"), False), (("transaction",), False))


class HeadOffice(BaseModel):
    """Where charge detail records go, and how the last attempts went (one row)."""

    id = AutoField()
    url = CharField(max_length=500, default="")
    token = CharField(max_length=500, default="")  # sent to head office, so kept as given; never shown or logged
    failures = IntegerField(default=0)  # attempts failed in a row (the backoff grows with them)
    next_attempt_at = DateTimeField(null=True)
    last_success_at = DateTimeField(null=True)
    last_error = TextField(default="")
    last_error_at = DateTimeField(null=True)


class CommLog(BaseModel):
    """Every OCPP message in and out, pruned by age, count and total size (commlog_retention_days,
    commlog_max_rows, commlog_max_mb)."""

    id = AutoField()
    charger_identity = CharField(max_length=64, index=True)
    direction = CharField(max_length=3)  # in, out
    logged_at = DateTimeField(index=True)
    message = TextField()


class ActionLog(BaseModel):
    """Who did what to which charger, why, and what came of it."""

    id = AutoField()
    at = DateTimeField(index=True)
    actor = CharField(max_length=100)
    charger_identity = CharField(max_length=64, index=True, default="")
    action = CharField(max_length=50)
    arguments = TextField(default="{}")
    reason = TextField(default="")
    result_status = CharField(max_length=32, default="")
    result_detail = TextField(default="")


class EventJournal(BaseModel):
    """Changes to shared data, so a server sees what the CLI (another process) changed."""

    id = AutoField()
    at = DateTimeField()
    origin = CharField(max_length=40)  # the process that made the change
    kind = CharField(max_length=50)
    payload = TextField(default="{}")


class ApiToken(BaseModel):
    id = AutoField()
    name = CharField(max_length=100, unique=True)
    token_hash = CharField(max_length=128, unique=True)  # sha256 of a 256-bit random token
    created_at = DateTimeField()
    last_used_at = DateTimeField(null=True)


class StaffAccount(BaseModel):
    """A person who logs into the web UI: admin (everything), operator (all but accounts), viewer."""

    id = AutoField()
    name = CharField(max_length=64, unique=True)
    role = CharField(max_length=10)
    password_hash = CharField(max_length=200)  # argon2id
    disabled = BooleanField(default=False)
    failed_logins = IntegerField(default=0)  # in a row, since the last good login
    locked_until = DateTimeField(null=True)
    last_login_at = DateTimeField(null=True)
    created_at = DateTimeField()


class StaffSession(BaseModel):
    """A logged-in browser. The cookie carries a random token; only its SHA-256 is kept."""

    id = AutoField()
    account = ForeignKeyField(StaffAccount, backref="sessions", on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)
    csrf_token = CharField(max_length=64)
    created_at = DateTimeField()
    last_seen_at = DateTimeField()
    expires_at = DateTimeField(index=True)
    client = CharField(max_length=100, default="")


class AuditEntry(BaseModel):
    """Every change made through the web UI or the API, and every change to accounts: who, what, when."""

    id = AutoField()
    at = DateTimeField(index=True)
    actor = CharField(max_length=100)
    action = CharField(max_length=200)
    target = CharField(max_length=200, default="")
    detail = TextField(default="")
    outcome = CharField(max_length=200, default="ok")
    client = CharField(max_length=100, default="")


class Alarm(BaseModel):
    """Something wrong that someone should know of: raised and cleared by the core (core/alarms.py).

    `open_key` is "kind|charger|connector" while the alarm is open and NULL once cleared: its unique
    index lets one alarm per (kind, charger, connector) be open at a time (NULLs are distinct), so a
    repeat updates the open alarm and never makes a second one, on SQLite and PostgreSQL alike."""

    id = AutoField()
    kind = CharField(max_length=40, index=True)
    severity = CharField(max_length=10)  # info, warning, critical
    charger_identity = CharField(max_length=64, default="", index=True)  # '' : the appliance itself
    connector_number = IntegerField(default=0)  # 0: the charger as a whole
    title = CharField(max_length=200)
    detail = TextField(default="")
    actions = TextField(default="")  # what was done about it (auto-recovery's steps and results), a line each
    raised_at = DateTimeField(index=True)
    updated_at = DateTimeField()
    cleared_at = DateTimeField(null=True)
    cleared_reason = CharField(max_length=200, default="")
    acknowledged_by = CharField(max_length=100, default="")
    acknowledged_at = DateTimeField(null=True)
    acknowledged_note = TextField(default="")
    open_key = CharField(max_length=160, null=True, unique=True)


class ChargerMaintenance(BaseModel):
    """A charger's maintenance data and whether the appliance may restart it on its own."""

    id = AutoField()
    charger = ForeignKeyField(Charger, unique=True, on_delete="CASCADE")
    manufactured_on = DateField(null=True)
    installed_on = DateField(null=True)
    inspection_interval_days = IntegerField(null=True)  # None: the setting inspection_interval_days
    last_inspection_on = DateField(null=True)
    auto_recovery = BooleanField(default=False)


class MaintenanceNote(BaseModel):
    """An intervention a technician recorded on a charger: who, when, what."""

    id = AutoField()
    charger = ForeignKeyField(Charger, backref="maintenance_notes", on_delete="CASCADE")
    at = DateTimeField(index=True)
    author = CharField(max_length=100)
    text = TextField()
    inspection = BooleanField(default=False)  # the periodic inspection was done


class RecoveryAttempt(BaseModel):
    """A step auto-recovery took on a charger (trigger, soft reset, hard reset) and its answer; the
    per-day limit counts these."""

    id = AutoField()
    charger_identity = CharField(max_length=64, index=True)
    connector_number = IntegerField(default=0)
    alarm = ForeignKeyField(Alarm, null=True, on_delete="SET NULL")
    step = CharField(max_length=20)
    at = DateTimeField(index=True)
    result = CharField(max_length=200, default="")


class StoredSetting(BaseModel):
    """A setting stored by a CLI command (`appliance notify set`, `appliance metrics token`): it wins
    over the config file and the environment, and the server reads it where it uses it, so a change
    takes effect without a restart."""

    name = CharField(max_length=64, primary_key=True)
    value = TextField()
    changed_at = DateTimeField()


class Notification(BaseModel):
    """A message to one recipient (an e-mail address or a webhook URL), stored before it is sent.

    Alarm changes join the recipient's `collecting` notification until its window closes
    (notify_batch_s after the first); it is then rendered and `pending` until delivered (`sent`, never
    sent again) or refused for good (`failed`). `dedupe_key` makes a daily summary once per day and
    recipient, whatever restarts."""

    id = AutoField()
    recipient = CharField(max_length=500)
    purpose = CharField(max_length=20)  # alarms, daily_summary
    dedupe_key = CharField(max_length=600, null=True, unique=True)
    status = CharField(max_length=12)  # collecting, pending, sent, failed
    created_at = DateTimeField()
    closes_at = DateTimeField()  # when a collecting notification is rendered and goes
    items = TextField(default="[]")  # JSON: the alarm changes it carries
    subject = TextField(default="")
    body = TextField(default="")
    payload = TextField(default="")  # JSON a webhook receives
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)
    last_error = TextField(default="")
    sent_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "next_attempt_at"), False), (("recipient", "status"), False),
                   (("created_at",), False))


class SavedReport(BaseModel):
    """A report staff saved: a name and the report's filters (metric, period, grain, breakdown, comparison),
    kept as the query string of the reports page."""

    id = AutoField()
    name = CharField(max_length=100, unique=True)
    query = CharField(max_length=500)
    created_by = CharField(max_length=100, default="")
    created_at = DateTimeField()


ALL_MODELS = [
    SchemaVersion, ChargerGroup, Charger, Evse, Connector, StatusHistory, Company, Driver, Vehicle, Tag, ChargerAccess, GroupAccess, UnknownTag,
    Transaction,
    TransactionEvent, MeterSample, DeviceVariable, ChargerReport, LocalListState, CommLog, ActionLog, EventJournal,
    ApiToken, Circuit, CircuitMember, EvseLimit, CircuitLoad, Tariff, TariffGroup, TariffRule, EvseTariff,
    ChargeDetailRecord, HeadOffice, StaffAccount, StaffSession, AuditEntry,
    Alarm, ChargerMaintenance, MaintenanceNote, RecoveryAttempt,
    StoredSetting, Notification,


    ChargeDetailRecord, HeadOffice, StaffAccount, StaffSession, AuditEntry, SavedReport,
]
