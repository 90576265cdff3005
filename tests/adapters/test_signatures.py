"""Signature verification over the raw body, for every platform."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from papo.adapters import kwai, meta, tiktok, youtube
from papo.adapters.adapter_registry import get_adapter
from papo.adapters.errors import SignatureError
from tests.adapters.helpers import NOW, SECRET, body

META_PLATFORMS = [
    ("whatsapp", "text_bsuid.json"),
    ("instagram", "dm_text.json"),
    ("facebook", "messenger.json"),
]


def _reserialized(raw: bytes) -> bytes:
    """The same JSON re-encoded the way a framework would (spacing, escaping): different bytes."""
    return json.dumps(json.loads(raw)).encode()


@pytest.mark.parametrize(("platform", "name"), META_PLATFORMS)
def test_meta_good_signature(platform: str, name: str) -> None:
    raw = body(platform, name)
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    get_adapter(platform).verify({"X-Hub-Signature-256": f"sha256={digest}"}, raw, SECRET, now=NOW)
    # Header names are case-insensitive; hex may arrive in upper case.
    get_adapter(platform).verify({"x-hub-signature-256": f"sha256={digest.upper()}"}, raw, SECRET, now=NOW)


@pytest.mark.parametrize(("platform", "name"), META_PLATFORMS)
def test_meta_bad_signatures(platform: str, name: str) -> None:
    adapter = get_adapter(platform)
    raw = body(platform, name)
    good = meta.sign(raw, SECRET)
    cases = {
        "forged": ({"X-Hub-Signature-256": meta.sign(raw, "another-secret")}, raw, SECRET),
        "missing": ({}, raw, SECRET),
        "malformed": ({"X-Hub-Signature-256": good.removeprefix("sha256=")}, raw, SECRET),
        "sha1": ({"X-Hub-Signature-256": "sha1=" + good.removeprefix("sha256=")}, raw, SECRET),
        "tampered": ({"X-Hub-Signature-256": good}, raw.replace(b"Oi", b"Ol", 1) + b" ", SECRET),
        "reserialized": ({"X-Hub-Signature-256": good}, _reserialized(raw), SECRET),
        "no secret": ({"X-Hub-Signature-256": meta.sign(raw, "")}, raw, ""),
    }
    for label, (headers, payload, secret) in cases.items():
        with pytest.raises(SignatureError):
            adapter.verify(headers, payload, secret, now=NOW)
            pytest.fail(f"{label} signature was accepted")


def test_tiktok_signature() -> None:
    adapter = get_adapter("tiktok")
    raw = body("tiktok", "authorization_removed.json")
    t = int(NOW) - 10
    digest = hmac.new(SECRET.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    adapter.verify({"TikTok-Signature": f"t={t},s={digest}"}, raw, SECRET, now=NOW)
    adapter.verify({"Tiktok-Signature": tiktok.sign(raw, SECRET, t)}, raw, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("label", "make"),
    [
        ("forged", lambda raw: {"TikTok-Signature": tiktok.sign(raw, "wrong", int(NOW))}),
        ("missing", lambda raw: {}),
        ("malformed", lambda raw: {"TikTok-Signature": "s=abc"}),
        ("stale", lambda raw: {"TikTok-Signature": tiktok.sign(raw, SECRET, int(NOW) - 301)}),
        ("future", lambda raw: {"TikTok-Signature": tiktok.sign(raw, SECRET, int(NOW) + 301)}),
        (
            "bad timestamp",
            lambda raw: {"TikTok-Signature": "t=soon,s=" + hmac.new(b"x", raw, "sha256").hexdigest()},
        ),
        ("reserialized", lambda raw: {"TikTok-Signature": tiktok.sign(_reserialized(raw), SECRET, int(NOW))}),
    ],
)
def test_tiktok_bad_signatures(label: str, make) -> None:  # type: ignore[no-untyped-def]
    raw = body("tiktok", "authorization_removed.json")
    with pytest.raises(SignatureError):
        get_adapter("tiktok").verify(make(raw), raw, SECRET, now=NOW)


def test_tiktok_freshness_window_is_configurable() -> None:
    raw = body("tiktok", "authorization_removed.json")
    headers = {"TikTok-Signature": tiktok.sign(raw, SECRET, int(NOW) - 500)}
    tiktok.TikTokAdapter(tolerance=600).verify(headers, raw, SECRET, now=NOW)
    with pytest.raises(SignatureError, match="tolerance"):
        tiktok.TikTokAdapter(tolerance=300).verify(headers, raw, SECRET, now=NOW)


def test_youtube_signature() -> None:
    adapter = get_adapter("youtube")
    raw = body("youtube", "new_video.xml")
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha1).hexdigest()
    adapter.verify({"X-Hub-Signature": f"sha1={digest}"}, raw, SECRET, now=NOW)
    for headers, secret in [
        ({"X-Hub-Signature": youtube.sign(raw, "wrong")}, SECRET),
        ({}, SECRET),
        ({"X-Hub-Signature": f"sha256={digest}"}, SECRET),
        ({"X-Hub-Signature": youtube.sign(raw, SECRET)}, ""),
    ]:
        with pytest.raises(SignatureError):
            adapter.verify(headers, raw, secret, now=NOW)
    with pytest.raises(SignatureError):
        adapter.verify(
            {"X-Hub-Signature": f"sha1={digest}"}, raw.replace(b"gourmet", b"caseiro"), SECRET, now=NOW
        )


def test_kwai_signature() -> None:
    adapter = get_adapter("kwai")
    raw = body("kwai", "batch.json")
    t = int(NOW)
    digest = hmac.new(SECRET.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    adapter.verify({"X-Papo-Signature": f"t={t},v1={digest}"}, raw, SECRET, now=NOW)
    # During secret rotation the sender may include one v1 per secret; one match is enough.
    adapter.verify({"X-Papo-Signature": f"t={t},v1={'0' * 64},v1={digest}"}, raw, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("label", "make"),
    [
        ("forged", lambda raw: {"X-Papo-Signature": kwai.sign(raw, "other-account-secret", int(NOW))}),
        ("missing", lambda raw: {}),
        ("malformed", lambda raw: {"X-Papo-Signature": "v1=abc"}),
        ("stale", lambda raw: {"X-Papo-Signature": kwai.sign(raw, SECRET, int(NOW) - 301)}),
        ("reserialized", lambda raw: {"X-Papo-Signature": kwai.sign(_reserialized(raw), SECRET, int(NOW))}),
    ],
)
def test_kwai_bad_signatures(label: str, make) -> None:  # type: ignore[no-untyped-def]
    raw = body("kwai", "batch.json")
    with pytest.raises(SignatureError):
        get_adapter("kwai").verify(make(raw), raw, SECRET, now=NOW)


@pytest.mark.parametrize("platform", ["whatsapp", "instagram", "facebook", "tiktok", "youtube", "kwai"])
def test_every_platform_fails_closed_without_a_secret(platform: str) -> None:
    with pytest.raises(SignatureError, match="not configured"):
        get_adapter(platform).verify({}, b"{}", "", now=NOW)
