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
    for name in ("postgres", "redis", "mongo", "serve", "worker", "scheduler"):
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


def _subcommands() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return dict(action.choices)


def test_dockerfile_installs_the_package_and_serves() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in text and '"papo", "serve"' in text
