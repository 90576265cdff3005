"""One registry shape for every per-platform part: webhook adapters, senders, publishers.

Each is registered by hand, never discovered; a platform registered twice raises, and an unknown one is an
UnknownPlatformError (a KeyError: HTTP 404 on the webhook path).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar, Protocol, TypeVar

from papo.adapters.errors import DuplicateAdapterError, UnknownPlatformError
from papo.enums import Platform


class ForAPlatform(Protocol):
    """What a registry holds: something that names its platform."""

    @property
    def platform(self) -> Platform | str: ...


T = TypeVar("T", bound=ForAPlatform)


class PlatformRegistry(Mapping[Platform, T]):
    """Platform -> one part (`kind` names it in errors); read-mostly after start-up."""

    kind: ClassVar[str] = "part"

    def __init__(self) -> None:
        self._parts: dict[Platform, T] = {}

    def register(self, part: T) -> None:
        """Add a part; DuplicateAdapterError if its platform already has one."""
        platform = Platform(part.platform)
        if platform in self._parts:
            raise DuplicateAdapterError(f"a {self.kind} for {platform} is already registered "
                                        f"({type(self._parts[platform]).__name__})")
        self._parts[platform] = part

    def find(self, platform: str | Platform) -> T:
        """The part for a platform name; UnknownPlatformError if none."""
        try:
            return self._parts[Platform(platform)]
        except (ValueError, KeyError):
            raise UnknownPlatformError(self.unknown(platform)) from None

    def unknown(self, platform: object) -> str:
        """The message for a platform with no part."""
        return f"no {self.kind} for platform {platform!r}"

    def __getitem__(self, platform: Platform) -> T:
        return self._parts[platform]

    def __iter__(self) -> Iterator[Platform]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)
