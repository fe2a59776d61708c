"""The core assembled: one object holding the services, for the server and for the CLI alike."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from appliance.config import Settings
from appliance.core import events as ev
from appliance.core.accounts import StaffAccounts
from appliance.core.alarm_watch import AlarmWatch
from appliance.core.alarms import Alarms
from appliance.core.billing import Billing
from appliance.core.boot_work import BootWork
from appliance.core.chargers import ChargerRegistry
from appliance.core.circuits import Circuits
from appliance.core.commands import ChargerCommands
from appliance.core.commlog import CommLog
from appliance.core.data_transfer import DataTransfers
from appliance.core.device_model import DeviceModel
from appliance.core.events import EventBus
from appliance.core.journal import Journal
from appliance.core.link import LinkRegistry
from appliance.core.local_lists import LocalLists
from appliance.core.maintenance import Maintenance
from appliance.core.recovery import AutoRecovery
from appliance.core.reports import ChargerReports
from appliance.core.tokens import ApiTokens
from appliance.core.transactions import TransactionService
from appliance.core.users import UserGroup
from appliance.store import backup, migrations
from appliance.store.database import Database, location_of

log = logging.getLogger(__name__)


@dataclass
class Core:
    settings: Settings
    db: Database
    bus: EventBus
    journal: Journal
    chargers: ChargerRegistry
    transactions: TransactionService
    users: UserGroup
    links: LinkRegistry
    commands: ChargerCommands
    commlog: CommLog
    tokens: ApiTokens
    data_transfers: DataTransfers
    device_model: DeviceModel
    reports: ChargerReports
    local_lists: LocalLists
    circuits: Circuits
    billing: Billing
    accounts: StaffAccounts
    alarms: Alarms
    alarm_watch: AlarmWatch  # the server subscribes it and looks every supervision round
    maintenance: Maintenance
    recovery: AutoRecovery  # the server subscribes it
    boot_work: BootWork  # slots for what follows a charger's boot

    async def close(self) -> None:
        await self.bus.drain()
        await self.db.close()


def open_core(settings: Settings) -> Core:
    """Open the database (migrating it) and build the services on it."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(location_of(settings), settings.sqlite_synchronous)
    try:
        _back_up_before_upgrade(db, settings)
        migrations.migrate(db.peewee)
    except Exception:
        db.close_sync()
        raise
    bus = EventBus()
    journal = Journal(db, bus)
    chargers = ChargerRegistry(db, bus, journal, settings.unknown_chargers, settings.heartbeat_interval_s,
                               settings.pending_retry_interval_s)
    links = LinkRegistry()
    commands = ChargerCommands(db, links, settings.command_timeout_s, catch_up=journal.catch_up)
    device_model = DeviceModel(db, chargers)
    reports = ChargerReports(db, bus, chargers)
    transactions = TransactionService(db, bus, chargers)
    billing = Billing(db, settings)
    transactions.finished_sync.append(billing.finish_sync)
    alarms = Alarms(db, bus, journal)
    boot_work = BootWork(settings.boot_work_slots)
    bus.subscribe(ev.ChargerDisconnected, lambda event: boot_work.forget(event.identity))
    return Core(
        settings=settings, db=db, bus=bus, journal=journal, chargers=chargers,
        transactions=transactions, users=UserGroup(db, bus, journal), links=links,
        commands=commands,
        commlog=CommLog(db, settings.commlog_retention_days, settings.commlog_max_rows,
                        settings.commlog_max_mb * 1024 * 1024),
        tokens=ApiTokens(db), data_transfers=DataTransfers(), device_model=device_model,
        reports=reports, local_lists=LocalLists(db, bus, chargers, commands, device_model, reports, boot_work),
        circuits=Circuits(db, bus, journal), billing=billing,
        accounts=StaffAccounts(db, settings), alarms=alarms,
        alarm_watch=AlarmWatch(alarms, db, bus, chargers, settings), maintenance=Maintenance(db, settings),
        recovery=AutoRecovery(db, bus, alarms, commands, transactions, settings), boot_work=boot_work,
    )


def _back_up_before_upgrade(db: Database, settings: Settings) -> None:
    """An existing database with an older schema is copied to backups/ before it is migrated: a
    migration that goes wrong, or an upgrade that has to be undone, is undone by restoring that copy.
    No copy, no migration."""
    with db.peewee.connection_context():
        version = migrations.current_version(db.peewee)
    if version is None or version >= migrations.LATEST_VERSION:
        return
    if db.postgres:
        # The server's database is not a file to copy here. A migration that fails undoes itself (it is
        # one transaction: PostgreSQL's schema changes are transactional); going back to the old version
        # afterwards needs the dump its operator takes before an upgrade.
        log.warning("schema version %d is older than %d: migrating %s without a copy of its own (PostgreSQL: "
                    "take a pg_dump before upgrading)", version, migrations.LATEST_VERSION, db.shown)
        return
    copy = backup.backup_before_upgrade(settings.database_path, settings.backups_dir, version,
                                        migrations.LATEST_VERSION, dt.datetime.now(dt.timezone.utc),
                                        settings.backups_keep)
    log.info("schema version %d is older than %d: backed up the database to %s (%d bytes, %d chargers, "
             "%d sessions) before migrating it", version, migrations.LATEST_VERSION, copy.path, copy.size_bytes,
             copy.chargers, copy.sessions)


async def supervise_forever(core: Core) -> None:
    """Connection states, contact times, stuck transactions, log pruning and alarms, on one timer."""
    s = core.settings
    ticks_per_prune = max(1, int(600 / max(s.supervision_interval_s, 0.1)))
    tick = 0
    while True:
        await asyncio.sleep(s.supervision_interval_s)
        try:
            await core.chargers.supervise(s.offline_after_s, s.offline_long_term_after_s)
            await core.chargers.flush_contacts()
            await core.transactions.finish_stuck(dt.timedelta(seconds=s.stuck_transaction_after_s))
            if tick % ticks_per_prune == 0:
                await core.commlog.prune()
                await core.journal.prune()
                await core.accounts.prune_sessions()
        except Exception:
            log.exception("supervision round failed")
        try:  # on its own: a failing look (the disk full, say) must not stop the rest of the round
            await core.alarm_watch.look()
        except Exception:
            log.exception("looking for alarms failed")
        tick += 1
