"""Behaviour of the local classifier on the kinds of messages customers really send."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from papo.ai import Classification, Classifier, LocalClassifier, default_classifier
from papo.ai.local import lead_score
from papo.enums import Intent, LeadQuality, Sentiment


@pytest.fixture(scope="module")
def clf() -> LocalClassifier:
    return default_classifier()


@pytest.mark.parametrize(
    ("text", "intent", "quality"),
    [
        ("preço?", "question", "warm"),
        ("valor", "question", "warm"),
        ("info", "question", "warm"),
        ("qto ta?", "question", "warm"),
        ("cuánto?", "question", "warm"),
        ("how much?", "question", "warm"),
        ("quero!", "purchase", "hot"),
        ("eu quero", "purchase", "hot"),
        ("link?", "purchase", "hot"),
        ("lo quiero", "purchase", "hot"),
        ("I'll take it", "purchase", "hot"),
        ("obg", "info", "cold"),
        ("vlw", "info", "cold"),
    ],
)
def test_one_word_comments(clf: LocalClassifier, text: str, intent: str, quality: str) -> None:
    result = clf.predict(text)
    assert (result.intent, result.lead_quality) == (intent, quality)


@pytest.mark.parametrize(
    ("text", "intent", "sentiment"),
    [
        ("não gostei", "complaint", "negative"),
        ("nao gostei do atendimento", "complaint", "negative"),
        ("nada mal", "info", "positive"),
        ("no me gustó", "complaint", "negative"),
        ("no está nada mal", "info", "positive"),
        ("not bad at all", "info", "positive"),
        ("didn't like it", "complaint", "negative"),
        ("não tenho do que reclamar", "info", "positive"),
    ],
)
def test_negation(clf: LocalClassifier, text: str, intent: str, sentiment: str) -> None:
    result = clf.predict(text)
    assert (result.intent, result.sentiment) == (intent, sentiment)


@pytest.mark.parametrize(
    "text",
    [
        "ótimo, mais uma vez atrasou",
        "parabéns pelo atendimento, 3 dias sem resposta 👏",
        "excelente, otra vez tarde 🙄",
        "great, late again 🙄",
        "muito obrigada por nada",
    ],
)
def test_sarcasm_is_a_complaint(clf: LocalClassifier, text: str) -> None:
    result = clf.predict(text)
    assert (result.intent, result.sentiment, result.lead_quality) == ("complaint", "negative", "cold")


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("😡😡😡", "negative"),
        ("😍😍", "positive"),
        ("amei 😍", "positive"),
        ("chegou quebrado 😡", "negative"),
    ],
)
def test_emojis(clf: LocalClassifier, text: str, sentiment: str) -> None:
    assert clf.predict(text).sentiment == sentiment


@pytest.mark.parametrize(
    ("text", "intent", "language"),
    [
        ("VCS ENTREGAM EM CAMPINAS", "question", "pt"),
        ("qro 2 pfv manda o pix", "purchase", "pt"),
        ("meu pedido nao chegou ate agora", "complaint", "pt"),
        ("hola buenas, hacen envíos a Monterrey?", "question", "es"),
        ("mi pedido todavía no llega, pésimo servicio", "complaint", "es"),
        ("quiero agendar una cita para el lunes", "purchase", "es"),
        ("do you ship to canada?", "question", "en"),
        ("my order never arrived, I want a refund", "complaint", "en"),
        ("I'd like to book a haircut friday at 3pm", "purchase", "en"),
        ("thank you so much, it's perfect", "info", "en"),
    ],
)
def test_languages_and_casing(clf: LocalClassifier, text: str, intent: str, language: str) -> None:
    result = clf.predict(text)
    assert (result.intent, result.language) == (intent, language)


def test_classification_shape(clf: LocalClassifier) -> None:
    result = clf.predict("quero 2, meu zap é (11) 98765-4321 e email ana@gmail.com")
    assert isinstance(result.intent, Intent) and isinstance(result.sentiment, Sentiment)
    assert result.phone == "11987654321" and result.email == "ana@gmail.com"
    assert set(result.to_dict()) == {
        "intent",
        "sentiment",
        "lead_score",
        "lead_quality",
        "language",
        "email",
        "phone",
        "confidence",
    }
    assert result.to_dict()["lead_quality"] == str(result.lead_quality)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.intent = Intent.INFO  # type: ignore[misc]


def test_classification_validates() -> None:
    with pytest.raises(ValueError):
        Classification(
            intent=Intent.INFO, sentiment=Sentiment.NEUTRAL, lead_score=1.5, language="pt", confidence=1
        )
    with pytest.raises(ValueError):
        Classification(
            intent=Intent.INFO, sentiment=Sentiment.NEUTRAL, lead_score=0.5, language="fr", confidence=1
        )


async def test_protocol_and_async(clf: LocalClassifier) -> None:
    assert isinstance(clf, Classifier)
    result = await clf.classify("quanto custa?")
    assert result == clf.predict("quanto custa?")
    assert clf.predict_many(["oi", "quero"]) == [clf.predict("oi"), clf.predict("quero")]


@pytest.mark.parametrize("text", ["", "   ", "?", "🙂", "a" * 5000, "1234", "\n\n"])
def test_odd_inputs_do_not_crash(clf: LocalClassifier, text: str) -> None:
    result = clf.predict(text)
    assert 0.0 <= result.lead_score <= 1.0


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_lead_score_band_matches_most_likely_quality(a: float, b: float, c: float) -> None:
    total = a + b + c
    if total == 0:
        return
    p = (a / total, b / total, c / total)
    score = lead_score(*p)
    best = max(range(3), key=p.__getitem__)
    assert 0.0 <= score <= 1.0
    from papo.enums import quality_for_score

    assert quality_for_score(score) == [LeadQuality.COLD, LeadQuality.WARM, LeadQuality.HOT][best]


@given(st.text(max_size=200))
def test_any_text_classifies(text: str) -> None:
    result = default_classifier().predict(text)
    assert result.language in {"pt", "es", "en", "other"}


def test_batch_scores_are_each_message_scored_alone(clf: LocalClassifier) -> None:
    # One gather and one segmented sum for the batch: each row must be that message's own logits
    # (messages of very different lengths, so a wrong segment boundary shows).
    texts = ["oi", "", "Boa tarde! Quanto custa o bolo de pote de 500 ml? Entregam no Centro hoje???", "🙂",
             "quero 2 kg de brigadeiro, meu zap é 11 98765-4321", "a" * 300]
    batch = clf.model.logits_many(texts)
    assert batch.shape[0] == len(texts)
    for row, text in zip(batch, texts, strict=True):
        assert np.allclose(row, clf.model.logits(text), atol=1e-5), text
    assert clf.model.logits_many([]).shape[0] == 0
    assert clf.predict_many([]) == []
