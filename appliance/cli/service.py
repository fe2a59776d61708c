"""`appliance service install`: the binary, the systemd unit and the readers' udev rule put in place, the
service user made, the service (re)started. With --root DIR it only places the files under DIR and
prints the commands it would run, for packaging.

Running it again is an upgrade: the binary is replaced (atomically: the running one keeps its inode)
and the service restarted; the new binary backs the database up itself before it migrates it.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click

from appliance.cli.base import cli

SERVICE = "appliance"  # the unit's name, its user and its group
DATA_DIR = "/var/lib/appliance"
UNIT_FILE = "appliance.service"
UDEV_RULE = "70-appliance-rfid-readers.rules"


@dataclass(frozen=True)
class Placement:
    source: Path
    target: str  # absolute path on the installed system
    mode: int


@cli.group("service")
def service() -> None:
    """The appliance as a systemd service: install or upgrade it."""


@service.command("install")
@click.option("--binary", type=click.Path(dir_okay=False, path_type=Path),
              help="The appliance binary to install (default: this binary when run as one, else dist/appliance).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              help="Only place the files under DIR (e.g. a package's staging directory) and print the "
                   "commands that would finish the installation; needs no root privileges.")
def install(binary: Path | None, root: Path | None) -> None:
    """Install or upgrade the service: binary to /usr/local/bin, unit, udev rule, user, start."""
    if root is None:
        _require_real_install()
    binary = _binary(binary)
    placements = [Placement(binary, "/usr/local/bin/appliance", 0o755),
                  Placement(_service_file(UNIT_FILE), f"/etc/systemd/system/{UNIT_FILE}", 0o644),
                  Placement(_service_file(UDEV_RULE), f"/etc/udev/rules.d/{UDEV_RULE}", 0o644)]
    if root is None and not _exists(pwd.getpwnam, SERVICE):
        _run_all([useradd_command(_exists(grp.getgrnam, SERVICE))])  # first: the udev rule names the group
    for placement in placements:
        click.echo(_place(placement, root or Path("/")))
    if root is None:
        _run_all(activation_commands())
    else:
        click.echo("to finish, run as root on the box:")
        click.echo(f"  getent passwd {SERVICE} >/dev/null || {shlex.join(useradd_command())}")
        for command in activation_commands():
            click.echo("  " + shlex.join(command))
    click.echo(_next_steps(installed=root is None))


def useradd_command(group_exists: bool = False) -> list[str]:
    """The service's system user: no login, its home the data directory (which systemd creates).
    --user-group refuses when the group is already there (a half-finished earlier attempt): join it."""
    return ["useradd", "--system", "--home-dir", DATA_DIR, "--no-create-home", "--shell", _nologin(),
            "--comment", "depot charging appliance", *(["--gid", SERVICE] if group_exists else ["--user-group"]),
            SERVICE]


def activation_commands() -> list[list[str]]:
    """After the files are in place. `restart` starts a stopped service too, and with Type=notify it
    returns only once the server is ready (or has failed), so its exit status tells."""
    return [["systemctl", "daemon-reload"],
            ["udevadm", "control", "--reload"],
            # Only serial and input devices: the rule is about them, and re-triggering everything
            # would disturb unrelated hardware.
            ["udevadm", "trigger", "--subsystem-match=tty", "--subsystem-match=input"],
            ["systemctl", "enable", SERVICE],
            ["systemctl", "restart", SERVICE]]


def _binary(given: Path | None) -> Path:
    if given is None:
        frozen = getattr(sys, "frozen", False)
        given = Path(sys.executable) if frozen else Path("dist/appliance")
    if not given.is_file():
        raise click.ClickException(f"no appliance binary at {given}: build it with packaging/build, or give "
                                   "--binary PATH")
    if not os.access(given, os.X_OK):
        raise click.ClickException(f"{given} is not executable (chmod +x it, or give the right --binary)")
    return given.resolve()


def _require_real_install() -> None:
    if os.geteuid() != 0:
        raise click.ClickException("installing the service needs root: run it with sudo (or give --root DIR to "
                                   "only place the files)")
    if not Path("/run/systemd/system").is_dir():
        raise click.ClickException("this machine does not run systemd (no /run/systemd/system); give --root DIR "
                                   "to only place the files")


def _service_file(name: str) -> Path:
    """The unit and the rule: inside the single binary (packaging bundles systemd/), or the source tree's."""
    places = [Path(getattr(sys, "_MEIPASS", "")) / "systemd"] if getattr(sys, "frozen", False) else []
    places.append(Path(__file__).resolve().parents[2] / "systemd")
    for place in places:
        if (place / name).is_file():
            return place / name
    raise click.ClickException(f"{name} is not in {' or '.join(map(str, places))}: run this from the single "
                               "binary or a source checkout")


def _place(placement: Placement, root: Path) -> str:
    """Copy through a temporary file and rename: a running binary keeps its old inode (a direct write
    would fail with 'Text file busy'), and a power cut leaves the old file or the new one, never half."""
    target = root / placement.target.lstrip("/")
    if target.exists() and target.samefile(placement.source):
        return f"{target}: already in place"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out, open(placement.source, "rb") as src:
            shutil.copyfileobj(src, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, placement.mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return f"placed {target}"


def _run_all(commands: list[list[str]]) -> None:
    for command in commands:
        click.echo("+ " + shlex.join(command))
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            hint = f"; see journalctl -u {SERVICE} -n 50" if command[0] == "systemctl" else ""
            raise click.ClickException(f"{shlex.join(command)} failed (exit {result.returncode})"
                                       f"{': ' + detail[-1] if detail else ''}{hint}")


def _next_steps(installed: bool) -> str:
    state = f"The service is running as user {SERVICE}" if installed else f"The service will run as user {SERVICE}"
    return (f"{state}, data and settings (appliance.toml) in {DATA_DIR}.\n"
            f"First web UI account: sudo -u {SERVICE} APPLIANCE_DATA_DIR={DATA_DIR} appliance admin add NAME "
            "--role admin\n"
            f"Status:               systemctl status {SERVICE}\n"
            f"Logs:                 journalctl -u {SERVICE}  (follow: journalctl -fu {SERVICE})")


def _nologin() -> str:
    return next((p for p in ("/usr/sbin/nologin", "/sbin/nologin") if Path(p).exists()), "/bin/false")


def _exists(lookup: Callable[[str], object], name: str) -> bool:
    try:
        lookup(name)
    except KeyError:
        return False
    return True
