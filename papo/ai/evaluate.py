"""Evaluate the local classifier on the held-out split and on the hand-written "wild" set.

python -m papo.ai.evaluate [--model PATH] [--errors N]
"""

from __future__ import annotations

import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from papo.ai import dataset
from papo.ai.dataset import INTENTS, SENTIMENTS, Example
from papo.ai.local import LocalClassifier
from papo.ai.model import MODEL_FILE, LinearModel
from papo.cli.common import CommandError, Parser, non_negative_int

TARGETS = {"intent_macro_f1": 0.85, "sentiment_macro_f1": 0.80, "quality_accuracy": 0.80}


@dataclass(frozen=True, slots=True)
class Report:
    """Figures for one evaluation set."""

    name: str
    size: int
    per_class: dict[str, dict[str, tuple[float, float, float, int]]]
    intent_macro_f1: float
    sentiment_macro_f1: float
    quality_accuracy: float
    language_accuracy: float
    errors: list[tuple[Example, dict[str, str]]]

    def meets_targets(self) -> bool:
        """True when every target of issue 4 is reached."""
        return all(getattr(self, k) >= v for k, v in TARGETS.items())


def prf(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> dict[str, tuple[float, float, float, int]]:
    """Precision, recall, F1 and support per label."""
    out = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = (precision, recall, f1, tp + fn)
    return out


def evaluate(classifier: LocalClassifier, examples: Sequence[Example], name: str) -> Report:
    """Score a classifier on labelled examples."""
    preds = [classifier.predict(e.text) for e in examples]
    got = [
        {
            "intent": str(p.intent),
            "sentiment": str(p.sentiment),
            "quality": str(p.lead_quality),
            "language": p.language,
        }
        for p in preds
    ]
    per_class = {
        "intent": prf([e.intent for e in examples], [g["intent"] for g in got], INTENTS),
        "sentiment": prf([e.sentiment for e in examples], [g["sentiment"] for g in got], SENTIMENTS),
    }

    def macro(head: str) -> float:
        return sum(v[2] for v in per_class[head].values()) / len(per_class[head])

    def accuracy(head: str) -> float:
        return sum(e.label(head) == g[head] for e, g in zip(examples, got, strict=True)) / max(
            1, len(examples)
        )

    errors = [
        (e, g)
        for e, g in zip(examples, got, strict=True)
        if any(e.label(h) != g[h] for h in ("intent", "sentiment", "quality"))
    ]
    return Report(
        name,
        len(examples),
        per_class,
        macro("intent"),
        macro("sentiment"),
        accuracy("quality"),
        accuracy("language"),
        errors,
    )


def format_report(report: Report, show_errors: int = 0) -> str:
    """Human-readable figures."""
    lines = [f"== {report.name}: {report.size} messages"]
    for head, classes in report.per_class.items():
        lines.append(f"  {head:<10} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>5}")
        for label, (p, r, f, n) in classes.items():
            lines.append(f"    {label:<10} {p:9.3f} {r:7.3f} {f:6.3f} {n:5d}")
    for key, target in TARGETS.items():
        value = getattr(report, key)
        lines.append(f"  {key:<20} {value:.3f}  (target {target:.2f}) {'ok' if value >= target else 'BELOW'}")
    lines.append(f"  language_accuracy    {report.language_accuracy:.3f}")
    for e, g in report.errors[:show_errors]:
        wrong = ", ".join(
            f"{h}: {e.label(h)}→{g[h]}" for h in ("intent", "sentiment", "quality") if e.label(h) != g[h]
        )
        lines.append(f"    ✗ {e.text[:90]!r}  [{wrong}]")
    return "\n".join(lines)


def corpus_summary(examples: Sequence[Example]) -> str:
    """Corpus size per language and per intent."""
    langs = Counter(e.language for e in examples)
    intents = Counter(e.intent for e in examples)
    train, test = dataset.split(list(examples))
    return (
        f"corpus: {len(examples)} examples ({len(train)} train / {len(test)} held out)\n"
        f"  per language: {', '.join(f'{k} {v}' for k, v in langs.most_common())}\n"
        f"  per intent:   {', '.join(f'{k} {v}' for k, v in intents.most_common())}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: print the figures; exit 1 when a held-out target is missed."""
    parser = Parser(prog="papo ai evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(MODEL_FILE), help="artifact (default: %(default)s)")
    parser.add_argument("--errors", type=non_negative_int, default=0,
                        help="show this many misclassified messages per set")
    args = parser.parse_args(argv)
    examples = dataset.load()
    _, held_out = dataset.split(examples)
    try:
        model = LinearModel.load(Path(args.model))
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile):
        raise CommandError(f"{args.model} is not a model file written by `papo ai train`") from None
    classifier = LocalClassifier(model)
    print(corpus_summary(examples))
    held = evaluate(classifier, held_out, "held-out split (never trained on)")
    print(format_report(held, args.errors))
    print(
        format_report(
            evaluate(classifier, dataset.load(dataset.WILD_FILE), "wild set (hand-written)"), args.errors
        )
    )
    return 0 if held.meets_targets() else 1


if __name__ == "__main__":
    raise SystemExit(main())
