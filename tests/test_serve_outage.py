"""`papo serve` started while MongoDB is down: it serves, says which store is down, and waits for it.

In a chaos run the web role, restarted while MongoDB was stopped for a minute, exited rc=1 at start
(creating MongoDB's indexes raised). A role must wait for a store, never die of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from papo.stack.process import free_ports
from tests.conftest import TEST_SECRET


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # 503 carries the JSON body too
        return exc.code, json.loads(exc.read())


def test_serve_starts_and_stays_up_while_mongodb_is_down(migrated, tmp_path) -> None:
    port, dead = free_ports(2)  # dead: where nothing listens, MongoDB "down"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPO_")}
    env.update({
        "PAPO_DATA_DIR": str(tmp_path), "PAPO_PORT": str(port), "PAPO_SECRET_KEY": TEST_SECRET,
        "PAPO_DATABASE_URL": migrated.database_url, "PAPO_REDIS_URL": migrated.redis_url,
        "PAPO_MONGO_URL": f"mongodb://127.0.0.1:{dead}/?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
        "PAPO_LOG_LEVEL": "WARNING",
    })
    proc = subprocess.Popen([sys.executable, "-m", "papo", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                status, body = _get(f"http://127.0.0.1:{port}/readyz")
                break
            except OSError:
                assert time.monotonic() < deadline, "papo serve never answered"
                time.sleep(0.3)
        assert status == 503 and body["stores"]["mongodb"] == "down", body
        assert body["stores"]["postgresql"] == "ok" and body["stores"]["redis"] == "ok", body
        time.sleep(4)  # several failed tries at the indexes (300 ms each, then backoff)
        assert proc.poll() is None, proc.communicate()[1]
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    # One line when the outage began, not one per retry.
    assert err.count("MongoDB indexes: MongoDB unreachable") == 1, err
