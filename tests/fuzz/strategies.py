"""Hypothesis strategies and checks shared by the fuzz tests: JSON-ish values, payload mutations, event shape.

Nesting deep enough to exhaust the stack is kept out of the general strategies (it has its own tests:
a 400, never a hang), so each property keeps checking everything else.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from papo.adapters.events import ACCOUNT_KINDS, INTERACTION_KINDS, MESSAGE_KINDS, EventKind, InboundEvent
from papo.adapters.meta import OBJECT_INSTAGRAM, OBJECT_PAGE, OBJECT_WHATSAPP
from papo.enums import MessageType, Platform
from papo.streams import codec

WEBHOOKS = Path(__file__).resolve().parents[1] / "data" / "webhooks"
META_OBJECTS = {
    OBJECT_WHATSAPP: Platform.WHATSAPP, OBJECT_INSTAGRAM: Platform.INSTAGRAM, OBJECT_PAGE: Platform.FACEBOOK,
}

# Values platforms (or a broken proxy) plausibly put where an id, a time or a text belongs.
INTERESTING_STRINGS = [
    "", " ", "0", "-1", "1", "00", "1e3", "1.5", "NaN", "nan", "inf", "-inf", "Infinity", "true", "null",
    "9" * 40, "1767272999", "1767272999000", "99999999999999999999", "2026-01-01T12:00:00",
    "2026-01-01T12:00:00+00:00", "2026-01-01T12:00:00Z", "2026-13-45T99:99:99", "0001-01-01T00:00:00",
    "9999-12-31T23:59:59", "0001-01-01T00:00:00+01:00", "\ud83d",
    "٣", "²", "ǅ", "\u200b", "\x00", "é" * 3, "🍫", "a\nb", "{}", "[]", "<x/>", "{{name}}",
    "sha256=", "whatsapp_business_account", "instagram", "page", "messages", "feed", "comment", "message",
    "reaction", "add", "remove", "text", "image", "STOP NOTIFICATIONS", "insert", "delete", "reply", "group",
    "x" * 300,
]
INTERESTING_NUMBERS = [
    0, 1, -1, 2**31, 2**53 + 1, 2**63, 2**64 + 1, 10**30, -(10**30), 1767272999, 1767272999000, 10**11, 10**15,
    0.5, -0.0, 1e308, -1e308, 1767272999.5, 1e-300,
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(INTERESTING_STRINGS)
    | st.sampled_from(INTERESTING_NUMBERS)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=4)


def dump(value: Any) -> bytes:
    """JSON bytes as a platform sends them (NaN/Infinity appear as the literals lenient parsers accept).

    A lone surrogate, which UTF-8 cannot carry, goes out as its escape (backslashreplace writes "\\ud83d").
    """
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "backslashreplace")


def fixture_names(platform: str, suffix: str = ".json") -> list[str]:
    """Every webhook fixture of a platform (the YouTube poller's API response is not a webhook)."""
    return sorted(p.name for p in (WEBHOOKS / platform).glob(f"*{suffix}") if p.name != "comment_threads.json")


def load_fixture(platform: str, name: str) -> Any:
    """A JSON fixture as data; TikTok's `content` (a JSON string) is decoded so it can be mutated too."""
    data = json.loads((WEBHOOKS / platform / name).read_bytes())
    if platform == "tiktok" and isinstance(data.get("content"), str):
        data["content"] = json.loads(data["content"])
    return data


# ------------------------------------------------------------------ mutations of JSON documents

Path_ = tuple[Any, ...]


def node_paths(doc: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every node's path (keys and indexes), the root included."""
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from node_paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from node_paths(value, (*prefix, index))


def _get(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _tweak_string(data: st.DataObject, value: str) -> str:
    return data.draw(st.one_of(
        st.just(""),
        st.just(value + value),
        st.just(value[: len(value) // 2]),
        st.just(value.upper()),
        st.text(max_size=20).map(lambda extra: value + extra),
        st.text(max_size=20),
        st.sampled_from(INTERESTING_STRINGS),
    ))


def _tweak_number(data: st.DataObject, value: float) -> Any:
    return data.draw(st.one_of(
        st.just(value + 1), st.just(-value), st.just(value * 1000), st.just(str(value)),
        st.just(float(value)), st.sampled_from(INTERESTING_NUMBERS), st.integers(),
    ))


def mutate_once(data: st.DataObject, doc: Any) -> Any:
    """One random change somewhere in `doc` (in place where possible); returns the new root."""
    path = data.draw(st.sampled_from(list(node_paths(doc))), label="path")
    node = _get(doc, path)
    ops = ["replace", "wrap"]
    if path:
        ops.append("drop")
    if isinstance(node, str):
        ops.append("string")
    if isinstance(node, int | float) and not isinstance(node, bool):
        ops.append("number")
    if isinstance(node, dict):
        ops.append("add_key")
    if isinstance(node, list) and node:
        ops.append("duplicate")
    op = data.draw(st.sampled_from(ops), label="op")
    if op == "drop":
        parent = _get(doc, path[:-1])
        del parent[path[-1]]
        return doc
    if op == "replace":
        return _set(doc, path, data.draw(json_values, label="value"))
    if op == "wrap":
        return _set(doc, path, data.draw(st.sampled_from([[node], {"value": node}, [node, node]])))
    if op == "string":
        return _set(doc, path, _tweak_string(data, node))
    if op == "number":
        return _set(doc, path, _tweak_number(data, node))
    if op == "add_key":
        node[data.draw(st.text(max_size=12), label="key")] = data.draw(json_values, label="value")
        return doc
    index = data.draw(st.integers(0, len(node) - 1), label="index")
    node.insert(data.draw(st.integers(0, len(node)), label="at"), copy.deepcopy(node[index]))
    return doc


def mutate(data: st.DataObject, doc: Any, *, max_changes: int = 4) -> Any:
    """A deep copy of `doc` with one to `max_changes` random changes."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, max_changes), label="changes")):
        doc = mutate_once(data, doc)
    return doc


def tiktok_body(data: st.DataObject, doc: Any) -> bytes:
    """A TikTok body: `content` re-encoded as the JSON string TikTok sends (or left an object, also accepted)."""
    if isinstance(doc, dict) and isinstance(doc.get("content"), dict | list) and data.draw(st.booleans()):
        doc = {**doc, "content": json.dumps(doc["content"], ensure_ascii=False)}
    return dump(doc)


# ------------------------------------------------------------------ mutations of Atom feeds

ATOM = "{http://www.w3.org/2005/Atom}"
YT = "{http://www.youtube.com/xml/schemas/2015}"
xml_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("\t\n"), max_size=30
) | st.sampled_from([s for s in INTERESTING_STRINGS if s.isprintable() and "\x00" not in s])


def mutate_feed(data: st.DataObject, text: bytes) -> bytes:
    """An Atom feed with elements dropped, duplicated, renamed, or given other text or attributes."""
    root = ET.fromstring(text)
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        elements = list(root.iter())
        target = data.draw(st.sampled_from(elements), label="element")
        parents = {child: parent for parent in root.iter() for child in parent}
        op = data.draw(st.sampled_from(["text", "drop", "duplicate", "attribute", "add", "rename"]), label="op")
        if op == "text":
            target.text = data.draw(xml_text)
        elif op == "drop" and target in parents:
            parents[target].remove(target)
        elif op == "duplicate" and target in parents:
            parents[target].append(copy.deepcopy(target))
        elif op == "attribute":
            target.set(data.draw(st.sampled_from(["rel", "href", "ref", "x"])), data.draw(xml_text))
        elif op == "add":
            tag = data.draw(st.sampled_from([f"{ATOM}entry", f"{YT}videoId", f"{YT}channelId", f"{ATOM}published",
                                             f"{ATOM}updated", f"{ATOM}link", "unknown"]))
            ET.SubElement(target, tag).text = data.draw(xml_text)
        elif op == "rename" and target is not root:
            target.tag = data.draw(st.sampled_from([f"{ATOM}entry", f"{ATOM}title", "{urn:other}entry", "entry"]))
    return ET.tostring(root, encoding="utf-8")


# ------------------------------------------------------------------ what every event must look like

_OPTIONAL_IDS = ("platform_message_id", "reply_to", "post_id", "parent_comment_id", "story_id", "media_id")
_OPTIONAL_TEXT = (
    "remote_user_name", "remote_user_username", "remote_user_avatar", "remote_user_phone", "text", "detail_type",
    "media_url", "media_mime", "story_url", "postback_payload", "reaction", "status", "error_title",
)


def _customer_required(platform: Platform, kind: EventKind) -> bool:
    """Where the adapter itself promises a customer id (it skips the item otherwise)."""
    if platform is Platform.WHATSAPP:
        return True  # messages without a sender and statuses without a recipient are skipped
    if platform is Platform.KWAI:
        return kind in MESSAGE_KINDS | INTERACTION_KINDS  # KWAI.md: user.id is required for them
    if platform in (Platform.INSTAGRAM, Platform.YOUTUBE):
        return kind is EventKind.COMMENT  # comments without an author are skipped
    return False


def check_event(event: Any, platforms: set[Platform]) -> None:
    """Assert the shape the webhook handler, the queue and persist_batch rely on."""
    assert isinstance(event, InboundEvent), type(event)
    assert isinstance(event.platform, Platform) and event.platform in platforms, (event.platform, platforms)
    assert isinstance(event.kind, EventKind), event.kind
    assert isinstance(event.message_type, MessageType), event.message_type
    for name in ("account_id", "dedupe_key"):
        value = getattr(event, name)
        assert isinstance(value, str) and value, (name, value)
    # Dedupe keys are namespaced by platform: two platforms' ids can never collide in the seen-set.
    assert event.dedupe_key.startswith(f"{event.platform}:"), event.dedupe_key
    assert isinstance(event.timestamp, datetime) and event.timestamp.tzinfo is UTC, event.timestamp
    assert isinstance(event.remote_user_id, str), event.remote_user_id
    if event.kind in ACCOUNT_KINDS:
        assert event.remote_user_id == "", event
    if _customer_required(event.platform, event.kind):
        assert event.remote_user_id, event
    if event.kind is EventKind.ECHO:
        assert event.is_echo
    for name in _OPTIONAL_IDS:
        value = getattr(event, name)
        assert value is None or (isinstance(value, str) and value), (name, value)
    for name in _OPTIONAL_TEXT:
        value = getattr(event, name)
        assert value is None or isinstance(value, str), (name, value)
    assert event.error_code is None or (isinstance(event.error_code, int) and not isinstance(event.error_code, bool))
    assert isinstance(event.removed, bool) and isinstance(event.is_echo, bool)
    for name in ("referral", "detail"):
        value = getattr(event, name)
        assert value is None or isinstance(value, Mapping), (name, value)
    assert isinstance(event.raw, Mapping)
    # What the queue does with it: encode to_dict() (codec), and what the worker does: rebuild it.
    wire = codec.encode_data(event.to_dict())
    back = InboundEvent.from_dict(json.loads(wire))
    assert codec.encode_data(back.to_dict()) == wire


def check_events(events: Any, platforms: set[Platform]) -> None:
    """Assert parse returned a list of well-formed events."""
    assert isinstance(events, list), type(events)
    for event in events:
        check_event(event, platforms)


def platforms_of(platform: Platform, body: Any) -> set[Platform]:
    """Which platforms a body's events may name: a Meta body is routed on its `object`, whatever the URL."""
    if platform in (Platform.WHATSAPP, Platform.INSTAGRAM, Platform.FACEBOOK) and isinstance(body, dict):
        obj = body.get("object")
        return {META_OBJECTS[obj]} if isinstance(obj, str) and obj in META_OBJECTS else set()
    return {platform}

