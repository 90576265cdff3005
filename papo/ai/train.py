"""Train the local classifier: multinomial logistic regression (four heads) fitted with numpy.

    python -m papo.ai.train [--all] [--out PATH]

Deterministic: the vocabulary is sorted, the batch order comes from a fixed seed and every numpy
reduction runs in a fixed order, so two runs on the same corpus write identical weights. By default it
trains on the train split only, so `python -m papo.ai.evaluate` reports figures on unseen messages.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from papo.ai import dataset
from papo.ai.dataset import HEADS, Example
from papo.ai.model import MODEL_FILE, N_OUTPUTS, LinearModel, head_slices
from papo.ai.text import features
from papo.cli.common import Parser

SEED = 7


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Hyper-parameters, chosen on a group-held-out slice of the train split (never on the held-out split)."""

    epochs: int = 16
    batch_size: int = 64
    learning_rate: float = 0.05
    l2: float = 1e-4
    min_df: int = 2
    seed: int = SEED


def _vocabulary(docs: list[list[str]], min_df: int) -> dict[str, int]:
    df: Counter[str] = Counter()
    for feats in docs:
        df.update(set(feats))
    kept = sorted(f for f, n in df.items() if n >= min_df)
    return {f: i for i, f in enumerate(kept)}


def _csr(docs: list[list[str]], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    indptr = [0]
    indices: list[int] = []
    values: list[float] = []
    for feats in docs:
        rows = [vocab[f] for f in feats if f in vocab]
        indices.extend(rows)
        values.extend([1.0 / math.sqrt(len(feats))] * len(rows))
        indptr.append(len(indices))
    return (
        np.asarray(indptr, dtype=np.int64),
        np.asarray(indices, dtype=np.int64),
        np.asarray(values, dtype=np.float32),
    )


def _targets(examples: Sequence[Example]) -> dict[str, np.ndarray]:
    return {
        head: np.asarray([labels.index(e.label(head)) for e in examples], dtype=np.int64)
        for head, labels in HEADS.items()
    }


def _class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    # Balanced weights (capped) so small classes such as "other" language still count for macro-F1.
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weights = len(y) / (n_classes * np.maximum(counts, 1.0))
    return np.clip(weights, 0.3, 5.0)


def fit(
    examples: Sequence[Example], config: TrainConfig = TrainConfig(), verbose: bool = False
) -> LinearModel:
    """A trained LinearModel for these examples."""
    docs = [features(e.text) for e in examples]
    vocab = _vocabulary(docs, config.min_df)
    indptr, indices, values = _csr(docs, vocab)
    targets = _targets(examples)
    slices = head_slices()
    sample_weight = {h: _class_weights(targets[h], len(HEADS[h]))[targets[h]] for h in HEADS}
    rng = np.random.default_rng(config.seed)
    n = len(examples)
    weights = np.zeros((len(vocab), N_OUTPUTS), dtype=np.float64)
    bias = np.zeros(N_OUTPUTS, dtype=np.float64)
    m_w, v_w = np.zeros_like(weights), np.zeros_like(weights)
    m_b, v_b = np.zeros_like(bias), np.zeros_like(bias)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    step = 0
    for epoch in range(config.epochs):
        order = rng.permutation(n)
        lr = config.learning_rate * (0.5 * (1 + math.cos(math.pi * epoch / config.epochs)) * 0.9 + 0.1)
        total_loss = 0.0
        for start in range(0, n, config.batch_size):
            batch = order[start : start + config.batch_size]
            starts, ends = indptr[batch], indptr[batch + 1]
            lengths = ends - starts
            pos = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
            rows = indices[pos]
            vals = values[pos]
            seg = np.repeat(np.arange(len(batch)), lengths)
            offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            z = np.add.reduceat(weights[rows] * vals[:, None], offsets, axis=0) + bias
            grad_z = np.empty_like(z)
            for head, sl in slices.items():
                logits = z[:, sl] - z[:, sl].max(axis=1, keepdims=True)
                probs = np.exp(logits)
                probs /= probs.sum(axis=1, keepdims=True)
                y = targets[head][batch]
                sw = sample_weight[head][batch]
                total_loss += float(-(np.log(probs[np.arange(len(batch)), y] + 1e-12) * sw).sum())
                probs[np.arange(len(batch)), y] -= 1.0
                grad_z[:, sl] = probs * sw[:, None] / len(batch)
            uniq, inverse = np.unique(rows, return_inverse=True)
            contrib = grad_z[seg] * vals[:, None]
            grad_w = np.stack(
                [np.bincount(inverse, weights=contrib[:, k], minlength=len(uniq)) for k in range(N_OUTPUTS)],
                axis=1,
            )
            grad_w += config.l2 * weights[uniq]
            grad_b = grad_z.sum(axis=0)
            step += 1
            # Lazy Adam: only rows present in the batch move, which keeps a step cheap on a large vocab.
            m_w[uniq] = beta1 * m_w[uniq] + (1 - beta1) * grad_w
            v_w[uniq] = beta2 * v_w[uniq] + (1 - beta2) * grad_w**2
            m_b[:] = beta1 * m_b + (1 - beta1) * grad_b
            v_b[:] = beta2 * v_b + (1 - beta2) * grad_b**2
            corr1, corr2 = 1 - beta1**step, 1 - beta2**step
            weights[uniq] -= lr * (m_w[uniq] / corr1) / (np.sqrt(v_w[uniq] / corr2) + eps)
            bias -= lr * (m_b / corr1) / (np.sqrt(v_b / corr2) + eps)
        if verbose:
            print(f"epoch {epoch + 1:2d}/{config.epochs} loss {total_loss / n:.4f} lr {lr:.4f}")
    return LinearModel(vocab=vocab, weights=weights.astype(np.float32), bias=bias.astype(np.float32))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: train on the corpus and write the artifact."""
    parser = Parser(prog="papo ai train", description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="train on the whole corpus (no held-out figures)")
    parser.add_argument("--out", default=str(MODEL_FILE), help="artifact path (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    examples = dataset.load()
    train, _held_out = dataset.split(examples)
    chosen = examples if args.all else train
    model = fit(chosen, verbose=not args.quiet)
    from pathlib import Path

    out = Path(args.out)
    model.save(out)
    print(
        f"trained on {len(chosen)} examples, {len(model.vocab)} features, "
        f"{time.perf_counter() - started:.1f}s → {out} ({out.stat().st_size / 1e6:.2f} MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
