"""`papo rules …` / `papo templates …` as an owner scripting them, against the test stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from papo.models import Conversation, Message
from papo.services.users import create_user
from tests.conftest import TEST_SECRET


def _papo(stores, settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPO_")}
    env.update({"PAPO_DATABASE_URL": stores.urls.database_url, "PAPO_REDIS_URL": stores.urls.redis_url,
                "PAPO_MONGO_URL": stores.urls.mongo_url, "PAPO_SECRET_KEY": TEST_SECRET,
                "PAPO_DATA_DIR": str(settings.data_dir)})
    return subprocess.run([sys.executable, "-m", "papo", *args], env=env, capture_output=True, text=True,
                          timeout=60)


async def test_rules_and_templates_from_the_command_line(stores, settings) -> None:
    owner = await create_user(email="dona@padaria.com.br", name="Padaria", plan="pro")
    conv = await Conversation.create(user=owner, platform="whatsapp", platform_conversation_id="5511987654321",
                                     remote_user_id="5511987654321", remote_user_name="Ana Souza")
    for n, text in enumerate(["Oi, bom dia", "Qual o preço do bolo?", "obrigada"]):
        await Message.create(conversation=conv, sender="remote", message_text=text, kind="message",
                             platform_message_id=f"wamid.{n}", platform_timestamp=datetime.now(UTC))

    done = _papo(stores, settings, "templates", "add", "--user", "dona@padaria.com.br", "--platform", "whatsapp",
                 "--name", "boas_vindas", "--content", "Olá {first_name}!", "--meta-template-name", "boas_vindas",
                 "--language", "pt_BR", "--approved")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["variables"] == ["first_name"]

    bad = _papo(stores, settings, "rules", "add", "--user", "dona@padaria.com.br", "--name", "X", "--trigger",
                "message", "--platform", "whatsapp", "--action", "send_message",
                "--condition", '{"min_score": 7}', "--data", '{"text": "oi"}')
    assert bad.returncode == 1 and "condition.min_score" in bad.stderr and "Traceback" not in bad.stderr

    done = _papo(stores, settings, "rules", "add", "--user", "dona@padaria.com.br", "--name", "Preço",
                 "--trigger", "message", "--platform", "whatsapp", "--action", "send_message",
                 "--condition", '{"keywords_any": ["preço"]}', "--data", '{"text": "Oi {first_name}! R$ 45."}')
    assert done.returncode == 0, done.stderr
    rule_id = json.loads(done.stdout)["id"]

    listed = _papo(stores, settings, "rules", "list", "--user", "dona@padaria.com.br")
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["Preço"]

    dry = _papo(stores, settings, "rules", "test", rule_id, "--last", "10")
    assert dry.returncode == 0, dry.stderr
    lines = [json.loads(line) for line in dry.stdout.splitlines() if line.startswith("{")]
    fired = [line for line in lines if line["fires"]]
    assert [line["text"] for line in fired] == ["Qual o preço do bolo?"]
    assert fired[0]["would"] == ["send: Oi Ana! R$ 45."]
    assert "1 of 3 messages would fire" in dry.stdout
    assert await Message.filter(sender="user").count() == 0  # a dry run sends nothing

    assert json.loads(_papo(stores, settings, "rules", "disable", rule_id).stdout)["is_active"] is False
    assert json.loads(_papo(stores, settings, "rules", "enable", rule_id).stdout)["is_active"] is True
    assert _papo(stores, settings, "rules", "delete", rule_id).returncode == 0
    gone = _papo(stores, settings, "rules", "enable", rule_id)
    assert gone.returncode == 1 and "no rule" in gone.stderr
