"""Stream entries are `{"v": <version>, "data": <JSON>}` — readable from any language, never pickle."""

from __future__ import annotations

from typing import Any

from papo import jsonfast

VERSION = "1"


class CodecError(ValueError):
    """An entry is not a Papo entry of a version this code understands."""


def encode(data: dict[str, Any]) -> dict[str, str | bytes]:
    """The stream fields for one payload."""
    return {"v": VERSION, "data": encode_data(data)}


def encode_data(data: dict[str, Any]) -> bytes:
    """The `data` field alone, as UTF-8 (the append script takes the version once for all its items)."""
    return jsonfast.dumpb(data)


def decode(fields: dict[str, str]) -> dict[str, Any]:
    """The payload of one entry; refuses unknown versions instead of guessing."""
    version = fields.get("v")
    if version != VERSION:
        raise CodecError(f"unsupported entry version {version!r} (this Papo reads {VERSION!r})")
    try:
        data = jsonfast.loads(fields["data"])
    except (KeyError, ValueError) as exc:
        raise CodecError(f"entry has no valid JSON data: {exc}") from None
    if not isinstance(data, dict):
        raise CodecError("entry data is not a JSON object")
    return data
