"""Fixtures: the real app on a free loopback port with its own database (a SQLite file, or a PostgreSQL
schema: tests/backend.py), and an API client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

import aiohttp
import pytest

from appliance.app import create_app
from appliance.config import Settings, load_settings
from appliance.core.services import Core
from appliance.store import migrations
from appliance.store.database import Database
from appliance.web.keys import CORE
from tests import backend


@pytest.fixture
async def db(tmp_path):
    """The store alone: a Database on a file (or a PostgreSQL schema) of its own, migrated."""
    database = Database(backend.location(tmp_path / "t.sqlite3"), "normal")
    migrations.migrate(database.peewee)
    yield database
    await database.close()


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    # Tests of other things see only the commands they cause: local-list syncing (which commands every
    # charger that boots) is on where the local-list tests turn it on.
    defaults = dict(data_dir=data_dir, host="127.0.0.1", port=0, ocpp_validate_responses=True,
                    command_timeout_s=5.0, supervision_interval_s=0.2, sqlite_synchronous="normal",
                    local_list_sync=False, database_url=backend.database_url())
    defaults.update(overrides)
    return load_settings(defaults, environ={})


@pytest.fixture(autouse=True)
def database_url(monkeypatch):
    """On PostgreSQL, the test's own schema; its URL is in the environment for the appliance's processes
    too (CLI commands, servers). On SQLite, '' (the file in each data directory)."""
    if not backend.ON_POSTGRES:
        yield ""
        return
    schemas = backend.schemas()
    name = schemas.take()
    url = backend.with_schema(backend.TEST_URL, name)
    monkeypatch.setenv(backend.ENV, url)
    yield url
    schemas.give_back(name)


def pytest_sessionfinish(session, exitstatus):
    backend.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


class Appliance:
    """A running app: its base URL, its core (for set-up and checks), and an API client."""

    def __init__(self, server, core: Core, token: str) -> None:
        self.server = server
        self.core = core
        self.token = token
        self.url = str(server.make_url("/")).rstrip("/")

    async def api(self, method: str, path: str, json: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token if token is not None else self.token}"}
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.url + path, json=json, headers=headers) as response:
                return response.status, await response.json()


@pytest.fixture
async def start_appliance(aiohttp_server) -> Callable[..., Any]:
    """Start the real app (on port 0) with the given settings; returns an Appliance."""

    async def start(settings: Settings) -> Appliance:
        app = create_app(settings)
        server = await aiohttp_server(app)
        core = app[CORE]
        token = await core.tokens.create("tests", replace=True)  # a second appliance of a test may share its database
        return Appliance(server, core, token)

    return start


@pytest.fixture
async def appliance(start_appliance, settings) -> Appliance:
    return await start_appliance(settings)


async def add_fleet(core: Core, tags: dict[str, dict] | None = None) -> None:
    """Company Blue Taxi, driver alice, and her tags (by default one valid tag, CARD1)."""
    await core.users.add_company("Blue Taxi")
    await core.users.add_driver("alice", "Blue Taxi")
    for id_tag, options in (tags or {"CARD1": {}}).items():
        await core.users.add_tag(id_tag, "alice", **options)


@pytest.fixture
async def cp(appliance):
    """A connected, booted virtual 1.6 charger CP1 at a depot with the fleet above."""
    from tests.virtual_charger import connect16

    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as charger:
        yield charger


@pytest.fixture
async def cs(appliance):
    """A connected, booted virtual 2.0.1 station CS1 at a depot with the fleet above, with nothing received
    yet: the device model report the appliance asks for after the boot has been sent in full."""
    from tests.virtual_charger201 import connect201

    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CS1", "ocpp2.0.1")
    async with connect201(appliance.url, "CS1") as station:
        await wait_for(lambda: station.reports_sent)
        station.received.clear()
        yield station


async def run_cli(data_dir: Path, *args: str) -> str:
    """The technician's command in a process of its own beside a server running in the test's process
    (in one process the two would share the models' database binding); returns its standard output."""
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "appliance", "--data-dir", str(data_dir), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll an (a)sync predicate until it returns something truthy; fail after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@pytest.fixture
async def staff(appliance):
    """A web UI client logged in as an admin (tests.ui_client.staff_client makes other roles)."""
    from tests.ui_client import staff_client

    client = await staff_client(appliance, "admin")
    yield client
    await client.close()
