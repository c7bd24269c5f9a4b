"""HTTP transport shared by the Qtickets API client and alert delivery: one retry policy
for their urllib3 pools.

Both talk to a server that may be briefly down or rate-limiting (429 with Retry-After),
so both retry the same way: connection errors, read errors and the statuses in
``RETRY_STATUSES``, with exponential back-off, never a loop of our own. What differs is
stated by the caller: the method, whether back-off is jittered, whether the last answer
after the retries is raised or handed back, and how long a Retry-After may make it wait.

This module sits at the top of the package, beside ``errors``, because the client must not
depend on Dagster (``defs/``) and delivery must not depend on Qtickets (``qtickets/``); it
is not called ``http`` so that no tool run from inside the package mistakes it for the
standard library's.
"""

from __future__ import annotations

from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)
# urllib3's own cap on a Retry-After (6 hours): a sync step may wait as long as the API asks.
NO_RETRY_AFTER_CAP = Retry.DEFAULT_RETRY_AFTER_MAX


def retry_policy(
    method: str,
    attempts: int,
    backoff_factor: float,
    *,
    jitter: bool = False,
    raise_on_status: bool = True,
    max_retry_after: int = NO_RETRY_AFTER_CAP,
    retry_class: type[Retry] = Retry,
) -> Retry:
    """Up to ``attempts`` retries of ``method`` on any transient failure, honouring Retry-After.

    ``raise_on_status=False`` hands back the last answer once the retries are spent (so the
    caller can report "HTTP 503"); ``True`` raises ``MaxRetryError``. ``retry_class`` is a
    ``Retry`` that sleeps differently (the Qtickets client's shared pause), never one that
    retries differently.
    """
    return retry_class(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_factor if jitter else 0.0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({method}),
        respect_retry_after_header=True,
        retry_after_max=max_retry_after,
        raise_on_status=raise_on_status,
    )
