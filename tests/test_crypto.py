"""Token encryption at rest."""

import os
import stat

import pytest

from papo.crypto import CryptoError, TokenCipher, generate_secret_file, read_secret_file


def test_round_trip_and_ciphertext_hides_the_token() -> None:
    cipher = TokenCipher("a-long-enough-secret")
    stored = cipher.encrypt("EAAG-real-token")
    assert "EAAG" not in stored and stored.startswith("enc:v2:")
    assert cipher.decrypt(stored) == "EAAG-real-token"
    assert cipher.encrypt("EAAG-real-token") != stored  # random IV: equal tokens do not look equal


def test_wrong_key_or_plain_text_is_refused() -> None:
    stored = TokenCipher("a-long-enough-secret").encrypt("tok")
    with pytest.raises(CryptoError, match="wrong PAPO_SECRET_KEY"):
        TokenCipher("another-long-secret").decrypt(stored)
    with pytest.raises(CryptoError, match="not encrypted"):
        TokenCipher("a-long-enough-secret").decrypt("tok")
    with pytest.raises(ValueError, match="at least 16"):
        TokenCipher("short")


def test_generated_secret_file_is_private_and_stable(tmp_path) -> None:
    key, created = generate_secret_file(tmp_path / "d")
    assert created and len(key) >= 32
    assert stat.S_IMODE(os.stat(tmp_path / "d" / "secret.key").st_mode) == 0o600
    again, created_again = generate_secret_file(tmp_path / "d")
    assert (again, created_again) == (key, False)
    assert read_secret_file(tmp_path / "d") == key
    assert read_secret_file(tmp_path / "none") is None


def test_the_fernet_key_comes_from_scrypt_not_one_hash() -> None:
    import base64
    import hashlib

    from cryptography.fernet import Fernet, InvalidToken

    stored = TokenCipher("a-long-enough-secret").encrypt("tok")
    one_hash = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"papo-token-key:a-long-enough-secret").digest()))
    with pytest.raises(InvalidToken):  # a guess costs a scrypt run (16 MiB), not one SHA-256
        one_hash.decrypt(stored.removeprefix("enc:v2:").encode())
    derived = hashlib.scrypt(b"a-long-enough-secret", salt=b"papo-token-key:v2", n=2**14, r=8, p=1, dklen=32)
    assert Fernet(base64.urlsafe_b64encode(derived)).decrypt(stored.removeprefix("enc:v2:").encode()) == b"tok"


def test_previous_keys_are_read_and_never_written() -> None:
    old = TokenCipher("the-old-key-0123456789").encrypt("tok")
    both = TokenCipher("the-new-key-0123456789", previous=("the-old-key-0123456789",))
    assert both.decrypt(old) == "tok"
    with pytest.raises(CryptoError):
        TokenCipher("the-old-key-0123456789").decrypt(both.encrypt("tok"))
    assert both.is_current(both.encrypt("tok")) and not both.is_current(old)
