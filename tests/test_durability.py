"""Nothing acknowledged is lost, nothing replayed is counted twice.

"A test kills the server process with SIGKILL in the middle of a stream of transactions, restarts
it, and finds every acknowledged message in the database." The server runs as a subprocess with
its default settings (sqlite_synchronous=full); virtual 1.6 chargers run transactions in a loop
and record every message whose answer arrived; the server is killed while messages are in
flight, restarted, and the database is read with sqlite3 directly. Then the chargers reconnect
and replay what was never answered, and some of what was.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import aiohttp
import pytest

from appliance.config import load_settings
from appliance.core.services import open_core
from tests import backend
from tests.test_cli_live import ServerProcess
from tests.virtual_charger import ClientTransport, VirtualCharger16, ws_url

CHARGERS = 8
SAMPLES_PER_METER_VALUES = 3  # the virtual charger sends energy, power and current
KILL_AFTER_ACKS = 1500  # or after RUN_AT_MOST_S, whichever comes first
RUN_AT_MOST_S = 10.0
UTC = dt.timezone.utc


class ConnectionLost(Exception):
    pass


@dataclass
class Sent:
    """One message a charger sent; `answer` is set once its answer arrived (acknowledged)."""

    charger: str
    kind: str  # start, meter, stop
    args: dict[str, Any]
    tx_id: int | None = None  # the transaction it belongs to (for a start: known once answered)
    answer: Any = None
    acked: bool = False


@dataclass
class Charger:
    identity: str
    meter_values_per_tx: int  # differs between chargers, so the kill finds them at different steps
    sent: list[Sent] = field(default_factory=list)
    clock: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC).replace(microsecond=0))

    def tick(self) -> str:
        """A fresh, strictly increasing timestamp: every message of this charger is distinguishable."""
        self.clock += dt.timedelta(milliseconds=10)
        return self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@asynccontextmanager
async def connected(url: str, identity: str) -> AsyncIterator[tuple[VirtualCharger16, asyncio.Task]]:
    """A virtual charger and its reader task: the task ends when the connection is lost."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(url, identity), protocols=["ocpp1.6"]) as ws:
            cp = VirtualCharger16(identity, ClientTransport(ws))
            reader = asyncio.create_task(cp.start())
            try:
                yield cp, reader
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)


async def send(cp: VirtualCharger16, reader: asyncio.Task, coro) -> Any:
    """One call, answered or lost with the connection; a CALLERROR (None from the library) is a failure."""
    call = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({call, reader}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if call in done and call.exception() is None:
        if call.result() is None:
            raise AssertionError(f"{cp.id}: the server answered with a CALLERROR")
        return call.result()
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)
    if not done:
        raise AssertionError(f"{cp.id}: no answer within 30 s")
    raise ConnectionLost()


async def deliver(cp, reader, charger: Charger, message: Sent) -> None:
    """Send a recorded message; mark it acknowledged only when its answer arrived."""
    a = message.args
    if message.kind == "start":
        coro = cp.start_transaction(a["id_tag"], 1, a["meter"], a["at"])
    elif message.kind == "meter":
        coro = cp.meter_values(message.tx_id, a["meter"], 1, a["at"])
    else:
        coro = cp.stop_transaction(message.tx_id, a["meter"], a["id_tag"], a["at"], "Local")
    answer = await send(cp, reader, coro)
    if message.kind == "start":
        if message.tx_id is not None:  # a replay of an answered start must get the same id
            assert answer.transaction_id == message.tx_id, (message, answer)
        message.tx_id = answer.transaction_id
    message.answer, message.acked = answer, True


async def run_transactions(url: str, charger: Charger, killed: asyncio.Event) -> None:
    """StartTransaction, MeterValues..., StopTransaction, again, until the server is killed."""
    meter = 0
    async with connected(url, charger.identity) as (cp, reader):
        await send(cp, reader, cp.boot())
        try:
            while True:
                start = Sent(charger.identity, "start", {"id_tag": f"TAG-{charger.identity}", "meter": meter,
                                                         "at": charger.tick()})
                charger.sent.append(start)
                await deliver(cp, reader, charger, start)
                for _ in range(charger.meter_values_per_tx):
                    meter += 250
                    charger.sent.append(Sent(charger.identity, "meter", {"meter": meter, "at": charger.tick()},
                                             start.tx_id))
                    await deliver(cp, reader, charger, charger.sent[-1])
                meter += 100
                charger.sent.append(Sent(charger.identity, "stop", {"meter": meter, "at": charger.tick(),
                                                                    "id_tag": start.args["id_tag"]}, start.tx_id))
                await deliver(cp, reader, charger, charger.sent[-1])
        except ConnectionLost:
            if not killed.is_set():
                raise


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def read_database(path) -> tuple[dict[int, dict], dict[tuple[str, dt.datetime], list[tuple]]]:
    """Transactions by id, and meter samples by (charger, sampled_at), straight from the file (or the
    test's PostgreSQL schema); times as SQLite's text."""
    where = backend.location(path)
    if not backend.ON_POSTGRES:
        where = f"file:{path}?mode=ro"
    transactions = {row["id"]: {k: _text(v) for k, v in row.items()} for row in query(
        where, 'SELECT t.*, c.identity FROM "transaction" t JOIN charger c ON c.id = t.charger_id', dicts=True)}
    samples: dict[tuple[str, dt.datetime], list[tuple]] = {}
    for row in query(where, 'SELECT c.identity, s.sampled_at, s.transaction_id, s.measurand, s.value '
                            'FROM meter_sample s JOIN charger c ON c.id = s.charger_id'):
        samples.setdefault((row[0], dt.datetime.fromisoformat(_text(row[1]))), []).append(tuple(row)[2:])
    return transactions, samples


def query(where, sql: str, dicts: bool = False) -> list:
    if backend.ON_POSTGRES:
        return backend.query(where, sql, dicts=dicts)
    db = sqlite3.connect(where, uri=True)  # read-only: the server may be running
    try:
        db.row_factory = sqlite3.Row
        return [dict(row) if dicts else tuple(row) for row in db.execute(sql)]
    finally:
        db.close()


def _text(value):
    return str(value) if isinstance(value, dt.datetime) else value


def check_stored(message: Sent, transactions: dict[int, dict], samples: dict) -> None:
    """The database holds what the message carried."""
    a = message.args
    tx = transactions.get(message.tx_id)
    assert tx is not None, f"{message} lost"
    assert tx["identity"] == message.charger, (message, tx)
    if message.kind == "start":
        assert (tx["id_tag"], tx["meter_start_wh"], tx["connector_number"]) == (a["id_tag"], a["meter"], 1), tx
        assert dt.datetime.fromisoformat(tx["started_at"]) == parse_time(a["at"]), (message, tx)
    elif message.kind == "meter":
        stored = samples.get((message.charger, parse_time(a["at"])), [])
        assert len(stored) == SAMPLES_PER_METER_VALUES, (message, stored)
        assert ("Energy.Active.Import.Register", float(a["meter"])) in [(m, v) for _, m, v in stored], stored
        assert {t for t, _, _ in stored} == {message.tx_id}, stored
    else:
        assert tx["stopped_at"] is not None, f"{message}: stop lost ({tx})"
        assert dt.datetime.fromisoformat(tx["stopped_at"]) == parse_time(a["at"]), (message, tx)
        assert (tx["meter_stop_wh"], tx["energy_wh"]) == (a["meter"], a["meter"] - tx["meter_start_wh"]), tx


async def seed(data_dir) -> list[Charger]:
    core = open_core(load_settings({"data_dir": data_dir, "database_url": backend.database_url() or None}, environ={}))
    try:
        await core.users.add_company("Night Cabs")
        await core.users.add_driver("driver", "Night Cabs")
        chargers = [Charger(f"DUR{i:02d}", 1 + i % 6) for i in range(CHARGERS)]
        for charger in chargers:
            await core.chargers.add(charger.identity, "ocpp1.6-json")
            await core.users.add_tag(f"TAG-{charger.identity}", "driver")
        return chargers
    finally:
        await core.close()


@pytest.fixture
def server_process(tmp_path):
    servers: list[ServerProcess] = []

    def start() -> ServerProcess:
        servers.append(ServerProcess(tmp_path / "data").start())
        return servers[-1]

    yield start
    for srv in servers:
        srv.kill()


async def wait_until(predicate, timeout: float) -> None:
    """Poll until the predicate holds or the time is up (then just return: the caller bounds the run)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


async def test_sigkill_mid_stream_loses_nothing_acknowledged_and_replays_count_once(tmp_path, server_process):
    data_dir = tmp_path / "data"
    chargers = await seed(data_dir)
    # The server gets no APPLIANCE_* environment and no config file: the default, full, is under test.
    assert load_settings({"data_dir": data_dir}, environ={}).sqlite_synchronous == "full"
    first = server_process()

    killed = asyncio.Event()
    tasks = [asyncio.create_task(run_transactions(first.url, c, killed)) for c in chargers]

    def acked() -> int:
        return sum(m.acked for c in chargers for m in c.sent)

    await wait_until(lambda: acked() >= KILL_AFTER_ACKS or any(t.done() for t in tasks), RUN_AT_MOST_S)
    for task in tasks:
        if task.done():
            task.result()  # a charger that failed before the kill: show why
    in_flight = [c.sent[-1] for c in chargers if c.sent and not c.sent[-1].acked]
    killed.set()
    first.proc.kill()  # SIGKILL, chargers still sending
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    first.kill()

    messages = [m for c in chargers for m in c.sent]
    answered = [m for m in messages if m.acked]
    assert in_flight, "the kill was meant to land while messages were in flight"
    assert {m.kind for m in answered} == {"start", "meter", "stop"}, "too few messages to test anything"
    for c in chargers:  # one call at a time per charger: only the last message can be unanswered
        assert all(m.acked for m in c.sent[:-1])

    second = server_process()
    transactions, samples = read_database(second.data_dir / "appliance.sqlite3")
    for message in answered:
        check_stored(message, transactions, samples)

    # The chargers come back and replay: the unanswered message, then the last answered start,
    # MeterValues and stop again (a charger unsure whether its queue got through).
    for charger in chargers:
        async with connected(second.url, charger.identity) as (cp, reader):
            unanswered = [m for m in charger.sent if not m.acked]
            again = [next(m for m in reversed(charger.sent) if m.acked and m.kind == kind)
                     for kind in ("start", "meter", "stop")
                     if any(m.acked and m.kind == kind for m in charger.sent)]
            for message in unanswered + again:
                await deliver(cp, reader, charger, message)

    assert second.terminate() == 0, second.log()
    transactions, samples = read_database(data_dir / "appliance.sqlite3")
    for message in messages:
        if message.acked:
            check_stored(message, transactions, samples)
    # Nothing counted twice: one transaction per start sent, one set of samples per MeterValues sent.
    starts = [m for m in messages if m.kind == "start"]
    assert len(transactions) == len(starts) == len({m.tx_id for m in starts})
    meters = [m for m in messages if m.kind == "meter"]
    assert sum(len(rows) for rows in samples.values()) == SAMPLES_PER_METER_VALUES * len(meters)
    for message in meters:
        assert len(samples[(message.charger, parse_time(message.args["at"]))]) == SAMPLES_PER_METER_VALUES
    for tx in transactions.values():
        stopped = [m for m in messages if m.kind == "stop" and m.tx_id == tx["id"]]
        assert (tx["stopped_at"] is not None) == bool(stopped), tx
