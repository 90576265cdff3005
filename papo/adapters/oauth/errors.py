"""Errors of the OAuth and subscription protocols, one class, flagged by what the caller must do.

    OAuthError
    ├── .revoked    the grant or token is dead (Graph 190/102, OAuth `invalid_grant` on refresh, TikTok
    │               `access_token_invalid`, HTTP 401): the account must be re-connected by its owner
    └── .transient  network trouble, 5xx, 429, Graph `is_transient`: try again later
Neither flag: the platform refused the request itself (expired or reused code, missing permission…);
the message says what, in the platform's words, so the owner can act on it.
"""

from __future__ import annotations

from typing import Any


class OAuthError(Exception):
    """A platform refused an OAuth, Graph or hub call (or could not be reached)."""

    def __init__(
        self,
        platform: str,
        message: str,
        *,
        code: int | str | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        revoked: bool = False,
        transient: bool = False,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.platform = platform
        self.message = message
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.revoked = revoked
        self.transient = transient
        self.details = details

    def describe(self) -> str:
        """`<platform> <code>[/<subcode>]: <message>` — what Papo records and shows."""
        if self.code is None:
            return f"{self.platform}: {self.message}"
        code = f"{self.code}/{self.subcode}" if self.subcode else str(self.code)
        return f"{self.platform} {code}: {self.message}"

    def __str__(self) -> str:
        return self.describe()
