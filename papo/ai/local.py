"""The default classifier: local, no network, no key — a linear n-gram model plus contact extraction."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from pathlib import Path

from papo.ai.base import Classification
from papo.ai.contacts import extract_email, extract_phone
from papo.ai.dataset import HEADS
from papo.ai.model import MODEL_FILE, LinearModel, head_slices
from papo.enums import Intent, Sentiment

logger = logging.getLogger(__name__)

_SLICES = head_slices()
_INTENTS = [Intent(v) for v in HEADS["intent"]]
_SENTIMENTS = [Sentiment(v) for v in HEADS["sentiment"]]
_LANGUAGES = list(HEADS["language"])
_COLD, _WARM, _HOT = (HEADS["quality"].index(q) for q in ("cold", "warm", "hot"))


def _softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def lead_score(p_cold: float, p_warm: float, p_hot: float) -> float:
    """Map the quality head's probabilities to a score inside the band of the most likely quality.

    The band follows DESIGN.md (cold < 0.4 ≤ warm < 0.7 ≤ hot), so the quality derived from the score is
    always the head's prediction; the position inside the band says how sure the model is and which
    neighbour it leans to (a warm lead that almost looks hot scores near 0.7).
    """
    probs = (p_cold, p_warm, p_hot)
    best = _argmax(list(probs))
    if best == 2:
        return min(1.0, 0.7 + 0.3 * min(1.0, 1.5 * max(0.0, p_hot - 1 / 3)))
    if best == 1:
        lean = p_hot / (p_hot + p_cold) if p_hot + p_cold > 0 else 0.5
        return 0.4 + 0.2999 * lean
    return max(0.0, min(0.3999, 0.6 * (1.0 - p_cold)))


def _classification(text: str, logits: list[float]) -> Classification:
    """One message's result from its logits (the four heads' softmaxes) and its contact details."""
    intent_p = _softmax(logits[_SLICES["intent"]])
    sentiment_p = _softmax(logits[_SLICES["sentiment"]])
    quality_p = _softmax(logits[_SLICES["quality"]])
    language_p = _softmax(logits[_SLICES["language"]])
    intent = _argmax(intent_p)
    # Contact regexes only run when the text can hold a contact: most messages skip them.
    email = extract_email(text) if "@" in text else None
    phone = extract_phone(text) if sum(map(str.isdigit, text)) >= 8 else None
    return Classification(
        intent=_INTENTS[intent],
        sentiment=_SENTIMENTS[_argmax(sentiment_p)],
        lead_score=lead_score(quality_p[_COLD], quality_p[_WARM], quality_p[_HOT]),
        language=_LANGUAGES[_argmax(language_p)],
        confidence=min(1.0, intent_p[intent]),
        email=email,
        phone=phone,
    )


class LocalClassifier:
    """Classifies with the committed model artifact (trained at first use when it is missing)."""

    def __init__(self, model: LinearModel | None = None, path: Path = MODEL_FILE) -> None:
        self._model = model
        self._path = path
        self._lock = threading.Lock()

    @property
    def model(self) -> LinearModel:
        """The linear model, loaded (or trained) on first access."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> LinearModel:
        if self._path.exists():
            return LinearModel.load(self._path)
        # A checkout without the artifact still works: training is deterministic and takes seconds.
        logger.warning("model artifact %s missing; training it from the corpus", self._path)
        from papo.ai import dataset
        from papo.ai.train import fit

        train, _ = dataset.split(dataset.load())
        model = fit(train)
        try:
            model.save(self._path)
        except OSError:
            logger.warning("could not write %s; keeping the model in memory", self._path)
        return model

    def predict(self, text: str) -> Classification:
        """Classify one message synchronously (tens of microseconds)."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Iterable[str]) -> list[Classification]:
        """Classify several messages: the model scores the whole batch in one numpy pass."""
        texts = list(texts)
        rows = self.model.logits_many(texts).tolist()
        return [_classification(text, logits) for text, logits in zip(texts, rows, strict=True)]

    async def classify(self, text: str) -> Classification:
        """Classifier Protocol: the work is CPU-bound and short, so it runs inline."""
        return self.predict(text)


_default: LocalClassifier | None = None


def default_classifier() -> LocalClassifier:
    """A process-wide LocalClassifier sharing one loaded model."""
    global _default
    if _default is None:
        _default = LocalClassifier()
    return _default
