"""The adapters' error tree; each error names the HTTP status the webhook handler answers with."""

from __future__ import annotations


class AdapterError(Exception):
    """Base of every adapter error."""

    http_status: int = 500


class SignatureError(AdapterError):
    """A forged, missing, malformed or stale signature, or a refused handshake: answer 403, store nothing."""

    http_status = 403


class PayloadError(AdapterError, ValueError):
    """A body that is not the platform's payload (not JSON/XML, not an object, wrong shape): answer 400."""

    http_status = 400


class UnknownPlatformError(AdapterError, KeyError):
    """No adapter is registered under that name: answer 404."""

    http_status = 404

    def __str__(self) -> str:
        # KeyError.__str__ would print the repr of the message, quotes included.
        return str(self.args[0]) if self.args else "unknown platform"


class DuplicateAdapterError(AdapterError):
    """An adapter for that platform is already registered (a programming error)."""
