"""The committed artifact loads fast and meets issue 4's targets on messages it never saw."""

import time

import pytest

from papo.ai import dataset
from papo.ai.evaluate import TARGETS, evaluate
from papo.ai.local import LocalClassifier
from papo.ai.model import MODEL_FILE, LinearModel


@pytest.fixture(scope="module")
def clf() -> LocalClassifier:
    return LocalClassifier(LinearModel.load(MODEL_FILE))


def test_artifact_is_small_and_loads_fast() -> None:
    assert MODEL_FILE.stat().st_size < 5_000_000
    started = time.perf_counter()
    LocalClassifier(LinearModel.load(MODEL_FILE)).predict("oi")
    assert time.perf_counter() - started < 1.0


def test_held_out_split_has_no_training_template() -> None:
    train, held_out = dataset.split(dataset.load())
    assert len(held_out) > 0.1 * (len(train) + len(held_out))
    assert not {e.group for e in train} & {e.group for e in held_out}
    assert not {e.text for e in train} & {e.text for e in held_out}


@pytest.mark.parametrize("name", ["held_out", "wild"])
def test_targets(clf: LocalClassifier, name: str) -> None:
    examples = dataset.split(dataset.load())[1] if name == "held_out" else dataset.load(dataset.WILD_FILE)
    report = evaluate(clf, examples, name)
    for key, target in TARGETS.items():
        assert getattr(report, key) >= target, f"{name} {key} {getattr(report, key):.3f} < {target}"


def test_corpus_covers_languages_and_intents() -> None:
    examples = dataset.load()
    assert len(examples) >= 4000
    by_lang = {lang: sum(e.language == lang for e in examples) for lang in ("pt", "es", "en")}
    assert by_lang["pt"] > by_lang["es"] > 500 and by_lang["en"] > 500
    assert {e.intent for e in examples} == set(dataset.INTENTS)


def test_wild_set_is_not_in_the_corpus() -> None:
    corpus = {" ".join(e.text.lower().split()) for e in dataset.load()}
    wild = [e for e in dataset.load(dataset.WILD_FILE) if any(c.isalpha() for c in e.text)]
    assert len(wild) >= 140
    assert sum(" ".join(e.text.lower().split()) in corpus for e in wild) <= 3
