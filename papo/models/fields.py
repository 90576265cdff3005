"""Field helpers that express the seed's column definitions once."""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Any

from tortoise import fields
from tortoise.contrib.postgres.fields import ArrayField
from tortoise.exceptions import ValidationError
from tortoise.fields.data import CharEnumFieldInstance
from tortoise.fields.db_defaults import SqlDefault

# The seed says DEFAULT NOW(); keep that exact expression in the schema.
NOW = SqlDefault("now()")


class SeedEnumField(CharEnumFieldInstance):
    """A VARCHAR(50) holding one of an enum's values; anything else is refused with a clear error."""

    def __init__(self, enum_type: type[Enum], **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 50)
        default = kwargs.get("default")
        if isinstance(default, Enum):
            # Also a database-side default, as the seed declares one (e.g. DEFAULT 'free').
            kwargs.setdefault("db_default", SqlDefault(f"'{default.value}'"))
        kwargs.setdefault("description", "")
        super().__init__(enum_type, **kwargs)

    def _coerce(self, value: Enum | str) -> Enum:
        try:
            return self.enum_type(value)
        except ValueError:
            allowed = ", ".join(str(e.value) for e in self.enum_type)
            raise ValidationError(f"{self.model_field_name}: {value!r} is not one of: {allowed}") from None

    def to_python_value(self, value: str | None) -> Enum | None:
        return self._coerce(value) if value is not None else None

    def to_db_value(self, value: Enum | str | None, instance: Any) -> str | None:
        if value is None:
            return None
        return str(self._coerce(value).value)


def uuid_pk() -> fields.UUIDField:
    """`id UUID PRIMARY KEY DEFAULT gen_random_uuid()` — Python fills it too, so new rows know their id."""
    return fields.UUIDField(primary_key=True, default=uuid.uuid4, db_default=SqlDefault("gen_random_uuid()"))


def created_at() -> fields.DatetimeField:
    """`created_at TIMESTAMP DEFAULT NOW()`."""
    return fields.DatetimeField(null=True, auto_now_add=True, db_default=NOW)


def updated_at() -> fields.DatetimeField:
    """`updated_at TIMESTAMP DEFAULT NOW()`; a trigger (migration 0002) keeps it current on every UPDATE."""
    return fields.DatetimeField(null=True, auto_now=True, db_default=NOW)


def timestamp(**kwargs: Any) -> fields.DatetimeField:
    """A nullable TIMESTAMP column without default."""
    return fields.DatetimeField(null=True, **kwargs)


def text_array() -> ArrayField:
    """`TEXT[] DEFAULT ARRAY[]::TEXT[]`."""
    return ArrayField("TEXT", null=True, default=list, db_default=SqlDefault("ARRAY[]::TEXT[]"))


def flag(default: bool) -> fields.BooleanField:
    """`BOOLEAN DEFAULT <default>` (nullable, as the seed declares no NOT NULL)."""
    return fields.BooleanField(null=True, default=default, db_default=SqlDefault(str(default).lower()))


def count() -> fields.IntField:
    """`INT DEFAULT 0`."""
    return fields.IntField(null=True, default=0, db_default=SqlDefault("0"))
