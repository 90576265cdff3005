"""Malformed top levels raise PayloadError; odd-but-valid bodies are logged and skipped."""

from __future__ import annotations

import json
import logging

import pytest

from papo.adapters.adapter_registry import get_adapter
from papo.adapters.errors import PayloadError
from papo.adapters.events import EventKind
from papo.enums import Platform
from tests.adapters.helpers import body

GARBAGE = [
    b"",
    b"not json",
    b"\xff\xfe\x00garbage",
    b"[]",
    b'"a string"',
    b"42",
    b'{"entry": []}',
    b'{"object": "page"}',
    b'{"object": "page", "entry": {}}',
    b'{"object": 7, "entry": []}',
]


@pytest.mark.parametrize("platform", ["whatsapp", "instagram", "facebook", "tiktok", "kwai"])
@pytest.mark.parametrize("raw", GARBAGE)
def test_garbage_raises_payload_error(platform: str, raw: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        get_adapter(platform).parse(raw)
    assert str(caught.value)  # a readable reason for the 400 body
    assert caught.value.http_status == 400


@pytest.mark.parametrize("platform", ["whatsapp", "instagram", "facebook"])
def test_unknown_meta_object_is_skipped(platform: str, caplog: pytest.LogCaptureFixture) -> None:
    raw = json.dumps({"object": "permissions", "entry": [{"id": "1", "changes": []}]}).encode()
    with caplog.at_level(logging.WARNING):
        assert get_adapter(platform).parse(raw) == []
    assert "permissions" in caplog.text


def test_meta_payload_posted_to_another_meta_endpoint_keeps_its_platform() -> None:
    # One callback URL may serve several Meta products; events carry the payload's real platform.
    [event] = get_adapter("facebook").parse(body("instagram", "dm_text.json"))
    assert event.platform is Platform.INSTAGRAM
    assert event.kind is EventKind.MESSAGE


@pytest.mark.parametrize("platform", ["whatsapp", "instagram", "facebook"])
def test_junk_inside_a_valid_envelope_never_crashes(platform: str) -> None:
    obj = {"whatsapp": "whatsapp_business_account", "instagram": "instagram", "facebook": "page"}[platform]
    entries = [
        "not an entry",
        {},
        {"id": "1", "changes": "nope", "messaging": 3},
        {"id": "1", "changes": [None, 1, {"field": None}, {"field": "messages", "value": []}]},
        {"id": "1", "messaging": [None, {"sender": "x"}, {"message": "text"}, {"message": {"mid": None}}]},
        {"id": "1", "changes": [{"field": "feed", "value": {"item": "comment", "verb": "add"}}]},
        {"id": "1", "changes": [{"field": "comments", "value": {"id": "1"}}]},
    ]
    raw = json.dumps({"object": obj, "entry": entries}).encode()
    assert get_adapter(platform).parse(raw) == []
