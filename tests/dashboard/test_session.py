"""Session cookies: signed, expiring, and never holding the token."""

from __future__ import annotations

import base64

from conveyor.dashboard.auth.session import Session, SessionCodec
from conveyor.dashboard.auth.viewer import Gatekeeper

SECRET = b"s" * 32


def test_a_session_survives_the_round_trip() -> None:
    codec = SessionCodec(SECRET)
    session = Session.new(codec.fingerprint("tok"), now=1000.0)

    assert codec.decode(codec.encode(session), now=1001.0) == session


def test_an_expired_session_is_refused() -> None:
    codec = SessionCodec(SECRET)
    session = Session.new(now=1000.0)

    assert codec.decode(codec.encode(session), now=session.expires) is None


def test_a_cookie_signed_with_another_secret_or_altered_is_refused() -> None:
    session = Session.new(now=1000.0)
    value = SessionCodec(b"other" * 8).encode(session)
    mine = SessionCodec(SECRET).encode(session)

    assert SessionCodec(SECRET).decode(value, now=1001.0) is None
    assert SessionCodec(SECRET).decode(mine[:-2] + "AA", now=1001.0) is None
    assert SessionCodec(SECRET).decode("garbage", now=1001.0) is None
    assert SessionCodec(SECRET).decode("", now=1001.0) is None


def test_the_cookie_never_contains_the_token() -> None:
    codec = SessionCodec(SECRET)
    value = codec.encode(Session.new(codec.fingerprint("super-secret-token")))

    assert "super-secret-token" not in value
    body = value.partition(".")[0]
    assert (
        "super-secret-token" not in base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    )


def test_removing_a_token_ends_its_sessions() -> None:
    codec = SessionCodec(SECRET)
    cookie = codec.encode(Session.new(codec.fingerprint("old")))

    before = Gatekeeper(codec, {"old": frozenset({"admin"})}).viewer(cookie)
    after = Gatekeeper(codec, {"new": frozenset({"admin"})}).viewer(cookie)

    assert before.can_act and not before.fresh
    assert not after.can_read and after.fresh
