"""`papo secret rotate`: every stored secret re-encrypted with a new key, all or nothing, safe to rerun."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from papo.cli import main
from papo.constants import ACCOUNT_SECRETS
from papo.crypto import CryptoError, TokenCipher, read_secret_file, write_secret_file
from papo.models import ConnectedAccount
from papo.services import account_index
from papo.services.account_cache import ACCOUNT_CACHE, load_account
from papo.services.accounts import connect_account
from papo.services.connect import WIPED_TOKEN
from papo.services.secret_rotation import RotationError, rotate_secrets, rotation_keys
from papo.services.users import create_user
from tests.conftest import TEST_SECRET

NEW_KEY = "the-new-secret-key-0123456789"
OLD = TokenCipher(TEST_SECRET)
NEW = TokenCipher(NEW_KEY)
PLAIN = {"access_token": "EAAG-wa-token-1", "tiktok": "act.tiktok-token-2", "refresh": "rft.tiktok-refresh-3",
         "kwai": "kwai-token-4", "secret": "kwai-signing-secret-5"}
COLUMNS = ("access_token", "refresh_token", "webhook_secret")


async def _accounts(cipher: TokenCipher = OLD) -> dict[str, ConnectedAccount]:
    """A WhatsApp number, a TikTok account (with a refresh token), a Kwai channel (webhook secret, indexed
    in Redis) and a disconnected account whose token was wiped."""
    owner = await create_user(email="dona@padaria.com.br", name="Padaria", plan="pro")
    wa, _ = await connect_account(user=owner, platform="whatsapp", platform_account_id="1111",
                                  access_token=PLAIN["access_token"], cipher=cipher)
    tt, _ = await connect_account(user=owner, platform="tiktok", platform_account_id="-000tt",
                                  access_token=PLAIN["tiktok"], refresh_token=PLAIN["refresh"], cipher=cipher)
    kw, _ = await connect_account(user=owner, platform="kwai", platform_account_id="kw1",
                                  access_token=PLAIN["kwai"], webhook_secret=PLAIN["secret"], cipher=cipher,
                                  callback_url="http://127.0.0.1:9/kwai")
    gone = await ConnectedAccount.create(user=owner, platform="facebook", platform_account_id="2222",
                                         access_token=WIPED_TOKEN, status="disconnected")
    return {"wa": wa, "tt": tt, "kw": kw, "gone": gone}


async def _stored(redis) -> dict[str, str | None]:
    """Every stored ciphertext, by place, to compare before and after."""
    out: dict[str, str | None] = {}
    for account in await ConnectedAccount.all().order_by("id"):
        for column in COLUMNS:
            out[f"{account.platform}.{column}"] = getattr(account, column)
    for name, value in (await redis.hgetall(ACCOUNT_SECRETS)).items():
        out[f"redis.{name}"] = value
    return out


async def _readable_with(cipher: TokenCipher, redis) -> set[str]:
    """The plaintexts this cipher opens, from PostgreSQL and the Redis secrets hash."""
    values = [v for k, v in (await _stored(redis)).items() if v and v != WIPED_TOKEN]
    opened = set()
    for value in values:
        with contextlib.suppress(CryptoError):
            opened.add(cipher.decrypt(value))
    return opened


async def test_rotation_reencrypts_every_secret_and_a_rerun_changes_nothing(stores, settings) -> None:
    made = await _accounts()
    await account_index.add(stores.redis, made["kw"])
    await load_account(stores.redis, str(made["wa"].id))  # the outbound cache holds old ciphertext now

    report = await rotate_secrets(stores.redis, rotation_keys(settings, new_key=NEW_KEY))

    assert report.rotated == {"connected_accounts.access_token": 3, "connected_accounts.refresh_token": 1,
                              "connected_accounts.webhook_secret": 1, "redis:papo:account-secrets": 1}
    assert sum(report.skipped.values()) == 0 and report.not_encrypted == 1 and report.dropped_caches == 1
    assert await _readable_with(NEW, stores.redis) == set(PLAIN.values())
    assert await _readable_with(OLD, stores.redis) == set()
    assert await stores.redis.get(ACCOUNT_CACHE + str(made["wa"].id)) is None
    assert (await ConnectedAccount.get(id=made["gone"].id)).access_token == WIPED_TOKEN

    before = await _stored(stores.redis)
    again = await rotate_secrets(stores.redis, rotation_keys(settings, new_key=NEW_KEY))
    assert sum(again.rotated.values()) == 0
    assert again.skipped == report.rotated
    assert await _stored(stores.redis) == before  # not even re-encrypted: byte for byte the same


async def test_a_half_rotated_store_is_completed(stores, settings) -> None:
    made = await _accounts()
    await account_index.add(stores.redis, made["kw"])
    # What a crash midway (or a token refresh by a process still on the old key) leaves behind.
    await ConnectedAccount.filter(id=made["wa"].id).update(access_token=NEW.encrypt(PLAIN["access_token"]))
    await ConnectedAccount.filter(id=made["tt"].id).update(refresh_token=NEW.encrypt(PLAIN["refresh"]))

    report = await rotate_secrets(stores.redis, rotation_keys(settings, new_key=NEW_KEY))

    assert report.skipped["connected_accounts.access_token"] == 1
    assert report.skipped["connected_accounts.refresh_token"] == 1
    assert report.rotated["connected_accounts.access_token"] == 2
    assert report.rotated["redis:papo:account-secrets"] == 1
    assert await _readable_with(NEW, stores.redis) == set(PLAIN.values())
    assert await _readable_with(OLD, stores.redis) == set()


async def test_a_value_under_an_unknown_key_stops_everything(stores, settings) -> None:
    made = await _accounts()
    await account_index.add(stores.redis, made["kw"])
    stranger = TokenCipher("some-third-key-nobody-knows")
    await ConnectedAccount.filter(id=made["tt"].id).update(refresh_token=stranger.encrypt(PLAIN["refresh"]))
    before = await _stored(stores.redis)

    with pytest.raises(RotationError) as refused:
        await rotate_secrets(stores.redis, rotation_keys(settings, new_key=NEW_KEY))

    message = str(refused.value)
    assert "connected_accounts.refresh_token of tiktok account -000tt" in message
    assert "nothing was changed" in message and "\n" not in message
    assert not any(token in message for token in PLAIN.values())
    assert await _stored(stores.redis) == before  # the other rows were not rotated either


async def test_an_unknown_key_in_the_redis_secrets_hash_stops_everything(stores, settings) -> None:
    made = await _accounts()
    await stores.redis.hset(ACCOUNT_SECRETS, "kwai:kw1", TokenCipher("some-third-key-nobody-knows").encrypt("x"))
    before = await _stored(stores.redis)

    with pytest.raises(RotationError, match="redis:papo:account-secrets field kwai:kw1"):
        await rotate_secrets(stores.redis, rotation_keys(settings, new_key=NEW_KEY))
    assert await _stored(stores.redis) == before
    assert OLD.decrypt((await ConnectedAccount.get(id=made["wa"].id)).access_token) == PLAIN["access_token"]


async def test_dry_run_counts_and_changes_nothing(stores, settings) -> None:
    made = await _accounts()
    await account_index.add(stores.redis, made["kw"])
    await load_account(stores.redis, str(made["kw"].id))
    before = await _stored(stores.redis)

    report = await rotate_secrets(stores.redis, rotation_keys(settings, new_key=NEW_KEY), dry_run=True)

    assert report.dry_run and sum(report.rotated.values()) == 6 and report.dropped_caches == 0
    assert await _stored(stores.redis) == before
    assert await stores.redis.get(ACCOUNT_CACHE + str(made["kw"].id)) is not None


@pytest.mark.parametrize(("new_key", "old_key", "says"), [
    ("short", None, "the new key is too short"),
    (TEST_SECRET, None, "the new key is the same as the old key"),
    (" " + NEW_KEY, None, "must not start or end with whitespace"),
    (NEW_KEY, "tiny", "the old key is too short"),
])
def test_bad_keys_are_refused(settings, new_key: str, old_key: str | None, says: str) -> None:
    with pytest.raises(RotationError, match=says):
        rotation_keys(settings, new_key=new_key, old_key=old_key)


def test_no_configured_key_and_no_old_key_is_refused(settings, tmp_path: Path) -> None:
    bare = settings.model_copy(update={"secret_key": None, "data_dir": tmp_path})
    with pytest.raises(RotationError, match="pass the current key as --old-key"):
        rotation_keys(bare, new_key=NEW_KEY)


def test_the_key_file_is_replaced_atomically_and_stays_private(tmp_path: Path) -> None:
    write_secret_file(tmp_path, "first-key-0123456789")
    write_secret_file(tmp_path, NEW_KEY)
    assert read_secret_file(tmp_path) == NEW_KEY
    assert stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]  # no temporary file left behind


# ------------------------------------------------------------------ through the command line


def _env(monkeypatch, stores, data_dir: Path, secret: str | None) -> None:
    for name in [n for n in os.environ if n.startswith("PAPO_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PAPO_DATABASE_URL", stores.urls.database_url)
    monkeypatch.setenv("PAPO_REDIS_URL", stores.urls.redis_url)
    monkeypatch.setenv("PAPO_MONGO_URL", stores.urls.mongo_url)
    monkeypatch.setenv("PAPO_DATA_DIR", str(data_dir))
    if secret is not None:
        monkeypatch.setenv("PAPO_SECRET_KEY", secret)


async def _papo(*argv: str) -> int:
    """`papo.cli.main(argv)` as the console script runs it: its own thread, event loop and Tortoise context
    (an empty contextvars context), so it neither nests in nor closes the test session's."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return await asyncio.wrap_future(pool.submit(contextvars.Context().run, main, list(argv)))


async def test_rotate_from_the_command_line_with_the_data_dir_key_file(stores, monkeypatch, capsys,
                                                                        tmp_path: Path) -> None:
    write_secret_file(tmp_path, TEST_SECRET)  # what `papo up` generated
    _env(monkeypatch, stores, tmp_path, secret=None)
    made = await _accounts()
    await account_index.add(stores.redis, made["kw"])

    assert await _papo("secret", "rotate", "--new-key", NEW_KEY, "--dry-run") == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] is True and dry["rotated"]["connected_accounts.access_token"] == 3
    assert read_secret_file(tmp_path) == TEST_SECRET

    assert await _papo("secret", "rotate", "--new-key", NEW_KEY) == 0
    out, err = capsys.readouterr()
    [line] = out.splitlines()
    summary = json.loads(line)
    assert summary["rotated"]["connected_accounts.refresh_token"] == 1
    assert summary["rotated"]["redis:papo:account-secrets"] == 1
    assert summary["key_file"] == str(tmp_path / "secret.key") and "restart" in summary["next"]
    assert not any(token in out + err for token in (*PLAIN.values(), NEW_KEY, TEST_SECRET))
    assert read_secret_file(tmp_path) == NEW_KEY
    assert await _readable_with(NEW, stores.redis) == set(PLAIN.values())

    # The key file now holds the new key: rerunning the same command has nothing to do and says so.
    assert await _papo("secret", "rotate", "--new-key", NEW_KEY) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == "papo: the new key is the same as the old key: nothing to rotate\n"


async def test_rotate_from_the_command_line_with_papo_secret_key(stores, monkeypatch, capsys,
                                                                 tmp_path: Path) -> None:
    _env(monkeypatch, stores, tmp_path, secret=TEST_SECRET)
    await _accounts()

    assert await _papo("secret", "rotate", "--new-key", NEW_KEY) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "key_file" not in summary and "set PAPO_SECRET_KEY to the new key" in summary["next"]
    assert not (tmp_path / "secret.key").exists()  # the environment decides the key: no file appears
    assert await _readable_with(NEW, stores.redis) == set(PLAIN.values())

    # PAPO_SECRET_KEY is not changed yet: the rerun finds everything done.
    assert await _papo("secret", "rotate", "--new-key", NEW_KEY) == 0
    again = json.loads(capsys.readouterr().out)
    assert sum(again["rotated"].values()) == 0 and again["skipped"]["connected_accounts.access_token"] == 3


@pytest.mark.parametrize(("argv", "says"), [
    (["--new-key", "short"], "papo: the new key is too short: it must be at least 16 characters\n"),
    (["--new-key", TEST_SECRET], "papo: the new key is the same as the old key: nothing to rotate\n"),
])
async def test_bad_keys_from_the_command_line_exit_1_with_one_line(stores, monkeypatch, capsys, tmp_path: Path,
                                                                   argv: list[str], says: str) -> None:
    _env(monkeypatch, stores, tmp_path, secret=TEST_SECRET)
    await _accounts()
    before = await _stored(stores.redis)
    assert await _papo("secret", "rotate", *argv) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == says
    assert await _stored(stores.redis) == before


async def test_unknown_key_from_the_command_line_exits_1_without_a_traceback(stores, monkeypatch, capsys,
                                                                             tmp_path: Path) -> None:
    _env(monkeypatch, stores, tmp_path, secret=TEST_SECRET)
    made = await _accounts()
    await ConnectedAccount.filter(id=made["wa"].id).update(
        access_token=TokenCipher("some-third-key-nobody-knows").encrypt(PLAIN["access_token"]))
    before = await _stored(stores.redis)

    assert await _papo("secret", "rotate", "--new-key", NEW_KEY) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("papo: 1 stored secret(s) decrypt with neither the old nor the new key")
    assert await _stored(stores.redis) == before


async def test_with_the_previous_key_set_every_process_reads_both_while_the_rotation_runs(
        stores, monkeypatch, capsys, tmp_path: Path) -> None:
    from papo.config import load_settings
    from papo.runtime import token_cipher

    await _accounts()  # written with the old key
    _env(monkeypatch, stores, tmp_path, secret=NEW_KEY)
    monkeypatch.setenv("PAPO_SECRET_KEY_PREVIOUS", TEST_SECRET)
    running = token_cipher(load_settings())  # what a role restarted with both keys uses
    assert await _readable_with(running, stores.redis) == set(PLAIN.values())
    assert NEW.decrypt(running.encrypt("new-token")) == "new-token"  # it writes with the new key only

    assert await _papo("secrets", "rotate") == 0  # both keys come from the settings
    summary = json.loads(capsys.readouterr().out)
    assert summary["rotated"]["connected_accounts.access_token"] == 3
    assert "remove PAPO_SECRET_KEY_PREVIOUS" in summary["next"]
    assert await _readable_with(NEW, stores.redis) == set(PLAIN.values())
    assert await _readable_with(OLD, stores.redis) == set()


async def test_values_of_the_old_key_derivation_are_read_and_rewritten(stores, settings) -> None:
    import base64
    import hashlib

    from cryptography.fernet import Fernet

    legacy = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"papo-token-key:" + TEST_SECRET.encode()).digest()))
    made = await _accounts()
    made["wa"].access_token = "enc:v1:" + legacy.encrypt(PLAIN["access_token"].encode()).decode()
    await made["wa"].save()
    assert OLD.decrypt(made["wa"].access_token) == PLAIN["access_token"]  # written before 2026-12: still read

    await rotate_secrets(stores.redis, rotation_keys(settings, new_key=NEW_KEY))
    rotated = (await ConnectedAccount.get(id=made["wa"].id)).access_token
    assert rotated.startswith("enc:v2:") and NEW.decrypt(rotated) == PLAIN["access_token"]
