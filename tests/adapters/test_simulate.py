"""`papo simulate` payload builders: signed bodies that the adapters accept and parse."""

from __future__ import annotations

import pytest

from papo.adapters.adapter_registry import get_adapter
from papo.adapters.events import EventKind
from papo.adapters.simulate import SIMULATE_KINDS, build_webhook
from papo.enums import Platform
from tests.adapters.helpers import NOW, SECRET

CASES = [(platform, kind) for platform, kinds in SIMULATE_KINDS.items() for kind in kinds]


@pytest.mark.parametrize(("platform", "kind"), CASES, ids=[f"{p}-{k}" for p, k in CASES])
def test_simulated_webhook_verifies_and_parses(platform: Platform, kind: EventKind) -> None:
    sender = "5548991234567" if platform is Platform.WHATSAPP else "1254459154682919"
    body, headers = build_webhook(
        platform,
        account="acct-1",
        sender=sender,
        text="Quanto custa? 🍰",
        kind=kind,
        secret=SECRET,
        name="Ana",
        now=NOW,
        event_id="E1",
        post_id="dQw4Xw9WgXc",
    )
    adapter = get_adapter(platform)
    adapter.verify(headers, body, SECRET, now=NOW)
    [event] = adapter.parse(body)
    assert event.kind is kind
    assert event.account_id == "acct-1"
    assert event.timestamp.timestamp() == pytest.approx(NOW, abs=1)
    if kind is EventKind.VIDEO_PUBLISHED:
        assert (event.post_id, event.text) == ("dQw4Xw9WgXc", "Quanto custa? 🍰")
    else:
        assert event.remote_user_id == sender
    if kind in (EventKind.MESSAGE, EventKind.COMMENT, EventKind.STORY_REPLY):
        assert event.text == "Quanto custa? 🍰"


def test_whatsapp_business_scoped_sender() -> None:
    body, _headers = build_webhook(
        "whatsapp", account="106", sender="BR.1502576394655843", text="oi", secret=SECRET
    )
    [event] = get_adapter("whatsapp").parse(body)
    assert event.remote_user_id == "BR.1502576394655843"
    assert event.remote_user_phone is None


def test_each_simulation_is_a_new_event() -> None:
    first, _ = build_webhook("instagram", account="1", sender="2", text="a", secret=SECRET)
    second, _ = build_webhook("instagram", account="1", sender="2", text="a", secret=SECRET)
    [a], [b] = get_adapter("instagram").parse(first), get_adapter("instagram").parse(second)
    assert a.dedupe_key != b.dedupe_key


def test_unsupported_kind_and_missing_secret() -> None:
    with pytest.raises(ValueError, match="choose one of: message"):
        build_webhook("whatsapp", account="1", sender="2", text="x", kind="follow", secret=SECRET)
    with pytest.raises(ValueError, match="secret"):
        build_webhook("kwai", account="1", sender="2", text="x", secret="")
