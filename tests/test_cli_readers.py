"""`appliance tag enrol` and `appliance reader test|list` end to end on pseudo-terminal readers."""

from __future__ import annotations

import json
import threading
import time

import pytest
from click.testing import CliRunner

from appliance.cli import cli
from tests.virtual_readers import AsciiReader, Pn532, Rdm6300


@pytest.fixture
def data_dir(tmp_path):
    data = tmp_path / "data"
    runner = CliRunner()
    for args in (["company", "add", "Blue Taxi"], ["user", "add", "alice", "--company", "Blue Taxi"]):
        assert runner.invoke(cli, ["--data-dir", str(data), *args]).exit_code == 0
    return data


def run_while(data_dir, args, feed, input_text=None):
    """Run the CLI in a thread while `feed()` plays the taps; returns click's Result."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("r", CliRunner().invoke(
        cli, ["--data-dir", str(data_dir), *args], input=input_text)))
    thread.start()
    time.sleep(1.0)  # the CLI opens the database, then the port, and waits for the line to be quiet
    feed()
    thread.join(30)
    return result["r"]


def cli_json(data_dir, *args):
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_enrol_one_card_for_a_user_after_confirming(data_dir):
    reader = AsciiReader()
    try:
        result = run_while(data_dir, ["tag", "enrol", "--reader", reader.path, "--user", "alice", "--family",
                                      "ascii", "--timeout", "10"], lambda: reader.present("04:a1:b2:c3"), "y\n")
    finally:
        reader.unplug()
    assert result.exit_code == 0, result.output
    assert "04A1B2C3: enrolled for alice" in result.output
    tag = cli_json(data_dir, "tag", "show", "04A1B2C3")
    assert (tag["driver"], tag["company"]) == ("alice", "Blue Taxi")


def test_enrol_a_stack_of_cards_to_a_company(data_dir):
    reader = Rdm6300()
    cards = [bytes.fromhex(h) for h in ("0B00AB12CD", "0B00AB12CE", "0B00AB12CF")]

    def taps():
        for card in cards:
            reader.present(card)
            time.sleep(0.3)
        time.sleep(1.0)  # the first one again, once it has left the reader (not a held card): already enrolled
        reader.present(cards[0])

    try:
        result = run_while(data_dir, ["tag", "enrol", "--reader", reader.path, "--company", "Blue Taxi", "--batch",
                                      "--yes", "--form", "hex/last4", "--timeout", "4"], taps)
    finally:
        reader.unplug()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "00AB12CD: enrolled for Blue Taxi (1 so far)" in lines and "00AB12CF: enrolled for Blue Taxi (3 so far)" in lines
    assert "00AB12CD: already enrolled, for Blue Taxi (active)" in lines
    assert lines[-1] == "3 card(s) enrolled for Blue Taxi"
    tags = {t["id_tag"]: t for t in cli_json(data_dir, "tag", "list")}
    assert set(tags) == {"00AB12CD", "00AB12CE", "00AB12CF"}
    assert {t["company"] for t in tags.values()} == {"Blue Taxi"} and {t["driver"] for t in tags.values()} == {None}


def test_a_pn532_card_in_the_chargers_reversed_form(data_dir):
    reader = Pn532()
    try:
        result = run_while(data_dir, ["tag", "enrol", "--reader", reader.path, "--user", "alice", "--yes",
                                      "--form", "hex-reversed", "--timeout", "10"],
                           lambda: reader.present(bytes.fromhex("04A1B2C3D4E5F6")))
    finally:
        reader.unplug()
    assert result.exit_code == 0, result.output
    assert "F6E5D4C3B2A104: enrolled for alice" in result.output


def test_reader_test_shows_every_form(data_dir):
    reader = AsciiReader()
    try:
        result = run_while(data_dir, ["reader", "test", reader.path, "--family", "ascii", "--count", "1",
                                      "--timeout", "10", "--json"], lambda: reader.present("04A1B2C3"))
    finally:
        reader.unplug()
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)  # the reader's state goes to stderr
    assert shown["id"] == "04A1B2C3" and shown["forms"]["hex-reversed"]["id"] == "C3B2A104"
    assert shown["forms"]["decimal:10"] == {"id": "0077705923", "last_sent_by_a_charger": "never"}


@pytest.mark.parametrize("args, fragment", [
    (["--user", "alice", "--batch"], "--user NAME (one card)"),
    (["--company", "Blue Taxi"], "--company NAME --batch"),
    (["--user", "alice", "--form", "octal"], "is not an id form"),
])
def test_bad_enrol_arguments_say_what_is_wrong(data_dir, args, fragment):
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "tag", "enrol", "--reader", "/dev/null", *args])
    assert result.exit_code == 2 and fragment in result.output


def test_no_card_tapped_is_one_clear_error(data_dir):
    reader = AsciiReader()
    try:
        result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "tag", "enrol", "--reader", reader.path,
                                          "--user", "alice", "--family", "ascii", "--timeout", "0.5"])
    finally:
        reader.unplug()
    assert result.exit_code == 1 and "no card was tapped" in result.output


def test_reader_list_runs(data_dir):
    result = CliRunner().invoke(cli, ["reader", "list", "--json"])
    assert result.exit_code == 0 and isinstance(json.loads(result.output), list)
