"""The benchmarks and the chaos run are not run by the suite (`make bench`, `make chaos-short`), so a rename in
papo/ could break them unseen (one did: bench/hotpath.py imported a module renamed the day before). Each one
must at least import and print its usage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted([*ROOT.glob("bench/*.py"), ROOT / "chaos" / "run.py"])

# One interpreter for all of them (each --help exits 0 after its imports and argument parser ran).
PROBE = """
import runpy, sys
failed = []
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            failed.append(f"FAILED {path}: exit {exc.code}")
        continue
    except BaseException as exc:
        failed.append(f"FAILED {path}: {type(exc).__name__}: {exc}")
        continue
    failed.append(f"FAILED {path}: --help did not exit")
print(*failed, sep="\\n")
"""


def test_every_benchmark_and_the_chaos_run_import_and_print_their_usage() -> None:
    assert len(SCRIPTS) >= 6
    run = subprocess.run([sys.executable, "-c", PROBE, *map(str, SCRIPTS)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    failures = [line for line in run.stdout.splitlines() if line.startswith("FAILED ")]
    assert not failures, "\n".join(failures)
    assert "usage:" in run.stdout
