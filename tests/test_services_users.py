"""Users and connected accounts through the services (real PostgreSQL)."""

import asyncpg
import pytest

from papo.crypto import TokenCipher
from papo.models import ConnectedAccount
from papo.services import NotFound, ServiceError
from papo.services.accounts import access_token, connect_account
from papo.services.users import create_user, get_user_by_email

CIPHER = TokenCipher("test-secret-key-0123456789abcdef")


async def test_create_user_normalises_and_refuses_duplicates(stores) -> None:
    user = await create_user(email="  Ana@Loja.com.br ", name="Ana", plan="starter")
    assert user.email == "ana@loja.com.br" and str(user.plan) == "starter"
    with pytest.raises(ServiceError, match="already exists"):
        await create_user(email="ana@loja.com.br", name="Ana 2")
    with pytest.raises(ServiceError, match="not a valid email"):
        await create_user(email="ana", name="Ana")
    with pytest.raises(ServiceError, match="plan 'gold' is not one of"):
        await create_user(email="b@loja.com", name="B", plan="gold")
    assert (await get_user_by_email("ANA@loja.com.br")).id == user.id
    with pytest.raises(NotFound):
        await get_user_by_email("nobody@x.com")


async def test_connect_account_stores_the_token_encrypted(stores) -> None:
    user = await create_user(email="dono@padaria.com", name="Padaria")
    account, created = await connect_account(
        user=user, platform="WhatsApp", platform_account_id="106540352242922",
        access_token="EAAGm0PX4ZCpsBA-secret", cipher=CIPHER, business_name="Padaria Pão Quente",
    )
    assert created
    conn = await asyncpg.connect(stores.urls.database_url.replace("postgres://", "postgresql://", 1))
    try:
        raw = await conn.fetchval("SELECT access_token FROM connected_accounts WHERE id = $1", account.id)
        dump = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM connected_accounts t")
    finally:
        await conn.close()
    assert "EAAGm0PX4ZCpsBA-secret" not in raw and "EAAGm0PX4ZCpsBA-secret" not in dump
    assert access_token(await ConnectedAccount.get(id=account.id), CIPHER) == "EAAGm0PX4ZCpsBA-secret"

    again, created = await connect_account(
        user=user, platform="whatsapp", platform_account_id="106540352242922",
        access_token="EAAG-new", cipher=CIPHER,
    )
    assert not created and again.id == account.id
    assert access_token(await ConnectedAccount.get(id=account.id), CIPHER) == "EAAG-new"
    assert (await ConnectedAccount.get(id=account.id)).business_name == "Padaria Pão Quente"
    with pytest.raises(ServiceError, match="platform 'orkut' is not one of"):
        await connect_account(user=user, platform="orkut", platform_account_id="1", access_token="t",
                              cipher=CIPHER)
