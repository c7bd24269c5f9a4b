"""The vendor's signature: ``X-Signature`` is the hex HMAC-SHA1 of the raw body keyed with the
shared secret. Checked over the raw bytes before anything parses them, in constant time (the
vendor's own example compares with ``==``, which leaks how much of a guess was right)."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    """What Qtickets puts in ``X-Signature`` for ``body``."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``body``'s signature (hex, either case, surrounding blanks ignored)."""
    if not header:
        return False
    given = header.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(sign(secret, body).encode(), given)
