"""CSRF protection: a synchronizer token bound to the session, checked on every POST.

Forms carry it in the `csrf_token` field and htmx requests in the `X-CSRF-Token`
header. A page from another site can make the browser send the session cookie, but it
cannot read the token, so its POST fails here.
"""

from __future__ import annotations

import hmac

FIELD = "csrf_token"
HEADER = "x-csrf-token"


def valid(expected: str, presented: str | None) -> bool:
    """True when `presented` is the session's token (compared in constant time).

    >>> valid("abc", "abc"), valid("abc", None), valid("abc", "abd")
    (True, False, False)
    """
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
