"""Bad webhook bodies through the real HTTP app and real Redis (property-based; few examples, one request each).

For every refused delivery: the documented status (400 malformed, 403 signature, 413 too large), a JSON
error body, nothing queued on the webhook stream, the inbound stream or the raw archive, and the server still
serving a correct delivery afterwards. A body whose envelope is right but whose inside cannot be read is
answered 200 and queued (it is signed: the platform sent it); the worker's fan-out counts it `malformed`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from papo import app_keys
from papo.adapters import kwai, meta, tiktok, youtube
from papo.adapters.adapter_registry import get_adapter
from papo.adapters.simulate import signed_headers
from papo.app import create_app
from papo.config import Settings
from papo.constants import RAW_STREAM
from papo.enums import Platform
from papo.runtime import Stores
from papo.services.queues import inbound_spec, webhook_spec
from papo.streams import codec
from tests.inbound.conftest import Connect, fan_out, outcomes, secret_for, sign

WEBHOOKS = Path(__file__).parent.parent / "data" / "webhooks"
# No shrinking: each step is a request, and the examples are small already.
HTTP = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
GOOD = {
    "whatsapp": "text_bsuid.json", "instagram": "dm_text.json", "facebook": "messenger.json",
    "tiktok": "im_receive_msg_text.json", "youtube": "new_video.xml", "kwai": "batch.json",
}
JSON_PLATFORMS = ["whatsapp", "instagram", "facebook", "tiktok", "kwai"]
ANSWER_WITHIN = aiohttp.ClientTimeout(total=3)
HANG_WAIT = aiohttp.ClientTimeout(total=1)  # a webhook is answered in milliseconds


def good_body(platform: str) -> bytes:
    return (WEBHOOKS / platform / GOOD[platform]).read_bytes()


async def queued(stores: Stores, settings: Settings) -> int:
    """Entries on every partition of the webhook and inbound streams, plus the raw-body archive stream."""
    specs = [webhook_spec(settings.stream_partitions), inbound_spec(settings.stream_partitions)]
    lengths = [await stores.redis.xlen(spec.key(p)) for spec in specs for p in range(spec.partitions)]
    return sum(lengths) + await stores.redis.xlen(RAW_STREAM)


async def newest_body(stores: Stores, settings: Settings, platform: str) -> bytes | None:
    """The body of the newest entry on the platform's partition of the webhook stream."""
    spec = webhook_spec(settings.stream_partitions)
    newest = await stores.redis.xrevrange(spec.key(spec.partition_for(platform)), count=1)
    return codec.decode(newest[0][1])["body"].encode() if newest else None


async def post(web: TestClient, platform: str, body: bytes, headers: Any,
               within: aiohttp.ClientTimeout = ANSWER_WITHIN) -> aiohttp.ClientResponse:
    return await web.post(f"/webhooks/{platform}", data=body, headers=headers, timeout=within)


async def refused(web: TestClient, stores: Stores, settings: Settings, platform: str, body: bytes, headers: Any,
                  status: int, error: str | None = None) -> None:
    """Post a bad delivery: `status`, a JSON error body, and nothing queued."""
    before = await queued(stores, settings)
    resp = await post(web, platform, body, headers)
    assert resp.status == status, (platform, body[:80], await resp.text())
    assert resp.content_type == "application/json"
    payload = await resp.json()
    assert isinstance(payload.get("error"), str) and payload["error"], payload
    if error is not None:
        assert payload["error"] == error and payload["detail"], payload
    assert await queued(stores, settings) == before


async def still_serving(web: TestClient, settings: Settings, platform: str,
                        within: aiohttp.ClientTimeout = ANSWER_WITHIN) -> None:
    """A correct delivery is answered 200 and its body is the newest on its platform's webhook partition."""
    body = good_body(platform)
    assert len(get_adapter(platform).parse(body)) > 0
    resp = await post(web, platform, body, sign(settings, platform, body), within)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"queued": True}
    assert await newest_body(web.server.app[app_keys.STORES], settings, platform) == body


@pytest_asyncio.fixture(loop_scope="session")
async def accounts(connect: Connect) -> None:
    """Every business the correct deliveries are addressed to is connected (so they would be queued)."""
    for platform in GOOD:
        for account in {e.account_id for e in get_adapter(platform).parse(good_body(platform))}:
            await connect(platform, account)


# ------------------------------------------------------------------ malformed bodies: 400


def _corrupt_utf8(body: bytes, at: int, junk: bytes) -> bytes:
    at %= len(body)
    return body[:at] + junk + body[at:]


@pytest.mark.parametrize("platform", list(GOOD))
@HTTP
@given(at=st.integers(0, 10**6), junk=st.sampled_from([b"\xff", b"\xc3\x28", b"\xf8\x88\x80\x80", b"\x80",
                                                       b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80"]))
async def test_a_body_that_is_not_utf8_gets_400(web, settings, stores, accounts, platform: str, at: int,
                                               junk: bytes) -> None:
    body = _corrupt_utf8(good_body(platform), at, junk)
    # Kwai finds its signing account in the body, so a body it cannot read is refused before the signature.
    headers = sign(settings, platform, body)
    await refused(web, stores, settings, platform, body, headers, 400, "malformed body")
    await still_serving(web, settings, platform)


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("platform", JSON_PLATFORMS)
@settings(HTTP, max_examples=8)
@given(depth=st.integers(10_000, 50_000), kind=st.sampled_from(["array", "object"]),
       where=st.sampled_from(["top", "entry", "events"]))
async def test_deeply_nested_json_gets_400(web, settings, stores, accounts, platform: str, depth: int, kind: str,
                                          where: str) -> None:
    # Past any interpreter stack (Hypothesis raises the recursion limit while it runs, and this server shares the
    # process): between orjson's 1024 levels and that limit the json fallback parses the body.
    deep = _nested(depth, kind)
    body = deep if where == "top" else b'{"object": "page", "account_id": "kwai-150009988776", "' + where.encode() \
        + b'": ' + deep + b"}"
    await refused(web, stores, settings, platform, body, sign(settings, platform, body), 400, "malformed body")
    await still_serving(web, settings, platform)


# ------------------------------------------------------------------ signatures: 403


@HTTP
@given(wrong=st.sampled_from(["zero", "other_body", "other_secret", "malformed", "empty", "sha1"]),
       order=st.sampled_from(["wrong_first", "right_first", "both_wrong"]))
async def test_duplicate_meta_signature_headers_are_decided_by_the_first_and_never_queue_a_forgery(
    web, settings, stores, accounts, wrong: str, order: str
) -> None:
    body = good_body("whatsapp")
    right = meta.sign(body, secret_for(settings, "whatsapp"))
    bad = {
        "zero": "sha256=" + "0" * 64,
        "other_body": meta.sign(body + b" ", secret_for(settings, "whatsapp")),
        "other_secret": meta.sign(body, "another-apps-secret"),
        "malformed": "sha256",
        "empty": "",
        "sha1": youtube.sign(body, secret_for(settings, "whatsapp")),  # the right key, the wrong algorithm
    }[wrong]
    values = {"wrong_first": [bad, right], "right_first": [right, bad], "both_wrong": [bad, bad]}[order]
    headers = CIMultiDict([("Content-Type", "application/json")])
    for value in values:
        headers.add(meta.SIGNATURE_HEADER, value)
    if order == "right_first":
        # aiohttp hands the first value to the adapter: that is the signature that is checked.
        resp = await post(web, "whatsapp", body, headers)
        assert resp.status == 200, await resp.text()
    else:
        await refused(web, stores, settings, "whatsapp", body, headers, 403, "invalid signature")
    await still_serving(web, settings, "whatsapp")


@pytest.mark.parametrize("platform", list(GOOD))
@HTTP
@given(secret=st.text(min_size=1, max_size=40))
async def test_a_body_signed_with_another_apps_secret_gets_403(web, settings, stores, accounts, platform: str,
                                                              secret: str) -> None:
    body = good_body(platform)
    if secret == secret_for(settings, platform):
        secret += "x"
    headers = signed_headers(Platform(platform), body, secret, time.time())
    await refused(web, stores, settings, platform, body, headers, 403, "invalid signature")
    await still_serving(web, settings, platform)


@pytest.mark.parametrize("platform", ["tiktok", "kwai"])
@HTTP
@given(skew=st.integers(2, 10**10), past=st.booleans())
async def test_a_replayed_or_future_timestamp_outside_the_window_gets_403(
    web, settings, stores, accounts, platform: str, skew: int, past: bool
) -> None:
    body = good_body(platform)
    tolerance = settings.tiktok_signature_tolerance  # the handler uses it for TikTok and Kwai alike
    signed_at = time.time() + (-1 if past else 1) * (tolerance + skew)
    headers = signed_headers(Platform(platform), body, secret_for(settings, platform), signed_at)
    await refused(web, stores, settings, platform, body, headers, 403, "invalid signature")
    await still_serving(web, settings, platform)


@pytest.mark.parametrize("platform", ["tiktok", "kwai"])
@HTTP
@given(skew=st.integers(-(300 - 5), 300 - 5), timestamp=st.sampled_from(["abc", "", "1e9", "12.5", "-", "0x10"]))
async def test_inside_the_window_a_replay_is_a_duplicate_and_a_malformed_timestamp_gets_403(
    web, settings, stores, accounts, platform: str, skew: int, timestamp: str
) -> None:
    assert settings.tiktok_signature_tolerance == 300
    body = good_body(platform)
    key = secret_for(settings, platform)
    await still_serving(web, settings, platform)  # the first delivery
    await fan_out(stores, settings)
    before, queued_before = await outcomes(stores, platform), await queued(stores, settings)
    resp = await post(web, platform, body, signed_headers(Platform(platform), body, key, time.time() + skew))
    assert resp.status == 200, await resp.text()
    assert await fan_out(stores, settings) == 1
    after = await outcomes(stores, platform)
    events = len(get_adapter(platform).parse(body))
    assert after["duplicate"] - before["duplicate"] == events > 0 and after["queued"] == before["queued"]
    assert await queued(stores, settings) - queued_before <= 1  # at most the raw-body archive entry
    # The same HMAC construction over a timestamp that is not an integer.
    digest = tiktok.hmac_hex(key, timestamp.encode() + b"." + body)
    header, field = ((tiktok.SIGNATURE_HEADER, "s") if platform == "tiktok" else (kwai.SIGNATURE_HEADER, "v1"))
    headers = {"Content-Type": "application/json", header: f"t={timestamp},{field}={digest}"}
    await refused(web, stores, settings, platform, body, headers, 403, "invalid signature")


# ------------------------------------------------------------------ size: 413


@pytest.mark.parametrize("platform", ["facebook", "kwai", "youtube"])
@settings(HTTP, max_examples=6)
@given(extra=st.integers(1, 256 * 1024))
async def test_a_body_over_the_size_limit_gets_413(web, settings, stores, accounts, platform: str,
                                                  extra: int) -> None:
    body = good_body(platform)
    body = body + b" " * (settings.webhook_max_body - len(body) + extra)
    await refused(web, stores, settings, platform, body, sign(settings, platform, body), 413)
    await still_serving(web, settings, platform)


async def test_a_body_of_exactly_the_size_limit_is_served(web, settings, stores, accounts) -> None:
    body = good_body("facebook")
    body = body + b" " * (settings.webhook_max_body - len(body))
    assert len(body) == settings.webhook_max_body
    resp = await post(web, "facebook", body, sign(settings, "facebook", body))
    assert resp.status == 200 and await resp.json() == {"queued": True}
    await fan_out(stores, settings)
    assert (await outcomes(stores, "facebook"))["queued"] > 0


# ------------------------------------------------------------------ bodies that once hung the webhook


@pytest_asyncio.fixture(loop_scope="session")
async def impatient_web(settings: Settings, stores: Stores) -> AsyncIterator[TestClient]:
    """Like `web`, but shutting down in 1 s: a request left hanging must not hold teardown."""
    server = TestServer(create_app(settings, stores.urls, stores=stores))
    await server.start_server(shutdown_timeout=1.0)
    client = TestClient(server)
    await client.start_server()
    yield client
    await client.close()


def _whatsapp_text(text_json: bytes) -> bytes:
    """The documented WhatsApp text message with its body replaced by raw JSON text."""
    doc = json.loads(good_body("whatsapp"))
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "@@"
    return json.dumps(doc).encode().replace(b'"@@"', text_json)


POISON = {
    # Once, encoding these for the queue raised inside the shared write: that request and every one batched
    # with it never got an answer, and after two such bodies no webhook was answered again.
    # Valid JSON: half an emoji, stored as U+FFFD.
    "lone surrogate escape": (_whatsapp_text(b'"Oi \\ud83d"'), 200),
    # Not UTF-8 (json.loads(bytes) alone would accept it with 'surrogatepass').
    "UTF-8-encoded surrogate": (_whatsapp_text(b'"Oi \xed\xa0\xbd"'), 400),
    # orjson parses up to 1024 levels but encodes only 255: the envelope is fine, so it is queued (200), and
    # the fan-out counts its event `malformed` (test_a_queued_body_the_worker_cannot_read_is_counted…).
    "1000 levels of nesting": (_whatsapp_text(b'"Oi", "x": ' + _nested(1000, "array")), 200),
}


async def test_deliveries_whose_events_cannot_be_encoded_are_answered_and_the_server_keeps_serving(
    impatient_web, settings, stores, accounts
) -> None:
    answers, expected = {}, {}
    for name, (body, status) in POISON.items():
        expected[name] = status
        try:
            resp = await post(impatient_web, "whatsapp", body, sign(settings, "whatsapp", body), HANG_WAIT)
            answers[name] = resp.status
        except TimeoutError:
            answers[name] = "no answer"
    # Another platform's correct delivery: with the bug, nothing that reaches the queue was answered any more.
    await still_serving(impatient_web, settings, "instagram", HANG_WAIT)
    assert answers == expected


async def test_a_queued_body_the_worker_cannot_read_is_counted_malformed_and_the_next_is_queued(
    web, settings, stores, accounts
) -> None:
    """Envelope right, inside unreadable: answered 200 (the platform sent it, signed), then counted `malformed` by the
    fan-out, archived for `papo replay`, and the bodies after it are parsed as usual."""
    doc = json.loads(good_body("tiktok"))
    doc["content"] = "[" * 50_000 + "]" * 50_000  # TikTok's content is a JSON string inside the JSON
    deep_tiktok = json.dumps(doc).encode()
    deep_whatsapp = _whatsapp_text(b'"Oi", "x": ' + _nested(1000, "array"))
    for platform, body in (("tiktok", deep_tiktok), ("whatsapp", deep_whatsapp)):
        resp = await post(web, platform, body, sign(settings, platform, body))
        assert resp.status == 200 and await resp.json() == {"queued": True}, await resp.text()
    await still_serving(web, settings, "tiktok")
    assert await fan_out(stores, settings) == 3
    assert await outcomes(stores, "tiktok") == {"queued": 1, "duplicate": 0, "unknown_account": 0, "malformed": 1}
    assert await outcomes(stores, "whatsapp") == {"queued": 0, "duplicate": 0, "unknown_account": 0,
                                                  "malformed": 1}
    archived = [codec.decode(fields) for _, fields in await stores.redis.xrange(RAW_STREAM)]
    assert sorted(len(entry["bodies"]) for entry in archived) == [1, 2]  # the tiktok partition's batch, whatsapp's


async def test_the_hanging_bodies_are_fine_without_their_trigger(impatient_web, settings, stores, accounts) -> None:
    """Controls for the POISON test: the same deliveries with a whole emoji and shallow nesting."""
    for body in (_whatsapp_text(b'"Oi \\ud83c\\udf6b"'), _whatsapp_text(b'"Oi", "x": ' + _nested(200, "array"))):
        resp = await post(impatient_web, "whatsapp", body, sign(settings, "whatsapp", body))
        assert resp.status == 200 and await resp.json() == {"queued": True}
    assert await fan_out(stores, settings) == 2
    # Both parse (the same message id: the second is Meta's retry of the first, as far as Papo can tell).
    assert await outcomes(stores, "whatsapp") == {"queued": 1, "duplicate": 1, "unknown_account": 0, "malformed": 0}


async def test_kwai_answers_one_403_for_unknown_and_known_accounts(web, settings, stores, accounts) -> None:
    known = good_body("kwai")
    unknown = json.dumps({**json.loads(known), "account_id": "kwai-nobody-0001"}).encode()
    answers = []
    for body in (known, unknown):  # both signed with a secret that is not the account's
        resp = await post(web, "kwai", body, signed_headers(Platform.KWAI, body, "some-guess", time.time()))
        answers.append((resp.status, await resp.text()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 403 and "kwai-nobody" not in answers[0][1]


async def test_a_refusal_never_names_the_settings_that_are_unset(stores, settings) -> None:
    bare = settings.model_copy(update={"meta_app_secret": None, "meta_verify_token": None})
    async with TestClient(TestServer(create_app(bare, stores.urls, stores=stores))) as web:
        body = good_body("whatsapp")
        signed = await post(web, "whatsapp", body, signed_headers(Platform.WHATSAPP, body, "x", time.time()))
        handshake = await web.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.challenge": "7",
                                                                "hub.verify_token": "guess"})
        callback = await web.post("/oauth/meta/deauthorize", data={"signed_request": "a.b"})
        texts = [await r.text() for r in (signed, handshake, callback)]
    assert [r.status for r in (signed, handshake, callback)] == [403, 403, 503]
    assert not any("PAPO_" in text for text in texts), texts
