"""The web UI in headless Chromium (Debian's, driven by Playwright): what depot staff do, end to end,
against the real app on loopback with virtual chargers. Each test keeps a screenshot of the page it
checked in test-artifacts/screenshots/."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser import browser, keep_screenshot, new_page  # noqa: F401  (browser is a fixture)
from tests.conftest import add_fleet, make_settings, wait_for
from tests.ui_client import PASSWORD
from tests.virtual_charger import connect16

pytestmark = pytest.mark.browser


async def log_in(page, appliance, name: str, role: str) -> None:
    if await appliance.core.accounts.get(name) is None:
        await appliance.core.accounts.add(name, role, PASSWORD, "tests")
    await page.goto(appliance.url + "/")
    assert "/login" in page.url
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(appliance.url + "/")


async def test_log_in_and_read_the_dashboard(browser, appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    page = await new_page(browser)
    await page.goto(appliance.url + "/")
    await page.get_by_label("Name").fill("anna")
    await page.get_by_label("Password").fill("wrong-password-here")
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_text("Wrong name or password.").wait_for()
    await log_in(page, appliance, "anna", "admin")
    await page.get_by_role("heading", name="Dashboard").wait_for()
    main = page.locator("main")
    for words in ("Faults", "Connection lost", "Charging now", "Sessions", "Energy", "Cost", "EVSEs by maximum power"):
        await main.get_by_text(words, exact=False).first.wait_for()
    await page.locator("body[data-live='on']").wait_for(state="attached")  # the live stream is open
    async with connect16(appliance.url, "CP1") as charger:
        await charger.status_notification(1, "Faulted", error_code="GroundFailure")
        await main.get_by_text("GroundFailure").first.wait_for()  # in the feed and the problem list, no reload
    await keep_screenshot(page, "dashboard")


async def test_add_a_company_a_driver_and_a_tag(browser, appliance):
    page = await new_page(browser)
    await log_in(page, appliance, "olga", "operator")
    await page.goto(appliance.url + "/companies")
    await page.locator("form[action='/companies'][method='post']").get_by_label("Name").fill("Blue Taxi")
    await page.get_by_role("button", name="Add company").click()
    await page.locator(".flash.ok").wait_for()
    await page.goto(appliance.url + "/drivers")
    form = page.locator("form[action='/drivers'][method='post']")
    await form.get_by_label("Name").fill("alice")
    await form.get_by_label("Company").select_option("Blue Taxi")
    await form.get_by_label("Email").fill("alice@example.com")
    await page.get_by_role("button", name="Add driver").click()
    await page.locator(".flash.ok").wait_for()
    await page.goto(appliance.url + "/tags/new")
    await page.get_by_label("Tag id").fill("04a1b2c3")
    await page.get_by_label("Owner").select_option(label="alice")
    await page.get_by_role("button", name="Add tag").click()
    await page.locator(".flash.ok").wait_for()
    tag = await appliance.core.users.tag("04A1B2C3")
    assert tag is not None and tag.driver == "alice" and tag.company == "Blue Taxi"
    await page.goto(appliance.url + "/tags")
    await page.get_by_role("link", name="04A1B2C3").wait_for()
    await keep_screenshot(page, "tags_list")


async def test_a_charger_connecting_changes_its_page_live(browser, appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    page = await new_page(browser)
    await log_in(page, appliance, "olga", "operator")
    await page.goto(appliance.url + "/chargers/CP1")
    await page.locator("body[data-live='on']").wait_for(state="attached")
    await page.evaluate("window.notReloaded = true")
    async with connect16(appliance.url, "CP1") as charger:
        await page.locator("main").get_by_text("online", exact=False).first.wait_for()
        await charger.status_notification(1, "Available")
        await page.locator("main .badge", has_text="Available").first.wait_for()
        await charger.status_notification(1, "Preparing")
        await page.locator("main .badge", has_text="Preparing").first.wait_for()
        assert await page.evaluate("window.notReloaded === true")  # the same page, updated in place
        await keep_screenshot(page, "charger_live_status")


async def test_remote_start_and_stop_from_the_charger_page(browser, appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    page = await new_page(browser)
    await log_in(page, appliance, "olga", "operator")
    async with connect16(appliance.url, "CP1") as charger:
        charger.start_on_remote_start = True
        charger.stop_on_remote_stop = True
        await page.goto(appliance.url + "/chargers/CP1?tab=actions")
        await page.locator("summary", has_text="Start charging").click()
        start = page.locator("#cmd-remote_start form")
        await start.get_by_label("Tag").fill("CARD1")
        await start.get_by_label("Reason").fill("driver forgot the card")
        await start.get_by_role("button", name="Start charging").click()
        await page.locator("#outcome").get_by_text("Accepted").first.wait_for()
        transaction_id = (await wait_for(lambda: charger.remote_started))[0].transaction_id
        for wh in (1500, 4000, 7000):
            await charger.meter_values(transaction_id, wh)
            await asyncio.sleep(0.05)
        charger.meter_wh = 9000
        await page.goto(appliance.url + "/chargers/CP1?tab=actions")
        await page.locator("summary", has_text="Stop charging").click()
        stop = page.locator("#cmd-remote_stop form")
        assert await stop.get_by_label("Session").input_value() == str(transaction_id)  # the open one, filled in
        await stop.get_by_label("Reason").fill("car is full")
        await stop.get_by_role("button", name="Stop charging").click()
        await page.locator("#outcome").get_by_text("Accepted").first.wait_for()
        await wait_for(lambda: appliance.core.transactions.list(active=False))
    await page.goto(appliance.url + "/sessions")
    await page.get_by_role("link", name=str(transaction_id), exact=True).click()
    await page.wait_for_url(f"**/sessions/{transaction_id}")
    chart = page.locator("svg.chart").first
    await chart.wait_for()
    assert await chart.locator("path, polyline").count() > 0
    await page.get_by_text("9.00 kWh").first.wait_for()
    actions = await appliance.core.commands.actions("CP1")
    assert {(a.action, a.reason) for a in actions} >= {("remote_start", "driver forgot the card"),
                                                       ("remote_stop", "car is full")}
    await keep_screenshot(page, "session_with_chart")


async def test_blocking_a_tag_changes_the_chargers_local_list(browser, start_appliance, tmp_path):
    appliance = await start_appliance(make_settings(tmp_path / "data", local_list_sync=True))
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    page = await new_page(browser)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await log_in(page, appliance, "olga", "operator")
    async with connect16(appliance.url, "CP1") as charger:
        await wait_for(lambda: charger.local_list.get("CARD1") == "Accepted", timeout=10)
        await page.goto(appliance.url + "/chargers/CP1?tab=local-list")
        await page.locator("main").get_by_text("CARD1").first.wait_for()
        await page.goto(appliance.url + "/tags/CARD1")
        await page.get_by_role("button", name="Block").first.click()
        await page.locator(".flash.ok").wait_for()
        await wait_for(lambda: charger.local_list.get("CARD1") == "Blocked", timeout=10)
        await page.goto(appliance.url + "/chargers/CP1?tab=local-list")
        await page.locator("main tr", has_text="CARD1").get_by_text("Blocked").first.wait_for()
        await keep_screenshot(page, "local_list_after_block")


async def test_a_viewer_cannot_change_anything(browser, appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    page = await new_page(browser)
    await log_in(page, appliance, "vera", "viewer")
    for path in ("/chargers/CP1?tab=actions", "/companies", "/drivers", "/tags", "/circuits", "/tariffs"):
        await page.goto(appliance.url + path)
        posting = page.locator("main form[method='post']")
        assert await posting.count() == 0, f"{path} offers a viewer a change form"
    await page.goto(appliance.url + "/companies")
    status = await page.evaluate("""async () => {
        const body = new URLSearchParams({name: "Sneaky", csrf_token: document.body.dataset.csrf});
        return (await fetch("/companies", {method: "POST", body})).status;
    }""")
    assert status == 403
    assert [c.name for c in await appliance.core.users.companies()] == ["Blue Taxi"]
    await keep_screenshot(page, "viewer_companies")


async def test_a_form_without_its_csrf_token_is_refused(browser, appliance):
    page = await new_page(browser)
    await log_in(page, appliance, "olga", "operator")
    await page.goto(appliance.url + "/companies")
    form = page.locator("form[action='/companies'][method='post']")
    await form.get_by_label("Name").fill("Forged Ltd")
    await form.locator("input[name='csrf_token']").evaluate("input => input.remove()")
    await page.get_by_role("button", name="Add company").click()
    await page.get_by_text("security token").wait_for()
    assert await appliance.core.users.companies() == []
    await keep_screenshot(page, "csrf_refused")


async def test_on_a_phone_screen(browser, appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    page = await new_page(browser, width=390, height=844)
    await log_in(page, appliance, "olga", "operator")
    for path in ("/", "/chargers", "/sessions", "/tags", "/chargers/CP1"):
        await page.goto(appliance.url + path)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow} px wider than the phone"
    await page.get_by_label("Menu").click()
    await page.get_by_role("link", name="Sessions").click()
    await page.wait_for_url("**/sessions")
    await keep_screenshot(page, "phone_sessions")
