"""Send adapters without stores: request shapes, local validation and the error-code mapping."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from papo.adapters.kwai import KwaiAdapter
from papo.adapters.senders import (
    Button,
    InvalidRequest,
    InvalidToken,
    OutboundKind,
    OutboundMessage,
    OutsideWindow,
    PairRateLimited,
    PermissionDenied,
    RateLimited,
    RecipientUnavailable,
    TemplateError,
    TemplateMessage,
    TemplateParamMismatch,
    Transient,
    count_placeholders,
    default_senders,
    facebook,
    instagram,
    kwai,
    whatsapp,
)
from papo.adapters.senders.base import HttpAnswer
from papo.adapters.senders.graph import graph_error
from papo.adapters.senders.youtube import seconds_to_quota_reset, youtube_error
from papo.enums import Platform


def _request(**values) -> OutboundMessage:
    base = {
        "outbound_id": "whatsapp:wamid.X:rule-1", "platform": Platform.WHATSAPP, "user_id": "u", "account_id": "a",
        "platform_account_id": "106540352242922", "conversation_id": "c", "recipient_id": "5511987654321",
        "text": "Oi!",
    }
    return OutboundMessage(**{**base, **values})


def _graph(status: int, code: int | None = None, subcode: int | None = None, **extra) -> HttpAnswer:
    error = {"message": "boom", "type": "OAuthException", **extra}
    if code is not None:
        error["code"] = code
    if subcode is not None:
        error["error_subcode"] = subcode
    return HttpAnswer(status, {"error": error}, {}, json.dumps({"error": error}))


def test_request_round_trips_through_json() -> None:
    request = _request(
        buttons=(Button("sim", "Sim"),),
        fallback=TemplateMessage(name="retorno", language="pt_BR", body_params=("Ana",)),
        comment_created_at=datetime(2026, 11, 1, tzinfo=UTC), kind=OutboundKind.PRIVATE_REPLY, comment_id="179",
    )
    again = OutboundMessage.from_dict(json.loads(json.dumps(request.to_dict())))
    assert again == request


def test_whatsapp_text_payload() -> None:
    payload = whatsapp.build_payload(_request(recipient_phone="5511987654321", reply_to="wamid.IN"))
    assert payload == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "5511987654321",
        "context": {"message_id": "wamid.IN"}, "type": "text", "text": {"preview_url": False, "body": "Oi!"},
    }


def test_whatsapp_bsuid_goes_to_recipient_when_there_is_no_phone() -> None:
    payload = whatsapp.build_payload(_request(recipient_id="BR.1502576394655843"))
    assert payload["recipient"] == "BR.1502576394655843" and "to" not in payload


def test_whatsapp_template_components_and_parameter_check() -> None:
    template = TemplateMessage(name="pedido_pronto", language="pt_BR", body_params=("Ana", "#123"),
                               header_params=("Padaria",), expected_body_params=2, expected_header_params=1)
    payload = whatsapp.build_payload(_request(template=template, text=None))
    assert payload["type"] == "template"
    assert payload["template"] == {
        "name": "pedido_pronto", "language": {"code": "pt_BR"},
        "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "Padaria"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#123"}]},
        ],
    }
    short = TemplateMessage(name="pedido_pronto", language="pt_BR", body_params=("Ana",), expected_body_params=2)
    with pytest.raises(TemplateParamMismatch, match="expects 2 body"):
        whatsapp.build_payload(_request(template=short, text=None))
    assert count_placeholders("Olá {{1}}, seu pedido {{2}} está pronto. {{1}}") == 2


def test_whatsapp_reply_buttons_at_most_three() -> None:
    buttons = tuple(Button(f"b{i}", f"Opção {i}") for i in range(3))
    payload = whatsapp.build_payload(_request(buttons=buttons))
    assert payload["type"] == "interactive"
    assert payload["interactive"]["type"] == "button"
    first = payload["interactive"]["action"]["buttons"][0]
    assert first == {"type": "reply", "reply": {"id": "b0", "title": "Opção 0"}}
    with pytest.raises(InvalidRequest, match="at most 3"):
        whatsapp.build_payload(_request(buttons=(*buttons, Button("b4", "Quatro"))))
    with pytest.raises(InvalidRequest, match="1-20"):
        whatsapp.build_payload(_request(buttons=(Button("x", "um título longo demais aqui"),)))


def test_instagram_payloads_and_byte_limit() -> None:
    dm = instagram.build_message(_request(platform=Platform.INSTAGRAM, recipient_id="IGSID1",
                                          buttons=(Button("preco", "Preço"),)))
    assert dm == {"recipient": {"id": "IGSID1"}, "message": {
        "text": "Oi!", "quick_replies": [{"content_type": "text", "title": "Preço", "payload": "preco"}]}}
    private = instagram.build_message(_request(platform=Platform.INSTAGRAM, kind=OutboundKind.PRIVATE_REPLY,
                                               comment_id="17858893269000001"))
    assert private == {"recipient": {"comment_id": "17858893269000001"}, "message": {"text": "Oi!"}}
    with pytest.raises(InvalidRequest, match="bytes"):
        instagram.build_message(_request(platform=Platform.INSTAGRAM, text="ç" * 501))  # 1002 bytes


def test_messenger_payload_is_a_response() -> None:
    body = facebook.build_message(_request(platform=Platform.FACEBOOK, recipient_id="PSID9"))
    assert body == {"recipient": {"id": "PSID9"}, "messaging_type": "RESPONSE", "message": {"text": "Oi!"}}


@pytest.mark.parametrize(("answer", "kind"), [
    (_graph(400, 131047), OutsideWindow),
    (_graph(400, 10, 2018278), OutsideWindow),
    (_graph(400, 10, 2534022), OutsideWindow),
    (_graph(400, 131056), PairRateLimited),
    (_graph(429, 130429), RateLimited),
    (_graph(400, 4), RateLimited),
    (_graph(400, 80007), RateLimited),
    (_graph(400, 132000), TemplateParamMismatch),
    (_graph(400, 132001), TemplateError),
    (_graph(401, 190, 463), InvalidToken),
    (_graph(403, 10), PermissionDenied),
    (_graph(500, 2), Transient),
    (_graph(400, 100, is_transient=True), Transient),
    (_graph(503), Transient),
    (_graph(400, 131026), RecipientUnavailable),
    (_graph(400, 100), InvalidRequest),
])
def test_graph_error_mapping(answer: HttpAnswer, kind: type) -> None:
    error = graph_error(answer)
    assert type(error) is kind
    assert error.describe().startswith(str(error.code))
    assert error.retryable == issubclass(kind, (RateLimited, Transient))


def test_invalid_token_is_an_account_problem_and_keeps_the_code() -> None:
    error = graph_error(_graph(401, 190, 463))
    assert error.account_problem and error.describe() == "190/463: boom"


def test_youtube_errors() -> None:
    def answer(status: int, reason: str) -> HttpAnswer:
        body = {"error": {"code": status, "message": reason, "errors": [{"domain": "youtube", "reason": reason}]}}
        return HttpAnswer(status, body, {}, "")

    quota = youtube_error(answer(403, "quotaExceeded"))
    assert isinstance(quota, RateLimited) and 0 < (quota.retry_after or 0) <= 86400
    assert isinstance(youtube_error(answer(403, "forbidden")), PermissionDenied)
    assert isinstance(youtube_error(answer(401, "authError")), InvalidToken)
    assert isinstance(youtube_error(answer(400, "commentTextTooLong")), InvalidRequest)
    assert isinstance(youtube_error(answer(503, "backendError")), Transient)
    assert seconds_to_quota_reset(datetime(2026, 11, 2, 7, 59, tzinfo=UTC)) == 60  # 23:59 Pacific (PST)


def test_kwai_reply_is_signed_like_inbound_events() -> None:
    request = _request(platform=Platform.KWAI, platform_account_id="kwai-150009988776", recipient_id="kw_u_1")
    body = json.dumps(kwai.build_body(request)).encode()
    header = kwai.sign(body, "secret-123", int(time.time()))
    KwaiAdapter().verify({"X-Papo-Signature": header}, body, "secret-123", now=time.time())
    assert json.loads(body)["replies"][0] == {
        "id": "whatsapp:wamid.X:rule-1", "type": "reply", "timestamp": int(request.created_at.timestamp()),
        "user": {"id": "kw_u_1"}, "text": "Oi!",
    }


def test_registry_has_one_sender_per_platform() -> None:
    registry = default_senders()
    assert set(registry) == set(Platform)
    assert all(registry[p].platform is p for p in Platform)
