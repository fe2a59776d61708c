"""Typed settings: defaults, then a TOML file, then APPLIANCE_* environment, then flags.

Settings are built once at start, validated with a readable error, and passed explicitly.
"""

from __future__ import annotations

import os
import tomllib
import zoneinfo
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

ENV_PREFIX = "APPLIANCE_"
CONFIG_FILE_NAME = "appliance.toml"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the setting and its source."""


def _setting(default: Any, help: str, unit: str = "", choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"help": help, "unit": unit, "choices": choices})


def default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "depot-appliance"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _setting(None, "directory holding the database, certificates and state")
    database_url: str = _setting("", "PostgreSQL instead of the SQLite file in the data directory, for a site that "
                                     "outgrows one box: postgresql://USER:PASSWORD@HOST:5432/DATABASE (needs "
                                     "depot-appliance[postgres]); empty: SQLite")
    host: str = _setting("0.0.0.0", "address the server listens on")
    port: int = _setting(8180, "port for web UI, JSON API, OCPP-J and SOAP")
    tls: bool = _setting(False, "serve HTTPS/WSS (OCPP security profile 2) with tls_cert_file, or a "
                               "certificate the appliance makes for itself in DATA_DIR/tls on first start")
    tls_cert_file: Path = _setting(None, "PEM certificate (chain) for TLS; default: the appliance's own")
    tls_key_file: Path = _setting(None, "PEM private key for tls_cert_file")
    local_list_sync: bool = _setting(True, "keep every charger's local authorization list in step with the user "
                                           "group (on connect, and within seconds of a change)")
    rfid_readers: str = _setting("", "RFID readers the server owns for enrolment: DEVICE[=FAMILY][@FORM],... "
                                     "(e.g. /dev/rfid/ch340-usb-0_1_2=rdm6300@decimal:10/last4); empty: none")
    rfid_id_form: str = _setting("hex", "how the depot's chargers write a card's id: hex|decimal[-reversed][:WIDTH]"
                                        "[/last4]")
    public_url: str = _setting("", "the appliance's base URL as chargers reach it (e.g. http://10.0.0.2:8180); "
                                   "SOAP commands then name it in WS-Addressing From/ReplyTo")
    unknown_chargers: str = _setting(
        "pending", "what to do with a charger nobody added", choices=("reject", "pending", "accept")
    )
    heartbeat_interval_s: int = _setting(300, "heartbeat interval given to chargers", "s")
    pending_retry_interval_s: int = _setting(60, "boot retry interval given to pending chargers", "s")
    offline_after_s: float = _setting(
        120.0, "silence beyond the heartbeat interval after which a charger counts as temporarily unavailable; a "
        "charger out of contact this long (connection lost, or silent) raises the alarm charger_offline", "s"
    )
    offline_long_term_after_s: float = _setting(
        300.0, "silence beyond the heartbeat interval after which a charger counts as unavailable (long-term) and "
        "raises the alarm charger_offline_long_term", "s"
    )
    temporarily_unavailable_after_s: float = _setting(
        None, "the old name of offline_after_s, still read (offline_after_s wins when both are set)", "s"
    )
    unavailable_after_s: float = _setting(
        None, "the old name of offline_long_term_after_s, still read (offline_long_term_after_s wins when both "
        "are set)", "s"
    )
    stuck_transaction_after_s: float = _setting(
        86400.0, "a transaction with no meter values for this long is finished as stuck", "s"
    )
    supervision_interval_s: float = _setting(10.0, "how often connections and transactions are checked", "s")
    command_timeout_s: float = _setting(30.0, "how long a charger has to answer a command", "s")
    ocpp_max_frame_bytes: int = _setting(65536, "largest OCPP-J frame accepted; larger gets a CALLERROR", "bytes")
    ocpp_validate_responses: bool = _setting(
        False, "validate the appliance's own OCPP answers against the schemas (tests turn it on)"
    )
    commlog_retention_days: int = _setting(14, "days of OCPP messages kept in the communication log", "days")
    commlog_max_rows: int = _setting(2_000_000, "most OCPP messages kept in the communication log", "rows")
    commlog_max_mb: int = _setting(1024, "most message text kept in the communication log (oldest pruned first, "
                                         "every 10 minutes); with the two settings above it bounds the disk used", "MB")
    sqlite_synchronous: str = _setting(
        "full", "SQLite synchronous mode. full: each commit is on disk before a charger gets its answer (survives "
        "power cuts); normal: a power cut can lose the last commits already answered (survives process crashes only)",
        choices=("full", "normal"),
    )
    backups_keep: int = _setting(5, "automatic backups kept of each kind in DATA_DIR/backups (taken before a "
                                    "schema upgrade and before a restore); the oldest beyond this are deleted")
    timezone: str = _setting("UTC", "the depot's time zone (IANA name, e.g. Europe/Berlin): dates people give "
                             "and see are in it; storage and the wire stay UTC")
    load_management: bool = _setting(True, "keep the chargers wired to circuits within the circuits' limits "
                                           "(dynamic load management); without circuits it does nothing")
    dlm_fallback_after_s: float = _setting(
        600.0, "every charging limit falls back to the charger's safe share this long after the appliance last "
        "renewed it, so a charger keeps the site safe when the appliance is down (renewed every half of it)", "s")
    dlm_turn_s: float = _setting(900.0, "when not every waiting car can get its minimum, how long a car charges "
                                        "before one that waits gets its turn", "s")
    dlm_min_interval_s: float = _setting(5.0, "fewest seconds between two raises of one EVSE's limit "
                                              "(cuts are sent at once)", "s")
    dlm_hysteresis_a: float = _setting(1.0, "a raise smaller than this is not sent", "A")
    dlm_ignore_tolerance_a: float = _setting(2.0, "a car measured drawing this much (or 10 %) over its limit "
                                                  "twice in a row, after dlm_ignore_grace_s, flags its charger "
                                                  "as ignoring profiles", "A")
    dlm_ignore_grace_s: float = _setting(30.0, "time a charger has to bring a car down to a new limit", "s")
    dlm_meter_interval_s: float = _setting(5.0, "how often site meters are read", "s")
    dlm_meter_stale_s: float = _setting(30.0, "a site meter reading older than this is not trusted; the static "
                                              "reserve applies again", "s")
    billing_country_code: str = _setting("DE", "OCPI country code of the party issuing charge detail records")
    billing_party_id: str = _setting("DEP", "OCPI party id issuing charge detail records (3 characters)")
    billing_currency: str = _setting("EUR", "currency of sessions priced without a tariff (free)")
    sync_interval_s: float = _setting(10.0, "how often the appliance looks whether charge detail records can go to "
                                            "head office (failures back off exponentially, up to an hour)", "s")
    sync_timeout_s: float = _setting(30.0, "how long head office has to answer one batch", "s")
    sync_pull_tokens: bool = _setting(False, "take the user group's tokens from head office (GET URL/tokens)")
    sync_pull_interval_s: float = _setting(900.0, "how often tokens are taken from head office", "s")
    ui_session_idle_s: float = _setting(43200.0, "a web UI login ends after this long without use", "s")
    ui_session_max_s: float = _setting(604800.0, "a web UI login ends after this long whatever its use", "s")
    ui_lockout_failures: int = _setting(5, "wrong passwords in a row that lock a web UI account")
    ui_lockout_s: float = _setting(900.0, "how long a locked web UI account stays locked (an admin can unlock it)", "s")
    log_level: str = _setting("info", "log level", choices=("debug", "info", "warning", "error"))
    event_loop: str = _setting(
        "uvloop", "the server's event loop: uvloop (libuv's; about 15% less CPU per charger message under load) or "
        "asyncio (Python's own, if uvloop is suspected of a fault)", choices=("uvloop", "asyncio"))
    # -- alarms, auto-recovery, maintenance (README: Alarms) --
    head_office_alarm_after_s: float = _setting(
        3600.0, "head office failing (charge detail records not taken) for this long raises the alarm "
        "head_office_sync_failing", "s")
    disk_alarm_free_percent: float = _setting(
        10.0, "free space on the data directory's disk below this share raises the alarm disk_filling (critical "
        "once the disk is full)", "%")
    inspection_interval_days: int = _setting(
        365, "a charger's periodic inspection is due this long after the last one (or its installation); a "
        "charger's own interval overrides it", "days")
    inspection_lead_days: int = _setting(
        14, "the alarm inspection_due is raised this long before a charger's inspection is due", "days")
    auto_recovery_unavailable_after_s: float = _setting(
        600.0, "a connector Unavailable this long (without staff having made it so) counts as stuck: auto-recovery "
        "starts on a charger that has it on", "s")
    auto_recovery_trigger_wait_s: float = _setting(
        60.0, "auto-recovery: how long to wait for the charger to report its connector well after asking it for "
        "its status, before a soft reset", "s")
    auto_recovery_reset_wait_s: float = _setting(
        300.0, "auto-recovery: how long to wait for the connector to recover after a soft reset, before a hard "
        "reset (and after that, before giving up)", "s")
    auto_recovery_per_day: int = _setting(
        3, "auto-recovery runs one charger may have in 24 hours; beyond, its alarm says so and staff must act",
        "runs")
    # -- who may reach the appliance (SECURITY.md) --
    charger_networks: str = _setting(
        "", "networks chargers may connect from: NETWORK,... for every charger, ID=NETWORK for one charger (which "
        "then may use only its own), e.g. 10.20.0.0/16,SOAP7=10.20.3.17; empty: any address. The one check a SOAP "
        "charger without a password gets")
    charger_passwords_need_tls: bool = _setting(
        False, "refuse a charger that has a password unless it connects over TLS (security profile 2 only: no charger "
        "password crosses the network in clear). With tls every connection is TLS; behind a TLS-terminating reverse "
        "proxy, list it in trusted_proxies")
    trusted_proxies: str = _setting(
        "", "reverse proxies (addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto are believed: the "
        "client address for rate limits, audit and charger_networks, and whether the client used TLS; empty: none")
    login_attempts_per_min: int = _setting(
        10, "web UI login attempts one client address may make a minute; beyond, 429 (on top of the account "
        "lock-out); 0: no limit", "per minute")
    charger_auth_failures_per_min: int = _setting(
        5, "wrong passwords one charger id may give from one address a minute (an address: 5 times as many over all "
        "ids) before its connections are refused for a while (429); 0: no limit", "per minute")
    unknown_chargers_per_min: int = _setting(
        60, "charger ids nobody added that are recorded a minute, in all; more are refused for a while (429); "
        "0: no limit", "per minute")
    unknown_chargers_per_address_per_min: int = _setting(
        10, "charger ids nobody added that one client address may have recorded a minute; 0: no limit", "per minute")
    unknown_chargers_max: int = _setting(
        500, "most chargers waiting for a decision or rejected; beyond, an unknown id is refused without being "
        "recorded (403) until staff accept some of them; 0: no cap")
    charger_messages_per_s: float = _setting(
        20.0, "messages one OCPP-J charger's connection is read at, after a burst of charger_message_burst; "
        "beyond, its next frames are read later (TCP backpressure, no error); 0: no limit", "per second")
    charger_message_burst: int = _setting(
        500, "messages a charger may send at once before charger_messages_per_s applies (a queue replayed after an "
        "outage)")
    boot_work_slots: int = _setting(
        8, "chargers configured at once after they boot (offline behaviour, local list, a 2.0.1 station's device "
        "model); the others wait their turn, so that a depot booting at once does not delay the chargers' messages")
    # -- notifications and metrics (README: Notifications, Metrics); `appliance notify set` wins over these --
    notify_smtp: str = _setting("", "mail server for alarm e-mails: smtp://HOST[:PORT] (smtps://HOST[:PORT]: TLS from "
                                    "the start); empty: no e-mail")
    notify_smtp_security: str = _setting("starttls", "how the connection to the mail server is secured (plain: only "
                                                     "on a network you trust)", choices=("starttls", "tls", "plain"))
    notify_smtp_user: str = _setting("", "login at the mail server; empty: none")
    notify_smtp_password: str = _setting("", "password of notify_smtp_user (never logged, masked where shown)")
    notify_from: str = _setting("", "From address of alarm e-mails; empty: depot-appliance@ the box's host name")
    notify_to: str = _setting("", "who gets alarm e-mails: ADDRESS[;severity=LEVEL][;kinds=KIND+KIND],... (without "
                                  "them: warning and critical alarms of every kind)")
    notify_webhook: str = _setting("", "webhooks that get alarms as a JSON POST: URL[;severity=LEVEL][;kinds=KIND+KIND],"
                                       "... (README: Notifications, the JSON)")
    notify_batch_s: float = _setting(60.0, "alarms within this long of a recipient's first one go out as one message "
                                           "(a depot-wide outage: one message, not hundreds)", "s")
    notify_daily_summary_at: str = _setting("", "time of day (HH:MM, the depot's time zone) every recipient gets a "
                                                "summary of the last 24 hours' alarms; empty: none")
    notify_timeout_s: float = _setting(30.0, "how long a mail server or webhook has to take a message", "s")
    notify_retry_max_s: float = _setting(1800.0, "longest wait between two attempts to deliver a notification (the "
                                                 "wait doubles from 30 s up to this while a server is down)", "s")
    metrics: bool = _setting(False, "serve /metrics (Prometheus text format) to holders of the metrics token; off: 404")
    metrics_token: str = _setting("", "bearer token /metrics asks for; empty: the one 'appliance metrics token' made")

    @property
    def database_path(self) -> Path:
        return self.data_dir / "appliance.sqlite3"

    @property
    def backups_dir(self) -> Path:
        """Automatic backups: before a schema upgrade, before a restore."""
        return self.data_dir / "backups"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def server_state_path(self) -> Path:
        """Where a running server says how to reach it; the CLI's live commands read it."""
        return self.data_dir / "server.json"


# Settings that were renamed: old name -> new name.
RENAMED = {"temporarily_unavailable_after_s": "offline_after_s", "unavailable_after_s": "offline_long_term_after_s"}


def describe() -> list[tuple[str, str, Any, str, str]]:
    """(name, environment variable, default, unit, help) for every setting, for docs and --help."""
    return [
        (f.name, ENV_PREFIX + f.name.upper(), f.default, f.metadata["unit"], f.metadata["help"])
        for f in fields(Settings)
    ]


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Defaults < TOML file < environment < overrides (command-line flags); None means unset."""
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    values: dict[str, tuple[Any, str]] = {}
    env_values = _from_environ(environ)
    data_dir = overrides.get("data_dir") or env_values.get("data_dir") or default_data_dir()
    config_file = config_file or _env_path(environ, "CONFIG") or Path(data_dir) / CONFIG_FILE_NAME
    for name, value in _from_toml(config_file).items():
        values[name] = (value, f"{config_file}")
    for name, value in env_values.items():
        values[name] = (value, ENV_PREFIX + name.upper())
    for name, value in overrides.items():
        values[name] = (value, f"--{name.replace('_', '-')}")
    values.setdefault("data_dir", (default_data_dir(), "default"))
    for old_name, name in RENAMED.items():  # an old name still works unless the new one is given too
        if old_name in values:
            values.setdefault(name, values[old_name])
    return Settings(**{name: _coerce(name, value, source) for name, (value, source) in values.items()})


def parse_setting(name: str, value: Any, source: str) -> Any:
    """One setting's value checked and converted as if it came from `source` (a command that stores it)."""
    return _coerce(name, value, source)


def _env_path(environ: Mapping[str, str], name: str) -> Path | None:
    value = environ.get(ENV_PREFIX + name)
    return Path(value) if value else None


def _from_environ(environ: Mapping[str, str]) -> dict[str, str]:
    known = {f.name for f in fields(Settings)}
    found = {}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX):].lower()
            if name in known:
                found[name] = value
    return found


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, OSError) as e:
        raise SettingsError(f"config file {path}: {e}") from None
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return data


def _coerce(name: str, value: Any, source: str) -> Any:
    f = next((f for f in fields(Settings) if f.name == name), None)
    if f is None:
        raise SettingsError(f"unknown setting {name!r} (from {source})")
    kind = f.type if isinstance(f.type, type) else {"Path": Path, "str": str, "int": int,
                                                    "float": float, "bool": bool}[f.type]
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError("expected true or false")
            value = value.lower() in ("1", "true", "yes", "on")
        elif kind is Path:
            value = Path(value).expanduser()
        elif kind in (int, float) and isinstance(value, bool):
            raise ValueError("expected a number")
        else:
            value = kind(value)
    except (TypeError, ValueError) as e:
        raise SettingsError(f"setting {name} (from {source}): {value!r} is not a valid {kind.__name__}: {e}") from None
    choices = f.metadata["choices"]
    if choices and value not in choices:
        raise SettingsError(f"setting {name} (from {source}): {value!r} is not one of {', '.join(choices)}")
    if name == "timezone":
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"setting timezone (from {source}): {value!r} is not a known time zone, "
                                "e.g. Europe/Berlin or UTC") from None
    if name in ("rfid_id_form", "rfid_readers"):
        from appliance.rfid_reader.id_format import IdFormatError, parse_form

        forms = [value] if name == "rfid_id_form" else [i.partition("@")[2] for i in value.split(",") if "@" in i]
        try:
            for form in forms:
                parse_form(form)
        except IdFormatError as e:
            raise SettingsError(f"setting {name} (from {source}): {e}") from None
    if name == "public_url" and value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"setting public_url (from {source}): {value!r} is not an http:// or https:// URL "
                                "with a host")
    if name == "database_url" and value:
        from appliance.store.dialect import DatabaseUrlError, check_url

        try:
            check_url(value)
        except DatabaseUrlError as e:
            raise SettingsError(f"setting database_url (from {source}): {e}") from None
    if name in ("charger_networks", "trusted_proxies"):
        from appliance.core.networks import ChargerNetworks, parse_networks

        try:
            (ChargerNetworks.parse if name == "charger_networks" else parse_networks)(value)
        except ValueError as e:
            raise SettingsError(f"setting {name} (from {source}): {e}") from None
    if name.startswith("notify_") and value:
        from appliance.notify.settings import check_setting

        try:
            check_setting(name, value)
        except ValueError as e:
            raise SettingsError(f"setting {name} (from {source}): {e}") from None
    if name == "backups_keep" and value < 1:
        raise SettingsError(f"setting backups_keep (from {source}): at least 1 (the backup taken before an upgrade "
                            "is what a failed upgrade is undone with)")
    if name == "boot_work_slots" and value < 1:
        raise SettingsError(f"setting boot_work_slots (from {source}): at least 1")
    if kind in (int, float) and value < 0:
        raise SettingsError(f"setting {name} (from {source}): must not be negative")
    return value
