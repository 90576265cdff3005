"""`papo classify` and `papo ai train|evaluate`."""

from __future__ import annotations

import argparse
import codecs
import io
import sys
from collections.abc import Iterator
from typing import BinaryIO

from papo.cli.common import CommandError, print_json


def cmd_classify(args: argparse.Namespace) -> int:
    """Classify one text, or a JSONL file (a `text` per line), with the local model."""
    from papo.ai.commands import classify_lines, classify_text

    if (args.text is None) == (args.jsonl is None):
        raise CommandError("give a TEXT or --jsonl FILE (one of them)")
    if args.text is not None:
        print_json(classify_text(args.text))
        return 0
    source = sys.stdin.buffer if args.jsonl == "-" else open(args.jsonl, "rb")  # noqa: SIM115
    name = "stdin" if args.jsonl == "-" else args.jsonl
    with source:
        for result in classify_lines(_text_lines(source, name)):
            print_json(result)
    sys.stdout.flush()
    return 0


def _text_lines(source: BinaryIO, name: str) -> Iterator[str]:
    """The lines of a JSONL file as text: UTF-8 (with or without a BOM), or UTF-16 when it starts with a BOM.

    Decoded line by line so that a stray Latin-1 byte is reported with its line number instead of a
    UnicodeDecodeError traceback (spreadsheet exports on Windows are often Latin-1 or UTF-16).
    """
    start = source.peek(2)[:2] if hasattr(source, "peek") else b""
    if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        try:
            yield from (line.rstrip("\r\n") for line in io.TextIOWrapper(source, encoding="utf-16"))
        except UnicodeDecodeError:
            raise CommandError(f"{name}: not valid UTF-16 after its byte order mark") from None
        return
    for number, raw in enumerate(source, 1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise CommandError(f"{name}: line {number} is not UTF-8 (save the file as UTF-8)") from None
        yield line.rstrip("\r\n")


def cmd_ai_train(args: argparse.Namespace) -> int:
    """Train the local classifier (deterministic) and write its artifact."""
    from papo.ai.commands import train

    return train(args.rest)


def cmd_ai_evaluate(args: argparse.Namespace) -> int:
    """Per-class precision/recall/F1 on the held-out split and the hand-written wild set."""
    from papo.ai.commands import evaluate

    return evaluate(args.rest)
