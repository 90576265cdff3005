"""Training is deterministic, and a missing artifact is trained at first use."""

import numpy as np
import pytest

from papo.ai import dataset
from papo.ai import train as train_module
from papo.ai.local import LocalClassifier
from papo.ai.model import LinearModel
from papo.ai.train import TrainConfig, fit

SMALL = TrainConfig(epochs=3)


@pytest.fixture(scope="module")
def sample() -> list[dataset.Example]:
    examples = dataset.load()
    return examples[::25]


def test_training_twice_gives_identical_weights(sample: list[dataset.Example]) -> None:
    a, b = fit(sample, SMALL), fit(sample, SMALL)
    assert a.vocab == b.vocab
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.bias, b.bias)


def test_save_and_load_round_trip(sample: list[dataset.Example], tmp_path) -> None:
    model = fit(sample, SMALL)
    model.save(tmp_path / "m.npz")
    loaded = LinearModel.load(tmp_path / "m.npz")
    assert loaded.vocab == model.vocab
    text = "quanto custa a pizza?"
    assert np.allclose(loaded.logits(text), model.logits(text), atol=1e-2)  # float16 storage


def test_missing_artifact_is_trained_at_first_use(sample, tmp_path, monkeypatch) -> None:
    real_fit = train_module.fit
    monkeypatch.setattr(train_module, "fit", lambda examples: real_fit(list(examples)[::20], SMALL))
    path = tmp_path / "model" / "local.npz"
    clf = LocalClassifier(path=path)
    assert clf.predict("quero 2").intent in {"purchase", "question", "info", "complaint"}
    assert path.exists()
