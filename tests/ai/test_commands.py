"""The library side of `papo classify --jsonl` and the training/evaluation commands."""

import json

from papo.ai.commands import classify_lines, classify_text, evaluate

KEYS = {"intent", "sentiment", "lead_score", "lead_quality", "language", "email", "phone", "confidence"}


def test_classify_lines_keeps_order_and_reports_bad_lines() -> None:
    lines = [
        json.dumps({"text": "quanto custa?"}),
        "not json",
        json.dumps({"message": "no text key"}),
        json.dumps({"text": "meu pedido não chegou 😡", "id": 7}),
        "",
        json.dumps(["text"]),
    ]
    results = list(classify_lines(lines))
    assert len(results) == len(lines)
    assert set(results[0]) == KEYS and results[0]["intent"] == "question"
    assert "error" in results[1] and "error" in results[2]
    assert results[3]["intent"] == "complaint"
    assert "error" in results[4] and "error" in results[5]
    assert all(json.dumps(r) for r in results)


def test_classify_text() -> None:
    result = classify_text("me chama no zap 11 98765-4321")
    assert result["phone"] == "11987654321" and set(result) == KEYS


def test_evaluate_prints_figures(capsys) -> None:
    assert evaluate([]) == 0
    out = capsys.readouterr().out
    for needle in ("per language", "per intent", "held-out", "wild", "intent_macro_f1", "precision"):
        assert needle in out
