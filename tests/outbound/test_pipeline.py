"""The outbound pipeline on real stores against a local fake of the platforms' APIs."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from papo.adapters.senders import Button, OutboundKind, TemplateMessage, base
from papo.constants import ACTIVE_CONVERSATION
from papo.enums import Platform
from papo.models import Message
from papo.pipeline.send import RetryLater
from papo.services.account_cache import account_problem
from papo.services.notify import NOTIFY_STREAM
from papo.services.owner_reply import manual_reply
from papo.services.queues import OutboundQueue, enqueue_outbound
from papo.services.send_ledger import SendLedger
from papo.streams import codec
from papo.streams.admin import list_dead
from tests.conftest import eventually
from tests.outbound.conftest import deliver, entry_for, sent_rows

WABA_NUMBER = "106540352242922"
PHONE = "5511987654321"


async def _analytics(stores) -> list[dict]:
    return await stores.analytics.analytics.find({"event_type": "message_sent"}).to_list(length=100)


async def test_whatsapp_text_inside_the_window(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.WHATSAPP, phone=PHONE, last_inbound=timedelta(hours=23))
    request = s.request(buttons=(), text="Olá Bruna! O bolo custa R$ 80.")
    assert await deliver(make_pipeline(), request) == 1

    [call] = fake.calls
    assert call.path == f"/{WABA_NUMBER}/messages"
    assert call.headers["Authorization"] == "Bearer tok-wa"
    assert call.json == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": PHONE,
                         "type": "text", "text": {"preview_url": False, "body": "Olá Bruna! O bolo custa R$ 80."}}
    [row] = await sent_rows()
    assert row.platform_message_id == "wamid.FAKE0001" and row.delivery_status == "sent"
    assert row.is_automated and str(row.automation_rule_id) == request.automation_rule_id
    assert row.kind == "reply" and row.outbound_id == request.outbound_id
    assert row.message_text == "Olá Bruna! O bolo custa R$ 80." and row.conversation_id == s.conversation.id
    [event] = await _analytics(stores)
    assert event["platform"] == "whatsapp" and event["user_id"] == s.user.id
    assert event["data"]["outbound_id"] == request.outbound_id and event["data"]["message_id"] == str(row.id)


async def test_window_uses_the_platform_timestamp_and_the_cache_only_when_it_says_open(
    stores, fake, make_pipeline, scene
) -> None:
    # Stored just now (created_at) but written 25 h ago by the platform's clock: the window is closed.
    s = await scene(Platform.WHATSAPP, phone=PHONE, last_inbound=timedelta(hours=25))
    key = f"{ACTIVE_CONVERSATION}{s.conversation.id}"
    await stores.redis.hset(key, "last_inbound_at", (datetime.now(UTC) - timedelta(hours=30)).isoformat())
    await deliver(make_pipeline(), s.request(outbound_id="closed"))
    assert fake.calls == []
    # A fresh cache entry opens it without asking PostgreSQL.
    await stores.redis.hset(key, "last_inbound_at", (datetime.now(UTC) - timedelta(minutes=5)).isoformat())
    await deliver(make_pipeline(), s.request(outbound_id="open"))
    assert len(fake.calls) == 1


async def test_outside_the_window_the_template_fallback_goes_instead(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.WHATSAPP, phone=PHONE, last_inbound=timedelta(hours=30))
    fallback = TemplateMessage(name="retomar_conversa", language="pt_BR", body_params=("Bruna",),
                               expected_body_params=1, preview="Oi Bruna! Podemos continuar?")
    request = s.request(text="Texto livre que não pode sair", buttons=(Button("a", "A"),), fallback=fallback)
    await deliver(make_pipeline(), request)

    [call] = fake.calls
    assert call.json["type"] == "template" and "text" not in call.json and "interactive" not in call.json
    assert call.json["template"] == {"name": "retomar_conversa", "language": {"code": "pt_BR"},
                                     "components": [{"type": "body", "parameters": [{"type": "text",
                                                                                      "text": "Bruna"}]}]}
    [row] = await sent_rows()
    assert row.delivery_status == "sent" and row.message_text == "Oi Bruna! Podemos continuar?"
    assert row.metadata["fallback_used"] is True and row.metadata["template"] == "retomar_conversa"


async def test_outside_the_window_without_fallback_nothing_is_sent_and_the_reason_is_kept(
    stores, fake, make_pipeline, scene
) -> None:
    s = await scene(Platform.INSTAGRAM, account_id="17841400000000001", remote="IGSID-1", last_inbound=None)
    # Only a comment from this customer: comments do not open the DM window.
    await Message.create(conversation=s.conversation, sender="remote", kind="comment", message_text="quero",
                         platform_timestamp=datetime.now(UTC) - timedelta(minutes=1), platform_message_id="c1")
    pipeline = make_pipeline()
    await deliver(pipeline, s.request())
    assert fake.calls == []
    [row] = await sent_rows()
    assert row.delivery_status == "skipped" and "customer-service window" in row.delivery_error
    assert row.platform_message_id is None and pipeline.outcomes["skipped"] == 1
    assert await _analytics(stores) == []


async def test_an_instagram_comment_gets_exactly_one_private_reply(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.INSTAGRAM, account_id="17841400000000001", remote="IGSID-7", last_inbound=None)
    comment = "17858893269000001"
    first = s.request(outbound_id=f"instagram:comment:{comment}:rule-a", kind=OutboundKind.PRIVATE_REPLY,
                      comment_id=comment, comment_created_at=datetime.now(UTC) - timedelta(days=2),
                      text="Oi! Te mandei o preço por DM 😉")
    second = s.request(outbound_id=f"instagram:comment:{comment}:rule-b", kind=OutboundKind.PRIVATE_REPLY,
                       comment_id=comment, comment_created_at=first.comment_created_at, text="Outra regra")
    queue = OutboundQueue(stores.redis)
    assert await queue.enqueue_many([first]) != [None]
    assert await queue.enqueue_many([first]) == [None]  # the same request twice: dropped at the queue
    pipeline = make_pipeline()
    await deliver(pipeline, first)
    await deliver(pipeline, second)
    await deliver(pipeline, first, entry_id="9-0")  # and redelivered

    [call] = fake.calls
    assert call.path == "/17841400000000001/messages" and call.headers["Authorization"] == "Bearer tok-ig"
    assert call.json == {"recipient": {"comment_id": comment}, "message": {"text": "Oi! Te mandei o preço por DM 😉"}}
    rows = await sent_rows()
    assert [(r.kind, r.delivery_status) for r in rows] == [("private_reply", "sent"), ("private_reply", "skipped")]
    assert rows[0].reply_to_id == comment and "one private reply" in rows[1].delivery_error


async def test_private_replies_only_within_seven_days(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.INSTAGRAM, account_id="17841400000000001", remote="IGSID-8", last_inbound=None)
    old = s.request(kind=OutboundKind.PRIVATE_REPLY, comment_id="c-old",
                    comment_created_at=datetime.now(UTC) - timedelta(days=8))
    await deliver(make_pipeline(), old)
    assert fake.calls == []
    [row] = await sent_rows()
    assert row.delivery_status == "skipped" and "7 days" in row.delivery_error


async def test_429_then_200_sends_exactly_one_message(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.WHATSAPP, phone=PHONE)
    fake.script(f"/{WABA_NUMBER}/messages", (429, {"error": {"message": "(#130429) Rate limit hit", "code": 130429}}))
    request = s.request()
    assert await deliver(make_pipeline(), request) == 2
    assert len(fake.calls) == 2
    [row] = await sent_rows()
    assert row.delivery_status == "sent" and row.metadata["attempts"] == 2
    assert len(await _analytics(stores)) == 1


async def test_500s_are_retried_then_dead_lettered_with_the_error_recorded(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.FACEBOOK, account_id="1122334455", remote="PSID-1")
    error = {"error": {"message": "An unexpected error has occurred. Please retry your request later.", "code": 2,
                       "is_transient": True}}
    fake.script("/1122334455/messages", *[(500, error)] * 3)
    pipeline = make_pipeline(max_attempts=3)
    await deliver(pipeline, s.request(outbound_id="fb-500"))
    assert len(fake.calls) == 3
    [row] = await sent_rows()
    assert row.delivery_status == "failed" and row.delivery_error.startswith("gave up after 3 attempts: 2: ")
    [dead] = await list_dead(stores.redis, pipeline.spec)
    assert "gave up after 3 attempts" in dead.error
    # The owner is told once, with the reason, however many replies fail in that conversation today.
    fake.script("/1122334455/messages", *[(500, error)] * 3)
    await deliver(pipeline, s.request(outbound_id="fb-500-b"))
    alerts = [codec.decode(f) for _, f in await stores.redis.xrange(NOTIFY_STREAM)]
    assert [(a["kind"], a["payload"]["conversation_id"]) for a in alerts] == [("reply_failed", str(s.conversation.id))]
    assert alerts[0]["payload"]["error"].startswith("gave up after 3 attempts: 2: An unexpected error")
    # An operator requeue after the outage: the platform now answers 200 and the same row becomes "sent".
    await deliver(pipeline, s.request(outbound_id="fb-500"), entry_id="2-0")
    [row] = await sent_rows(delivery_status="sent")
    assert len(fake.calls) == 7 and row.metadata["attempts"] >= 1
    assert fake.calls[-1].json["messaging_type"] == "RESPONSE"


async def test_a_stop_cuts_a_retry_backoff_short_and_nothing_is_sent_after_it(stores, fake, make_pipeline,
                                                                             scene) -> None:
    s = await scene(Platform.WHATSAPP, phone=PHONE)
    fake.script(f"/{WABA_NUMBER}/messages", (500, {"error": {"message": "Service unavailable", "code": 2}}))
    pipeline = make_pipeline(retry_base=30.0, retry_max=30.0)  # the next attempt would be 15-30 s away
    pipeline.stop = stop = asyncio.Event()  # what run_outbound passes: the worker's stop
    task = asyncio.create_task(pipeline.handle([entry_for(s.request(outbound_id="stop-1"))]))
    await eventually(lambda: _is(bool(fake.calls)))
    await asyncio.sleep(0.1)
    stopped_at = time.monotonic()
    stop.set()  # Ctrl-C: the backoff ends now; the entry stays pending for the next worker
    with pytest.raises(RetryLater):
        await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - stopped_at < 1.0 and len(fake.calls) == 1
    assert (await SendLedger(stores.redis).get("stop-1")).state == "retry"


async def _is(value: bool) -> bool:
    return value


async def test_permanent_errors_are_recorded_and_not_retried(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.WHATSAPP, phone=PHONE)
    path = f"/{WABA_NUMBER}/messages"
    fake.script(path,
                (400, {"error": {"message": "(#131047) Re-engagement message", "code": 131047,
                                 "error_data": {"details": "More than 24 hours have passed"}}}),
                (400, {"error": {"message": "(#132000) Number of parameters does not match", "code": 132000}}),
                (401, {"error": {"message": "Error validating access token", "code": 190, "error_subcode": 463}}))
    pipeline = make_pipeline()
    template = TemplateMessage(name="promo", language="pt_BR", body_params=("x",))
    for n, values in enumerate(({}, {"template": template, "text": None}, {})):
        await deliver(pipeline, s.request(outbound_id=f"perm-{n}", **values))
    assert len(fake.calls) == 3  # one call each, no retry
    errors = [r.delivery_error for r in await sent_rows()]
    assert [r.delivery_status for r in await sent_rows()] == ["failed"] * 3
    assert errors[0].startswith("131047: ") and "24 hours" in errors[0]
    assert errors[1].startswith("132000: ") and errors[2].startswith("190/463: ")
    problem = await account_problem(stores.redis, str(s.account.id))
    assert problem is not None and problem["outbound_id"] == "perm-2"
    assert await _analytics(stores) == []


async def test_template_parameter_count_is_checked_before_sending(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.WHATSAPP, phone=PHONE)
    template = TemplateMessage(name="pedido", language="pt_BR", body_params=("Ana",), expected_body_params=2)
    await deliver(make_pipeline(), s.request(template=template, text=None))
    assert fake.calls == []
    [row] = await sent_rows()
    assert row.delivery_status == "failed" and row.delivery_error.startswith("132000: template 'pedido' expects 2")


async def test_a_replayed_request_is_never_sent_twice(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.WHATSAPP, phone=PHONE)
    request = s.request(outbound_id="whatsapp:wamid.HBgN123:rule-42")
    assert await enqueue_outbound(stores.redis, request) is not None
    assert await enqueue_outbound(stores.redis, request) is None
    for n in range(3):  # redelivered by the consumer, replayed, requeued…
        await deliver(make_pipeline(), request, entry_id=f"{n}-0")
    assert len(fake.calls) == 1
    assert len(await sent_rows()) == 1 and len(await _analytics(stores)) == 1


async def test_a_crash_before_the_ledger_flags_logs_the_reply_once(stores, fake, make_pipeline, scene) -> None:
    # Killed after the row and the analytics insert, before the flags: the redelivery does both again.
    s = await scene(Platform.WHATSAPP, phone=PHONE)
    request = s.request(outbound_id="killed-before-flag")
    await deliver(make_pipeline(), request)
    await stores.redis.hset(f"papo:sent:{request.outbound_id}", mapping={"recorded": "0", "logged": "0"})
    await deliver(make_pipeline(), request, entry_id="2-0")
    assert len(fake.calls) == 1 and len(await sent_rows()) == 1
    [event] = await _analytics(stores)
    assert event["_id"] == f"message_sent:{request.outbound_id}"


async def test_a_crash_between_the_call_and_the_record_is_reported_not_resent(
    stores, fake, make_pipeline, scene
) -> None:
    s = await scene(Platform.WHATSAPP, phone=PHONE)
    request = s.request(outbound_id="crashed")
    ledger = SendLedger(stores.redis)
    claimed, _, _ = await ledger.claim("crashed", "a-worker-that-died")  # it called the API, then died
    assert claimed
    pipeline = make_pipeline()
    await deliver(pipeline, request)
    assert fake.calls == []
    [row] = await sent_rows()
    assert row.delivery_status == "unknown" and "not resent" in row.delivery_error
    [dead] = await list_dead(stores.redis, pipeline.spec)
    assert dead.fields["data"] and "not resent" in dead.error
    # The owner checked: it was not delivered. Releasing the id lets a requeue send it, once.
    assert await ledger.release("crashed")
    await deliver(pipeline, request, entry_id="5-0")
    await deliver(pipeline, request, entry_id="6-0")
    assert len(fake.calls) == 1
    [row] = await sent_rows()
    assert row.delivery_status == "sent"


async def test_a_lost_answer_is_in_doubt(stores, fake, make_pipeline, scene, monkeypatch) -> None:
    monkeypatch.setattr(base, "SEND_TIMEOUT", aiohttp.ClientTimeout(sock_read=0.2))
    s = await scene(Platform.WHATSAPP, phone=PHONE)
    await deliver(make_pipeline(), s.request(outbound_id="lost", platform_account_id="slow"))
    assert len(fake.calls) == 1
    [row] = await sent_rows()
    assert row.delivery_status == "unknown"
    assert row.delivery_error.startswith("no answer from 127.0.0.1") and "not resent" in row.delivery_error


async def test_messenger_facebook_comment_youtube_and_kwai_requests(stores, fake, make_pipeline, scene) -> None:
    pipeline = make_pipeline()
    fb = await scene(Platform.FACEBOOK, account_id="1122334455", remote="PSID-2")
    await deliver(pipeline, fb.request(buttons=(Button("menu", "Ver cardápio"),)))
    await deliver(pipeline, fb.request(kind=OutboundKind.COMMENT_REPLY, comment_id="1122334455_99", text="Obrigada!"))
    yt = await scene(Platform.YOUTUBE, account_id="UCx9k2Lr7nQvB3mT5yHw8ZpA", remote="UCviewer", last_inbound=None)
    await deliver(pipeline, yt.request(kind=OutboundKind.COMMENT_REPLY, comment_id="Ugz.reply1",
                                       parent_comment_id="UgzTop", text="Valeu!"))
    kw = await scene(Platform.KWAI, account_id="kwai-150009988776", remote="kw_u_1", callback_url=fake.url("/kwai/cb"))
    await deliver(pipeline, kw.request(outbound_id="kwai:evt_1:rule"))
    tt = await scene(Platform.TIKTOK, account_id="tt-1", remote="tt-user")
    await deliver(pipeline, tt.request())

    dm, comment, youtube, kwai = fake.calls
    assert dm.json == {"recipient": {"id": "PSID-2"}, "messaging_type": "RESPONSE", "message": {
        "text": "Olá! Já te respondo.",
        "quick_replies": [{"content_type": "text", "title": "Ver cardápio", "payload": "menu"}]}}
    assert comment.path == "/1122334455_99/comments" and comment.json == {"message": "Obrigada!"}
    assert youtube.path == "/youtube/v3/comments" and youtube.query == {"part": "snippet"}
    assert youtube.json == {"snippet": {"parentId": "UgzTop", "textOriginal": "Valeu!"}}
    assert youtube.headers["Authorization"] == "Bearer tok-yt"
    assert kwai.path == "/kwai/cb" and kwai.headers["Idempotency-Key"] == "kwai:evt_1:rule"
    assert kwai.headers["X-Papo-Signature"].startswith("t=") and "Authorization" not in kwai.headers
    assert kwai.json["replies"][0]["user"] == {"id": "kw_u_1"}
    rows = {r.kind + ":" + str(r.delivery_status): r for r in await sent_rows()}
    assert rows["comment_reply:sent"].platform_message_id
    [tiktok] = [r for r in await sent_rows() if r.conversation_id == tt.conversation.id]
    assert tiktok.delivery_status == "skipped" and "Business Messaging" in tiktok.delivery_error


async def test_a_reconnected_token_is_used_after_the_old_one_is_refused(stores, fake, make_pipeline, scene) -> None:
    from papo.crypto import TokenCipher
    from papo.services.accounts import connect_account
    from tests.conftest import TEST_SECRET

    s = await scene(Platform.INSTAGRAM, account_id="17841400000000001", remote="IGSID-9")
    fake.script("/17841400000000001/messages",
                (401, {"error": {"message": "Error validating access token", "code": 190}}))
    pipeline = make_pipeline()
    await deliver(pipeline, s.request(outbound_id="old-token"))
    await connect_account(user=s.user, platform="instagram", platform_account_id="17841400000000001",
                          access_token="tok-ig-new", cipher=TokenCipher(TEST_SECRET))
    await deliver(pipeline, s.request(outbound_id="new-token"))
    assert [c.headers["Authorization"] for c in fake.calls] == ["Bearer tok-ig", "Bearer tok-ig-new"]


async def test_account_gone_is_recorded_not_crashed(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.WHATSAPP, phone=PHONE)
    request = s.request(account_id=str(uuid.uuid4()))
    await deliver(make_pipeline(), request)
    assert fake.calls == []
    [row] = await sent_rows()
    assert row.delivery_status == "failed" and "no longer exists" in row.delivery_error


async def test_a_deleted_conversation_is_not_a_crash(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.FACEBOOK, account_id="1122334455", remote="PSID-3")
    request = s.request(kind=OutboundKind.COMMENT_REPLY, comment_id="1122334455_7", text="Obrigada!")
    await s.conversation.delete()
    pipeline = make_pipeline()
    await deliver(pipeline, request)
    assert len(fake.calls) == 1 and pipeline.outcomes["sent"] == 1
    assert await Message.all().count() == 0


async def test_a_reply_typed_by_the_owner(stores, fake, make_pipeline, scene) -> None:
    s = await scene(Platform.WHATSAPP, remote="BR.1502576394655843", last_inbound=None)
    await Message.create(conversation=s.conversation, sender="remote", kind="message", message_text="oi",
                         platform_timestamp=datetime.now(UTC), metadata={"remote_user_phone": PHONE})
    request = await manual_reply(s.conversation.id, "Bom dia! Aqui é a dona.")
    assert request.outbound_id.startswith("manual:") and not request.automated
    await deliver(make_pipeline(), request)
    [call] = fake.calls
    assert call.json["to"] == PHONE
    [row] = await sent_rows()
    assert row.is_automated is False and row.automation_rule_id is None and row.delivery_status == "sent"
    await s.conversation.refresh_from_db()
    assert s.conversation.last_message_at is not None


async def test_a_dead_lettered_entry_redelivered_in_its_batch_is_not_tried_again(
    stores, fake, make_pipeline, scene
) -> None:
    fb = await scene(Platform.FACEBOOK, account_id="1122334455", remote="PSID-4")
    wa = await scene(Platform.WHATSAPP, phone=PHONE)
    fake.script("/1122334455/messages", *[(500, {"error": {"message": "down", "code": 2}})] * 2)
    fake.script(f"/{WABA_NUMBER}/messages", (429, {"error": {"message": "slow down", "code": 130429}}))
    pipeline = make_pipeline(max_attempts=2)
    a, b = fb.request(outbound_id="a"), wa.request(outbound_id="b")
    batch = [entry_for(a, "1-0"), entry_for(b, "2-0")]
    with pytest.raises(RetryLater):
        await pipeline.handle([batch[0]])  # a: attempt 1 of 2
    with pytest.raises(RetryLater):
        await pipeline.handle(batch)  # a gives up (dead letter), b must be retried
    await pipeline.handle([batch[0]])  # the consumer then retries entry by entry: a is settled
    await pipeline.handle([batch[1]])
    assert len(fake.calls_to("/1122334455/messages")) == 2
    assert len(await list_dead(stores.redis, pipeline.spec)) == 1
    assert {r.outbound_id: r.delivery_status for r in await sent_rows()} == {"a": "failed", "b": "sent"}


async def test_a_batch_of_conversations_shares_round_trips_and_records_each_reply_once(
    stores, fake, make_pipeline, scene, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="papo.services.sent_record")
    # One batch, handled concurrently: four customers, one of whose conversation is deleted meanwhile,
    # and one request whose row an earlier (crashed) delivery already wrote.
    scenes = [await scene(Platform.WHATSAPP, remote=f"55119876543{i:02d}", phone=f"55119876543{i:02d}")
              for i in range(4)]
    requests = [s.request(outbound_id=f"batch-{i}", text=f"Olá {i}!") for i, s in enumerate(scenes)]
    await scenes[3].conversation.delete()
    await Message.create(conversation=scenes[2].conversation, sender="user", kind="reply", message_text="Olá 2!",
                         outbound_id="batch-2", delivery_status="unknown", platform_timestamp=datetime.now(UTC))
    pipeline = make_pipeline()
    await pipeline.handle([entry_for(r, f"{i + 1}-0") for i, r in enumerate(requests)])

    # The deleted conversation took its customer's last message with it: no open window, nothing sent.
    assert sorted(c.json["to"] for c in fake.calls) == sorted(s.phone for s in scenes[:3])
    rows = {r.outbound_id: r for r in await sent_rows()}
    assert set(rows) == {"batch-0", "batch-1", "batch-2"}  # the deleted conversation has nothing to hold it
    assert all(r.delivery_status == "sent" and r.platform_message_id.startswith("wamid.FAKE") for r in rows.values())
    assert await Message.filter(outbound_id="batch-2").count() == 1  # updated, not duplicated
    for s in scenes[:3]:
        await s.conversation.refresh_from_db()
        assert s.conversation.last_message_at is not None
    events = await _analytics(stores)
    assert sorted(e["data"]["outbound_id"] for e in events) == [f"batch-{i}" for i in range(3)]
    assert {e["data"]["message_id"] for e in events} == {str(r.id) for r in rows.values()}
    ledger = SendLedger(stores.redis)
    for r in requests:
        assert (await ledger.get(r.outbound_id)).recorded
    assert "one by one" not in caplog.text  # the sent replies were inserted together
