"""The defensive readers every adapter shares: platform times in all the forms they arrive in."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

import pytest

from papo.adapters.parsing import first_time, hmac_hex, to_datetime

AT = datetime(2026, 1, 1, 12, 2, 3, tzinfo=UTC)


@pytest.mark.parametrize("value", [
    "1767268923",  # WhatsApp: epoch seconds as a string
    1767268923,  # Messenger/Instagram entry time in seconds
    1767268923000,  # Messenger message timestamps in milliseconds
    "1767268923000",
    1767268923.0,
    "2026-01-01T12:02:03+00:00",  # YouTube/Atom: ISO 8601
    "2026-01-01T09:02:03-03:00",  # an offset is honoured
    "2026-01-01T12:02:03",  # no offset: read as UTC
])
def test_every_documented_time_form_reads_as_the_same_instant(value: object) -> None:
    parsed = to_datetime(value)
    assert parsed == AT
    assert parsed is not None and parsed.tzinfo is UTC


@pytest.mark.parametrize("value", [
    None, True, False, "", "soon", "-5", -5, float("nan"), "²", 10**400, "9" * 400, [], {},
])
def test_what_is_not_a_time_reads_as_none_without_raising(value: object) -> None:
    assert to_datetime(value) is None


def test_first_time_takes_the_first_readable_value_else_now() -> None:
    assert first_time(None, "bad", "1767268923") == AT
    before = datetime.now(UTC)
    assert before <= first_time(None, 10**400) <= datetime.now(UTC)


@pytest.mark.parametrize("secret", ["s", "bench-app-secret", "k" * 64, "x" * 65, "çõ-ünïcode-" * 12])
@pytest.mark.parametrize("algorithm", ["sha256", "sha1"])
def test_hmac_hex_is_rfc_2104_hmac_for_every_key_length(secret: str, algorithm: str) -> None:
    for message in (b"", b"{}", b"a" * 1000):
        expected = hmac.new(secret.encode(), message, algorithm).hexdigest()
        assert hmac_hex(secret, message, algorithm) == expected
        assert hmac_hex(secret, message, algorithm) == expected  # the cached key states are not consumed
