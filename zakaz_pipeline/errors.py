"""Error text for people: one line, without secrets.

An alert, a cell of ``meta_job_runs``, a check's note and a CLI message all show an error
to a person, and none has room for a traceback or a many-line ClickHouse error; any of
them may quote a URL with a password or a token. They all take the line from here. No
Dagster, Qtickets or warehouse import: every layer may use this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

MAX_LINE = 300
REDACTED = "***"
# Dagster wraps the asset's exception in ``DagsterExecution*Error``, and after step retries
# reports "Exceeded max_retries" (``RetryRequestedFromPolicy``): the cause is what to show.
ROOT_ERROR_WRAPPERS = ("DagsterExecution", "RetryRequested")


class ErrorInfo(Protocol):
    """The parts of Dagster's serialized step error (``SerializableErrorInfo``) read here."""

    @property
    def message(self) -> str: ...
    @property
    def cls_name(self) -> str | None: ...
    @property
    def cause(self) -> ErrorInfo | None: ...


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def first_line(text: str | None, secrets: Iterable[str] = ()) -> str:
    """The first non-empty line, without secrets, at most ``MAX_LINE`` characters."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    line = redact(lines[0], secrets) if lines else ""
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def exception_line(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """An exception's first line, or its class name when it has no message."""
    return first_line(str(exc), secrets) or type(exc).__name__


def root_error(error: ErrorInfo) -> ErrorInfo:
    """The error under Dagster's wrappers (see ``ROOT_ERROR_WRAPPERS``)."""
    while error.cause is not None and (error.cls_name or "").startswith(ROOT_ERROR_WRAPPERS):
        error = error.cause
    return error
