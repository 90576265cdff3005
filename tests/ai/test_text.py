"""Normalisation: what the model sees of a message."""

from papo.ai.text import features, normalize, polarity


def test_folds_case_accents_and_letter_runs() -> None:
    assert normalize("QUEROOOO ÓTIMO") == ["quero", "otimo", "xcaps"]
    assert normalize("Quero sim") == ["quero", "sim"]


def test_expands_abbreviations() -> None:
    assert normalize("vc tb qto pq obg") == ["voce", "tambem", "quanto", "porque", "obrigado"]


def test_emojis_and_laughs_become_tokens() -> None:
    assert normalize("kkkkk 😍 😡🏽 🙏") == ["xlaugh", "xpos", "xneg", "xpray"]


def test_negation_flips_polarity() -> None:
    assert "xlexneg" in polarity(normalize("não gostei"))
    assert "xlexpos" in polarity(normalize("nada mal"))
    assert "xlexneg" in polarity(normalize("no me gustó"))
    assert "xlexpos" in polarity(normalize("not bad"))


def test_portuguese_no_is_not_a_long_negation() -> None:
    # "no" is "in the" in Portuguese: "no M? obrigado" must keep "obrigado" positive.
    assert polarity(normalize("tem no M? obrigado")) == ["xnegator", "xlexpos"]


def test_features_are_deterministic_strings() -> None:
    assert features("Preço?") == features("preço?")
    assert all(isinstance(f, str) for f in features("oi"))


def test_doubled_last_letter_is_a_typing_habit() -> None:
    assert normalize("Linkk Preçoo oii") == ["link", "preco", "oi", "xmpt"]
