"""The OAuth `state` parameter Papo issues: `<payload>.<signature>`, both base64url.

The payload is JSON `{"u": user id, "f": flow, "n": nonce, "e": expiry (unix seconds)}`, plus `"b"` (a hash of
the secret in the browser's cookie) once the state is bound to the browser that will come back with it; the
signature is HMAC-SHA256 of the payload text. Checking expiry, flow, browser and single use is the caller's
business.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StateClaims:
    """Who a state was issued to, for which flow, until when, and (once bound) for which browser."""

    user_id: str
    flow: str
    nonce: str
    expires_at: float
    browser: str | None = None  # hash of the browser's cookie secret; None until the state is bound


class BadState(ValueError):
    """A state that is incomplete, damaged, or not signed with the key (`kind` says which)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # "incomplete" | "forged" | "damaged"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def sign_state(key: bytes, claims: StateClaims) -> str:
    """The state string for these claims."""
    data: dict[str, str | int] = {"u": claims.user_id, "f": claims.flow, "n": claims.nonce,
                                  "e": int(claims.expires_at)}
    if claims.browser is not None:
        data["b"] = claims.browser
    payload = _b64(json.dumps(data, separators=(",", ":")).encode())
    return f"{payload}.{_sign(key, payload)}"


def verify_state(key: bytes, state: str | None) -> StateClaims:
    """The claims of a state whose signature matches (constant-time), else BadState."""
    payload, sep, signature = (state or "").partition(".")
    if not sep or not payload or not signature:
        raise BadState("incomplete")
    if not hmac.compare_digest(_sign(key, payload).encode(), signature.encode()):
        raise BadState("forged")
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        browser = data.get("b")
        return StateClaims(user_id=str(data["u"]), flow=str(data["f"]), nonce=str(data["n"]),
                           expires_at=float(data["e"]), browser=None if browser is None else str(browser))
    except (ValueError, KeyError, TypeError):
        raise BadState("damaged") from None
