"""Settings from the environment, validated before anything is fetched.

Dagster resources read the same variables through ``EnvVar`` at run time; this module is
what the CLI (and the partitions definition) use to fail early with one clear message
that lists every bad value — and never echoes a secret.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from zakaz_pipeline.qtickets.client import DEFAULT_BASE_URL, DEFAULT_READ_TIMEOUT
from zakaz_pipeline.qtickets.rules import DEFAULT_TIMEZONE
from zakaz_pipeline.warehouse.connection import DEFAULT_DATABASE, WarehouseConfigError, parse_target

DEFAULT_HISTORY_START = "2021-01-01"
DEFAULT_ORG = "default"
LOCAL_STATE_DIR = Path(".zakaz")
MIN_PII_KEY_LENGTH = 16
# Positive numbers the definitions read when they load: checked with the settings, so a
# typo stops a command before it sends its first request rather than when Dagster loads.
DEFINITION_NUMBERS = (
    "ZAKAZ_ORDERS_WARN_HOURS", "ZAKAZ_ORDERS_ERROR_HOURS", "ZAKAZ_INVENTORY_WARN_HOURS", "ZAKAZ_VOLUME_MAX_DROP",
    "ZAKAZ_STEP_RETRY_DELAY", "ZAKAZ_LATE_CHANGES_INTERVAL",
)  # fmt: skip


class ConfigError(ValueError):
    """One or more settings are unusable; the message names each variable."""


def debug_enabled(env: Mapping[str, str] | None = None) -> bool:
    """``ZAKAZ_DEBUG=1`` (or ``zakaz --debug``, which sets it): tracebacks and Dagster's own
    console output on the terminal, instead of one plain line per failure."""
    return (os.environ if env is None else env).get("ZAKAZ_DEBUG", "").strip() == "1"


def default_clickhouse_url() -> str:
    return f"chdb://{(LOCAL_STATE_DIR / 'warehouse').resolve()}"


def env_value(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number setting (thresholds, timeouts): not a secret, so the bad value is shown."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value > 0:
        raise ConfigError(f"{name}={raw!r} must be above 0")
    return value


def timezone_from(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"ZAKAZ_TIMEZONE={name!r} is not a known IANA time zone (e.g. Europe/Moscow)") from None


def history_start_from(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"QTICKETS_HISTORY_START={value!r} is not a date (YYYY-MM-DD)") from None


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, need_secrets: bool = True) -> Settings:
        """Read and check every variable; raise ``ConfigError`` naming all problems."""
        env = os.environ if env is None else env
        problems: list[str] = []
        values = {
            "base_url": env_value(env, "QTICKETS_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
            "org": env_value(env, "ORG_NAME", DEFAULT_ORG),
            "clickhouse_url": env_value(env, "CLICKHOUSE_URL", default_clickhouse_url()),
            "clickhouse_database": env_value(env, "CLICKHOUSE_DATABASE", DEFAULT_DATABASE),
            "timezone": env_value(env, "ZAKAZ_TIMEZONE", DEFAULT_TIMEZONE),
            "token": env.get("QTICKETS_TOKEN", "").strip(),
            "pii_key": env.get("ZAKAZ_PII_KEY", "").strip(),
        }
        history_start = env_value(env, "QTICKETS_HISTORY_START", DEFAULT_HISTORY_START)
        checks = (
            lambda: _check_base_url(values["base_url"]),
            lambda: env_float(env, "QTICKETS_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
            lambda: parse_target(values["clickhouse_url"], values["clickhouse_database"]),
            lambda: timezone_from(values["timezone"]),
            lambda: history_start_from(history_start),
            *(functools.partial(env_float, env, name, 1.0) for name in DEFINITION_NUMBERS),
        )
        for check in checks:
            try:
                check()
            except (ConfigError, WarehouseConfigError) as exc:
                problems.append(str(exc))
        if need_secrets:
            problems += _secret_problems(values["token"], values["pii_key"])
        if problems:
            raise ConfigError("configuration problems:\n  - " + "\n  - ".join(problems))
        return cls(
            history_start=history_start_from(history_start),
            read_timeout=env_float(env, "QTICKETS_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
            **values,
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _check_base_url(url: str) -> None:
    if not url.startswith(("http://", "https://")) or len(url.split("/")) < 3 or not url.split("/")[2]:
        raise ConfigError(f"QTICKETS_BASE_URL={url!r} must be an http(s) URL such as {DEFAULT_BASE_URL}")


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
