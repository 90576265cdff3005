"""Every adapter's `parse`: outside bodies, however broken, end as events of the right shape or PayloadError.

PayloadError (HTTP 400) is the one error `parse` documents (adapters/base.py); anything else escaping it
is a 500 in the webhook handler, which the platforms answer by retrying the same body for days.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from papo.adapters.adapter_registry import default_registry
from papo.adapters.errors import PayloadError
from papo.adapters.events import EventKind, InboundEvent
from papo.adapters.kwai import EVENT_TYPES
from papo.adapters.parsing import to_datetime
from papo.adapters.tiktok import EVENT_HANDLERS
from papo.enums import Platform
from papo.streams import codec
from tests.fuzz.strategies import (
    META_OBJECTS,
    WEBHOOKS,
    check_event,
    check_events,
    dump,
    fixture_names,
    json_objects,
    json_values,
    load_fixture,
    mutate,
    mutate_feed,
    platforms_of,
    scalars,
    tiktok_body,
)

ADAPTERS = default_registry()
JSON_PLATFORMS = [p for p in Platform if p is not Platform.YOUTUBE]
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
QUICK = settings(FUZZ, max_examples=60)
SHAPES = settings(FUZZ, max_examples=100)


def parse(platform: Platform, body: bytes) -> list[InboundEvent] | None:
    """The adapter's events, or None for a PayloadError; any other exception fails the test."""
    try:
        return ADAPTERS[platform].parse(body)
    except PayloadError:
        return None


def fixture_body(platform: Platform, doc: Any, data: st.DataObject | None = None) -> bytes:
    return tiktok_body(data, doc) if platform is Platform.TIKTOK and data is not None else dump(doc)


# ------------------------------------------------------------------ the checker itself


def test_the_event_checker_accepts_every_documented_payload_and_rejects_a_broken_event() -> None:
    seen = 0
    for platform in Platform:
        for name in fixture_names(platform, ".xml" if platform is Platform.YOUTUBE else ".json"):
            body = (WEBHOOKS / platform / name).read_bytes()
            events = ADAPTERS[platform].parse(body)
            check_events(events, platforms_of(platform, json.loads(body)) if body[:1] == b"{" else {platform})
            seen += len(events)
    assert seen > 100  # the fixtures really exercise the checker
    good = ADAPTERS[Platform.KWAI].parse((WEBHOOKS / "kwai" / "batch.json").read_bytes())[0]
    broken = [
        InboundEvent(**{**_fields(good), "account_id": ""}),
        InboundEvent(**{**_fields(good), "remote_user_id": ""}),  # a Kwai message without its customer
        InboundEvent(**{**_fields(good), "platform_message_id": ""}),
        InboundEvent(**{**_fields(good), "dedupe_key": "whatsapp:x"}),  # another platform's namespace
    ]
    for event in broken:
        with pytest.raises(AssertionError):
            check_event(event, {Platform.KWAI})
    with pytest.raises(AssertionError):
        check_event(good, {Platform.TIKTOK})


def _fields(event: InboundEvent) -> dict[str, Any]:
    return {name: value for name, value in event.__dict__.items() if not name.startswith("_")}


# ------------------------------------------------------------------ (a) anything at all


@pytest.mark.parametrize("platform", list(Platform))
@QUICK
@given(value=json_values)
def test_any_json_value_is_events_or_payload_error(platform: Platform, value: Any) -> None:
    events = parse(platform, dump(value))
    if events is not None:
        check_events(events, platforms_of(platform, value))


@pytest.mark.parametrize("platform", list(Platform))
@QUICK
@given(body=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_events_or_payload_error(platform: Platform, body: bytes) -> None:
    events = parse(platform, body)
    if events is not None:
        check_events(events, set(Platform))


ids = st.one_of(st.text(max_size=12), st.sampled_from(["106540352242922", "17841405822304914", "0", ""]),
                st.integers(-5, 10**20), st.none())
meta_bodies = st.fixed_dictionaries({
    "object": st.sampled_from([*META_OBJECTS, "user", "permissions", ""]),
    "entry": st.lists(st.fixed_dictionaries({"id": ids}, optional={
        "time": scalars,
        "changes": st.lists(st.fixed_dictionaries({
            "field": st.sampled_from(["messages", "smb_message_echoes", "comments", "live_comments", "mentions",
                                      "feed", "message_reactions", "messaging_postbacks", "other"]),
            "value": json_objects,
        }), max_size=3),
        "messaging": st.lists(json_objects, max_size=3),
        "field": st.sampled_from(["comments", "messages"]),
        "value": json_objects,
        "standby": json_values,
    }), max_size=3),
})
tiktok_bodies = st.fixed_dictionaries({
    "event": st.sampled_from([*EVENT_HANDLERS, "unknown.event"]),
    "user_openid": ids,
    "create_time": scalars,
    "content": json_objects | json_objects.map(json.dumps) | scalars,
})
kwai_bodies = st.fixed_dictionaries({
    "account_id": ids,
    "events": st.lists(st.fixed_dictionaries(
        {"id": ids, "type": st.sampled_from([*EVENT_TYPES, "unknown"])},
        optional={name: json_values for name in (
            "user", "message_id", "text", "media", "timestamp", "reply_to", "video_id", "status", "error",
            "removed", "payload", "referral", "reaction", "parent_comment_id")},
    ) | json_values, max_size=4),
}, optional={"version": st.sampled_from([1, 2, "1", None, 1.0])})
SHAPED = {
    Platform.WHATSAPP: meta_bodies, Platform.INSTAGRAM: meta_bodies, Platform.FACEBOOK: meta_bodies,
    Platform.TIKTOK: tiktok_bodies, Platform.KWAI: kwai_bodies,
}


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
@SHAPES
@given(data=st.data())
def test_envelope_shaped_bodies_with_random_insides_are_events_or_payload_error(
    platform: Platform, data: st.DataObject
) -> None:
    doc = data.draw(SHAPED[platform])
    events = parse(platform, dump(doc))
    if events is not None:
        check_events(events, platforms_of(platform, doc))


# ------------------------------------------------------------------ (b) documented payloads, mutated


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
@FUZZ
@given(data=st.data())
def test_mutated_documented_payloads_are_well_formed_events_or_payload_error(
    platform: Platform, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(fixture_names(platform)), label="fixture")
    doc = mutate(data, load_fixture(platform, name))
    body = fixture_body(platform, doc, data)
    events = parse(platform, body)
    if events is None:
        return
    check_events(events, platforms_of(platform, doc))
    # A redelivery of the same body is recognised as the same events.
    again = parse(platform, body)
    assert again is not None and [e.dedupe_key for e in again] == [e.dedupe_key for e in events]


@FUZZ
@given(data=st.data())
def test_mutated_youtube_feeds_are_well_formed_events_or_payload_error(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(fixture_names("youtube", ".xml")), label="fixture")
    body = mutate_feed(data, (WEBHOOKS / "youtube" / name).read_bytes())
    events = parse(Platform.YOUTUBE, body)
    if events is None:
        return
    check_events(events, {Platform.YOUTUBE})
    assert all(e.kind is EventKind.VIDEO_PUBLISHED and e.post_id == e.platform_message_id for e in events)


@pytest.mark.parametrize("platform", list(Platform))
@QUICK
@given(data=st.data())
def test_documented_payloads_cut_or_corrupted_at_the_byte_level_are_events_or_payload_error(
    platform: Platform, data: st.DataObject
) -> None:
    suffix = ".xml" if platform is Platform.YOUTUBE else ".json"
    body = bytearray((WEBHOOKS / platform / data.draw(st.sampled_from(fixture_names(platform, suffix)))).read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(body)))
        match data.draw(st.sampled_from(["cut", "insert", "flip"])):
            case "cut":
                del body[at:at + data.draw(st.integers(1, 40))]
            case "insert":
                body[at:at] = data.draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                    [b"{", b"}", b"[", b"]", b'"', b",", b"<", b">", b"\\u", b"\xff", b"\x00"]))
            case _:
                if at < len(body):
                    body[at] ^= data.draw(st.integers(1, 255))
    events = parse(platform, bytes(body))
    if events is not None:
        check_events(events, set(Platform))


# ------------------------------------------------------------------ bugs the fuzzing found, pinned

EDGE_TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


def _documented(platform: Platform) -> Any:
    """One documented JSON payload per platform, as data."""
    name = {Platform.WHATSAPP: "text_bsuid.json", Platform.INSTAGRAM: "dm_text.json",
            Platform.FACEBOOK: "messenger.json", Platform.TIKTOK: "im_receive_msg_text.json",
            Platform.KWAI: "batch.json"}[platform]
    return load_fixture(platform, name)


def _with_time(platform: Platform, when: str) -> bytes:
    """A documented payload whose platform timestamp is `when` (each adapter reads it with to_datetime)."""
    if platform is Platform.YOUTUBE:
        text = (WEBHOOKS / "youtube" / "new_video.xml").read_text()
        return text.replace("<published>2026-01-01T15:00:00+00:00</published>",
                            f"<published>{when}</published>").encode()
    doc = _documented(platform)
    match platform:
        case Platform.WHATSAPP:
            doc["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = when
        case Platform.INSTAGRAM | Platform.FACEBOOK:
            doc["entry"][0]["messaging"][0]["timestamp"] = when
        case Platform.TIKTOK:
            doc["content"]["timestamp"] = when
        case _:
            doc["events"][0]["timestamp"] = when
    return dump(doc)


@pytest.mark.parametrize("when", EDGE_TIMES)
@pytest.mark.parametrize("platform", list(Platform))
def test_a_platform_time_at_the_edge_of_the_calendar_is_not_a_crash(platform: Platform, when: str) -> None:
    body = _with_time(platform, when)
    check_events(ADAPTERS[platform].parse(body), {platform})


@settings(FUZZ, max_examples=50)
@example(EDGE_TIMES[0])
@given(st.builds(lambda at, minutes: at.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
                 st.datetimes(), st.integers(-23 * 60 - 59, 23 * 60 + 59)))
def test_to_datetime_reads_any_iso_time_or_returns_none(text: str) -> None:
    parsed = to_datetime(text)
    assert parsed is None or parsed.tzinfo is UTC


def test_a_deeply_nested_tiktok_content_string_is_a_payload_error() -> None:
    doc = load_fixture("tiktok", "im_receive_msg_text.json")
    doc["content"] = "[" * 100_000 + "]" * 100_000  # a 200 kB body: far under the size limit
    assert parse(Platform.TIKTOK, dump(doc)) is None


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


def test_an_event_whose_raw_is_nested_too_deep_to_queue_is_a_value_error() -> None:
    """orjson reads 1024 levels but writes 255; past the stack the encoder says so with a ValueError, which
    the webhook answers 400 (tests/inbound/test_fuzz_bodies.py); 300 levels still go through."""
    doc = load_fixture("kwai", "batch.json")
    doc["events"] = [{**doc["events"][0], "extra": "@@"}]
    events = parse(Platform.KWAI, dump(doc).replace(b'"@@"', b"[" * 1000 + b'"x"' + b"]" * 1000))
    with pytest.raises(ValueError, match="nested too deeply"):
        codec.encode_data(events[0].to_dict())
    doc["events"] = [{**doc["events"][0], "extra": _deep(300)}]
    check_events(parse(Platform.KWAI, dump(doc)), {Platform.KWAI})


@pytest.mark.parametrize("escaped", [True, False], ids=["escaped", "utf8-encoded"])
@pytest.mark.parametrize("platform", JSON_PLATFORMS)
def test_a_text_with_a_lone_surrogate_can_be_queued(platform: Platform, escaped: bool) -> None:
    doc = _documented(platform)
    for path in _text_paths(doc):
        _put(doc, path, "Oi \ud83d")
    # Escaped: "\ud83d" in the JSON text, valid JSON: half an emoji becomes U+FFFD. UTF-8-encoded
    # (b"\xed\xa0\xbd"): not UTF-8 at all, so a PayloadError (the stdlib alone would accept it).
    body = json.dumps(doc).encode() if escaped else json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    events = parse(platform, body)
    if not escaped:
        assert events is None
        return
    assert events and any(e.text == "Oi \ufffd" for e in events), events
    check_events(events, {platform})


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
def test_a_text_with_a_nul_character_reaches_the_worker_in_a_form_postgresql_stores(platform: Platform) -> None:
    doc = _documented(platform)
    for path in _text_paths(doc):
        _put(doc, path, "Oi \u0000 tudo bem?")
    events = parse(platform, dump(doc))
    assert events and any(e.text for e in events)
    for event in events:
        stored = {k: v for k, v in event.to_dict().items() if k != "raw"}  # raw goes to MongoDB, not PostgreSQL
        assert not [s for s in _strings(stored) if "\x00" in s], stored


def _text_paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where the customer's words sit in each documented payload ("text", "body" strings)."""
    out = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("text", "body") and isinstance(value, str):
                out.append((*prefix, key))
            out += _text_paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out += _text_paths(value, (*prefix, index))
    return out


def _put(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


@pytest.mark.parametrize("platform", [Platform.INSTAGRAM, Platform.FACEBOOK])
def test_a_change_whose_field_is_not_a_string_is_skipped(platform: Platform) -> None:
    name = "comments.json" if platform is Platform.INSTAGRAM else "feed_comments.json"
    doc = load_fixture(platform, name)
    doc["entry"][0]["changes"].append({"field": ["comments"], "value": {}})
    check_events(ADAPTERS[platform].parse(dump(doc)), {platform})


def test_the_pinned_bugs_use_inputs_that_are_otherwise_valid() -> None:
    """Controls for the pinned tests: the same payloads with ordinary values parse and queue fine."""
    for platform in Platform:
        events = ADAPTERS[platform].parse(_with_time(platform, "2026-01-01T12:00:00+01:00"))
        check_events(events, {platform})
        assert events and events[0].timestamp == datetime(2026, 1, 1, 11, tzinfo=UTC)
    doc = load_fixture("kwai", "batch.json")
    doc["events"] = [{**doc["events"][0], "extra": _deep(200)}]
    check_events(parse(Platform.KWAI, dump(doc)), {Platform.KWAI})
    for platform, name in ((Platform.INSTAGRAM, "comments.json"), (Platform.FACEBOOK, "feed_comments.json")):
        doc = load_fixture(platform, name)
        doc["entry"][0]["changes"].append({"field": "comments_v2", "value": {}})
        check_events(ADAPTERS[platform].parse(dump(doc)), {platform})
    for platform in JSON_PLATFORMS:
        doc = _documented(platform)
        for path in _text_paths(doc):
            _put(doc, path, "Oi \U0001f36b")  # the whole emoji: a surrogate pair on the wire
        events = parse(platform, json.dumps(doc).encode())
        assert events and any(e.text and "\U0001f36b" in e.text for e in events)
        check_events(events, {platform})
