"""`appliance admin` (web UI accounts) and `appliance audit`, through click's CliRunner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import cli
from tests import backend


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for key in list(os.environ):
        if backend.is_ambient_setting(key):
            monkeypatch.delenv(key)


def run(data_dir: Path, *args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], input=stdin, catch_exceptions=False)


def test_admin_add_reads_the_password_from_standard_input(tmp_path):
    result = run(tmp_path, "admin", "add", "boss", "--role", "admin", stdin="correct-horse-battery\n")
    assert result.exit_code == 0 and "account 'boss' added as admin" in result.output
    listed = json.loads(run(tmp_path, "admin", "list", "--json").output)
    assert [(a["name"], a["role"], a["disabled"]) for a in listed] == [("boss", "admin", False)]
    assert "password" not in json.dumps(listed)
    audit = json.loads(run(tmp_path, "audit", "--json").output)
    assert audit[0]["action"] == "account added" and audit[0]["target"] == "boss"
    assert audit[0]["actor"].startswith("cli:")


@pytest.mark.parametrize("args, stdin, message", [
    (["admin", "add", "x", "--role", "admin"], "short\n", "a password has at least 10 characters"),
    (["admin", "add", "x", "--role", "admin"], "", "no password on standard input"),
    (["admin", "add", "bad name", "--role", "admin"], "correct-horse-battery\n", "an account name is 1 to 64"),
    (["admin", "add", "x", "--role", "boss"], "correct-horse-battery\n", "'boss' is not one of"),
    (["admin", "role", "nobody", "viewer"], None, "no account named 'nobody'"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, stdin, message):
    result = run(tmp_path, *args, stdin=stdin)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_the_last_admin_cannot_be_removed_demoted_or_disabled(tmp_path):
    run(tmp_path, "admin", "add", "boss", "--role", "admin", stdin="correct-horse-battery\n")
    for args in (["admin", "remove", "boss"], ["admin", "role", "boss", "viewer"], ["admin", "disable", "boss"]):
        result = run(tmp_path, *args)
        assert result.exit_code == 1 and "the last admin" in result.output
    run(tmp_path, "admin", "add", "deputy", "--role", "admin", stdin="another-long-password\n")
    assert run(tmp_path, "admin", "role", "boss", "viewer").exit_code == 0
    assert run(tmp_path, "admin", "add", "deputy", "--role", "viewer", stdin="another-long-password\n").exit_code == 1


def test_a_duplicate_name_is_refused(tmp_path):
    run(tmp_path, "admin", "add", "boss", "--role", "admin", stdin="correct-horse-battery\n")
    result = run(tmp_path, "admin", "add", "boss", "--role", "viewer", stdin="correct-horse-battery\n")
    assert result.exit_code == 1 and "an account named 'boss' exists" in result.output


def test_the_password_prompt_on_a_terminal(tmp_path):
    """A real terminal: the password is asked twice and never echoed."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the terminal
        os.execv(sys.executable, [sys.executable, "-m", "appliance", "--data-dir", str(tmp_path), "admin", "add",
                                  "boss", "--role", "operator"])
    output = b""

    def read_until(marker: bytes) -> None:
        nonlocal output
        while marker not in output:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the terminal closed: the command ended early
                chunk = b""
            if not chunk:
                raise AssertionError(f"no {marker!r} in {output!r}")
            output += chunk

    read_until(b"Password:")
    os.write(fd, b"correct-horse-battery\n")
    read_until(b"Again:")
    os.write(fd, b"correct-horse-battery\n")
    read_until(b"added")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"correct-horse-battery" not in output
    listed = subprocess.run([sys.executable, "-m", "appliance", "--data-dir", str(tmp_path), "admin", "list",
                             "--json"], capture_output=True, text=True, check=True)
    assert json.loads(listed.stdout)[0]["role"] == "operator"
