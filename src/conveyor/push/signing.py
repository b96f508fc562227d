"""Signing push requests, and verifying them on the receiving side.

    Conveyor-Signature: t=1732412345,v1=5257a869...,v1=9f86d081...

`v1` is the hex HMAC-SHA256 of `"{t}.{body}"` under a queue secret. During a rotation
the request carries one `v1` per secret (current first), so a receiver that still holds
the previous secret, or already holds the new one, verifies it. The timestamp is signed
too, so a captured request cannot be replayed once it is older than the tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

HEADER = "Conveyor-Signature"
DEFAULT_TOLERANCE = 300


def sign(secrets: Sequence[str], body: bytes, timestamp: int | None = None) -> str:
    """The header value signing `body` with each secret.

    >>> sign(["k"], b"{}", timestamp=1).startswith("t=1,v1=")
    True
    >>> sign(["new", "old"], b"{}", timestamp=1).count("v1=")
    2
    """
    t = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={t}", *(f"v1={_digest(s, t, body)}" for s in secrets)])


def verify_signature(
    secret: str | Sequence[str],
    header: str | None,
    body: bytes | str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when `header` (the Conveyor-Signature value) signs `body` with `secret` (or
    any of a list of secrets) and its timestamp is within `tolerance` seconds of now.

    Compare in constant time; pass the raw body bytes exactly as received.

    >>> body = b'{"to": "ada"}'
    >>> verify_signature("s3cret", sign(["s3cret"], body), body)
    True
    >>> verify_signature("other", sign(["s3cret"], body), body)
    False
    """
    if not header:
        return False
    raw = body.encode() if isinstance(body, str) else body
    timestamp, signatures = _parse(header)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    keys = [secret] if isinstance(secret, str) else list(secret)
    expected = [_digest(k, timestamp, raw) for k in keys if k]
    # Every comparison runs, so the time taken says nothing about which one matched.
    matched = False
    for want in expected:
        for got in signatures:
            matched |= hmac.compare_digest(want, got)
    return matched


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _parse(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    return timestamp, signatures
