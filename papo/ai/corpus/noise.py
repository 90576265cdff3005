"""Realistic writing noise for generated examples: how customers actually type on a phone.

Noise never changes a label: it only changes the surface (case, accents, abbreviations, emojis,
typos, punctuation), so the model learns the surface does not matter.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable

# (pattern, replacements) per language; applied word-wise with some probability.
ABBREV: dict[str, list[tuple[str, list[str]]]] = {
    "pt": [
        (r"\bvocês\b", ["vcs", "vc", "voces", "cês"]), (r"\bvocê\b", ["vc", "vc", "voce", "cê"]),
        (r"\bporque\b", ["pq", "pq", "porq"]), (r"\bpor que\b", ["pq", "porque"]),
        (r"\bquanto\b", ["qto", "qnto", "qnt", "quantu"]), (r"\bque\b", ["q", "q", "k"]),
        (r"\btambém\b", ["tb", "tbm", "tambem"]), (r"\bbeleza\b", ["blz"]), (r"\bvaleu\b", ["vlw", "vlww"]),
        (r"\bobrigad[oa]\b", ["obg", "obgd", "obrigado", "brigado", "obgda"]),
        (r"\bmensagem\b", ["msg"]), (r"\bpor favor\b", ["pfv", "pf", "por fvr", "pfvr"]),
        (r"\bhoje\b", ["hj"]), (r"\btudo\b", ["td"]), (r"\bmuito\b", ["mt", "mto", "muiito"]),
        (r"\bnão\b", ["n", "nao", "naum", "ñ"]),
        (r"\bestá\b", ["tá", "ta", "tah"]), (r"\bestou\b", ["tô", "to"]),
        (r"\bpara\b", ["pra", "p"]), (r"\bde novo\b", ["dnv"]), (r"\bdepois\b", ["dps"]),
        (r"\bwhatsapp\b", ["zap", "wpp", "whats", "whatsap"]),
        (r"\bquero\b", ["qro", "kero", "quero", "qero"]),
        (r"\baqui\b", ["aki", "aq"]), (r"\bagora\b", ["agr"]), (r"\bmesmo\b", ["msm"]),
        (r"\bcomigo\b", ["cmg"]), (r"\bninguém\b", ["ngm"]), (r"\bvalor\b", ["vlr"]),
        (r"\btamanho\b", ["tam"]), (r"\bbeijos\b", ["bjs", "bjos"]), (r"\bestão\b", ["tão", "tao"]),
        (r"\binformações\b", ["infos", "info"]), (r"\bfim de semana\b", ["fds"]), (r"\bnada\b", ["nd"]),
    ],
    "es": [
        (r"\bpor favor\b", ["xfa", "porfa", "pls", "porfis", "x favor"]), (r"\bque\b", ["q", "k"]),
        (r"\bqué\b", ["q", "k", "que"]),
        (r"\bporque\b", ["xq", "pq", "porq"]), (r"\bpor qué\b", ["xq", "pq"]),
        (r"\btambién\b", ["tb", "tmb", "tambien"]), (r"\bgracias\b", ["grax", "grs", "graciass", "grcs"]),
        (r"\bcuánto\b", ["cuanto", "cnt", "qnto"]), (r"\bdónde\b", ["donde", "dnd"]),
        (r"\bquiero\b", ["kiero", "qiero"]), (r"\bsaludos\b", ["salu2", "saludos"]),
        (r"\bpara\b", ["pa", "p"]), (r"\bmuy\b", ["mui"]), (r"\bestá\b", ["esta", "ta"]),
        (r"\bcuándo\b", ["cuando", "cdo"]), (r"\bde\b", ["d"]), (r"\bwhatsapp\b", ["wsp", "whats", "wpp"]),
        (r"\bmensaje\b", ["msj", "mensaje"]), (r"\bbien\b", ["bn"]), (r"\bhola\b", ["ola", "holaa"]),
    ],
    "en": [
        (r"\byou\b", ["u", "u", "ya"]), (r"\byour\b", ["ur", "ur", "yr"]),
        (r"\bplease\b", ["pls", "plz", "plss"]),
        (r"\bthanks\b", ["thx", "ty", "thnx", "tks"]), (r"\bthank you\b", ["ty", "thank u", "thx"]),
        (r"\bwant to\b", ["wanna"]), (r"\bgoing to\b", ["gonna"]), (r"\btomorrow\b", ["tmrw", "tmr"]),
        (r"\bare\b", ["r"]), (r"\bdon't\b", ["dont", "don't"]), (r"\bI'm\b", ["im", "Im", "i'm"]),
        (r"\bcan't\b", ["cant"]), (r"\bdidn't\b", ["didnt"]), (r"\bright now\b", ["rn"]),
        (r"\bmessage\b", ["msg", "dm"]), (r"\bbecause\b", ["bc", "cuz", "cause"]), (r"\bokay\b", ["ok", "k"]),
        (r"\bwhat\b", ["wat", "wht"]), (r"\bhow much\b", ["hw much", "how mch"]),
    ],
}

EMOJIS = {
    "positive": ["😍", "❤️", "🥰", "😊", "🙌", "🔥", "👏", "✨", "💕", "🤩",
                 "😘", "💖", "👍", "🥳", "😻", "💯", "🫶"],
    "negative": ["😡", "😤", "😠", "🙄", "😞", "😢", "👎", "💔", "😒", "🤬", "😩", "😭", "🤦‍♀️", "😔"],
    "neutral": ["🙏", "🤔", "👀", "🙏🏻", "😅", "👇", "🙂", "☺️", "📦", "👉"],
}
LAUGHS = {"pt": ["kkkk", "kkkkkk", "rsrs", "kkk", "hahaha"], "es": ["jajaja", "jaja", "jajajaj", "xd"],
          "en": ["lol", "haha", "lmao", "hahaha"]}
_NEIGHBOURS = dict(zip("qwertyuiopasdfghjklzxcvbnm", "wertyuiopoasdfghjklkxcvbnm", strict=True))


def strip_accents(text: str) -> str:
    """Remove diacritics the way people who skip them type (ç → c, ã → a)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(4)
    if op == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == 1:
        return word[:i] + word[i + 1 :]
    if op == 2:
        return word[:i] + word[i] + word[i:]
    return word[:i] + _NEIGHBOURS.get(word[i], word[i]) + word[i + 1 :]


def _stretch(word: str, rng: random.Random) -> str:
    # "quero" → "querooo", "lindo" → "liiindo": the squasher in text.py must undo this.
    vowels = [i for i, c in enumerate(word) if c in "aeiouAEIOU"]
    if not vowels:
        return word
    i = vowels[-1] if rng.random() < 0.7 else rng.choice(vowels)
    return word[: i + 1] + word[i] * rng.randint(2, 5) + word[i + 1 :]


def _chooser(options: list[str], rng: random.Random) -> Callable[[re.Match[str]], str]:
    return lambda _match: rng.choice(options)


def add_noise(text: str, lang: str, sentiment: str, rng: random.Random, level: float = 1.0) -> str:
    """A noisy rewrite of a clean sentence; `level` scales how much noise is applied."""
    for pattern, options in ABBREV.get(lang, []):
        if rng.random() < 0.35 * level:
            text = re.sub(pattern, _chooser(options, rng), text, flags=re.IGNORECASE)
    if rng.random() < 0.45 * level:
        text = strip_accents(text)
    words = text.split(" ")
    if rng.random() < 0.25 * level:
        k = rng.randrange(len(words))
        words[k] = _typo(words[k], rng)
    if rng.random() < 0.12 * level:
        k = rng.randrange(len(words))
        words[k] = _stretch(words[k], rng)
    text = " ".join(words)
    roll = rng.random()
    if roll < 0.3 * level:
        text = re.sub(r"[.,;!]", "", text)
        if rng.random() < 0.5:
            text = text.replace("?", "")
    elif roll < 0.45 * level:
        text = re.sub(r"\?", lambda _m: rng.choice(["??", "???", "?"]), text)
        text = re.sub(r"!", lambda _m: rng.choice(["!!", "!!!", "!"]), text)
    case = rng.random()
    if case < 0.5:
        text = text.lower()
    elif case > 1 - 0.08 * level and (sentiment != "neutral" or rng.random() < 0.3):
        text = text.upper()
    if rng.random() < 0.3 * level:
        pool = EMOJIS[sentiment]
        text = text.rstrip() + rng.choice(["", " "]) + rng.choice(pool) * rng.choice([1, 1, 2, 3])
    if sentiment == "positive" and rng.random() < 0.12 * level:
        text = rng.choice(LAUGHS.get(lang, LAUGHS["pt"])) + " " + text
    return text.strip()
