"""Property (hypothesis): after any sequence of user-group changes, disconnects, reconnects and lost
lists, one sync leaves the charger holding exactly what the rules allow, at the appliance's version."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.app import create_app
from appliance.web.keys import CORE
from tests import backend
from tests.conftest import make_settings
from tests.virtual_charger import connect16

TAGS = [f"C{i}" for i in range(6)]
steps = st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from(TAGS)),
    st.tuples(st.just("block"), st.sampled_from(TAGS)),
    st.tuples(st.just("unblock"), st.sampled_from(TAGS)),
    st.tuples(st.just("sync"), st.booleans()),  # with the charger connected; True: its list was lost meanwhile
    st.tuples(st.just("limit"), st.integers(1, 4)),  # the charger's SendLocalListMaxLength
), max_size=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=steps)
def test_after_any_history_one_sync_brings_the_list_in_step(sequence):
    with tempfile.TemporaryDirectory() as tmp, backend.own_database() as database_url:
        asyncio.run(_scenario(Path(tmp), sequence, database_url))


async def _scenario(tmp: Path, sequence, database_url: str) -> None:
    server = TestServer(create_app(make_settings(tmp / "data", database_url=database_url)))
    await server.start_server()
    try:
        core = server.app[CORE]
        url = str(server.make_url("/")).rstrip("/")
        await core.users.add_driver("alice")
        await core.chargers.add("CP1", "ocpp1.6-json")
        kept_list: dict[str, str] = {}
        kept_version = 0
        per_message = None
        for step, arg in sequence:
            if step == "add" and await core.users.tag(arg) is None:
                await core.users.add_tag(arg, "alice")
            elif step in ("block", "unblock") and await core.users.tag(arg) is not None:
                await core.users.set_tag_status(arg, "blocked" if step == "block" else "active")
            elif step == "limit":
                per_message = arg
            elif step == "sync":
                lost = arg
                kept_list, kept_version = await _connect_and_sync(core, url, {} if lost else kept_list,
                                                                  0 if lost else kept_version, per_message)
        held, version = await _connect_and_sync(core, url, kept_list, kept_version, per_message)
        expected = {t.id_tag: ("Blocked" if t.status == "blocked" else "Accepted") for t in await core.users.tags()}
        assert held == expected
        assert version == (await core.local_lists.state("CP1")).version
    finally:
        await server.close()


async def _connect_and_sync(core, url, held, version, per_message):
    async with connect16(url, "CP1", boot=False) as cp:
        cp.local_list, cp.local_list_version = dict(held), version
        if per_message:
            cp.configuration["SendLocalListMaxLength"] = str(per_message)
        await cp.boot()
        result = await core.local_lists.sync("CP1")
        assert result.ok, result
        assert all(len(kw.get("local_authorization_list") or []) <= (per_message or 10 ** 6)
                   for action, kw in cp.received if action == "SendLocalList")
        assert result.version == cp.local_list_version or not result.updates_sent
        return dict(cp.local_list), cp.local_list_version
