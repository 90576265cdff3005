"""The opt-out stage: a customer whose whole message is "sair", "parar", "stop", "baja"… leaves the campaigns.

Runs after understanding (the message is still stored, classified and scored) and before automation,
which then leaves that message alone: a rule must not answer "sair" with a welcome. When the customer's
choice changes, one confirmation goes out on the outbound stream under a deterministic id, so a
redelivered batch never confirms twice; writing "sair" again while opted out changes nothing and sends
nothing. "voltar", "start", "alta" opt back in, confirmed the same way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

from papo.adapters.events import EventKind
from papo.adapters.senders.message import OutboundKind, OutboundMessage
from papo.pipeline.automate import answer_to
from papo.runtime import Stores
from papo.services import optout
from papo.services.event_store import BatchResult, NewMessage
from papo.services.queues import OutboundQueue

if TYPE_CHECKING:
    from papo.config import Settings

log = logging.getLogger(__name__)

# Direct messages only: a public comment "stop" is not a request to leave a campaign.
KINDS = frozenset({EventKind.MESSAGE})


class OptOutStage:
    """Records opt-outs and opt-ins of a committed batch and queues their confirmations."""

    fills: ClassVar[frozenset[str]] = frozenset({"handled"})  # automation leaves these messages alone
    reads: ClassVar[frozenset[str]] = frozenset({"new_messages"})

    def __init__(self, stores: Stores, settings: Settings) -> None:
        self.stores = stores
        self.queue = OutboundQueue.from_settings(stores.redis, settings)
        self.changes = 0

    async def __call__(self, result: BatchResult) -> None:
        """Run on one committed batch."""
        confirmations = []
        for new in result.new_messages:
            event = new.event
            if event.is_echo or event.kind not in KINDS:
                continue
            keyword = optout.detect(event.text)
            if keyword is None:
                continue
            result.handled.add(new.message_id)
            if keyword.out:
                changed = await optout.opt_out(new.user_id, str(event.platform), event.remote_user_id,
                                               keyword=keyword.word)
            else:
                changed = await optout.opt_in(new.user_id, str(event.platform), event.remote_user_id)
            log.info("%s %s of %s (%s)", "opt-out" if keyword.out else "opt-in",
                     "recorded" if changed else "already so", event.remote_user_id, keyword.word)
            if changed:
                self.changes += 1
                confirmations.append(_confirmation(new, keyword))
        if confirmations:
            await self.queue.enqueue_many(confirmations)


def _confirmation(new: NewMessage, keyword: optout.Keyword) -> OutboundMessage:
    """The one reply confirming a changed choice (a free-form reply: the customer just wrote)."""
    return OutboundMessage(
        outbound_id=f"optout:{new.event.dedupe_key}",
        **answer_to(new),
        kind=OutboundKind.REPLY,
        text=keyword.confirmation(),
        automated=True,
    )
