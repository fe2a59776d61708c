"""/metrics over loopback, read with the Prometheus client library's own parser: off unless enabled
(404), its own token (401 without it, an API token is not it), and figures that follow the depot: a
charger online, a session running then finished, messages counted and timed, an alarm open."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.core.secrets import hash_token
from appliance.core.events import utcnow
from appliance.store.notifications import store_settings
from appliance.web.metrics import TOKEN_SETTING
from tests.conftest import add_fleet, make_settings, wait_for
from tests.virtual_charger import connect16

TOKEN = "metrics-token-for-the-tests-0123456789"


async def scrape(appliance, token: str | None = TOKEN) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        async with http.get(appliance.url + "/metrics", headers=headers) as response:
            return response.status, response.headers.get("Content-Type", ""), await response.text()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample by (name, sorted labels), as the Prometheus client library parses the page."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
async def metered(tmp_path, start_appliance):
    return await start_appliance(make_settings(tmp_path / "data", metrics=True, metrics_token=TOKEN))


async def test_off_unless_enabled(appliance):
    status, _, text = await scrape(appliance)
    assert status == 404 and "turn it on with the setting metrics" in text


@pytest.mark.parametrize("token", [None, "wrong", "api"])
async def test_only_the_metrics_token_opens_it(metered, token):
    status, _, text = await scrape(metered, metered.token if token == "api" else token)
    assert status == 401 and "metrics token is needed" in text


async def test_a_token_made_by_the_cli_works_as_well(metered):
    await metered.core.db.write(store_settings, {TOKEN_SETTING: hash_token("made-by-the-cli-42")}, utcnow())
    assert (await scrape(metered, "made-by-the-cli-42"))[0] == 200
    assert (await scrape(metered))[0] == 200  # the setting's too


async def test_figures_follow_the_depot(metered):
    core = metered.core
    await add_fleet(core)
    await core.chargers.add("CP1", "ocpp1.6-json")
    await core.chargers.add("CP2", "ocpp1.6-json")  # never connected
    async with connect16(metered.url, "CP1") as cp:
        await cp.status_notification(1, "Available")
        tx = (await cp.start_transaction("CARD1", meter_start=1000)).transaction_id
        await cp.meter_values(tx, 4000)
        status, content_type, text = await scrape(metered)
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
        running = samples(text)
        assert running[("appliance_chargers", (("registration", "accepted"), ("state", "online")))] == 1
        assert running[("appliance_chargers", (("registration", "accepted"), ("state", "never_connected")))] == 1
        assert running[("appliance_chargers_connected", ())] == 1
        assert running[("appliance_sessions_active", ())] == 1
        assert running[("appliance_energy_delivered_wh_total", ())] == 3000
        await cp.stop_transaction(tx, 5500)
        await cp.status_notification(2, "Faulted", "GroundFailure")
        await wait_for(lambda: _alarm_open(metered), timeout=10)
        after = samples((await scrape(metered))[2])
    assert after[("appliance_sessions_active", ())] == 0
    assert after[("appliance_energy_delivered_wh_total", ())] == 4500  # a counter: it never went down
    assert after[("appliance_ocpp_messages_total", (("direction", "in"),))] >= 6
    assert after[("appliance_ocpp_messages_total", (("direction", "out"),))] >= 6
    assert after[("appliance_ocpp_answer_seconds_count", (("transport", "ocpp-j"),))] >= 6
    assert after[("appliance_ocpp_answer_seconds_bucket", (("le", "+Inf"), ("transport", "ocpp-j")))] == \
        after[("appliance_ocpp_answer_seconds_count", (("transport", "ocpp-j"),))]
    assert after[("appliance_alarms_open", (("kind", "connector_faulted"), ("severity", "critical")))] == 1
    assert after[("appliance_sync_queue_length", ())] == 1  # the finished session's charge detail record


async def _alarm_open(appliance):
    return "appliance_alarms_open{" in (await scrape(appliance))[2]
