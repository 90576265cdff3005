"""Shared helpers for the adapter tests: fixture files, parsing, and a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from papo.adapters.adapter_registry import get_adapter
from papo.adapters.events import InboundEvent

WEBHOOKS = Path(__file__).resolve().parents[1] / "data" / "webhooks"
SECRET = "test-app-secret-0123456789"
NOW = 1767272999.0  # 2026-01-01T13:09:59Z, a fixed "now" for freshness checks


def body(platform: str, name: str) -> bytes:
    """The raw bytes of a fixture, exactly as a platform would POST them."""
    return (WEBHOOKS / platform / name).read_bytes()


def parse(platform: str, name: str) -> list[InboundEvent]:
    """Parse a fixture with the registered adapter for its platform."""
    return get_adapter(platform).parse(body(platform, name))


def utc(text: str) -> datetime:
    """An aware UTC datetime from 'YYYY-MM-DDTHH:MM:SS[.ffffff]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fixtures(platform: str) -> list[str]:
    """Every fixture file name of a platform."""
    return sorted(p.name for p in (WEBHOOKS / platform).iterdir())
