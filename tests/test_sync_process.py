"""The appliance killed with SIGKILL in the middle of a sync with head office loses nothing.

A real head office on loopback (aiohttp, in this test's event loop) stores CDRs by id as they come
in and answers each batch after 0.3 s. The appliance runs as a real server process
(`python -m appliance serve`, syncing every 0.2 s) on a data directory set up with the CLI. A
virtual 1.6 charger runs sessions; each acknowledged StopTransaction means its CDR is committed.

1. The first half of the sessions go to head office and are confirmed as they happen.
2. Head office then keeps its next answer: the appliance's request is in flight, its records
   stored at head office but not confirmed, and the drain blocked on it while the charger runs the
   other sessions, whose records pile up unsent.
3. SIGKILL, with that request in flight: some but not all records have arrived.
4. A new server process on the same data directory, and head office answering again: every
   record arrives; the unconfirmed batch is sent again (the same document), nothing confirmed is;
   head office's first-arrival order is the order the records were written; the queue is empty.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
from collections import Counter
from pathlib import Path

from aiohttp import web

from tests.conftest import wait_for
from tests.test_cli_live import ServerProcess, cli_run, must
from tests.virtual_charger import connect16

SESSIONS = 40
CONFIRMED_FIRST = SESSIONS // 2  # sessions synced and confirmed before head office keeps its answer
ANSWER_AFTER_S = 0.3
SERVER_ENV = {"APPLIANCE_SYNC_INTERVAL_S": "0.2"}  # ServerProcess adds APPLIANCE_LOCAL_LIST_SYNC=false
TOKEN = "depot-secret"
TAGS = ["SYNC-CARD-A", "SYNC-CARD-B", "SYNC-CARD-C"]
TEST_AT_MOST_S = 45.0
BASE = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.timezone.utc)


class HeadOffice:
    """Stores every CDR by id on receipt (the first document seen under an id), answers after
    `ANSWER_AFTER_S`, and while `answering` is clear keeps the answer back."""

    def __init__(self) -> None:
        self.documents: dict[str, str] = {}  # id -> the document first received under it (canonical JSON)
        self.arrivals: list[str] = []  # ids in order of first arrival
        self.copies: Counter[str] = Counter()  # id -> how often it was received
        self.conflicts: list[str] = []  # ids under which a different document came
        self.tokens: set[str] = set()
        self.in_flight = 0
        self.held = 0  # requests waiting for `answering`
        self.answering = asyncio.Event()
        self.answering.set()

    async def cdrs(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        try:
            self.tokens.add(request.headers.get("Authorization", ""))
            batch = (await request.json())["cdrs"]
            for cdr in batch:
                text = json.dumps(cdr, sort_keys=True)
                self.copies[cdr["id"]] += 1
                first = self.documents.setdefault(cdr["id"], text)
                if first != text:
                    self.conflicts.append(cdr["id"])
                if self.copies[cdr["id"]] == 1:
                    self.arrivals.append(cdr["id"])
            await asyncio.sleep(ANSWER_AFTER_S)
            if not self.answering.is_set():
                self.held += 1
                try:
                    await self.answering.wait()
                finally:
                    self.held -= 1
            return web.json_response({"accepted": [cdr["id"] for cdr in batch]})
        finally:
            self.in_flight -= 1


async def serve_head_office(head: HeadOffice, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/cdrs", head.cdrs)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    return runner


def set_up_depot(data_dir: Path, head_office_url: str) -> None:
    must(cli_run(data_dir, "company", "add", "Blue Taxi"))
    must(cli_run(data_dir, "user", "add", "alice", "--company", "Blue Taxi"))
    for tag in TAGS:
        must(cli_run(data_dir, "tag", "add", tag, "--user", "alice"))
    must(cli_run(data_dir, "charger", "add", "SYNC1", "--protocol", "ocpp1.6-json"))
    must(cli_run(data_dir, "sync", "set", "--url", head_office_url, "--token", TOKEN))


async def run_session(cp, i: int) -> None:
    """Session i, with timestamps of its own; its CDR is committed once StopTransaction is answered."""
    started = BASE + dt.timedelta(minutes=10 * i)
    answer = await cp.start_transaction(TAGS[i % len(TAGS)], meter_start=0,
                                        timestamp=started.isoformat().replace("+00:00", "Z"))
    assert answer.id_tag_info["status"] == "Accepted", answer
    stopped = (started + dt.timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    await cp.stop_transaction(answer.transaction_id, 1000 + i, timestamp=stopped)


def start_server(data_dir: Path) -> ServerProcess:
    return ServerProcess(data_dir, SERVER_ENV).start()


async def test_killed_mid_sync_the_appliance_loses_no_cdr_and_keeps_their_order(tmp_path, unused_tcp_port):
    head = HeadOffice()
    runner = await serve_head_office(head, unused_tcp_port)
    data_dir = tmp_path / "data"
    servers: list[ServerProcess] = []
    try:
        async with asyncio.timeout(TEST_AT_MOST_S):
            await asyncio.to_thread(set_up_depot, data_dir, f"http://127.0.0.1:{unused_tcp_port}")
            servers.append(await asyncio.to_thread(start_server, data_dir))
            first = servers[-1]

            async with connect16(first.url, "SYNC1") as cp:
                for i in range(CONFIRMED_FIRST):
                    await run_session(cp, i)
                # 1. All of these confirmed (answered) before head office starts keeping its answer.
                await wait_for(lambda: len(head.arrivals) == CONFIRMED_FIRST and head.in_flight == 0, 10)
                head.answering.clear()
                await run_session(cp, CONFIRMED_FIRST)
                # 2. The appliance's next request is in flight and kept; the rest pile up behind it.
                await wait_for(lambda: head.held == 1, 10)
                for i in range(CONFIRMED_FIRST + 1, SESSIONS):
                    await run_session(cp, i)

            # 3. SIGKILL mid-request: some but not all records have arrived.
            assert head.held == 1
            arrived_before_kill = list(head.arrivals)
            assert CONFIRMED_FIRST < len(arrived_before_kill) < SESSIONS
            first.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.proc.wait, 10)
            assert first.proc.returncode == -signal.SIGKILL
            first.kill()  # closes its log
            head.answering.set()  # the kept answer now goes to a closed connection

            # 4. A new server on the same data directory sends the rest.
            servers.append(await asyncio.to_thread(start_server, data_dir))
            second = servers[-1]
            await wait_for(lambda: len(head.arrivals) == SESSIONS and head.in_flight == 0, 15)

            async def queue_empty() -> bool:
                status = json.loads(must(await asyncio.to_thread(cli_run, data_dir, "sync", "status",
                                                                 "--json")).stdout)
                return status["queue_length"] == 0

            await wait_for(queue_empty, 5, interval=0.1)
            assert await asyncio.to_thread(second.terminate) == 0, second.log()

        listed = must(await asyncio.to_thread(cli_run, data_dir, "cdr", "list", "--limit", "1000", "--json"))
        written = [c["cdr_id"] for c in reversed(json.loads(listed.stdout))]  # listed newest first
        assert len(written) == SESSIONS  # one CDR per session, no credits
        assert head.conflicts == []  # never two different documents under one id
        assert sorted(head.arrivals) == sorted(written)  # none lost
        assert head.arrivals == written  # first arrivals in the order they were written
        # What was confirmed before the kill was never sent again; the batch in flight was, once.
        in_flight = set(arrived_before_kill[CONFIRMED_FIRST:])
        assert {cdr_id: head.copies[cdr_id] for cdr_id in written} == \
            {cdr_id: 2 if cdr_id in in_flight else 1 for cdr_id in written}
        assert head.tokens == {f"Token {TOKEN}"}
        assert "Traceback" not in second.log(), second.log()  # both servers' output
    finally:
        head.answering.set()
        for server in servers:
            server.kill()
        await runner.cleanup()
