"""Which WhatsApp Business Account (WABA) a phone number belongs to, found with the number's token. Protocol only.

Meta's documented way (developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/
manage-accounts, "Get shared WABA ID with access token"): `GET {graph}/debug_token?input_token=<token>`
with a System User token — or the app's own token, `app_id|app_secret` — in `Authorization: Bearer`.
`data.granular_scopes[]` names, per permission, the ids of every WABA that granted it to the app
(`target_ids`, the most recently onboarded first); the WABAs are the targets of
`whatsapp_business_management` (`whatsapp_business_messaging` when a token only has that). When there is
more than one, `GET {graph}/{waba_id}/phone_numbers` (fields `id`) says which one holds the number.
Graph errors are `{"error": {"message", "type", "code", "error_subcode"}}` (papo.adapters.oauth.facebook_login).
"""

from __future__ import annotations

import aiohttp

from papo.adapters.oauth.base import as_dict, as_list, as_str, call_json
from papo.adapters.oauth.errors import OAuthError
from papo.adapters.oauth.facebook_login import PLATFORM, WABA_SCOPE, appsecret_proof, graph_error

MESSAGING_SCOPE = "whatsapp_business_messaging"


class WabaLookup:
    """Finds a phone number's WABA through the Graph API at `graph_url` (PAPO_GRAPH_API_URL)."""

    def __init__(self, session: aiohttp.ClientSession, graph_url: str, *, app_id: str | None = None,
                 app_secret: str | None = None) -> None:
        self.session = session
        self.graph_url = graph_url.rstrip("/")
        self.app_id = app_id
        self.app_secret = app_secret

    async def _get(self, path: str, token: str, params: dict[str, str], *, proof: bool) -> dict[str, object]:
        query = dict(params)
        if proof and self.app_secret:  # the app may require appsecret_proof on user and System User tokens
            query["appsecret_proof"] = appsecret_proof(token, self.app_secret)
        return await call_json(self.session, PLATFORM, "GET", f"{self.graph_url}/{path}", params=query,
                               headers={"Authorization": f"Bearer {token}"}, on_error=graph_error)

    async def candidates(self, token: str) -> tuple[str, ...]:
        """The WABAs that granted the app access through this token, newest first (`/debug_token`)."""
        if self.app_id and self.app_secret:
            body = await self._get("debug_token", f"{self.app_id}|{self.app_secret}", {"input_token": token},
                                   proof=False)
        else:  # a System User token may inspect itself
            body = await self._get("debug_token", token, {"input_token": token}, proof=True)
        data = as_dict(body.get("data"))
        if data.get("is_valid") is False:
            raise OAuthError(PLATFORM, "Meta says this token is not valid (debug_token is_valid=false)")
        targets: dict[str, list[str]] = {}
        for grant in as_list(data.get("granular_scopes")):
            ids = grant.get("target_ids")
            if isinstance(grant.get("scope"), str) and isinstance(ids, list):
                targets[grant["scope"]] = [i for i in (as_str(v) for v in ids) if i]
        return tuple(targets.get(WABA_SCOPE) or targets.get(MESSAGING_SCOPE) or ())

    async def phone_number_ids(self, token: str, waba_id: str) -> tuple[str, ...]:
        """The phone number ids of one WABA (`/{waba_id}/phone_numbers`, one page of 100)."""
        body = await self._get(f"{waba_id}/phone_numbers", token, {"fields": "id", "limit": "100"}, proof=True)
        return tuple(i for i in (as_str(p.get("id")) for p in as_list(body.get("data"))) if i)

    async def find(self, phone_number_id: str, token: str) -> str | None:
        """The WABA holding `phone_number_id`, or None when the token reaches none that does.

        OAuthError when `/debug_token` itself fails (a dead token, Meta unreachable); a WABA whose number
        list is refused is skipped, since another candidate may be the one.
        """
        candidates = await self.candidates(token)
        for waba_id in candidates:
            try:
                numbers = await self.phone_number_ids(token, waba_id)
            except OAuthError:
                continue
            if phone_number_id in numbers:
                return waba_id
        return None
