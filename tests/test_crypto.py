"""Token encryption at rest."""

import os
import stat

import pytest

from papo.crypto import CryptoError, TokenCipher, generate_secret_file, read_secret_file


def test_round_trip_and_ciphertext_hides_the_token() -> None:
    cipher = TokenCipher("a-long-enough-secret")
    stored = cipher.encrypt("EAAG-real-token")
    assert "EAAG" not in stored and stored.startswith("enc:v1:")
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
