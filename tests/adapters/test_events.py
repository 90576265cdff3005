"""InboundEvent: immutability, JSON round trip, dedupe and conversation keys."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from papo.adapters.errors import PayloadError
from papo.adapters.events import EVENT_VERSION, EventKind, InboundEvent
from papo.enums import MessageType, Platform
from tests.adapters.helpers import WEBHOOKS, parse

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
optional_text = st.none() | st.text(max_size=20)

events = st.builds(
    InboundEvent,
    platform=st.sampled_from(Platform),
    kind=st.sampled_from(EventKind),
    account_id=st.text(min_size=1, max_size=20),
    timestamp=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    remote_user_id=st.text(max_size=20),
    remote_user_name=optional_text,
    remote_user_phone=optional_text,
    platform_message_id=optional_text,
    text=optional_text,
    message_type=st.sampled_from(MessageType),
    detail_type=optional_text,
    media_url=optional_text,
    reply_to=optional_text,
    post_id=optional_text,
    referral=st.none() | json_objects,
    postback_payload=optional_text,
    reaction=optional_text,
    removed=st.booleans(),
    status=optional_text,
    error_code=st.none() | st.integers(),
    is_echo=st.booleans(),
    detail=st.none() | json_objects,
    dedupe_key=st.text(max_size=30),
    raw=json_objects,
)


@given(events)
@settings(max_examples=200, deadline=None)
def test_round_trip_through_json_is_exact(event: InboundEvent) -> None:
    wire = json.dumps(event.to_dict())
    back = InboundEvent.from_dict(json.loads(wire))
    assert back == event
    assert back.to_dict() == event.to_dict()
    assert back.conversation_key == event.conversation_key


@pytest.mark.parametrize(
    "path", sorted(WEBHOOKS.glob("*/*.json")) + sorted(WEBHOOKS.glob("*/*.xml")), ids=str
)
def test_every_fixture_event_round_trips(path) -> None:  # type: ignore[no-untyped-def]
    if path.name == "comment_threads.json":
        return
    for event in parse(path.parent.name, path.name):
        assert InboundEvent.from_dict(json.loads(json.dumps(event.to_dict()))) == event


def _event(**changes: object) -> InboundEvent:
    values: dict[str, object] = {
        "platform": Platform.INSTAGRAM,
        "kind": EventKind.MESSAGE,
        "account_id": "178",
        "timestamp": datetime(2026, 1, 1, 12, tzinfo=UTC),
        "remote_user_id": "125",
        "platform_message_id": "mid.1",
        "raw": {"a": 1},
    }
    values.update(changes)
    return InboundEvent(**values)  # type: ignore[arg-type]


def test_is_frozen_and_hides_raw_from_repr() -> None:
    event = _event()
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.text = "changed"  # type: ignore[misc]
    assert "raw" not in repr(event)
    assert hash(event) == hash(_event(raw={"b": 2}))  # mapping fields stay out of the hash


def test_constructor_takes_known_fields_by_keyword_only() -> None:
    with pytest.raises(TypeError, match="unknown fields"):
        _event(colour="blue")
    with pytest.raises(TypeError, match="'timestamp'"):
        InboundEvent(platform=Platform.INSTAGRAM, kind=EventKind.MESSAGE, account_id="178")
    with pytest.raises(TypeError):
        InboundEvent(Platform.INSTAGRAM)  # type: ignore[call-arg]
    event = _event()
    assert (event.text, event.removed, event.message_type) == (None, False, "text")  # defaults read as declared


def test_to_dict_leaves_out_none_fields_and_from_dict_restores_them() -> None:
    data = _event().to_dict()
    assert "text" not in data and "referral" not in data
    assert InboundEvent.from_dict(data).text is None


def test_to_dict_shape() -> None:
    data = _event().to_dict()
    assert data["v"] == EVENT_VERSION
    assert data["timestamp"] == "2026-01-01T12:00:00+00:00"
    assert (data["platform"], data["kind"], data["message_type"]) == ("instagram", "message", "text")
    assert data["conversation_key"] == "instagram:178:125"


def test_timestamps_must_be_aware_and_are_stored_in_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _event(timestamp=datetime(2026, 1, 1, 12))
    brasilia = timezone(timedelta(hours=-3))
    event = _event(timestamp=datetime(2026, 1, 1, 9, tzinfo=brasilia))
    assert event.timestamp.tzinfo is UTC
    assert event.timestamp == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_echo_kind_implies_is_echo_and_sender_user() -> None:
    echo = _event(kind=EventKind.ECHO)
    assert echo.is_echo
    assert echo.sender.value == "user"
    assert _event().sender.value == "remote"


def test_fallback_dedupe_key_is_stable() -> None:
    assert _event(dedupe_key="").dedupe_key == "instagram:178:message:mid.1"
    no_id = _event(platform_message_id=None, raw={"x": [1, 2], "y": "z"})
    same = _event(platform_message_id=None, raw={"y": "z", "x": [1, 2]})
    assert no_id.dedupe_key == same.dedupe_key
    assert no_id.dedupe_key != _event(platform_message_id=None, raw={"x": [2, 1], "y": "z"}).dedupe_key


@pytest.mark.parametrize(
    "data",
    [
        {"v": 99},
        {
            "v": 1,
            "platform": "myspace",
            "kind": "message",
            "account_id": "a",
            "timestamp": "2026-01-01T00:00:00+00:00",
        },
        {"v": 1, "platform": "kwai", "kind": "message", "account_id": "a", "timestamp": "yesterday"},
        {
            "v": 1,
            "platform": "kwai",
            "kind": "message",
            "account_id": "a",
            "timestamp": "2026-01-01T00:00:00",
        },
        {"v": 1, "kind": "message"},
    ],
)
def test_from_dict_rejects_bad_data(data: dict[str, object]) -> None:
    with pytest.raises(PayloadError):
        InboundEvent.from_dict(data)


def test_from_dict_ignores_fields_from_newer_producers() -> None:
    data = _event().to_dict() | {"some_future_field": 1}
    assert InboundEvent.from_dict(data) == _event()


def test_dedupe_keys_equal_across_redelivery_and_distinct_within_a_platform() -> None:
    for path in sorted(WEBHOOKS.glob("*/*")):
        if path.name == "comment_threads.json":
            continue
        first = parse(path.parent.name, path.name)
        again = parse(path.parent.name, path.name)
        assert [e.dedupe_key for e in first] == [e.dedupe_key for e in again], path
    keys = [
        e.dedupe_key
        for path in sorted(WEBHOOKS.glob("*/*"))
        if path.name != "comment_threads.json" and path.name not in ("dm_text_instagram_login.json",)
        for e in parse(path.parent.name, path.name)
    ]
    assert len(keys) == len(set(keys))
