"""The local classifier's linear model: a vocabulary of n-gram features and one weight matrix.

Four softmax heads (intent, sentiment, lead quality, language) share the features; each head owns a
slice of the weight columns. Scoring one message is a sum of ~300 weight rows — a few microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from papo.ai.dataset import HEADS
from papo.ai.text import features

MODEL_FILE = Path(__file__).parent / "model" / "local.npz"


def head_slices() -> dict[str, slice]:
    """Column range of each head in the weight matrix."""
    out: dict[str, slice] = {}
    start = 0
    for head, labels in HEADS.items():
        out[head] = slice(start, start + len(labels))
        start += len(labels)
    return out


N_OUTPUTS = sum(len(labels) for labels in HEADS.values())


class _Vocabulary(dict[str, int]):
    """Feature → row; an unknown feature maps to the last row, which is all zeros.

    `__missing__` beats `get` + filtering in the hot loop: known features (most of them) take the C
    fast path of dict lookup.
    """

    __slots__ = ("unknown",)

    def __init__(self, mapping: dict[str, int]) -> None:
        super().__init__(mapping)
        self.unknown = len(mapping)

    def __missing__(self, key: str) -> int:
        return self.unknown


@dataclass(slots=True, init=False)
class LinearModel:
    """Vocabulary (feature → row) and weights (rows × outputs) plus a bias per output."""

    vocab: dict[str, int]
    weights: np.ndarray  # float32, (len(vocab), N_OUTPUTS)
    bias: np.ndarray  # float32, (N_OUTPUTS,)
    _lookup: _Vocabulary
    _table: np.ndarray  # weights plus one zero row for unknown features

    def __init__(self, vocab: dict[str, int], weights: np.ndarray, bias: np.ndarray) -> None:
        self.vocab = vocab
        self.weights = weights
        self.bias = bias
        self._lookup = _Vocabulary(vocab)
        self._table = np.vstack([weights, np.zeros((1, weights.shape[1]), dtype=weights.dtype)])

    def logits(self, text: str) -> list[float]:
        """Raw scores of every output for one message."""
        feats = features(text)
        rows = list(map(self._lookup.__getitem__, feats))
        # Rows are summed then scaled by 1/sqrt(#features): long and short messages get logits of the
        # same magnitude, the same weighting the trainer used.
        summed = self._table.take(rows, axis=0).sum(axis=0)
        return (summed * (1.0 / math.sqrt(len(feats))) + self.bias).tolist()

    def logits_many(self, texts: Sequence[str]) -> np.ndarray:
        """Raw scores of several messages, one row each (float32, len(texts) × N_OUTPUTS).

        One gather and one segmented sum for the whole batch: per message, only the features are
        Python work. Each row is what `logits` computes for that message, to float32 rounding.
        """
        lookup = self._lookup.__getitem__
        rows: list[int] = []
        starts: list[int] = []
        scales: list[float] = []
        for text in texts:
            feats = features(text)  # never empty: it always carries the bias and shape features
            starts.append(len(rows))
            rows.extend(map(lookup, feats))
            scales.append(1.0 / math.sqrt(len(feats)))
        if not starts:
            return np.zeros((0, self.bias.shape[0]), dtype=self._table.dtype)
        summed = np.add.reduceat(self._table.take(rows, axis=0), starts, axis=0)
        return summed * np.asarray(scales, dtype=self._table.dtype)[:, None] + self.bias

    def save(self, path: Path = MODEL_FILE) -> None:
        """Write a compressed .npz: vocabulary as UTF-8 bytes, weights as float16."""
        path.parent.mkdir(parents=True, exist_ok=True)
        ordered = sorted(self.vocab, key=self.vocab.__getitem__)
        blob = np.frombuffer("\n".join(ordered).encode("utf-8"), dtype=np.uint8)
        with path.open("wb") as fh:
            np.savez_compressed(
                fh, vocab=blob, weights=self.weights.astype(np.float16), bias=self.bias.astype(np.float32)
            )

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> LinearModel:
        """Read a model written by save()."""
        with np.load(path) as data:
            words = data["vocab"].tobytes().decode("utf-8").split("\n")
            weights = data["weights"].astype(np.float32)
            bias = data["bias"].astype(np.float32)
        if weights.shape != (len(words), N_OUTPUTS):
            raise ValueError(f"corrupt model file {path}: weights {weights.shape}, vocab {len(words)}")
        return cls(vocab={w: i for i, w in enumerate(words)}, weights=weights, bias=bias)
