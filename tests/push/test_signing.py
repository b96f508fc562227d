"""Conveyor-Signature: HMAC-SHA256 over "t.body", verified in constant time."""

from __future__ import annotations

import doctest

import conveyor.push.signing
from conveyor import verify_signature
from conveyor.push.signing import sign

BODY = b'{"to": "ada"}'
NOW = 1_700_000_000


def test_doctests() -> None:
    assert doctest.testmod(conveyor.push.signing).failed == 0


def test_a_good_signature_is_accepted() -> None:
    header = sign(["s3cret"], BODY, timestamp=NOW)
    assert verify_signature("s3cret", header, BODY, now=NOW + 10)


def test_a_bad_signature_is_rejected() -> None:
    header = sign(["s3cret"], BODY, timestamp=NOW)
    assert not verify_signature("other", header, BODY, now=NOW)
    assert not verify_signature("s3cret", header, BODY + b" ", now=NOW)
    tampered = header[:-1] + ("0" if header[-1] != "0" else "1")
    assert not verify_signature("s3cret", tampered, BODY, now=NOW)


def test_a_stale_or_future_timestamp_is_rejected() -> None:
    header = sign(["s3cret"], BODY, timestamp=NOW)
    assert verify_signature("s3cret", header, BODY, tolerance=300, now=NOW + 300)
    assert not verify_signature("s3cret", header, BODY, tolerance=300, now=NOW + 301)
    assert not verify_signature("s3cret", header, BODY, tolerance=300, now=NOW - 301)


def test_a_forged_timestamp_breaks_the_signature() -> None:
    header = sign(["s3cret"], BODY, timestamp=NOW)
    forged = header.replace(f"t={NOW}", f"t={NOW + 1000}")
    assert not verify_signature("s3cret", forged, BODY, now=NOW + 1000)


def test_during_rotation_either_secret_verifies() -> None:
    header = sign(["new", "old"], BODY, timestamp=NOW)
    assert header.count("v1=") == 2
    assert verify_signature("new", header, BODY, now=NOW)
    assert verify_signature("old", header, BODY, now=NOW)
    assert verify_signature(["unrelated", "old"], header, BODY, now=NOW)
    assert not verify_signature("neither", header, BODY, now=NOW)


def test_missing_or_malformed_headers_are_rejected() -> None:
    for header in (None, "", "garbage", "t=abc,v1=00", f"t={NOW}", "v1=abcdef"):
        assert not verify_signature("s3cret", header, BODY, now=NOW)


def test_a_str_body_verifies_as_its_utf8_bytes() -> None:
    header = sign(["s3cret"], "ü".encode(), timestamp=NOW)
    assert verify_signature("s3cret", header, "ü", now=NOW)
