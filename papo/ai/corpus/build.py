"""Build `corpus.jsonl` from the hand-written fragments in this folder (deterministic, fixed seed).

    python -m papo.ai.corpus.build

Sources, per language (pt, es, en):
  templates_<lang>.txt    generic message templates under `## intent sentiment quality [@kind]` headers
  businesses_<lang>.txt   per-business items, slots and business-specific lines
  slots_<lang>.txt        shared slot values (days, cities, names, greetings …)
  handwritten_<lang>.txt  natural messages written one by one, not from templates
Templates use `{slot}` and inline alternatives `[a|b|]`. Every template line is one *group*: all its
variants land on the same side of the train/held-out split (see dataset.split_of).
"""

from __future__ import annotations

import random
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from papo.ai.corpus.noise import add_noise
from papo.ai.dataset import CORPUS_FILE, INTENTS, QUALITIES, SENTIMENTS, Example, split_of

HERE = Path(__file__).parent
SEED = 20240601
LANGS = ("pt", "es", "en")
VARIANTS = {"pt": 6, "es": 5, "en": 5}  # variants per generic template
BUSINESS_VARIANTS = {"pt": 3, "es": 3, "en": 3}
COMBOS = {"pt": 700, "es": 220, "en": 220}
_ALT = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{(\w+)\}")
_ARTICLES = {
    "pt": {
        "o": ("do", "no", "esse", "um"),
        "a": ("da", "na", "essa", "uma"),
        "os": ("dos", "nos", "esses", "uns"),
        "as": ("das", "nas", "essas", "umas"),
    },
    "es": {
        "el": ("del", "en el", "este", "un"),
        "la": ("de la", "en la", "esta", "una"),
        "los": ("de los", "en los", "estos", "unos"),
        "las": ("de las", "en las", "estas", "unas"),
    },
    "en": {"the": ("of the", "in the", "this", "a")},
}
_SHORT_CODES = {
    "Q": "question",
    "C": "complaint",
    "P": "purchase",
    "I": "info",
    "+": "positive",
    "0": "neutral",
    "-": "negative",
    "H": "hot",
    "W": "warm",
    "K": "cold",
}


@dataclass(slots=True)
class Template:
    text: str
    intent: str
    sentiment: str
    quality: str
    kind: str  # "" (any business), "product" or "service"
    group: str


@dataclass(slots=True)
class Business:
    name: str
    kind: str
    slots: dict[str, list[str]] = field(default_factory=dict)


def _sections(path: Path) -> dict[str, list[str]]:
    """`[name]` headers followed by `key: a | b | c` lines (or bare value lines)."""
    out: dict[str, list[str]] = {}
    current = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("# "):
            continue
        if line.startswith("[") and line.endswith("]") and "|" not in line:
            current = line[1:-1]
            continue
        key, _, values = line.partition(":") if ":" in line.split("|")[0] else ("", "", line)
        name = f"{current}.{key.strip()}" if key else current
        out.setdefault(name, []).extend(v.strip() for v in values.split("|") if v.strip())
    return out


def _templates(lang: str) -> list[Template]:
    out: list[Template] = []
    labels = ("", "", "", "")
    path = HERE / f"templates_{lang}.txt"
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("# "):
            continue
        if line.startswith("## "):
            parts = line[3:].split()
            kind = parts[3][1:] if len(parts) > 3 else ""
            labels = (parts[0], parts[1], parts[2], kind)
            _check(labels[:3], f"{path.name}:{n}")
            continue
        out.append(Template(line, *labels, group=f"tpl:{lang}:{n}"))
    return out


def _check(labels: tuple[str, ...], where: str) -> None:
    intent, sentiment, quality = labels
    if intent not in INTENTS or sentiment not in SENTIMENTS or quality not in QUALITIES:
        raise ValueError(f"bad labels {labels} at {where}")


def _businesses(lang: str) -> list[Business]:
    found: dict[str, Business] = {}
    for name, values in _sections(HERE / f"businesses_{lang}.txt").items():
        business, _, key = name.partition(".")
        entry = found.setdefault(business, Business(business, ""))
        if key == "kind":
            entry.kind = values[0]
        else:
            entry.slots[key] = values
    return list(found.values())


def _item_slots(lang: str, item: str) -> dict[str, str]:
    article, _, bare = item.partition(" ")
    forms = _ARTICLES[lang].get(article)
    if forms is None:
        return {"item": item, "the_item": item, "o_item": item, "el_item": item}
    of, in_, this, a = forms
    if lang == "en" and bare.endswith("s") and not bare.endswith("ss"):
        this, a = "these", "some"
    if lang == "en" and a == "a" and bare[0] in "aeiou":
        a = "an"
    keys = {
        "pt": ("o_item", "do_item", "no_item", "esse_item", "um_item"),
        "es": ("el_item", "del_item", "en_item", "este_item", "un_item"),
        "en": ("the_item", "of_item", "in_item", "this_item", "a_item"),
    }[lang]
    values = (item, f"{of} {bare}", f"{in_} {bare}", f"{this} {bare}", f"{a} {bare}")
    return {"item": bare, **dict(zip(keys, values, strict=True))}


class Filler:
    """Fills `{slot}` and `[a|b]` in a template for one business."""

    def __init__(self, lang: str, rng: random.Random) -> None:
        self.lang = lang
        self.rng = rng
        self.shared = _sections(HERE / f"slots_{lang}.txt")

    def fill(self, text: str, business: Business) -> str:
        """One concrete sentence."""
        rng = self.rng
        items = business.slots.get("item") or ["it"]
        slots = _item_slots(self.lang, rng.choice(items))

        def slot(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in slots:
                return slots[name]
            values = business.slots.get(name) or self.shared.get(name)
            if not values:
                raise KeyError(f"no values for slot {{{name}}} ({self.lang}, {business.name})")
            return self.fill_alternatives(rng.choice(values))

        text = self.fill_alternatives(text)
        for _ in range(3):  # slot values may contain slots
            text = _SLOT.sub(slot, text)
        return re.sub(r"\s+([,?!.])", r"\1", re.sub(r" {2,}", " ", text)).strip()

    def fill_alternatives(self, text: str) -> str:
        """Resolve `[a|b|]` choices (innermost first)."""
        while "[" in text:
            new = _ALT.sub(lambda m: self.rng.choice(m.group(1).split("|")), text)
            if new == text:
                break
            text = new
        return text


def _merge_sentiment(a: str, b: str) -> str:
    if "negative" in (a, b):
        return "negative"
    return "positive" if "positive" in (a, b) else "neutral"


def generate(lang: str, rng: random.Random) -> list[Example]:
    """Every generated example of one language."""
    filler = Filler(lang, rng)
    businesses = _businesses(lang)
    templates = _templates(lang)
    for b in businesses:  # business-specific lines are templates bound to that business
        for key, (intent, sentiment, quality) in {
            "q": ("question", "neutral", "warm"),
            "p": ("purchase", "neutral", "hot"),
            "c": ("complaint", "negative", "cold"),
            "ip": ("info", "positive", "cold"),
            "in": ("info", "neutral", "cold"),
        }.items():
            for i, text in enumerate(b.slots.get(key, [])):
                group = f"biz:{lang}:{b.name}:{key}{i}"
                templates.append(Template(text, intent, sentiment, quality, "=" + b.name, group))
    greet, close = filler.shared["greet"], filler.shared["close"]
    out: list[Example] = []

    def pick_business(t: Template) -> Business:
        if t.kind.startswith("="):
            return next(b for b in businesses if b.name == t.kind[1:])
        pool = [b for b in businesses if not t.kind or t.kind in b.kind]
        return rng.choice(pool)

    def render(t: Template, b: Business, frame: bool) -> str:
        body = filler.fill(t.text, b)
        if frame and rng.random() < 0.3:
            body = filler.fill_alternatives(rng.choice(greet)) + rng.choice([", ", " ", "! ", ". "]) + body
        if frame and rng.random() < 0.2:
            body = body + rng.choice([" ", ". ", ", "]) + filler.fill_alternatives(rng.choice(close))
        return body

    for t in templates:
        n = BUSINESS_VARIANTS[lang] if t.kind.startswith("=") else VARIANTS[lang]
        for _ in range(n):
            b = pick_business(t)
            text = add_noise(render(t, b, True), lang, t.sentiment, rng)
            out.append(
                Example(
                    text=text,
                    intent=t.intent,
                    sentiment=t.sentiment,
                    quality=t.quality,
                    language=lang,
                    business=b.name,
                    group=t.group,
                )
            )
    out.extend(_combos(lang, templates, rng, filler, pick_business))
    return out


# (first part, second part) → labels come from the dominant part (DESIGN.md: dominant intent wins).
_COMBO_RULES = [
    (("info", "positive"), ("question", "neutral"), "second"),
    (("info", "positive"), ("purchase", "neutral"), "second"),
    (("question", "neutral"), ("question", "neutral"), "first"),
    (("purchase", "neutral"), ("question", "neutral"), "first"),
    (("question", "neutral"), ("purchase", "neutral"), "second"),
    (("complaint", "negative"), ("complaint", "negative"), "first"),
    (("complaint", "negative"), ("question", "neutral"), "first"),
    (("info", "neutral"), ("complaint", "negative"), "second"),
    (("complaint", "negative"), ("info", "neutral"), "first"),
    (("info", "neutral"), ("purchase", "neutral"), "second"),
]


def _combos(
    lang: str,
    templates: list[Template],
    rng: random.Random,
    filler: Filler,
    pick: Callable[[Template], Business],
) -> list[Example]:
    # Both parts come from the same side of the split, so no held-out template leaks into training.
    by_key: dict[tuple[str, str, str], list[Template]] = {}
    for t in templates:
        by_key.setdefault((t.intent, t.sentiment, split_of(t.group)), []).append(t)

    def fits(t: Template, business: Business) -> bool:
        if t.kind.startswith("="):
            return t.kind[1:] == business.name
        return not t.kind or t.kind in business.kind

    out: list[Example] = []
    for i in range(COMBOS[lang]):
        first_key, second_key, dominant = _COMBO_RULES[i % len(_COMBO_RULES)]
        side = "test" if rng.random() < 0.2 else "train"
        main_key, other_key = (first_key, second_key) if dominant == "first" else (second_key, first_key)
        mains = by_key.get((*main_key, side), [])
        if not mains:
            continue
        main = rng.choice(mains)
        business = pick(main)
        others = [t for t in by_key.get((*other_key, side), []) if fits(t, business)]
        if not others:
            continue
        other = rng.choice(others)
        a, b = (main, other) if dominant == "first" else (other, main)
        joiner = rng.choice([". ", ", ", " ", "! ", "\n"])
        text = filler.fill(a.text, business) + joiner + filler.fill(b.text, business)
        sentiment = _merge_sentiment(a.sentiment, b.sentiment)
        text = add_noise(text, lang, sentiment, rng, level=0.8)
        out.append(
            Example(
                text=text,
                intent=main.intent,
                sentiment=sentiment,
                quality=main.quality,
                language=lang,
                business=business.name,
                group=main.group,
            )
        )
    return out


def handwritten(lang: str) -> list[Example]:
    """Natural messages from handwritten_<lang>.txt: `<intent><sentiment><quality> [business] | text`."""
    path = HERE / f"handwritten_{lang}.txt"
    out: list[Example] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("# "):
            continue
        head, sep, text = raw.partition(" | ")
        if not sep:
            raise ValueError(f"{path.name}:{n}: missing ' | '")
        code, *rest = head.split()
        lab = code[3:] if len(code) > 3 else lang  # optional language suffix, e.g. "I+Kother"
        intent, sentiment, quality = (_SHORT_CODES[c] for c in code[:3])
        business = rest[0] if rest else "generic"
        text = text.strip().replace("\\n", "\n")
        out.append(
            Example(
                text=text,
                intent=intent,
                sentiment=sentiment,
                quality=quality,
                language=lab,
                business=business,
                group=f"hw:{lang}:{text.lower()}",
            )
        )
    return out


def build() -> list[Example]:
    """The whole corpus, de-duplicated by text (first occurrence wins; hand-written first)."""
    rng = random.Random(SEED)
    examples: list[Example] = []
    for lang in (*LANGS, "other"):
        examples.extend(handwritten(lang))
    for lang in LANGS:
        examples.extend(generate(lang, rng))
    seen: set[str] = set()
    unique = []
    for e in examples:
        key = " ".join(e.text.lower().split())
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return unique


def main() -> None:
    """Write corpus.jsonl and print its size per language and intent."""
    examples = build()
    CORPUS_FILE.write_text("".join(e.to_json() + "\n" for e in examples), encoding="utf-8")
    print(f"wrote {len(examples)} examples to {CORPUS_FILE}")
    print("per language:", dict(Counter(e.language for e in examples)))
    print("per intent:", dict(Counter(e.intent for e in examples)))
    print("held out:", sum(split_of(e.group) == "test" for e in examples), file=sys.stderr)


if __name__ == "__main__":
    main()
