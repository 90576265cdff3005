"""`papo classify` and `papo ai train|evaluate`."""

from __future__ import annotations

import argparse
import json
import sys

from papo.cli.common import CommandError


def cmd_classify(args: argparse.Namespace) -> int:
    """Classify one text, or a JSONL file (a `text` per line), with the local model."""
    from papo.ai.commands import classify_lines, classify_text

    if (args.text is None) == (args.jsonl is None):
        raise CommandError("give a TEXT or --jsonl FILE (one of them)")
    if args.text is not None:
        print(json.dumps(classify_text(args.text), ensure_ascii=False))
        return 0
    source = sys.stdin if args.jsonl == "-" else open(args.jsonl, encoding="utf-8")  # noqa: SIM115
    with source:
        for result in classify_lines(line.rstrip("\n") for line in source):
            print(json.dumps(result, ensure_ascii=False), flush=False)
    sys.stdout.flush()
    return 0


def cmd_ai_train(args: argparse.Namespace) -> int:
    """Train the local classifier (deterministic) and write its artifact."""
    from papo.ai.commands import train

    return train(args.rest)


def cmd_ai_evaluate(args: argparse.Namespace) -> int:
    """Per-class precision/recall/F1 on the held-out split and the hand-written wild set."""
    from papo.ai.commands import evaluate

    return evaluate(args.rest)
