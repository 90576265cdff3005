"""The automation stage: run the owner's rules on each new customer message, then act.

Per message, in conversation order: the pure evaluator decides (all matching tag/notify actions, at most
one reply), `claim_all` re-checks cooldowns and the hourly cap atomically in Redis, then granted actions
are carried out — tags on the lead and the conversation, owner notifications, replies queued on the
outbound stream under the action's deterministic id (so a retried or replayed batch never sends twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise

from papo.adapters.events import EventKind
from papo.adapters.outbound.message import Button, OutboundKind, OutboundMessage, TemplateMessage
from papo.ai.faq_reply import FaqResponder
from papo.batching import AutoPipeline
from papo.engine import RuleIndex, evaluate, triggers_for
from papo.engine.model import Action, EvalContext, LeadView, TemplateCall
from papo.engine.state import claim_all, load_state
from papo.enums import Action as ActionType
from papo.enums import LeadQuality, Platform, RulePlatform
from papo.pipeline.outbound import OutboundQueue
from papo.runtime import Stores
from papo.services import rules as rules_service
from papo.services.inbound import BatchResult, NewMessage
from papo.services.notify import notify_owner
from papo.services.plans import AiBudget

log = logging.getLogger(__name__)

INDEX_TTL = 5.0  # seconds a business's compiled rules are reused before checking for changes
DEFAULT_TEMPLATE_LANGUAGE = "pt_BR"
# Public comments get a private reply where the platform has one (Instagram, Messenger), a public reply
# elsewhere (YouTube, Kwai).
PRIVATE_REPLY_PLATFORMS = frozenset({Platform.INSTAGRAM, Platform.FACEBOOK})


class AutomateStage:
    """Evaluates rules for the new customer messages of a committed batch and carries out the actions."""

    def __init__(self, stores: Stores, settings: Any) -> None:
        self.stores = stores
        self.settings = settings
        self.queue = OutboundQueue.from_settings(stores.redis, settings)
        self._indexes: dict[uuid.UUID, tuple[float, str, RuleIndex]] = {}
        self.faq = FaqResponder(settings)
        self.actions_taken = 0

    async def __call__(self, result: BatchResult) -> None:
        """Run on one committed batch (after the understanding stage)."""
        candidates = [m for m in result.new_messages if not m.event.is_echo and m.event.kind is not EventKind.ECHO]
        # Only messages that some rule of their business could fire on cost Redis/SQL round trips.
        todo = []
        indexes: dict[uuid.UUID, RuleIndex] = {}
        for new in candidates:
            if new.user_id not in indexes:
                indexes[new.user_id] = await self._index(new.user_id)
            if _may_fire(indexes[new.user_id], new.event):
                todo.append(new)
        if not todo:
            return
        facts = await _conversation_facts(todo)
        # Conversations concurrently (their Redis commands share pipelines), each one's messages in order.
        by_conversation: dict[uuid.UUID, list[NewMessage]] = {}
        for new in todo:
            by_conversation.setdefault(new.conversation_id, []).append(new)
        auto = AutoPipeline(self.stores.redis)
        queued = await asyncio.gather(*(self._automate(auto, result, messages, indexes, facts)
                                        for messages in by_conversation.values()))
        replies = [reply for conversation_replies in queued for reply in conversation_replies]
        if replies:
            await self.queue.enqueue_many(replies)

    async def _automate(self, auto: AutoPipeline, result: BatchResult, messages: list[NewMessage],
                        indexes: dict[uuid.UUID, RuleIndex], facts: dict[uuid.UUID, dict[str, Any]],
                        ) -> list[OutboundMessage]:
        """One conversation's new messages, in order: evaluate, claim, carry out; the replies to queue."""
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
                timezone=getattr(self.settings, "timezone", "America/Sao_Paulo"),
                state=await load_state(auto, str(new.conversation_id), now),
            )
            lead = _lead_view(result, new, conv)
            actions = evaluate(event, result.classifications.get(new.message_id), lead, index, now=now,
                               context=context)
            for action, claim in await claim_all(auto, actions, now,
                                                 max_replies_per_hour=context.max_replies_per_hour):
                if not claim.proceed:
                    log.info("rule %s not carried out for %s: %s", action.rule_name, event.dedupe_key, claim)
                    continue
                reply = await self._carry_out(action, new)
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

    async def _carry_out(self, action: Action, new: NewMessage) -> OutboundMessage | None:
        """Do a tag or notify action now; return a reply to queue."""
        if action.type is ActionType.TAG_LEAD:
            await _tag(new, action.tags)
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
        return await self._reply(action, new)

    async def _reply(self, action: Action, new: NewMessage) -> OutboundMessage | None:
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
        comment = event.kind is EventKind.COMMENT
        if comment:
            private = event.platform in PRIVATE_REPLY_PLATFORMS
            kind = OutboundKind.PRIVATE_REPLY if private else OutboundKind.COMMENT_REPLY
        else:
            kind = OutboundKind.REPLY
        return OutboundMessage(
            outbound_id=action.action_id,
            platform=event.platform,
            user_id=str(new.user_id),
            account_id=str(new.account_id),
            platform_account_id=event.account_id,
            conversation_id=str(new.conversation_id),
            recipient_id=event.remote_user_id,
            recipient_phone=event.remote_user_phone,
            kind=kind,
            text=text if template is None else None,
            buttons=tuple(Button(id=title[:256], title=title) for title in action.buttons),
            template=template,
            fallback=_template(action.fallback),
            comment_id=event.platform_message_id if comment else None,
            parent_comment_id=event.parent_comment_id if comment else None,
            comment_created_at=event.timestamp if comment else None,
            automation_rule_id=action.rule_id,
            automated=True,
        )


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


async def _conversation_facts(todo: list[NewMessage]) -> dict[uuid.UUID, dict[str, Any]]:
    """Per conversation: its first customer message, tags, the lead's tags and the business name."""
    ids = list({m.conversation_id for m in todo})
    rows = await Tortoise.get_connection("default").execute_query_dict(
        """
        SELECT c.id, c.tags, a.business_name, l.tags AS lead_tags,
               (SELECT m.id FROM messages m WHERE m.conversation_id = c.id AND m.sender = 'remote'
                ORDER BY m.created_at LIMIT 1) AS first_message_id
        FROM conversations c
        LEFT JOIN connected_accounts a ON a.id = c.account_id
        LEFT JOIN crm_leads l ON l.user_id = c.user_id AND l.platform = c.platform
                              AND l.remote_user_id = c.remote_user_id
        WHERE c.id = ANY($1::uuid[])
        """,
        [ids],
    )
    return {row["id"]: dict(row) for row in rows}


async def _tag(new: NewMessage, tags: tuple[str, ...]) -> None:
    """Add tags (once each) to the customer's lead and conversation."""
    if not tags:
        return
    conn = Tortoise.get_connection("default")
    await conn.execute_query(
        "UPDATE conversations SET tags = ARRAY(SELECT DISTINCT unnest(COALESCE(tags, '{}') || $2::text[])) "
        "WHERE id = $1",
        [new.conversation_id, list(tags)],
    )
    await conn.execute_query(
        "INSERT INTO crm_leads (id, user_id, platform, remote_user_id, remote_user_name, tags) "
        "VALUES (gen_random_uuid(), $1, $2, $3, $4, $5::text[]) "
        "ON CONFLICT (user_id, platform, remote_user_id) DO UPDATE SET "
        "tags = ARRAY(SELECT DISTINCT unnest(COALESCE(crm_leads.tags, '{}') || EXCLUDED.tags))",
        [new.user_id, str(new.event.platform), new.event.remote_user_id, new.event.remote_user_name, list(tags)],
    )
