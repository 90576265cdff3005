"""Rotating PAPO_SECRET_KEY: every stored secret re-encrypted with a new key, all or nothing.

What holds ciphertext (everything written through `TokenCipher.encrypt`):
`connected_accounts.access_token`, `.refresh_token` and `.webhook_secret` in PostgreSQL, and the copies of
the webhook secrets in the Redis hash ACCOUNT_SECRETS. The outbound account cache (ACCOUNT_CACHE) holds
ciphertext copies too; it is only a five-minute cache, so it is dropped rather than rewritten.

A value that already decrypts with the new key is left alone, so a second run, or a run after a crash
midway, finishes the job instead of failing. A value that decrypts with neither key stops everything
before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from papo.constants import ACCOUNT_SECRETS
from papo.crypto import SECRET_FILE, CryptoError, TokenCipher
from papo.runtime import configured_key
from papo.services import ServiceError
from papo.services.account_cache import ACCOUNT_CACHE
from papo.services.connect import WIPED_TOKEN

if TYPE_CHECKING:
    from papo.config import Settings

TABLE = "connected_accounts"
COLUMNS = ("access_token", "refresh_token", "webhook_secret")  # the columns written through encrypt()
REDIS_SECRETS = f"redis:{ACCOUNT_SECRETS}"
PLACES = (*(f"{TABLE}.{column}" for column in COLUMNS), REDIS_SECRETS)
SHOWN_PROBLEMS = 3

# Set the new value only where the field still holds what was read (the web role may re-index meanwhile).
_SWAP_FIELDS = """
local n = 0
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    n = n + 1
  end
end
return n
"""


class RotationError(ServiceError):
    """The rotation was refused; nothing was changed."""


@dataclass(frozen=True, slots=True)
class RotationKeys:
    """The two ciphers of a rotation, and the key file to update after it (None when PAPO_SECRET_KEY is set)."""

    old: TokenCipher = field(repr=False)  # reads what either key wrote
    new: TokenCipher = field(repr=False)
    key_file: Path | None
    new_key: str = field(repr=False)


@dataclass(slots=True)
class RotationReport:
    """Counts per place: values re-encrypted, values already under the new key."""

    dry_run: bool
    rotated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PLACES, 0))
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PLACES, 0))
    not_encrypted: int = 0  # tokens wiped when an account was disconnected: nothing to decrypt
    changed_meanwhile: int = 0  # Redis fields rewritten by another process during the run
    dropped_caches: int = 0

    def summary(self) -> dict[str, Any]:
        """The JSON-ready counts (never a value)."""
        out: dict[str, Any] = {
            "dry_run": self.dry_run,
            "rotated": dict(self.rotated),
            "skipped": dict(self.skipped),
            "not_encrypted": self.not_encrypted,
            "dropped_caches": self.dropped_caches,
        }
        if self.changed_meanwhile:
            out["changed_meanwhile"] = self.changed_meanwhile
        return out


def _cipher(key: str, which: str) -> TokenCipher:
    if key != key.strip():
        raise RotationError(f"the {which} key must not start or end with whitespace")
    try:
        return TokenCipher(key)
    except ValueError:
        raise RotationError(f"the {which} key is too short: it must be at least 16 characters") from None


def rotation_keys(settings: Settings, *, new_key: str | None, old_key: str | None = None) -> RotationKeys:
    """Check both keys before anything is opened; RotationError says what is wrong (never the key).

    With PAPO_SECRET_KEY_PREVIOUS set, every process already runs with the new key and reads the old one
    too: the old key defaults to it and the new one to PAPO_SECRET_KEY.
    """
    previous = settings.secret_key_previous.get_secret_value() if settings.secret_key_previous else None
    if old_key is None:
        old_key = previous if previous is not None else configured_key(settings)
    if new_key is None and previous is not None:
        new_key = configured_key(settings)
    if old_key is None:
        raise RotationError(f"no PAPO_SECRET_KEY is set and no key file is in {settings.data_dir}: "
                            "pass the current key as --old-key")
    if not new_key:
        raise RotationError("give the new key with --new-key (or set PAPO_SECRET_KEY to it and "
                            "PAPO_SECRET_KEY_PREVIOUS to the old one)")
    new = _cipher(new_key, "new")
    _cipher(old_key, "old")
    if new_key == old_key:
        raise RotationError("the new key is the same as the old key: nothing to rotate")
    key_file = None if settings.secret_key is not None else Path(settings.data_dir) / SECRET_FILE
    return RotationKeys(old=TokenCipher(new_key, previous=(old_key,)), new=new, key_file=key_file,
                        new_key=new_key)


def _reencrypt(stored: str, keys: RotationKeys) -> str | None:
    """The value under the new key, or None when it already is; CryptoError when neither key opens it.

    A value under the new key but the old key derivation (enc:v1) is rewritten too."""
    if keys.new.is_current(stored):
        return None
    return keys.new.encrypt(keys.old.decrypt(stored))


async def rotate_secrets(redis: aioredis.Redis, keys: RotationKeys, *, dry_run: bool = False) -> RotationReport:
    """Re-encrypt every stored secret with the new key in one PostgreSQL transaction, then Redis.

    RotationError (with nothing written) when a value decrypts with neither key. With `dry_run` every
    value is checked and counted, and nothing is written.
    """
    report = RotationReport(dry_run=dry_run)
    problems: list[str] = []
    async with in_transaction() as conn:
        # FOR UPDATE: a token refresh waits for the rotation instead of being overwritten by it.
        _, rows = await conn.execute_query(
            f"SELECT id, platform, platform_account_id, {', '.join(COLUMNS)} FROM {TABLE} ORDER BY id FOR UPDATE")
        updates: list[tuple[Any, dict[str, str]]] = []
        for row in rows:
            changes: dict[str, str] = {}
            for column in COLUMNS:
                stored = row[column]
                if not stored:
                    continue
                if stored == WIPED_TOKEN:
                    report.not_encrypted += 1
                    continue
                place = f"{TABLE}.{column}"
                try:
                    fresh = _reencrypt(stored, keys)
                except CryptoError:
                    problems.append(f"{place} of {row['platform']} account {row['platform_account_id']} "
                                    f"(id {row['id']})")
                    continue
                if fresh is None:
                    report.skipped[place] += 1
                else:
                    changes[column] = fresh
                    report.rotated[place] += 1
            if changes:
                updates.append((row["id"], changes))

        cached = await redis.hgetall(ACCOUNT_SECRETS)
        swaps: list[str] = []
        for name, stored in sorted(cached.items()):
            try:
                fresh = _reencrypt(stored, keys)
            except CryptoError:
                problems.append(f"{REDIS_SECRETS} field {name}")
                continue
            if fresh is None:
                report.skipped[REDIS_SECRETS] += 1
            else:
                swaps += [name, stored, fresh]
                report.rotated[REDIS_SECRETS] += 1

        if problems:
            shown = "; ".join(problems[:SHOWN_PROBLEMS]) + (" …" if len(problems) > SHOWN_PROBLEMS else "")
            raise RotationError(
                f"{len(problems)} stored secret(s) decrypt with neither the old nor the new key ({shown}): "
                "nothing was changed; pass the key they were encrypted with as --old-key")
        if dry_run:
            return report
        for account_id, changes in updates:
            assignments = ", ".join(f"{column} = ${n}" for n, column in enumerate(changes, start=2))
            await conn.execute_query(f"UPDATE {TABLE} SET {assignments} WHERE id = $1",
                                     [account_id, *changes.values()])

    # Redis after the commit: should this fail, the database is rotated and a rerun finishes Redis.
    if swaps:
        written = int(await redis.eval(_SWAP_FIELDS, 1, ACCOUNT_SECRETS, *swaps))
        report.changed_meanwhile = report.rotated[REDIS_SECRETS] - written
        report.rotated[REDIS_SECRETS] = written
    stale = [key async for key in redis.scan_iter(match=ACCOUNT_CACHE + "*", count=500)]
    if stale:
        pipe = redis.pipeline(transaction=False)  # one key a command: the keys may sit on different nodes
        for key in stale:
            pipe.delete(key)
        report.dropped_caches = sum(await pipe.execute())
    return report
