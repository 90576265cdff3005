"""Brazil's ninth digit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from papo.adapters.phone import br_phone_variants, normalize_phone


@pytest.mark.parametrize(
    ("phone", "normalized"),
    [
        ("554891234567", "5548991234567"),  # old 8-digit mobile gains the 9
        ("5548991234567", "5548991234567"),  # already 9 digits
        ("+55 (11) 7654-3210", "5511976543210"),  # formatting is dropped
        ("551133334444", "551133334444"),  # landline (starts 2-5): unchanged
        ("550133334444", "550133334444"),  # "01" is not an area code
        ("14155550123", "14155550123"),  # not Brazil
        ("5491123456789", "5491123456789"),  # Argentina
    ],
)
def test_normalize_phone(phone: str, normalized: str) -> None:
    assert normalize_phone(phone) == normalized


def test_variants() -> None:
    assert br_phone_variants("554891234567") == ("5548991234567", "554891234567")
    assert br_phone_variants("5548991234567") == ("5548991234567", "554891234567")
    assert br_phone_variants("551133334444") == ("551133334444",)
    assert br_phone_variants("14155550123") == ("14155550123",)


@given(
    ddd=st.integers(11, 99).filter(lambda d: "0" not in str(d)),
    first=st.sampled_from("6789"),
    rest=st.integers(0, 9_999_999),
)
def test_both_forms_of_any_mobile_agree(ddd: int, first: str, rest: int) -> None:
    old = f"55{ddd}{first}{rest:07d}"
    new = f"55{ddd}9{first}{rest:07d}"
    assert normalize_phone(old) == normalize_phone(new) == new
    assert br_phone_variants(old) == br_phone_variants(new) == (new, old)
