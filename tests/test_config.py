"""Settings: every DESIGN.md variable exists, bad values fail naming the variable, secrets stay secret."""

from __future__ import annotations

import pytest

from papo.config import ConfigError, Settings, load_settings, setting_names

DESIGN_VARIABLES = [
    "PAPO_DATA_DIR", "PAPO_HOST", "PAPO_PORT", "PAPO_DATABASE_URL", "PAPO_REDIS_URL",
    "PAPO_MONGO_URL", "PAPO_SECRET_KEY", "PAPO_META_APP_SECRET", "PAPO_META_VERIFY_TOKEN",
    "PAPO_GRAPH_API_URL", "PAPO_INSTAGRAM_API_URL", "PAPO_TIKTOK_CLIENT_KEY",
    "PAPO_TIKTOK_CLIENT_SECRET", "PAPO_TIKTOK_API_URL", "PAPO_YOUTUBE_API_URL",
    "PAPO_YOUTUBE_HUB_SECRET", "PAPO_OPENAI_API_KEY", "PAPO_OPENAI_BASE_URL", "PAPO_OPENAI_MODEL",
    "PAPO_TELEGRAM_TOKEN", "PAPO_TELEGRAM_API_URL", "PAPO_PUBLIC_URL", "PAPO_YOUTUBE_HUB_URL",
    "PAPO_OAUTH_META_URL", "PAPO_OAUTH_TIKTOK_URL", "PAPO_OAUTH_GOOGLE_URL", "PAPO_META_APP_ID",
    "PAPO_GOOGLE_CLIENT_ID", "PAPO_GOOGLE_CLIENT_SECRET",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout


def test_every_design_variable_is_a_setting() -> None:
    assert set(DESIGN_VARIABLES) <= setting_names()


def test_defaults() -> None:
    s = load_settings()
    assert s.port == 8080
    assert str(s.data_dir) == ".papo"
    assert s.database_url is None and s.secret_key is None
    assert s.url("graph_api_url").startswith("https://graph.facebook.com/")
    assert not s.openai_enabled


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text("PAPO_PORT=9090\nPAPO_OPENAI_BASE_URL=http://127.0.0.1:1/v1\n")
    monkeypatch.setenv("PAPO_HOST", "0.0.0.0")
    s = load_settings()
    assert (s.host, s.port) == ("0.0.0.0", 9090)
    assert s.openai_enabled
    assert s.url("openai_base_url") == "http://127.0.0.1:1/v1"


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("PAPO_PORT", "eighty", "PAPO_PORT"),
        ("PAPO_PORT", "70000", "PAPO_PORT"),
        ("PAPO_DATABASE_URL", "mysql://x", "PAPO_DATABASE_URL: Value error, must be a PostgreSQL URL"),
        ("PAPO_REDIS_URL", "localhost:6379", "PAPO_REDIS_URL"),
        ("PAPO_MONGO_URL", "http://x", "PAPO_MONGO_URL"),
        ("PAPO_GRAPH_API_URL", "not a url", "PAPO_GRAPH_API_URL"),
        ("PAPO_TIMEZONE", "Mars/Olympus", "unknown IANA time zone"),
        ("PAPO_LOG_LEVEL", "LOUD", "PAPO_LOG_LEVEL"),
    ],
)
def test_wrong_values_fail_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name, value, needle) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=needle):
        load_settings()


def test_store_passwords_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPO_DATABASE_URL", "mysql://papo:pg-pass-789@db:3306/papo")
    with pytest.raises(ConfigError, match="PAPO_DATABASE_URL") as refused:
        load_settings()
    assert "pg-pass-789" not in str(refused.value) and "papo:***@db:3306" in str(refused.value)
    s = Settings(_env_file=None, database_url="postgres://papo:pg-pass-789@db/papo",  # type: ignore[call-arg]
                 redis_url="redis://:rd-pass-456@cache:6379/0")
    assert "pg-pass-789" not in repr(s) + str(s) and "rd-pass-456" not in repr(s) + str(s)
    assert s.database_url == "postgres://papo:pg-pass-789@db/papo"


def test_secrets_never_print() -> None:
    s = Settings(_env_file=None, secret_key="super-secret-value-123", meta_app_secret="app-secret-xyz")  # type: ignore[call-arg,arg-type]
    text = repr(s) + str(s) + s.model_dump_json()
    assert "super-secret-value-123" not in text and "app-secret-xyz" not in text
    assert s.secret_key is not None and s.secret_key.get_secret_value() == "super-secret-value-123"


@pytest.mark.parametrize(("choice", "expected"), [("auto", "uvloop"), ("uvloop", "uvloop"), ("asyncio", "asyncio")])
def test_roles_run_on_the_configured_event_loop(choice: str, expected: str) -> None:
    import asyncio

    from papo.runtime import run_role

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__.split(".")[0]

    settings = Settings(_env_file=None, event_loop=choice)  # type: ignore[call-arg]
    assert run_role(settings, loop_module()) == expected


def test_uvloop_asked_for_but_missing_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from papo.runtime import loop_factory

    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    assert loop_factory("auto") is None  # auto falls back to asyncio's loop
    with pytest.raises(ConfigError, match="PAPO_EVENT_LOOP=uvloop but uvloop is not installed"):
        loop_factory("uvloop")
