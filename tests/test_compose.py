"""docker-compose.yml only sets real settings and runs real `papo` commands."""

import tempfile
from pathlib import Path

import yaml

from papo.cli import build_parser
from papo.config import setting_names
from papo.resilience import alive_file

ROOT = Path(__file__).parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_papo_variable_in_compose_is_a_setting() -> None:
    services = _compose()["services"]
    seen = set()
    for name, service in services.items():
        for var in service.get("environment") or {}:
            if var.startswith("PAPO_"):
                seen.add(var)
                assert var in setting_names(), f"{name} sets {var}, which Papo does not read"
    assert {"PAPO_DATABASE_URL", "PAPO_REDIS_URL", "PAPO_MONGO_URL", "PAPO_SECRET_KEY"} <= seen


def test_compose_runs_serve_and_worker_with_real_commands_and_healthchecks() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "mongo", "serve", "worker"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["mongo"]["image"].startswith("mongo:7")
    for name in ("postgres", "redis", "mongo", "serve", "worker", "scheduler", "bot"):
        assert "healthcheck" in services[name], name
        assert services[name]["restart"] == "unless-stopped", name
    assert "always" in services["redis"]["command"]  # appendfsync always: a 200 is on disk
    alive = services["worker"]["healthcheck"]["test"][-1]
    assert str(alive_file("worker")).replace(tempfile.gettempdir(), "/tmp") in alive
    commands = {name for name, action in _subcommands().items()}
    for name, service in services.items():
        command = service.get("command")
        if command and command[0] == "papo":
            assert command[1] in commands, f"{name} runs `papo {command[1]}`, which does not exist"


def test_compose_runs_the_whole_product_with_the_env_file_and_one_data_volume() -> None:
    compose = _compose()
    services = compose["services"]
    roles = {name: s for name, s in services.items() if (s.get("command") or [""])[0] == "papo"}
    assert {"migrate", "serve", "worker", "scheduler", "bot"} <= set(roles)  # the admin bot runs too
    for name, service in roles.items():
        # Every setting written in .env reaches every role, not only the variables listed one by one.
        assert {"path": ".env", "required": False} in service["env_file"], name
    for name in ("serve", "worker", "scheduler", "bot"):  # media the bot takes in, serve serves, workers publish
        assert "papodata:/home/papo/data" in roles[name]["volumes"], name
    for name in ("worker", "scheduler", "bot"):  # serve's health check is /readyz
        assert str(alive_file(name)).replace(tempfile.gettempdir(), "/tmp") in str(roles[name]["healthcheck"]), name
    assert "papodata" in compose["volumes"]
    caddy = services["caddy"]  # the TLS front PAPO_PUBLIC_URL (https) needs
    assert caddy["profiles"] == ["tls"] and "serve:8080" in caddy["command"] and "443:443" in caddy["ports"]
    assert "chown papo:papo /home/papo/data" in (ROOT / "Dockerfile").read_text()  # the volume is writable


def _subcommands() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return dict(action.choices)


def test_dockerfile_installs_the_package_and_serves() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in text and '"papo", "serve"' in text
