"""A local server speaking OpenAI's `POST /v1/chat/completions`, scripted per test.

Each request takes the next scripted Reply (or the `always` one once the script is used up). The server
checks what Papo sends — a bearer key, the model, a system and a user message, and a strict json_schema
response_format with the taxonomy's enums — and answers 400 with OpenAI's error shape when something
is missing, recording the problem so the test fails.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

_ids = itertools.count(1)


def good_answer(**overrides: Any) -> dict[str, Any]:
    """A schema-valid answer (a hot Portuguese purchase), with fields overridden."""
    answer: dict[str, Any] = {
        "intent": "purchase",
        "sentiment": "positive",
        "lead_score": 0.9,
        "language": "pt",
        "confidence": 0.95,
        "email": None,
        "phone": None,
    }
    answer.update(overrides)
    return answer


@dataclass(slots=True, kw_only=True)
class Reply:
    """One scripted response."""

    status: int = 200
    content: str | None = None
    refusal: str | None = None
    finish_reason: str = "stop"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def answer(cls, *, delay: float = 0.0, **fields: Any) -> Reply:
        """A completion whose content is good_answer(**fields) as JSON."""
        return cls(content=json.dumps(good_answer(**fields)), delay=delay)

    @classmethod
    def raw(cls, content: str | None, finish_reason: str = "stop") -> Reply:
        """A completion with this exact content."""
        return cls(content=content, finish_reason=finish_reason)

    @classmethod
    def refused(cls, why: str = "I'm sorry, I can't help with that.") -> Reply:
        """A completion where the model refused (content null, refusal set)."""
        return cls(refusal=why)

    @classmethod
    def error(cls, status: int, **headers: str) -> Reply:
        """An error response with OpenAI's error body."""
        return cls(status=status, headers=headers)


class FakeOpenAI:
    """The scripted server; `requests` holds every request body received, `problems` what was wrong."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.fallback_reply: Reply | None = None
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.problems: list[str] = []
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self.server = TestServer(app, host="127.0.0.1")

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        self.script.extend(replies)

    def always(self, reply: Reply) -> None:
        """Answer every request past the script with this reply."""
        self.fallback_reply = reply

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of this server (…/v1)."""
        return str(self.server.make_url("/v1"))

    async def start(self) -> None:
        """Listen on a free local port."""
        await self.server.start_server()

    async def close(self) -> None:
        """Stop listening."""
        await self.server.close()

    async def _completions(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization"))
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self._invalid("request body is not JSON")
        self.requests.append(body)
        problems = check_request(body, request.headers.get("Authorization"))
        if problems:
            return self._invalid("; ".join(problems))
        if self.script:
            reply = self.script.popleft()
        elif self.fallback_reply is not None:
            reply = self.fallback_reply
        else:
            self.problems.append("unscripted request")
            return _error(500, "unscripted request")
        if reply.delay:
            await asyncio.sleep(reply.delay)  # cancelled when the client gives up and disconnects
        if reply.status != 200:
            return _error(reply.status, f"scripted {reply.status}", reply.headers)
        return web.json_response(_completion(body["model"], reply), headers={"x-request-id": _request_id()})

    def _invalid(self, message: str) -> web.Response:
        self.problems.append(message)
        return _error(400, message)


def check_request(body: dict[str, Any], authorization: str | None) -> list[str]:
    """What is wrong with a chat-completions request from Papo (empty when it is right)."""
    problems = []
    if not authorization or not re.fullmatch(r"Bearer \S+", authorization):
        problems.append("missing bearer key")
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("missing model")
    roles = [m.get("role") for m in body.get("messages", []) if isinstance(m, dict)]
    if roles != ["system", "user"]:
        problems.append(f"messages should be system then user, got {roles}")
    fmt = body.get("response_format") or {}
    spec = fmt.get("json_schema") or {}
    schema = spec.get("schema") or {}
    props = schema.get("properties") or {}
    if fmt.get("type") != "json_schema":
        problems.append("response_format.type is not json_schema")
    if spec.get("strict") is not True:
        problems.append("json_schema.strict is not true")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(spec.get("name", ""))):
        problems.append("json_schema.name is missing or invalid")
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        problems.append("schema must be an object with additionalProperties false")
    if set(schema.get("required") or []) != set(props):
        problems.append("strict mode requires every property to be required")
    expected = {
        "intent": {"purchase", "question", "complaint", "info"},
        "sentiment": {"positive", "neutral", "negative"},
        "language": {"pt", "es", "en", "other"},
    }
    for name, values in expected.items():
        if set((props.get(name) or {}).get("enum") or []) != values:
            problems.append(f"{name} enum should be {sorted(values)}")
    if (props.get("lead_score") or {}).get("type") != "number":
        problems.append("lead_score should be a number")
    for name in ("email", "phone"):
        if "null" not in ((props.get(name) or {}).get("type") or []):
            problems.append(f"{name} should be nullable")
    return problems


def _completion(model: str, reply: Reply) -> dict[str, Any]:
    """A `chat.completion` object as OpenAI returns it."""
    return {
        "id": f"chatcmpl-fake{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.content,
                    "refusal": reply.refusal,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 420, "completion_tokens": 40, "total_tokens": 460},
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = {400: "invalid_request_error", 429: "requests"}.get(status, "server_error")
    code = "rate_limit_exceeded" if status == 429 else None
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, headers={"x-request-id": _request_id(), **(headers or {})})


def _request_id() -> str:
    return f"req_fake{next(_ids)}"
