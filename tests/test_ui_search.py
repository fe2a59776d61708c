"""The header's search (GET /search?q=): matches grouped by kind with links to their pages, one match
straight to its page, the list page for more, nothing found, and a query too short to search for."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

from tests.ui_client import staff_client, text_of


async def redirect_of(staff, query: str) -> str:
    async with staff.http.get(staff.url + "/search", params={"q": query}, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        return response.headers["Location"]


def words_of(html: str) -> str:
    """What a person reads, the marks of where the query matched taken out."""
    return unescape(text_of(html.replace("<mark>", "").replace("</mark>", "")))


def groups(html: str) -> dict[str, list[str]]:
    """Each group's heading (with its count) and the links of its matches."""
    found = {}
    for body in re.findall(r'<section class="card results"[^>]*>(.*?)</section>', html, re.S):
        heading = text_of(re.search(r"<h2[^>]*>(.*?)</h2>", body, re.S).group(1))
        found[heading] = re.findall(r'<li><a href="([^"]+)"', body)
    return found


async def test_matches_are_grouped_by_kind_with_links_to_their_pages(appliance, staff, cp):
    core = appliance.core
    await core.users.add_company("Cardinal Cabs")
    await core.users.add_driver("Carl Card", "Cardinal Cabs", email="carl@cardinal.example")
    await core.users.add_vehicle("CAR-7", "Cardinal Cabs")
    await core.users.add_tag("CARD7", "Carl Card", note="spare")
    await core.chargers.add("BAY-CARDS", "ocpp1.6-json", description="by the card reader")
    status, html = await staff.get("/search?q=card")
    assert status == 200
    assert groups(html) == {
        "Chargers (1)": ["/chargers/BAY-CARDS"],
        "Drivers (1)": ["/drivers/Carl%20Card"],
        "Companies (1)": ["/companies/Cardinal%20Cabs"],
        "Tags (2)": ["/tags/CARD1", "/tags/CARD7"],
    }
    words = words_of(html)
    assert "5 matches for “card”." in words
    assert "CARD7 active driver Carl Card · spare" in words
    assert "<mark>card</mark>" in html  # where it matched


async def test_a_tag_id_finds_the_tag_and_its_latest_sessions_and_a_number_finds_a_session(appliance, staff, cp):
    first = await cp.start_transaction("CARD1")
    await cp.stop_transaction(first.transaction_id, 1200)
    second = await cp.start_transaction("CARD1", meter_start=1200)
    status, html = await staff.get("/search?q=card1")  # any case: tag ids are compared upper case
    found = groups(html)
    assert found["Tags (1)"] == ["/tags/CARD1"]
    assert found["Sessions (2)"] == [f"/sessions/{second.transaction_id}", f"/sessions/{first.transaction_id}"]
    words = words_of(html)
    assert f"Session {second.transaction_id} charging CP1 connector 1 · tag CARD1 · started" in words
    assert "running" in words
    assert "1.20 kWh" in words

    status, html = await staff.get(f"/search?q={first.transaction_id}")
    assert f"/sessions/{first.transaction_id}" in groups(html)[next(h for h in groups(html) if h.startswith("Sessions"))]


async def test_a_tag_with_many_sessions_links_to_its_session_list_and_an_unknown_tag_finds_its_one(appliance, staff,
                                                                                                 cp):
    start = dt.datetime(2026, 1, 5, 8, tzinfo=dt.timezone.utc)
    for n in range(22):
        at = start + dt.timedelta(hours=n)
        tx = (await appliance.core.transactions.start("CP1", 1, "CARD1", n * 1000, at)).transaction_id
        await appliance.core.transactions.stop("CP1", tx, n * 1000 + 500, at + dt.timedelta(minutes=30))
    status, html = await staff.get("/search?q=CARD1")
    assert len(groups(html)["Sessions (22)"]) == 20
    assert '<a href="/sessions?tag=CARD1">2 more…</a>' in html

    tapped = await cp.start_transaction("stranger")  # nobody enrolled it: the session is kept all the same
    assert await redirect_of(staff, " Stranger ") == f"/sessions/{tapped.transaction_id}"


async def test_exactly_one_match_opens_its_page(appliance, staff, cp):
    core = appliance.core
    await core.users.add_driver("Night shift 2/3", email="nights@depot.example")
    assert await redirect_of(staff, "NIGHT SHIFT") == "/drivers/Night%20shift%202%2F3"  # a name is one path segment
    assert await redirect_of(staff, "nights@depot") == "/drivers/Night%20shift%202%2F3"  # by email
    assert await redirect_of(staff, "blue") == "/companies/Blue%20Taxi"
    assert await redirect_of(staff, "vc-16") == "/chargers/CP1"  # by model
    assert await redirect_of(staff, "alice") == "/drivers/alice"


async def test_names_are_found_whatever_their_case_beyond_ascii(appliance, staff):
    await appliance.core.users.add_driver("Jörg Müller")
    await appliance.core.users.add_driver("Åsa Öberg")
    assert await redirect_of(staff, "MÜLLER") == "/drivers/J%C3%B6rg%20M%C3%BCller"
    assert await redirect_of(staff, "åsa") == "/drivers/%C3%85sa%20%C3%96berg"


async def test_a_long_list_shows_the_first_twenty_and_links_to_the_list_page_for_more(appliance, staff):
    for n in range(23):
        await appliance.core.users.add_driver(f"driver {n:02d}")
    await appliance.core.users.add_driver("driver")
    status, html = await staff.get("/search?q=driver")
    links = groups(html)["Drivers (24)"]
    assert len(links) == 20 and links[0] == "/drivers/driver"  # the exact match first
    assert '<a href="/drivers?q=driver">4 more…</a>' in html


async def test_nothing_found_says_so_and_what_can_be_searched(appliance, staff):
    status, html = await staff.get("/search?q=zebra")
    assert status == 200
    words = unescape(text_of(html))
    assert "Nothing matches “zebra”." in words and "What you can search for" in words
    assert 'value="zebra"' in html  # to correct it


async def test_an_empty_or_too_short_query_explains_the_search(appliance, staff):
    status, html = await staff.get("/search")
    words = text_of(html)
    assert status == 200 and "What you can search for" in words and "Nothing matches" not in words
    status, html = await staff.get("/search?q=+a+")
    assert status == 200 and "Search for at least 2 characters (or a session number)." in text_of(html)
    status, html = await staff.get("/search?q=" + "x" * 101)
    assert status == 200 and "Search for at most 100 characters." in text_of(html)


async def test_what_people_typed_is_shown_as_text_never_as_markup(appliance, staff):
    await appliance.core.users.add_driver("<b>bold</b> driver")
    await appliance.core.users.add_driver("<b>bold</b> other")
    status, html = await staff.get("/search?q=<b>")
    assert "<b>bold" not in html and "&lt;/b&gt; driver" in html
    assert "<mark>&lt;b&gt;</mark>" in html


async def test_a_viewer_may_search(appliance, cp):
    viewer = await staff_client(appliance, "viewer")
    try:
        assert await redirect_of(viewer, "CP1") == "/chargers/CP1"
        status, html = await viewer.get("/search?q=zebra")
        assert status == 200 and "Nothing matches" in text_of(html)
    finally:
        await viewer.close()
