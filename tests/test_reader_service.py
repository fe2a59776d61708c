"""The server's own enrolment reader: taps and reader states reach the API's event stream live
(the web enrolment page builds on it), unplugging is survived and shown."""

from __future__ import annotations

import asyncio
import json
import os

import aiohttp

from tests.conftest import add_fleet, make_settings
from tests.virtual_readers import AsciiReader


async def events(appliance, session):
    """The parsed events of the stream, as they come."""
    async with session.get(appliance.url + "/api/v1/readers/events",
                           headers={"Authorization": f"Bearer {appliance.token}"}) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "text/event-stream"
        async for line in response.content:
            if line.startswith(b"data: "):
                yield json.loads(line[6:])


async def next_event(stream, kind, timeout=10):
    async def find():
        async for event in stream:
            if event["type"] == kind:
                return event

    return await asyncio.wait_for(find(), timeout)


async def test_a_tap_reaches_the_stream_with_whose_card_it_is(start_appliance, tmp_path):
    reader = AsciiReader()
    link = tmp_path / "reader"  # a stable name, as the udev rule gives
    os.symlink(reader.path, link)
    app = await start_appliance(make_settings(tmp_path / "d", rfid_readers=f"{link}=ascii",
                                              rfid_id_form="hex-reversed"))
    await add_fleet(app.core, {"C3B2A104": {}})
    try:
        async with aiohttp.ClientSession() as session:
            stream = events(app, session)
            connected = await next_event(stream, "state")
            if connected["state"] != "connected":
                connected = await next_event(stream, "state")
            assert connected["state"] == "connected"
            await asyncio.sleep(0.2)  # the reader waits for a quiet line after opening
            reader.present("04A1B2C3")
            tap = await next_event(stream, "tap")
            assert (tap["id"], tap["reader_text"], tap["enrolled"]["driver"]) == ("C3B2A104", "04A1B2C3", "alice")
            reader.present("0BADCAFE")
            assert (await next_event(stream, "tap"))["enrolled"] is None  # a new card: the page offers to enrol it

            reader.unplug()
            os.unlink(link)
            assert (await next_event(stream, "state"))["state"] == "unplugged"
            replugged = AsciiReader()
            os.symlink(replugged.path, link)
            assert (await next_event(stream, "state"))["state"] == "connected"
            await asyncio.sleep(0.7)  # a reader just opened drops what may be the tail of a line, up to 0.5 s
            replugged.present("DEADBEEF")  # another card: the first one may still be inside its debounce time
            assert (await next_event(stream, "tap"))["id"] == "EFBEADDE"
            replugged.unplug()
        status, listed = await app.api("GET", "/api/v1/readers")
        assert status == 200 and listed[0]["device"] == str(link)
    finally:
        reader.unplug()
