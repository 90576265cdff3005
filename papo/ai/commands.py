"""Library side of `papo classify`, `papo ai train` and `papo ai evaluate` (wired in papo/cli/ai.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from papo.ai.local import LocalClassifier, default_classifier


def train(argv: Sequence[str] | None = None) -> int:
    """Train the local model and write the artifact; returns an exit code."""
    from papo.ai.train import main

    return main(argv)


def evaluate(argv: Sequence[str] | None = None) -> int:
    """Print held-out and wild-set figures; returns 1 when a held-out target is missed."""
    from papo.ai.evaluate import main

    return main(argv)


def classify_text(text: str, classifier: LocalClassifier | None = None) -> dict[str, Any]:
    """The JSON-ready classification of one text."""
    return (classifier or default_classifier()).predict(text).to_dict()


def classify_lines(
    lines: Iterable[str], classifier: LocalClassifier | None = None
) -> Iterator[dict[str, Any]]:
    """One result per JSONL input line, in order; a bad line yields {"error": ...} instead of stopping.

    Each line must be a JSON object with a string `text`. Blank lines are reported as errors too, so
    output line N always answers input line N.
    """
    clf = classifier or default_classifier()
    for number, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield {"error": "invalid JSON", "detail": f"line {number}: {exc.msg}"}
            continue
        text = obj.get("text") if isinstance(obj, dict) else None
        if not isinstance(text, str):
            yield {
                "error": "missing text",
                "detail": f"line {number}: expected an object with a string 'text'",
            }
            continue
        yield clf.predict(text).to_dict()
