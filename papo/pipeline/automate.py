"""The automation stage: run the owner's rules on each new customer message, then act.

Per message, in conversation order: the pure evaluator decides (all matching tag/notify actions, at most
one reply), `claim_all` re-checks cooldowns and the hourly cap atomically in Redis, then granted actions
are carried out — tags on the lead and the conversation, owner notifications, replies queued on the
outbound stream under the action's deterministic id (so a retried or replayed batch never sends twice).

Human handoff (papo/services/handoff.py) comes first: an echo the owner sent by hand from the platform's
app pauses its conversation, and in a paused conversation no automated reply is sent — tags, owner alerts
and a `handoff` rule's pause still act. Outside the owner's opening hours a direct message gets the away
text, once per conversation per closed period (papo/services/hours.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from papo.adapters.events import EventKind
from papo.adapters.senders.message import Button, OutboundKind, OutboundMessage, TemplateMessage
from papo.ai.faq_reply import FaqResponder
from papo.batching import AutoPipeline
from papo.engine import RuleIndex, evaluate, triggers_for
from papo.engine.model import Action, EvalContext, LeadView, TemplateCall
from papo.engine.render import builtin_values, render
from papo.engine.state import claim_all, load_state
from papo.enums import Action as ActionType
from papo.enums import LeadQuality, Platform, RulePlatform
from papo.runtime import Stores
from papo.services import automation, handoff
from papo.services import hours as hours_service
from papo.services import rules as rules_service
from papo.services.event_store import BatchResult, NewMessage
from papo.services.notify import HANDOFF, notify_owner
from papo.services.plans import AiBudget
from papo.services.queues import OutboundQueue

if TYPE_CHECKING:
    from papo.config import Settings

log = logging.getLogger(__name__)

INDEX_TTL = 5.0  # seconds a business's compiled rules are reused before checking for changes
DEFAULT_TEMPLATE_LANGUAGE = "pt_BR"
# Public comments get a private reply where the platform has one (Instagram, Messenger), a public reply
# elsewhere (YouTube, Kwai).
PRIVATE_REPLY_PLATFORMS = frozenset({Platform.INSTAGRAM, Platform.FACEBOOK})
# The away reply answers direct messages on the platforms Papo can answer them on (inside their window:
# it answers the message that just arrived).
AWAY_KINDS = frozenset({EventKind.MESSAGE, EventKind.STORY_REPLY, EventKind.POSTBACK})
AWAY_PLATFORMS = frozenset({Platform.WHATSAPP, Platform.INSTAGRAM, Platform.FACEBOOK, Platform.KWAI})


class AutomateStage:
    """Evaluates rules for the new customer messages of a committed batch and carries out the actions."""

    # Rules need what understanding found; without an opt-out stage nothing is `handled` (every
    # message is a candidate), but opt-out running after automation would let a rule answer "sair".
    fills: ClassVar[frozenset[str]] = frozenset()
    reads: ClassVar[frozenset[str]] = frozenset({"new_messages", "classifications", "leads", "received_at"})
    reads_if_filled: ClassVar[frozenset[str]] = frozenset({"handled"})

    def __init__(self, stores: Stores, settings: Settings) -> None:
        self.stores = stores
        self.settings = settings
        self.queue = OutboundQueue.from_settings(stores.redis, settings)
        self._indexes: dict[uuid.UUID, tuple[float, str, RuleIndex]] = {}
        self._hours: dict[uuid.UUID, tuple[float, hours_service.Hours | None]] = {}
        self.faq = FaqResponder(settings)
        self.actions_taken = 0

    async def __call__(self, result: BatchResult) -> None:
        """Run on one committed batch (after the understanding stage)."""
        await self._owner_answered(result.new_messages)
        candidates = [m for m in result.new_messages
                      if not handoff.is_echo(m.event) and m.message_id not in result.handled]
        # Only messages that some rule of their business could fire on, or that may be owed an away reply,
        # cost Redis/SQL round trips.
        todo = []
        indexes: dict[uuid.UUID, RuleIndex] = {}
        for new in candidates:
            if new.user_id not in indexes:
                indexes[new.user_id] = await self._index(new.user_id)
            if _may_fire(indexes[new.user_id], new.event):
                todo.append(new)
        away = [m for m in candidates if m.event.kind in AWAY_KINDS and m.event.platform in AWAY_PLATFORMS
                and await self._hours_of(m.user_id) is not None]
        if not todo and not away:
            return
        paused = await handoff.paused_among((m.conversation_id for m in todo + away), datetime.now(UTC))
        replies = await self._away(away, paused)
        if todo:
            facts = await automation.conversation_facts(todo)
            # Conversations concurrently (their Redis commands share pipelines), each one's messages in order.
            by_conversation: dict[uuid.UUID, list[NewMessage]] = {}
            for new in todo:
                by_conversation.setdefault(new.conversation_id, []).append(new)
            auto = AutoPipeline(self.stores.redis)
            queued = await asyncio.gather(*(self._automate(auto, result, messages, indexes, facts, paused)
                                            for messages in by_conversation.values()))
            replies += [reply for conversation_replies in queued for reply in conversation_replies]
        if replies:
            await self.queue.enqueue_many(replies)

    async def _owner_answered(self, messages: list[NewMessage]) -> None:
        """Echoes the owner sent from the platform's app hand their conversations off (Papo's own do not)."""
        echoes = await handoff.owner_echoes(self.stores.redis, messages, self.settings.meta_app_id)
        hours = timedelta(hours=self.settings.handoff_hours)
        latest: dict[uuid.UUID, datetime] = {}
        for new in echoes:
            latest[new.conversation_id] = max(new.event.timestamp, latest.get(new.conversation_id, new.event.timestamp))
        for conversation_id, at in latest.items():
            # From when the owner wrote: an old echo replayed long after does not pause the conversation now.
            if await handoff.pause_many([conversation_id], until=at + hours, reason=handoff.OWNER_APP):
                log.info("conversation %s handed off: the owner answered from the platform's app", conversation_id)

    async def _away(self, candidates: list[NewMessage], paused: set[uuid.UUID]) -> list[OutboundMessage]:
        """The away replies owed to these direct messages: outside opening hours, once per conversation and
        closed period."""
        now = datetime.now(UTC)
        out: dict[str, OutboundMessage] = {}
        for new in candidates:
            event = new.event
            if new.conversation_id in paused:
                continue
            hours = await self._hours_of(new.user_id)
            if hours is None:
                continue
            since = hours_service.closed_since(hours, event.timestamp)
            # Judged when the customer wrote, and still closed now (a backlog read after opening gets nothing).
            if since is None or hours_service.closed_since(hours, now) != since:
                continue
            outbound_id = away_outbound_id(new.conversation_id, since)
            name = event.remote_user_name or event.remote_user_username
            text = render(hours.away_text, builtin_values(name=name, business_name=None, platform=event.platform))
            out.setdefault(outbound_id, self._request(new, outbound_id, OutboundKind.REPLY, text))
        return list(out.values())

    async def _hours_of(self, user_id: uuid.UUID) -> hours_service.Hours | None:
        """A business's hours when it has an away reply set (cached briefly, like its rules)."""
        now = time.monotonic()
        cached = self._hours.get(user_id)
        if cached and cached[0] > now:
            return cached[1]
        found = await hours_service.hours_by_user([user_id], default_timezone=self.settings.timezone)
        self._hours[user_id] = (now + INDEX_TTL, found.get(user_id))
        return found.get(user_id)

    async def _automate(self, auto: AutoPipeline, result: BatchResult, messages: list[NewMessage],
                        indexes: dict[uuid.UUID, RuleIndex], facts: dict[uuid.UUID, dict[str, Any]],
                        paused: set[uuid.UUID]) -> list[OutboundMessage]:
        """One conversation's new messages, in order: evaluate, claim, carry out; the replies to queue.

        In a paused conversation (`paused`, which a handoff action here adds to) replies are dropped before
        they are claimed, so they use no cooldown or cap.
        """
        replies: list[OutboundMessage] = []
        for new in messages:
            index = indexes[new.user_id]
            event = new.event
            now = datetime.now(UTC)
            conv = facts.get(new.conversation_id, {})
            context = EvalContext(
                conversation_id=str(new.conversation_id),
                is_first_message=conv.get("first_message_id") == new.message_id,
                business_name=conv.get("business_name"),
                timezone=self.settings.timezone,
                state=await load_state(auto, str(new.conversation_id), now),
            )
            lead = _lead_view(result, new, conv)
            actions = evaluate(event, result.classifications.get(new.message_id), lead, index, now=now,
                               context=context)
            if new.conversation_id in paused:
                actions = [a for a in actions if not a.is_reply]
            for action, claim in await claim_all(auto, actions, now,
                                                 max_replies_per_hour=context.max_replies_per_hour):
                if not claim.proceed:
                    log.info("rule %s not carried out for %s: %s", action.rule_name, event.dedupe_key, claim)
                    continue
                reply = await self._carry_out(action, new, result.received_at.get(event.dedupe_key))
                if action.type is ActionType.HANDOFF:
                    paused.add(new.conversation_id)
                if reply is not None:
                    replies.append(reply)
                self.actions_taken += 1
        return replies

    async def _index(self, user_id: uuid.UUID) -> RuleIndex:
        """The business's compiled rules, rebuilt only when they changed."""
        now = time.monotonic()
        cached = self._indexes.get(user_id)
        if cached and cached[0] > now:
            return cached[2]
        version = await rules_service.rules_version(user_id)
        if cached and cached[1] == version:
            self._indexes[user_id] = (now + INDEX_TTL, version, cached[2])
            return cached[2]
        index = await rules_service.load_index(user_id)
        self._indexes[user_id] = (now + INDEX_TTL, version, index)
        return index

    async def _carry_out(self, action: Action, new: NewMessage, received_at: datetime | None = None
                         ) -> OutboundMessage | None:
        """Do a tag or notify action now; return a reply to queue."""
        if action.type is ActionType.TAG_LEAD:
            await automation.tag_customer(new, action.tags)
            return None
        if action.type is ActionType.NOTIFY_OWNER:
            await notify_owner(
                self.stores.redis, new.user_id, "rule",
                {"rule": action.rule_name, "message": action.text, "conversation_id": str(new.conversation_id),
                 "text": new.event.text, "platform": str(new.event.platform),
                 "customer": new.event.remote_user_name or new.event.remote_user_id},
                dedupe_key=action.action_id,
            )
            return None
        if action.type is ActionType.HANDOFF:
            await self._hand_off(action, new)
            return None
        return await self._reply(action, new, received_at)

    async def _hand_off(self, action: Action, new: NewMessage) -> None:
        """A handoff rule: pause the conversation and alert the owner (with a "resume" button)."""
        hours = action.hours or self.settings.handoff_hours
        until = datetime.now(UTC) + timedelta(hours=hours)
        await handoff.pause_many([new.conversation_id], until=until, reason=handoff.RULE)
        await notify_owner(
            self.stores.redis, new.user_id, HANDOFF,
            {"rule": action.rule_name, "message": action.text, "conversation_id": str(new.conversation_id),
             "text": new.event.text, "platform": str(new.event.platform), "paused_until": until.isoformat(),
             "customer": new.event.remote_user_name or new.event.remote_user_id},
            dedupe_key=action.action_id,
        )

    async def _reply(self, action: Action, new: NewMessage, received_at: datetime | None = None
                     ) -> OutboundMessage | None:
        """The outbound request for a reply action (ai_reply: the model's FAQ answer, else its fallback)."""
        event = new.event
        text = action.text
        template = _template(action.template)
        if action.type is ActionType.AI_REPLY:
            budget = AiBudget(self.stores.redis, new.user_id)
            text = await self.faq.answer(action.faq, event.text, business=None, budget=budget) or action.text
            if not text:
                log.info("ai_reply of rule %s: no model answer and no fallback text, nothing sent", action.rule_name)
                return None
        if event.kind is EventKind.COMMENT:
            private = event.platform in PRIVATE_REPLY_PLATFORMS
            kind = OutboundKind.PRIVATE_REPLY if private else OutboundKind.COMMENT_REPLY
        else:
            kind = OutboundKind.REPLY
        return self._request(
            new, action.action_id, kind, text if template is None else None,
            buttons=tuple(Button(id=title[:256], title=title) for title in action.buttons),
            template=template, fallback=_template(action.fallback), automation_rule_id=action.rule_id,
            received_at=received_at,
        )

    @staticmethod
    def _request(new: NewMessage, outbound_id: str, kind: OutboundKind, text: str | None,
                 **extra: Any) -> OutboundMessage:
        """An automated outbound request answering this message (a comment's reply names the comment)."""
        event = new.event
        comment = event.kind is EventKind.COMMENT
        return OutboundMessage(
            outbound_id=outbound_id,
            **answer_to(new),
            kind=kind,
            text=text,
            comment_id=event.platform_message_id if comment else None,
            parent_comment_id=event.parent_comment_id if comment else None,
            comment_created_at=event.timestamp if comment else None,
            automated=True,
            **extra,
        )


def away_outbound_id(conversation_id: uuid.UUID, closed_since: datetime) -> str:
    """The away reply's id for one conversation and closed period: the same for every message of the period."""
    key = f"away\x1f{conversation_id}\x1f{closed_since.astimezone(UTC).isoformat()}"
    return "away:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def answer_to(new: NewMessage) -> dict[str, Any]:
    """The OutboundMessage fields that address an answer to the customer who sent `new`."""
    event = new.event
    return {"platform": event.platform, "user_id": str(new.user_id), "account_id": str(new.account_id),
            "platform_account_id": event.account_id, "conversation_id": str(new.conversation_id),
            "recipient_id": event.remote_user_id, "recipient_phone": event.remote_user_phone}


def _may_fire(index: RuleIndex, event: Any) -> bool:
    """Whether any rule bucket exists for this event's triggers on its platform (cheap, no I/O)."""
    if len(index) == 0:
        return False
    platform = RulePlatform(event.platform.value)
    return any((trigger, where) in index.buckets
               for trigger in triggers_for(event) for where in (platform, RulePlatform.ANY))


def _template(call: TemplateCall | None) -> TemplateMessage | None:
    """An engine template call as the outbound request's template (WhatsApp approved templates)."""
    if call is None:
        return None
    return TemplateMessage(
        name=call.meta_template_name or call.name,
        language=call.language or DEFAULT_TEMPLATE_LANGUAGE,
        body_params=call.parameters,
        expected_body_params=len(call.parameters),
        preview=call.text,
    )


def _lead_view(result: BatchResult, new: NewMessage, conv: dict[str, Any]) -> LeadView | None:
    """The lead as the understanding stage left it, with the lead's and conversation's tags."""
    state = result.leads.get((new.user_id, str(new.event.platform), new.event.remote_user_id))
    tags = frozenset(conv.get("tags") or ()) | frozenset(conv.get("lead_tags") or ())
    if state is None:
        return LeadView(name=new.event.remote_user_name, tags=tags)
    return LeadView(
        name=state.name, tags=tags, quality=state.quality if isinstance(state.quality, LeadQuality) else None,
        score=state.score, email=state.email, phone=state.phone,
    )
