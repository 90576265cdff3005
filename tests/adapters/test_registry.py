"""The explicit adapter registry."""

from __future__ import annotations

import pytest

from papo.adapters.adapter_registry import AdapterRegistry, default_registry, get_adapter
from papo.adapters.base import PerAccountSigning, WebhookAdapter
from papo.adapters.errors import DuplicateAdapterError, UnknownPlatformError
from papo.adapters.tiktok import TikTokAdapter
from papo.enums import Platform


def test_default_registry_has_one_adapter_per_platform() -> None:
    registry = default_registry()
    assert set(registry) == set(Platform)
    for platform, adapter in registry.items():
        assert adapter.platform == platform
        assert isinstance(adapter, WebhookAdapter)
    assert isinstance(registry[Platform.KWAI], PerAccountSigning)
    assert not isinstance(registry[Platform.WHATSAPP], PerAccountSigning)


def test_registering_twice_raises() -> None:
    registry = AdapterRegistry()
    registry.register(TikTokAdapter())
    with pytest.raises(DuplicateAdapterError, match="tiktok"):
        registry.register(TikTokAdapter())


def test_unknown_platform_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError) as caught:
        get_adapter("myspace")
    assert isinstance(caught.value, UnknownPlatformError)
    assert str(caught.value).startswith("unknown platform 'myspace' (known: ")
    assert caught.value.http_status == 404
    with pytest.raises(UnknownPlatformError):
        AdapterRegistry().get_adapter("whatsapp")


def test_lookup_by_name_or_enum() -> None:
    assert get_adapter("instagram") is get_adapter(Platform.INSTAGRAM)


def test_tolerances_are_passed_to_the_adapters() -> None:
    registry = default_registry(tiktok_tolerance=60, kwai_tolerance=30)
    assert registry[Platform.TIKTOK].tolerance == 60  # type: ignore[attr-defined]
    assert registry[Platform.KWAI].tolerance == 30  # type: ignore[attr-defined]
