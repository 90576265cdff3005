"""The send error tree, chosen from the platform's error code (like pywa's errors.py).

    SendError
    ├── RetryableError              the message was not sent; trying again later may work
    │   ├── RateLimited             429, Graph 4/17/32/613/80001-80014, WhatsApp 130429/131048
    │   │   └── PairRateLimited     WhatsApp 131056: too many messages to one customer
    │   └── Transient               5xx, Graph 1/2/131000/131016/133004, `is_transient`, connection refused
    ├── PermanentError              recorded on the message, never retried
    │   ├── OutsideWindow           WhatsApp 131047, Messenger 10/2018278, Instagram 10/2534022
    │   ├── TemplateError           WhatsApp 132001… (missing, paused, disabled, bad format)
    │   │   └── TemplateParamMismatch   132000, or found before sending
    │   ├── InvalidToken            190, 102, HTTP 401: the account must be re-connected (account problem)
    │   ├── PermissionDenied        10, 200-299, 3: a permission is missing (account problem)
    │   ├── InvalidRequest          refused before sending (too long, too many buttons…) or 100/131008…
    │   ├── RecipientUnavailable    131026, 551, 2018001…: this customer cannot be reached
    │   └── NotSupported            the platform has no API for this (TikTok DMs without the gated API)
    └── InDoubt                     the request left but no answer came (timeout, dropped connection):
                                    it may have been delivered, so it is NOT retried automatically
Build the message, then raise; `code`/`subcode` keep the platform's numbers for the record.
"""

from __future__ import annotations

from typing import Any


class SendError(Exception):
    """Base of every send failure."""

    retryable: bool = False
    account_problem: bool = False  # the owner must act (re-connect, grant a permission)

    def __init__(
        self,
        message: str,
        *,
        code: int | str | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.retry_after = retry_after
        self.details = details

    def describe(self) -> str:
        """`<code>[/<subcode>]: <message>` — what `messages.delivery_error` keeps."""
        if self.code is None:
            return self.message
        code = f"{self.code}/{self.subcode}" if self.subcode else str(self.code)
        return f"{code}: {self.message}"


class RetryableError(SendError):
    """Not sent; may work later."""

    retryable = True


class RateLimited(RetryableError):
    """Over a platform throughput limit (or our own, when it would wait too long)."""


class PairRateLimited(RateLimited):
    """WhatsApp 131056: too many messages to the same customer in a short time."""


class Transient(RetryableError):
    """A temporary platform or network failure."""


class PermanentError(SendError):
    """Not sent, and sending the same request again would fail the same way."""


class OutsideWindow(PermanentError):
    """The customer-service window is closed: only templates (WhatsApp) may be sent."""


class TemplateError(PermanentError):
    """The template cannot be sent as requested (missing, not approved, paused, disabled, bad format)."""


class TemplateParamMismatch(TemplateError):
    """The parameter count does not match the template's variables."""


class InvalidToken(PermanentError):
    """The access token expired or was revoked: the owner must re-connect the account."""

    account_problem = True


class PermissionDenied(PermanentError):
    """The app or token lacks a permission this send needs."""

    account_problem = True


class InvalidRequest(PermanentError):
    """The request itself is invalid (refused locally or by the platform)."""


class RecipientUnavailable(PermanentError):
    """The customer cannot receive this message (blocked, not on the platform, unsupported client)."""


class NotSupported(PermanentError):
    """The platform offers no API for this kind of send."""


class InDoubt(SendError):
    """The request was sent but its outcome is unknown; resending could duplicate the message."""
