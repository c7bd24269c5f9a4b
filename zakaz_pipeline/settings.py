"""The one reader of the environment: every setting of docs/CONFIGURATION.md's table,
validated together before anything is fetched, and handed to the CLI and the definitions.

``Settings.from_env`` reports every bad value at once, each naming its variable, and never
echoes a secret. Secrets are kept for the CLI's own requests (the preflight, the dry run),
but resources receive them as Dagster ``EnvVar`` references made here (``Settings.secret``),
so the UI and a run's config show the variable's name, never its value.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values, set_key

from zakaz_pipeline.qtickets.client import DEFAULT_BASE_URL, DEFAULT_READ_TIMEOUT
from zakaz_pipeline.qtickets.concurrency import DEFAULT_MAX_IN_FLIGHT
from zakaz_pipeline.qtickets.findings import STRATEGIES
from zakaz_pipeline.timezone import DEFAULT_TIMEZONE
from zakaz_pipeline.warehouse.connection import DEFAULT_DATABASE, WarehouseConfigError, parse_target
from zakaz_pipeline.warehouse.networks import ALLOW_WIDE_NETWORKS
from zakaz_pipeline.warehouse.server_access import (
    MIN_USER_PASSWORD_LENGTH,
    NETWORK_VARIABLES,
    PASSWORD_VARIABLES,
    TLS_CERT,
    TLS_KEY,
    ServerAccess,
)

DEFAULT_HISTORY_START = "2021-01-01"
DEFAULT_ORG = "default"
DEFAULT_CRON = "*/15 * * * *"
LOCAL_STATE_DIR = Path(".zakaz")
# Settings a person keeps in a file rather than in the shell: the current folder's ``.env``,
# as ``dagster dev`` and docker compose read it (``.env.example`` lists every variable).
DOTENV = Path(".env")
MIN_PII_KEY_LENGTH = 16
ALLOW_PLAIN_HTTP = "QTICKETS_ALLOW_PLAIN_HTTP"
MIN_WEBHOOK_SECRET_LENGTH = 16
DEFAULT_WEBHOOK_MAX_BYTES = 1024 * 1024
# The ranges numeric settings must fall in: wide enough for any sane use, narrow enough that
# no timeout, interval or age overflows what it feeds (datetime arithmetic, socket timeouts)
# and that a delivery of Qtickets' size (kilobytes) always fits.
MAX_TIMEOUT = 3600.0  # seconds: a read timeout, a retry delay
MAX_INTERVAL = 86_400  # seconds between sensor ticks
MAX_HOURS = 24.0 * 366  # hours: an age that warns or alerts
MAX_IN_FLIGHT = 64
MAX_BAD_SIGNATURES = 1_000_000
MIN_WEBHOOK_MAX_BYTES, MAX_WEBHOOK_MAX_BYTES = 1024, 64 * 1024 * 1024
MAX_RETENTION_DAYS = 3660
# Without an updated_at filter, late changes are found by reading the whole order list once this often.
DEFAULT_LATE_SCAN_HOURS = 6.0
# Values of these variables are removed from anything shown to people (an error line may
# quote them); so are the passwords in CLICKHOUSE_URL and CLICKHOUSE_ADMIN_URL.
SECRET_VARIABLES = (
    "QTICKETS_TOKEN", "ZAKAZ_PII_KEY", "TELEGRAM_BOT_TOKEN", "ALERT_WEBHOOK_URL", "QTICKETS_WEBHOOK_SECRET",
)  # fmt: skip
# Resources get these as ``EnvVar`` when read from the process: field → variable.
SECRETS = {
    "token": "QTICKETS_TOKEN", "pii_key": "ZAKAZ_PII_KEY", "clickhouse_url": "CLICKHOUSE_URL",
    "alert_webhook_url": "ALERT_WEBHOOK_URL", "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
}  # fmt: skip
# Each cron field's bounds and names: minute, hour, day of month, month, day of week.
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
CRON_FIELDS = (
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, MONTHS),
    (0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
# Without these a run cannot work at all: an ``EnvVar`` even when unset, so the run names it.
REQUIRED_SECRETS = ("QTICKETS_TOKEN", "ZAKAZ_PII_KEY")

T = TypeVar("T")


class ConfigError(ValueError):
    """One or more settings are unusable; the message names each variable."""


_from_dotenv: set[str] = set()


def load_dotenv(path: Path = DOTENV) -> frozenset[str]:
    """Put the variables of ``path`` (``KEY=value`` lines) into this process's environment,
    each unless it is already set there: an exported variable wins over the file. Returns
    the names it set. A missing file sets nothing; an empty value counts as unset (the
    setting's default), as everywhere else."""
    if not path.is_file():
        return frozenset()
    added = {name: value for name, value in dotenv_values(path).items() if value is not None and name not in os.environ}
    os.environ.update(added)
    _from_dotenv.update(added)
    return frozenset(added)


def set_in_environment(name: str) -> bool:
    """``name`` is set in the environment this process started with (not by ``load_dotenv``)."""
    return name in os.environ and name not in _from_dotenv


def write_dotenv(name: str, value: str, path: Path = DOTENV) -> None:
    """Set ``name=value`` in ``path``: its line replaced, or appended to a new file (readable
    by its owner alone: it holds the token), every other line kept as it was."""
    if not path.exists():
        path.touch(mode=0o600)
    set_key(path, name, value, quote_mode="never")
    os.environ[name] = value
    _from_dotenv.add(name)


def debug_enabled() -> bool:
    """``ZAKAZ_DEBUG=1`` (or ``zakaz --debug``, which sets it): tracebacks and Dagster's own
    console output on the terminal, instead of one plain line per failure. Read on its own:
    it must work while the other settings are the very thing that failed."""
    return os.environ.get("ZAKAZ_DEBUG", "").strip() == "1"


def process_secrets() -> tuple[str, ...]:
    """Every secret value of this process (also the admin URL's password), for the CLI's last-resort
    error line: it must not quote them even when the settings themselves could not be read."""
    values = [os.environ.get(name, "").strip() for name in SECRET_VARIABLES]
    values += [_url_password(os.environ.get(name, "")) for name in ("CLICKHOUSE_URL", "CLICKHOUSE_ADMIN_URL")]
    return tuple(value for value in values if value)


def simulator_faults() -> str | None:
    """``QTICKETS_SIMULATOR_FAULTS``, the default of ``zakaz simulator --faults``: read when the
    command line is parsed, before (and without) the pipeline's settings."""
    return os.environ.get("QTICKETS_SIMULATOR_FAULTS", "").strip() or None


def environment() -> Mapping[str, str]:
    """The raw variables, for the children ``zakaz demo --ui`` starts (the webserver and
    daemon read the settings themselves)."""
    return os.environ


def server_access(env: Mapping[str, str] | None = None) -> ServerAccess:
    """What only ``zakaz bootstrap`` needs (``warehouse/server_access.py``): each user's
    password, from ``<VAR>`` or the file ``<VAR>_FILE`` names (as Docker secrets give it),
    and network list as written, by variable; whether wide networks are allowed; the TLS
    pair's paths. Read here, like every setting; bootstrap checks what they mean."""
    read = _Reader(os.environ if env is None else env)
    passwords = {name: _password(read, name) for name in PASSWORD_VARIABLES}
    return ServerAccess(
        passwords=passwords,
        networks={name: read.text(name) for name in NETWORK_VARIABLES},
        allow_wide_networks=read.flag(ALLOW_WIDE_NETWORKS),
        tls_cert=read.text(TLS_CERT),
        tls_key=read.text(TLS_KEY),
        problems=tuple(read.problems),
    )


def _password(read: _Reader, name: str) -> str:
    value, path = read.text(name), read.text(f"{name}_FILE")
    if not value and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            read.problems.append(f"{name}_FILE cannot be read ({exc.strerror})")
            return ""
    if len(value) < MIN_USER_PASSWORD_LENGTH:
        read.problems.append(f"{name} (or {name}_FILE) must hold a password of {MIN_USER_PASSWORD_LENGTH}+ chars")
    return value


def default_clickhouse_url() -> str:
    return f"chdb://{(LOCAL_STATE_DIR / 'warehouse').resolve()}"


def timezone_from(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"ZAKAZ_TIMEZONE={name!r} is not a known IANA time zone (e.g. Europe/Moscow)") from None


class _Reader:
    """Reads variables, collecting every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str = "") -> str:
        return self.env.get(name, "").strip() or default

    def checked(self, name: str, default: str, parse: Callable[[str], T], fallback: T) -> T:
        try:
            return parse(self.text(name, default))
        except (ConfigError, WarehouseConfigError) as exc:
            self.problems.append(str(exc))
            return fallback

    def number(self, name: str, default: float, *, high: float, unit: str) -> float:
        """A positive, finite number up to ``high`` (a timeout, a threshold in hours): not a
        secret, so the bad value is shown. ``high`` keeps it within what the code can honour
        (a datetime or a socket timeout of 1e300 seconds overflows at run time)."""

        def parse(raw: str) -> float:
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a number") from None
            if not (math.isfinite(value) and 0 < value <= high):
                raise ConfigError(f"{name}={raw!r} must be a number above 0 and at most {high:g} ({unit})")
            return value

        return self.checked(name, str(default), parse, default)

    def whole(self, name: str, default: int, *, low: int = 1, high: int, unit: str) -> int:
        """A whole number from ``low`` to ``high`` (a count, bytes, seconds of an interval):
        a fraction is refused rather than truncated (0.5 bytes is not 0 bytes)."""

        def parse(raw: str) -> int:
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a number") from None
            if not (value.is_integer() and low <= value <= high):
                raise ConfigError(f"{name}={raw!r} must be a whole number of {unit} from {low} to {high}")
            return int(value)

        return self.checked(name, str(default), parse, default)

    def flag(self, name: str) -> bool:
        """An opt-in: ``1`` is on, unset or empty is off, anything else is a mistake."""
        raw = self.text(name)
        if raw not in ("", "0", "1"):
            self.problems.append(f"{name}={raw!r} must be 1 (on) or 0 (off)")
        return raw == "1"


@dataclass(frozen=True)
class Settings:
    base_url: str
    org: str
    clickhouse_url: str = field(repr=False)
    clickhouse_database: str
    timezone: str
    history_start: dt.date
    token: str = field(repr=False)
    pii_key: str = field(repr=False)
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    orders_strategy: str = "auto"
    late_scan_hours: float = DEFAULT_LATE_SCAN_HOURS
    clickhouse_cluster: str = ""
    clickhouse_admin_url: str = field(default="", repr=False)
    allow_wide_networks: bool = False
    step_retry_delay: float = 10.0
    schedule_running: bool = False
    schedule_cron: str = DEFAULT_CRON
    late_changes_interval: int = 300
    orders_warn_hours: float = 2.0
    orders_error_hours: float = 48.0
    inventory_warn_hours: float = 2.0
    volume_max_drop: float = 0.5
    alert_webhook_url: str = field(default="", repr=False)
    telegram_bot_token: str = field(default="", repr=False)
    telegram_chat_id: str = ""
    telegram_api_url: str = ""
    simulator_faults: str = ""
    webhook_secret: str = field(default="", repr=False)
    webhook_queue: Path = LOCAL_STATE_DIR / "webhooks.sqlite"
    webhook_max_bytes: int = DEFAULT_WEBHOOK_MAX_BYTES
    webhook_retention_days: int = 7
    webhooks_interval: int = 20
    webhook_silence_hours: float = 2.0
    webhook_bad_signatures: int = 10
    # Read from this process's variables (then resources get ``EnvVar``s), and which secrets were set.
    from_process: bool = field(default=False, repr=False, compare=False)
    set_names: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, need_secrets: bool = True) -> Settings:
        """Read and check every variable (``env``: a test's mapping instead of the process's);
        raise ``ConfigError`` naming all problems."""
        source = os.environ if env is None else env
        read = _Reader(source)
        values = _connection_values(read) | _definition_values(read) | _alert_values(read) | _webhook_values(read)
        if need_secrets:
            read.problems += _secret_problems(values["token"], values["pii_key"])
        if read.problems:
            raise ConfigError("configuration problems:\n  - " + "\n  - ".join(read.problems))
        names = frozenset(name for name in SECRETS.values() if source.get(name, "").strip())
        return cls(**values, from_process=env is None, set_names=names)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def embedded(self) -> bool:
        """The warehouse is embedded chDB (one process at a time may open its data path)."""
        return self.clickhouse_url.startswith("chdb://")

    @property
    def webhooks_configured(self) -> bool:
        """``QTICKETS_WEBHOOK_SECRET`` is set: the receiver can run and the webhook sensor has work."""
        return bool(self.webhook_secret)

    def require_webhook_secret(self) -> str:
        """The receiver's secret; ``ConfigError`` naming the variable when it is not set."""
        if not self.webhook_secret:
            raise ConfigError(
                "QTICKETS_WEBHOOK_SECRET is not set: set it to the secret registered with the webhook URL in the "
                f"Qtickets seller cabinet (at least {MIN_WEBHOOK_SECRET_LENGTH} characters)"
            )
        return self.webhook_secret

    @property
    def alerts_configured(self) -> bool:
        return bool(self.alert_webhook_url or self.telegram_bot_token)

    def secret_variable(self, name: str) -> str | None:
        """The variable a resource reads the secret field ``name`` from at run time (Dagster's
        ``EnvVar``, ``defs/resources.py``) when these settings came from the process and it is
        set or required; None when the resource gets the value itself (a test's settings, a
        default such as the local warehouse's path)."""
        variable = SECRETS[name]
        if self.from_process and (variable in self.set_names or variable in REQUIRED_SECRETS):
            return variable
        return None

    def secret_values(self) -> tuple[str, ...]:
        """Secret values an error line must never quote, including the warehouse passwords."""
        values = (
            self.token, self.pii_key, self.alert_webhook_url, self.telegram_bot_token, self.webhook_secret,
            _url_password(self.clickhouse_url), _url_password(self.clickhouse_admin_url),
        )  # fmt: skip
        return tuple(value for value in values if value)


def _connection_values(read: _Reader) -> dict[str, Any]:
    database = read.text("CLICKHOUSE_DATABASE", DEFAULT_DATABASE)
    url = read.text("CLICKHOUSE_URL", default_clickhouse_url())
    read.checked("CLICKHOUSE_URL", url, lambda value: parse_target(value, database), None)
    return {
        "base_url": read.checked(
            "QTICKETS_BASE_URL",
            DEFAULT_BASE_URL,
            lambda url: _base_url(url, read.flag(ALLOW_PLAIN_HTTP)),
            DEFAULT_BASE_URL,
        ),
        "token": read.text("QTICKETS_TOKEN"),
        "read_timeout": read.number("QTICKETS_READ_TIMEOUT", DEFAULT_READ_TIMEOUT, high=MAX_TIMEOUT, unit="seconds"),
        "max_in_flight": read.whole(
            "QTICKETS_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT, high=MAX_IN_FLIGHT, unit="requests (e.g. 4)"
        ),
        "orders_strategy": read.checked("QTICKETS_ORDERS_STRATEGY", "auto", _orders_strategy, "auto"),
        "simulator_faults": read.text("QTICKETS_SIMULATOR_FAULTS"),
        "org": read.text("ORG_NAME", DEFAULT_ORG),
        "clickhouse_url": url,
        "clickhouse_database": database,
        "clickhouse_cluster": read.text("CLICKHOUSE_CLUSTER"),
        "clickhouse_admin_url": read.text("CLICKHOUSE_ADMIN_URL"),
        "allow_wide_networks": read.flag(ALLOW_WIDE_NETWORKS),
        "pii_key": read.text("ZAKAZ_PII_KEY"),
    }


def _definition_values(read: _Reader) -> dict[str, Any]:
    timezone = read.checked("ZAKAZ_TIMEZONE", DEFAULT_TIMEZONE, lambda name: timezone_from(name).key, DEFAULT_TIMEZONE)
    start = read.checked("QTICKETS_HISTORY_START", DEFAULT_HISTORY_START, _history_start, dt.date(2021, 1, 1))
    return {
        "timezone": timezone,
        "history_start": start,
        "step_retry_delay": read.number("ZAKAZ_STEP_RETRY_DELAY", 10.0, high=MAX_TIMEOUT, unit="seconds"),
        "schedule_running": read.text("ZAKAZ_SCHEDULE_RUNNING") == "1",
        "schedule_cron": read.checked("ZAKAZ_SCHEDULE_CRON", DEFAULT_CRON, _cron, DEFAULT_CRON),
        "late_changes_interval": read.whole("ZAKAZ_LATE_CHANGES_INTERVAL", 300, high=MAX_INTERVAL, unit="seconds"),
        "late_scan_hours": read.number("ZAKAZ_LATE_SCAN_HOURS", DEFAULT_LATE_SCAN_HOURS, high=MAX_HOURS, unit="hours"),
        "orders_warn_hours": read.number("ZAKAZ_ORDERS_WARN_HOURS", 2.0, high=MAX_HOURS, unit="hours"),
        "orders_error_hours": read.number("ZAKAZ_ORDERS_ERROR_HOURS", 48.0, high=MAX_HOURS, unit="hours"),
        "inventory_warn_hours": read.number("ZAKAZ_INVENTORY_WARN_HOURS", 2.0, high=MAX_HOURS, unit="hours"),
        "volume_max_drop": read.number("ZAKAZ_VOLUME_MAX_DROP", 0.5, high=1, unit="a share: 0.5 is half"),
        "webhook_silence_hours": read.number("ZAKAZ_WEBHOOK_SILENCE_HOURS", 2.0, high=MAX_HOURS, unit="hours"),
        "webhook_bad_signatures": read.whole(
            "ZAKAZ_WEBHOOK_BAD_SIGNATURES", 10, high=MAX_BAD_SIGNATURES, unit="deliveries an hour"
        ),
    }


def _alert_values(read: _Reader) -> dict[str, Any]:
    """Destinations are checked by ``Notifier`` when an alert is sent (a half-configured
    Telegram fails the alert sensor's tick, not every command)."""
    return {
        "alert_webhook_url": read.text("ALERT_WEBHOOK_URL"),
        "telegram_bot_token": read.text("TELEGRAM_BOT_TOKEN"),
        "telegram_chat_id": read.text("TELEGRAM_CHAT_ID"),
        "telegram_api_url": read.text("TELEGRAM_API_URL"),
    }


def _webhook_values(read: _Reader) -> dict[str, Any]:
    """The receiver's secret is checked whenever it is set (a short one is refused everywhere);
    that it is set at all only ``zakaz webhooks`` requires (``Settings.require_webhook_secret``)."""
    secret = read.text("QTICKETS_WEBHOOK_SECRET")
    if secret and len(secret) < MIN_WEBHOOK_SECRET_LENGTH:
        read.problems.append(
            f"QTICKETS_WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET_LENGTH} characters (it signs Qtickets' "
            "deliveries; register the same secret in the seller cabinet)"
        )
    return {
        "webhook_secret": secret,
        "webhook_queue": Path(read.text("ZAKAZ_WEBHOOK_QUEUE", str(LOCAL_STATE_DIR / "webhooks.sqlite"))).resolve(),
        "webhook_max_bytes": read.whole(
            "ZAKAZ_WEBHOOK_MAX_BYTES",
            DEFAULT_WEBHOOK_MAX_BYTES,
            low=MIN_WEBHOOK_MAX_BYTES,
            high=MAX_WEBHOOK_MAX_BYTES,
            unit="bytes",
        ),
        "webhook_retention_days": read.whole("ZAKAZ_WEBHOOK_RETENTION_DAYS", 7, high=MAX_RETENTION_DAYS, unit="days"),
        "webhooks_interval": read.whole("ZAKAZ_WEBHOOKS_INTERVAL", 20, high=MAX_INTERVAL, unit="seconds"),
    }


def _history_start(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"QTICKETS_HISTORY_START={value!r} is not a date (YYYY-MM-DD)") from None


def _orders_strategy(value: str) -> str:
    if value not in STRATEGIES:
        raise ConfigError(
            f"QTICKETS_ORDERS_STRATEGY={value!r} must be one of {', '.join(STRATEGIES)} "
            "(auto: as `zakaz probe` found the API to behave)"
        )
    return value


def _cron(value: str) -> str:
    """A five-field cron string (``*/15 * * * *``), each field a ``*``, numbers or names within
    its bounds, ranges, lists and steps: checked here, without loading Dagster, so a bad one
    names its variable at once instead of failing when the code loads."""
    fields = value.split()
    if len(fields) != len(CRON_FIELDS) or not all(map(_cron_field, fields, CRON_FIELDS)):
        raise ConfigError(f"ZAKAZ_SCHEDULE_CRON={value!r} is not a cron string (e.g. {DEFAULT_CRON!r})")
    return value


def _cron_field(field: str, bounds: tuple[int, int, tuple[str, ...]]) -> bool:
    low, high, names = bounds
    for part in field.split(","):
        span, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if span == "*":
            continue
        ends = span.split("-")
        values = [names.index(end.upper()) + low if end.upper() in names else end for end in ends]
        if len(ends) > 2 or not all(str(v).isdigit() and low <= int(v) <= high for v in values):
            return False
    return True


def _base_url(url: str, plain_http_allowed: bool) -> str:
    """An http(s) URL; plain http only to this machine (the simulator, the demo) or when
    ``QTICKETS_ALLOW_PLAIN_HTTP=1`` says so: every request carries the API token."""
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url.split("/")) < 3 or not url.split("/")[2]:
        raise ConfigError(f"QTICKETS_BASE_URL={url!r} must be an http(s) URL such as {DEFAULT_BASE_URL}")
    if url.startswith("http://") and not plain_http_allowed and not _is_loopback(urlsplit(url).hostname or ""):
        raise ConfigError(
            f"QTICKETS_BASE_URL={url!r} is plain http: the API token would travel in clear text; use https "
            f"(e.g. {DEFAULT_BASE_URL}), or set {ALLOW_PLAIN_HTTP}=1 if the network in between is trusted"
        )
    return url


def _is_loopback(host: str) -> bool:
    """``localhost`` or an address of 127.0.0.0/8 or ::1 (also as ``::ffff:127.x.y.z``)."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def _secret_problems(token: str, pii_key: str) -> list[str]:
    problems = []
    if not token:
        problems.append("QTICKETS_TOKEN is not set: set it to the seller's Qtickets API token")
    if len(pii_key) < MIN_PII_KEY_LENGTH:
        problems.append(
            f"ZAKAZ_PII_KEY must be a secret of at least {MIN_PII_KEY_LENGTH} characters "
            "(it keys the buyer hash; keep it stable, or repeat buyers stop matching)"
        )
    return problems
