"""The readers check: each configured RFID reader's device is there and usable by the service's user."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from appliance.diagnostics.verdict import FAIL, OK, SEVERITY, SKIPPED, WARNING, Context, Verdict, guarded
from appliance.reader_service import parse_readers

NAME = "readers"


@guarded(NAME)
def check_readers(context: Context) -> Verdict:
    configs = parse_readers(context.settings.rfid_readers)
    if not configs:
        return Verdict(NAME, OK, "none configured")
    user = _service_user(context.settings.data_dir)
    found = [reader_state(config.device, user) for config in configs]
    worst = max((status for status, _, _ in found), key=SEVERITY.__getitem__)
    summary = "; ".join(text for _, text, _ in found)
    action = next((action for status, _, action in found if status == worst), "")
    return Verdict(NAME, OK if worst == SKIPPED else worst, summary, action)


def reader_state(device: str, user: tuple[int, str]) -> tuple[str, str, str]:
    """(status, what was found, what to do) for one reader device or pyserial URL."""
    if "://" in device:
        return SKIPPED, f"{device} is a serial URL (pyserial), not a device file: not checked", ""
    path = Path(device)
    if not path.exists():
        return (WARNING, f"{device} is missing",
                "plug the reader in (ls -l /dev/rfid/; appliance reader list shows what is there); install the "
                "udev rule, or correct rfid_readers")
    uid, name = user
    if not _may_read_write(path, uid):
        return (FAIL, f"{device} is not readable and writable by {name}",
                f"install the udev rule (it gives the appliance group access) and add {name} to that group, or "
                f"chmod/chgrp {device}")
    kind = "serial device" if stat.S_ISCHR(path.stat().st_mode) else "file"
    return OK, f"{device} ok ({kind}, usable by {name})", ""


def _service_user(data_dir: Path) -> tuple[int, str]:
    """Whose access matters: the data directory's owner (the service's user), else whoever runs this."""
    uid = os.geteuid()
    if os.geteuid() == 0 and data_dir.exists():
        uid = data_dir.stat().st_uid
    try:
        return uid, pwd.getpwuid(uid).pw_name
    except KeyError:
        return uid, f"uid {uid}"


def _may_read_write(path: Path, uid: int) -> bool:
    if uid == os.geteuid():
        return os.access(path, os.R_OK | os.W_OK)
    if uid == 0:
        return True
    info = path.stat()  # the permission bits as they apply to that user (no ACLs)
    if info.st_uid == uid:
        bits = info.st_mode >> 6
    elif info.st_gid in _groups(uid):
        bits = info.st_mode >> 3
    else:
        bits = info.st_mode
    return bits & 0o6 == 0o6


def _groups(uid: int) -> set[int]:
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return set()
    return set(os.getgrouplist(entry.pw_name, entry.pw_gid))
