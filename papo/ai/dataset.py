"""The labelled corpus: loading, the deterministic train/held-out split and the label sets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).parent / "corpus"
CORPUS_FILE = CORPUS_DIR / "corpus.jsonl"
WILD_FILE = CORPUS_DIR / "wild.jsonl"

INTENTS = ("question", "complaint", "purchase", "info")
SENTIMENTS = ("positive", "neutral", "negative")
QUALITIES = ("cold", "warm", "hot")
LANGUAGES = ("pt", "es", "en", "other")
HEADS: dict[str, tuple[str, ...]] = {
    "intent": INTENTS,
    "sentiment": SENTIMENTS,
    "quality": QUALITIES,
    "language": LANGUAGES,
}
HELD_OUT_PERCENT = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    """One labelled message; `group` ties together variants of one template for the split."""

    text: str
    intent: str
    sentiment: str
    quality: str
    language: str
    business: str = "generic"
    group: str = ""

    def label(self, head: str) -> str:
        """The label of this example for one head."""
        return str(getattr(self, head))

    def to_json(self) -> str:
        """One JSONL line."""
        return json.dumps(
            {
                "text": self.text,
                "intent": self.intent,
                "sentiment": self.sentiment,
                "quality": self.quality,
                "language": self.language,
                "business": self.business,
                "group": self.group,
            },
            ensure_ascii=False,
        )


def split_of(group: str) -> str:
    """'test' for about HELD_OUT_PERCENT % of groups, else 'train' — stable across runs and machines."""
    digest = hashlib.blake2b(group.encode(), digest_size=8).digest()
    return "test" if int.from_bytes(digest, "big") % 100 < HELD_OUT_PERCENT else "train"


def parse_examples(lines: Iterable[str]) -> Iterator[Example]:
    """Examples from JSONL lines (blank lines skipped); `group` defaults to the text."""
    for line in lines:
        if not line.strip():
            continue
        obj = json.loads(line)
        for head, labels in HEADS.items():
            if obj[head] not in labels:
                raise ValueError(f"bad {head} {obj[head]!r} in {line.strip()[:80]}")
        yield Example(
            text=obj["text"],
            intent=obj["intent"],
            sentiment=obj["sentiment"],
            quality=obj["quality"],
            language=obj["language"],
            business=obj.get("business", "generic"),
            group=obj.get("group") or "t:" + obj["text"],
        )


def load(path: Path = CORPUS_FILE) -> list[Example]:
    """All examples of a JSONL corpus file."""
    with path.open(encoding="utf-8") as fh:
        return list(parse_examples(fh))


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """(train, held-out) by group hash: no template has variants on both sides."""
    train = [e for e in examples if split_of(e.group) == "train"]
    test = [e for e in examples if split_of(e.group) == "test"]
    return train, test
