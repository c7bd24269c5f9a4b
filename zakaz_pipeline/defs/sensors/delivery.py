"""Alerts to people: a generic JSON webhook and/or a Telegram chat, configured from the environment.

Nothing here knows Dagster; ``alerts`` decides *when* to alert, this module only
delivers. Retries are urllib3's (connection errors, 429 honouring Retry-After up to
``MAX_RETRY_AFTER``, 5xx; the policy is ``transport.retry_policy``, shared with the
Qtickets client), with a (connect, read) timeout on every POST, never a loop of our own.

Secrets: the Telegram bot token sits in the request path and a webhook URL often carries a
token too (Slack, Mattermost…). Neither may reach a log or an error message, so:

* delivery errors are reported by destination *name* (``ALERT_WEBHOOK_URL``,
  ``TELEGRAM_BOT_TOKEN``) with the HTTP status or exception class, never with the URL or
  the text of a urllib3 exception (which quotes the URL);
* urllib3 logs the request path at DEBUG and, on a retry, at WARNING: a logging filter on
  urllib3's loggers replaces every configured secret with ``***`` before any handler sees it
  (the webhook's path and query count as secret on their own, since urllib3 logs no host).

``send`` tries every destination and returns a :class:`DeliveryReport` instead of raising,
so that the caller decides what a partial failure means (the sensors treat an alert that
reached at least one destination as delivered, because sending it again would duplicate it
there; see ``alerts``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self, get_args
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError, ResponseError

from zakaz_pipeline.errors import redact
from zakaz_pipeline.settings import Settings
from zakaz_pipeline.transport import retry_policy

log = logging.getLogger(__name__)

AlertKind = Literal["run_failure", "check_failure", "failure_rate", "webhook_bad_signatures", "webhook_silence"]
ALERT_KINDS: frozenset[str] = frozenset(get_args(AlertKind))

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
WEBHOOK = "ALERT_WEBHOOK_URL"
TELEGRAM = "TELEGRAM_BOT_TOKEN"
# A sensor tick has a deadline: a Retry-After longer than this is shortened to it.
MAX_RETRY_AFTER = 30
# Telegram refuses messages over 4096 characters.
TELEGRAM_MAX_TEXT = 4000
# Every urllib3 logger that formats a URL or request path into its messages.
URLLIB3_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
)

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True)
class Alert:
    """One message about one incident; ``details`` are plain JSON values for machines."""

    kind: AlertKind
    title: str
    text: str
    details: Mapping[str, JsonValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}: expected one of {sorted(ALERT_KINDS)}")

    def as_json(self) -> dict[str, Any]:
        """The webhook body."""
        return {"kind": self.kind, "title": self.title, "text": self.text, "details": dict(self.details)}

    def as_message(self) -> str:
        """Plain text for a chat (no Markdown: a run id or an error line would need escaping)."""
        lines = [self.title, "", self.text]
        if self.details:
            lines.append("")
            lines.extend(f"{key}: {value}" for key, value in self.details.items())
        message = "\n".join(lines)
        return message if len(message) <= TELEGRAM_MAX_TEXT else message[: TELEGRAM_MAX_TEXT - 1] + "…"


@dataclass(frozen=True)
class DeliveryReport:
    """Which destinations accepted an alert, and why the others did not (secret-free reasons)."""

    delivered: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every configured destination accepted the alert."""
        return not self.failed

    @property
    def reached_anyone(self) -> bool:
        return bool(self.delivered)

    def describe_failures(self) -> str:
        return "; ".join(f"{name}: {reason}" for name, reason in self.failed.items())


class AlertDeliveryError(RuntimeError):
    """An alert reached no destination; the message names destinations, never their secrets."""


class _RedactSecrets(logging.Filter):
    """Rewrites urllib3 log records that would print a secret (the bot token is in the path)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = redact(message, sorted(self.secrets, key=len, reverse=True))
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_redact_filter = _RedactSecrets()


def _protect_in_logs(secrets: Iterable[str]) -> None:
    """Register secrets with the filter; the filter is attached once to each urllib3 logger."""
    _redact_filter.secrets.update(secret for secret in secrets if secret)
    for name in URLLIB3_LOGGERS:
        logger = logging.getLogger(name)
        if _redact_filter not in logger.filters:
            logger.addFilter(_redact_filter)


@dataclass
class Notifier:
    """Delivers alerts to every configured destination; usable as a context manager."""

    webhook_url: str = field(default="", repr=False)
    telegram_token: str = field(default="", repr=False)
    telegram_chat_id: str = ""
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_retries: int = 3
    backoff_factor: float = 0.5
    pool: urllib3.PoolManager = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.webhook_url = self.webhook_url.strip()
        self.telegram_token = self.telegram_token.strip()
        self.telegram_chat_id = self.telegram_chat_id.strip()
        self.telegram_api_url = (self.telegram_api_url.strip() or DEFAULT_TELEGRAM_API_URL).rstrip("/")
        if bool(self.telegram_token) != bool(self.telegram_chat_id):
            raise ValueError("Telegram alerts need both TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID (one of them is empty)")
        _protect_in_logs(self._secrets)
        self.pool = _build_pool(self.max_retries, self.backoff_factor)

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> Self:
        """The destinations of ``settings`` (``ALERT_WEBHOOK_URL``, ``TELEGRAM_BOT_TOKEN``,
        ``TELEGRAM_CHAT_ID``, ``TELEGRAM_API_URL``); ``options`` set timeouts and retries."""
        return cls(
            webhook_url=settings.alert_webhook_url,
            telegram_token=settings.telegram_bot_token,
            telegram_chat_id=settings.telegram_chat_id,
            telegram_api_url=settings.telegram_api_url,
            **options,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: Any) -> Self:
        """``from_settings`` of the process's variables (or of ``env``)."""
        return cls.from_settings(Settings.from_env(env, need_secrets=False), **options)

    @property
    def configured(self) -> bool:
        return bool(self.destinations)

    @property
    def destinations(self) -> tuple[str, ...]:
        """Names of the configured destinations (the variables that enable them)."""
        names = []
        if self.webhook_url:
            names.append(WEBHOOK)
        if self.telegram_token:
            names.append(TELEGRAM)
        return tuple(names)

    @property
    def _secrets(self) -> tuple[str, ...]:
        return tuple(
            secret for secret in (self.telegram_token, self.webhook_url, _webhook_path(self.webhook_url)) if secret
        )

    def close(self) -> None:
        self.pool.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, alert: Alert) -> DeliveryReport:
        """Try every destination, even after one fails, and report what happened.

        Failures are logged at WARNING by destination name; nothing raised or logged here
        contains the bot token or the webhook URL.
        """
        delivered: list[str] = []
        failed: dict[str, str] = {}
        for name in self.destinations:
            reason = self._deliver(name, alert)
            if reason is None:
                delivered.append(name)
            else:
                failed[name] = reason
                log.warning("alert %r not delivered to %s: %s", alert.title, name, reason)
        return DeliveryReport(delivered=tuple(delivered), failed=failed)

    def _deliver(self, name: str, alert: Alert) -> str | None:
        """POST the alert to one destination; ``None`` when accepted, else a secret-free reason."""
        if name == WEBHOOK:
            url, body = self.webhook_url, alert.as_json()
        else:
            url = f"{self.telegram_api_url}/bot{self.telegram_token}/sendMessage"
            body = {"chat_id": self.telegram_chat_id, "text": redact(alert.as_message(), self._secrets)}
        timeout = urllib3.Timeout(connect=self.connect_timeout, read=self.read_timeout)
        try:
            response = self.pool.request("POST", url, json=body, timeout=timeout)
        except MaxRetryError as exc:
            if isinstance(exc.reason, ResponseError):
                return f"gave up after {self.max_retries} retries"
            # str(exc) quotes the URL (with the token): only the class name is safe.
            return f"{type(exc.reason).__name__}: the destination could not be reached"
        except HTTPError as exc:
            return f"{type(exc).__name__}: the destination could not be reached"
        if 200 <= response.status < 300:
            return None
        return redact(f"HTTP {response.status}: {_error_text(response)}", self._secrets)


def _webhook_path(url: str) -> str:
    """The path and query of a webhook URL as urllib3 logs them ("" for a bare host)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path if len(path) > 1 else ""


def _build_pool(max_retries: int, backoff_factor: float) -> urllib3.PoolManager:
    # Hand back the last answer (raise_on_status=False), so the report says "HTTP 503" rather than "gave up".
    retry = retry_policy("POST", max_retries, backoff_factor, raise_on_status=False, max_retry_after=MAX_RETRY_AFTER)
    return urllib3.PoolManager(retries=retry, headers={"User-Agent": "zakaz-pipeline-alerts"})


def _error_text(response: urllib3.BaseHTTPResponse) -> str:
    """Telegram explains a refusal in ``description`` ("chat not found"); others get the reason phrase."""
    try:
        body = json.loads(response.data)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("description"):
        return str(body["description"])[:200]
    return response.reason or "no details"
