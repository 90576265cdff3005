"""Case- and accent-insensitive, whole-word text matching for keyword conditions.

Text and keywords are folded the same way (NFKD, combining marks dropped, casefold) and cut into word
tokens; a keyword or phrase matches when its tokens appear contiguously. Matching works on a padded
string (" a b c "), so whole-word and phrase checks are one substring test each: "preço" matches
"PRECO" and "Preço?", never "precocidade".
"""

from __future__ import annotations

import re
import unicodedata

# Words (letters, digits) and single emoji/pictographs, so "🔥" can be a keyword too; punctuation is
# dropped so that "preço?" as a keyword still means the word "preço".
_TOKEN = re.compile(r"[^\W_]+|[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]")
MAX_TEXT = 4000  # a longer message is cut: keywords sit early, and this bounds the cost per rule


def fold(text: str) -> str:
    """Lower-case, accent-free form of `text` ("Preço" → "preco", "CAFÉ" → "cafe")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def tokens(text: str) -> list[str]:
    """The folded word tokens of `text`, in order."""
    return _TOKEN.findall(fold(text[:MAX_TEXT]))


def padded(words: list[str]) -> str:
    """Tokens joined and padded with spaces, the form phrases are searched in."""
    return f" {' '.join(words)} "


def phrase(keyword: str) -> str | None:
    """A keyword's padded folded form, or None when it holds no word at all (e.g. only punctuation)."""
    words = tokens(keyword)
    return padded(words) if words else None


def fold_tag(tag: str) -> str:
    """How tags are compared: folded, inner whitespace squashed ("VIP " == "vip")."""
    return " ".join(fold(tag).split())
