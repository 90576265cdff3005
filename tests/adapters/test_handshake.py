"""GET verification handshakes."""

from __future__ import annotations

import pytest

from papo.adapters.adapter_registry import get_adapter
from papo.adapters.base import WebhookSecrets
from papo.adapters.errors import PayloadError, SignatureError
from papo.config import Settings

SECRETS = WebhookSecrets(meta_verify_token="my-verify-token", meta_app_secret="x")
TOPIC = "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UCx9k2Lr7nQvB3mT5yHw8ZpA"


@pytest.mark.parametrize("platform", ["whatsapp", "instagram", "facebook"])
def test_meta_handshake(platform: str) -> None:
    adapter = get_adapter(platform)
    query = {"hub.mode": "subscribe", "hub.verify_token": "my-verify-token", "hub.challenge": "1158201444"}
    assert adapter.handshake(query, SECRETS) == "1158201444"
    with pytest.raises(SignatureError):
        adapter.handshake({**query, "hub.verify_token": "guess"}, SECRETS)
    with pytest.raises(SignatureError):
        adapter.handshake({**query, "hub.mode": "unsubscribe"}, SECRETS)
    with pytest.raises(SignatureError, match="not configured"):
        adapter.handshake(query, WebhookSecrets())
    with pytest.raises(PayloadError):
        adapter.handshake({k: v for k, v in query.items() if k != "hub.challenge"}, SECRETS)
    assert adapter.handshake({}, SECRETS) is None


def test_youtube_handshake() -> None:
    adapter = get_adapter("youtube")
    for mode in ("subscribe", "unsubscribe"):
        query = {
            "hub.mode": mode,
            "hub.topic": TOPIC,
            "hub.challenge": "ch4ll3nge",
            "hub.lease_seconds": "432000",
        }
        assert adapter.handshake(query, SECRETS) == "ch4ll3nge"
    with pytest.raises(SignatureError):
        adapter.handshake(
            {"hub.mode": "subscribe", "hub.topic": "https://evil.example/x", "hub.challenge": "c"}, SECRETS
        )
    assert adapter.handshake({"hub.mode": "denied", "hub.topic": TOPIC, "hub.reason": "no"}, SECRETS) == ""
    assert adapter.handshake({}, SECRETS) is None


@pytest.mark.parametrize("platform", ["tiktok", "kwai"])
def test_platforms_without_get_verification(platform: str) -> None:
    assert get_adapter(platform).handshake({"hub.challenge": "x"}, SECRETS) is None


def test_secrets_from_settings_and_per_platform_key() -> None:
    settings = Settings(_env_file=None, meta_app_secret="meta", meta_verify_token="verify",  # type: ignore[call-arg]
                        tiktok_client_secret="tt", youtube_hub_secret=None, tiktok_signature_tolerance=120)
    secrets = WebhookSecrets.from_settings(settings)
    assert secrets.signing_secret("whatsapp") == secrets.signing_secret("facebook") == "meta"
    assert secrets.signing_secret("tiktok") == "tt"
    assert secrets.signing_secret("youtube") is None
    assert secrets.signing_secret("kwai") is None  # per-account: see KwaiAdapter.signing_account
    assert secrets.tiktok_tolerance == 120
    assert "meta" not in repr(secrets)
