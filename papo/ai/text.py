"""Text normalisation and feature extraction for the local classifier.

Customers write "QUEROOO 😍😍", "qto ta?", "no me gustó nada": normalisation folds case and accents,
squashes letter runs, maps emojis and abbreviations to tokens and marks negation, so that the linear
model sees the same features for all the ways of writing one thing. Everything here is pure Python
on purpose: it runs on every inbound message and must stay in the tens of microseconds.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import pairwise

from papo.ai.lexicon import ABBREVIATIONS, EMOJI, NEGATIVE, NEGATORS, POSITIVE, SKIP_AFTER_NEGATOR

MAX_CHARS = 600  # long e-mails say what they want early; this bounds the cost of one call
CHAR_NGRAMS = (2, 3, 4, 5)


def _fold_table() -> dict[int, str]:
    # Precomputed once: str.translate with a dict is the fastest accent fold in pure Python.
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        ch = chr(code)
        base = unicodedata.normalize("NFKD", ch)[0].lower()
        if base.isascii() and base.isalpha():
            table[code] = base
    table.update({ord("ß"): "ss", ord("æ"): "ae", ord("œ"): "oe", ord("ø"): "o", ord("ł"): "l"})
    for ch, tok in EMOJI.items():
        table[ord(ch)] = f" {tok} "
    for ch in "\u200d\ufe0f\ufe0e\u20e3":  # joiners and variation selectors glue emojis; drop them
        table[ord(ch)] = ""
    for code in range(0x1F3FB, 0x1F400):  # skin tones
        table[code] = ""
    for ch in "“”«»„‘’´`":
        table[ord(ch)] = " "
    return table


_FOLD = _fold_table()
_URL = re.compile(r"(?:https?://|www\.)\S+|\b\S+\.(?:com|br|net|org|shop|store|link)(?:/\S*)?\b")
_EMAIL = re.compile(r"\S+@\S+\.\S+")
_LAUGH = re.compile(
    r"\b(?:k{3,}|(?:ha|ah){2,}h?|(?:he){2,}|(?:rs){2,}|(?:ja|aj){2,}j?|(?:je){2,}|(?:hi){3,})\b"
)
_REPEAT = re.compile(r"([a-z])\1{2,}|([a-z])\2+\b")
_DIGITS = re.compile(r"\d")
_EMOJI_OTHER = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]")
_TOKEN = re.compile(r"[a-z0]+|\?|!+|\$|[.,;:]+")
_GREETING_TIME = frozenset(
    {
        "dia",
        "dias",
        "tarde",
        "tardes",
        "noite",
        "noites",
        "noche",
        "noches",
        "morning",
        "afternoon",
        "evening",
        "night",
        "day",
    }
)
_BOUNDARY = frozenset({".", "?", "!", "!!"})
_GREETING_ADJ = frozenset({"bom", "boa", "buenos", "buenas", "buen", "good"})


def _squash(match: re.Match[str]) -> str:
    # "quuuero" → "quero"; a doubled last letter is a typing habit too ("Linkk", "oii", "preçoo").
    return match.group(1) or match.group(2)


def normalize(text: str) -> list[str]:
    """Turn a raw message into canonical tokens (words, `?`, `!`, `$`, emoji and marker tokens)."""
    text = text[:MAX_CHARS]
    letters = [c for c in text if c.isalpha()]
    upper = sum(1 for c in letters if c.isupper())
    markers: list[str] = []
    if len(letters) >= 4 and upper >= 0.7 * len(letters):
        markers.append("xcaps")
    low = text.lower()
    if "ã" in low or "õ" in low or "ç" in low or "ê" in low:
        markers.append("xmpt")
    if "ñ" in low or "¿" in low or "¡" in low:
        markers.append("xmes")
    low = _EMAIL.sub(" xemail ", low)
    low = _URL.sub(" xurl ", low)
    low = low.translate(_FOLD)
    low = _EMOJI_OTHER.sub(" xemoji ", low)
    low = _LAUGH.sub(" xlaugh ", low)  # before squashing, or "kkkk" would become the word "k"
    low = _REPEAT.sub(_squash, low)
    low = _DIGITS.sub("0", low)
    tokens: list[str] = []
    for tok in _TOKEN.findall(low):
        if tok[0] == "!":
            tokens.append("!!" if len(tok) > 1 else "!")
            continue
        if tok[0] in ".,;:":
            tokens.append(".")  # clause boundary: ends negation scope, not a feature
            continue
        expanded = ABBREVIATIONS.get(tok)
        if expanded is None:
            tokens.append(tok)
        else:
            tokens.extend(expanded.split())
    if tokens and tokens[-1] == "?" and len(tokens) > 1 and tokens[-2] == "?":
        tokens.pop()
    while tokens and tokens[-1] == ".":
        tokens.pop()
    return tokens + markers


def _negation_reach(tok: str) -> int:
    # Portuguese "no" means "in the" ("no M", "no site"), so "no" only reaches the next word.
    return 1 if tok == "no" else 3


def polarity(tokens: list[str]) -> list[str]:
    """Lexicon polarity markers with negation flipping ("não gostei" → neg, "nada mal" → pos)."""
    out: list[str] = []
    negate = 0
    for i, tok in enumerate(tokens):
        if tok in NEGATORS:
            negate = _negation_reach(tok)
            out.append("xnegator")
            continue
        if tok in _BOUNDARY:
            negate = 0
            continue
        pos = tok in POSITIVE
        neg = tok in NEGATIVE
        if (pos or neg) and tok in _GREETING_ADJ and i + 1 < len(tokens) and tokens[i + 1] in _GREETING_TIME:
            pos = neg = False
        if pos or neg:
            flipped = negate > 0
            out.append(("xlexneg" if pos else "xlexpos") if flipped else ("xlexpos" if pos else "xlexneg"))
            if flipped:
                out.append("xnegpos" if pos else "xnegneg")
            negate = 0
        elif negate and tok not in SKIP_AFTER_NEGATOR:
            negate -= 1
    return out


def features(text: str) -> list[str]:
    """Feature strings for one message: char n-grams, word uni/bigrams, polarity and shape markers."""
    tokens = normalize(text)
    scoped = [t for t in tokens if not t.startswith("xm") and t != "xcaps"]
    words = [t for t in scoped if t != "."]
    joined = " " + " ".join(words) + " "
    feats = [joined[i : i + n] for n in CHAR_NGRAMS for i in range(len(joined) - n + 1)]
    feats.extend(["W" + t for t in tokens if t != "."])
    padded = ["^", *words, "$"]
    feats.extend(["B" + a + "_" + b for a, b in pairwise(padded)])
    # Negated words get their own features so "não quero" and "quero" are told apart.
    negate = 0
    for tok in scoped:
        if tok in NEGATORS:
            negate = min(2, _negation_reach(tok))
        elif tok in _BOUNDARY:
            negate = 0
        elif negate:
            feats.append("N" + tok)
            if tok not in SKIP_AFTER_NEGATOR:
                negate -= 1
    feats.extend(polarity(scoped))
    n = len(words)
    feats.append("L" + ("1" if n <= 1 else "2" if n == 2 else "3" if n <= 4 else "5" if n <= 9 else "x"))
    feats.append("Q" + ("y" if "?" in words else "n"))
    feats.append("xbias")
    return feats
