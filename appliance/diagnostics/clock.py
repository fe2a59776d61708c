"""The clock checks: synchronised by NTP, and not behind what the box already stored (a clock that jumped
back, say after a power cut on a box without a battery-backed clock, writes sessions out of order)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from appliance.diagnostics.verdict import FAIL, OK, SKIPPED, WARNING, Context, Verdict, age_text, guarded
from appliance.store import diagnostics as store

SYNC, CLOCK = "time-sync", "clock"
TIMESYNCD = Path("/run/systemd/timesync")
# Chargers' and the box's clocks drift a little; beyond this the order of stored events breaks.
BEHIND_TOLERANCE = dt.timedelta(minutes=5)
SET_THE_TIME = ("set the time: timedatectl set-ntp true (with an NTP server the box reaches), or timedatectl "
                "set-time 'YYYY-MM-DD HH:MM:SS'")


@guarded(SYNC)
def check_time_sync(context: Context) -> Verdict:
    synchronised, source = ntp_synchronised(context.timeout_s)
    if synchronised is None:
        return Verdict(SYNC, SKIPPED, f"cannot tell: {source}")
    if synchronised:
        return Verdict(SYNC, OK, f"synchronised ({source})")
    return Verdict(SYNC, WARNING, f"not synchronised ({source})",
                   "timedatectl set-ntp true, and let the box reach an NTP server (the depot router, or "
                   "NTP= in /etc/systemd/timesyncd.conf)")


def ntp_synchronised(timeout_s: float) -> tuple[bool | None, str]:
    """(synchronised, how we know), or (None, why we cannot tell)."""
    try:
        answer = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                                text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
        said = answer.stdout.strip()
        if answer.returncode == 0 and said in ("yes", "no"):
            return said == "yes", "timedatectl"
        why = f"timedatectl: {(answer.stderr.strip().splitlines() or ['no answer'])[0].rstrip('.')}"
    except FileNotFoundError:
        why = "no timedatectl"
    except (subprocess.TimeoutExpired, OSError) as e:
        why = f"timedatectl: {e}"
    if (TIMESYNCD / "synchronized").exists():
        return True, "systemd-timesyncd"
    if TIMESYNCD.is_dir():
        return False, "systemd-timesyncd"
    return None, f"{why}; no {TIMESYNCD}"


@guarded(CLOCK)
def check_clock(context: Context) -> Verdict:
    newest = store.newest_received(context.database())
    now, zone = context.now, context.settings.zone
    if newest is None:
        return Verdict(CLOCK, OK, f"now {_local(now, zone)}; nothing stored yet to compare with")
    if newest - now > BEHIND_TOLERANCE:
        return Verdict(CLOCK, FAIL, f"now {_local(now, zone)}, {age_text((newest - now).total_seconds())} behind "
                                    f"the newest time stored ({_local(newest, zone)}): new data would be written "
                                    "out of order", SET_THE_TIME + "; then restart the service")
    return Verdict(CLOCK, OK, f"now {_local(now, zone)}, not behind the newest time stored ({_local(newest, zone)})")


def _local(at: dt.datetime, zone) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
