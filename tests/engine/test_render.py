"""Rendering variables: built-ins, literal braces, empty names, templates."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from papo.engine.render import builtin_values, first_name, placeholders, render
from papo.enums import Platform

VALUES = builtin_values(name="Maria Silva", business_name="Padaria Pão Quente", platform=Platform.WHATSAPP)


def test_builtins() -> None:
    assert VALUES == {"name": "Maria Silva", "first_name": "Maria", "business_name": "Padaria Pão Quente",
                      "platform": "WhatsApp"}
    assert render("Olá {first_name}, aqui é a {business_name} no {platform}!", VALUES) == (
        "Olá Maria, aqui é a Padaria Pão Quente no WhatsApp!"
    )


def test_braces_in_normal_text_are_kept() -> None:
    text = "Cupom {{PROMO}} — preço R$ {10}, { } e {sem fim e }} {"
    assert render(text, VALUES) == "Cupom {PROMO} — preço R$ {10}, { } e {sem fim e } {"
    assert placeholders(text) == []


def test_unknown_placeholders_are_left_as_written() -> None:
    assert render("Oi {first_name}, {desconhecido}", VALUES) == "Oi Maria, {desconhecido}"


def test_placeholders_in_order_without_duplicates() -> None:
    assert placeholders("{b} {a} {b} {{c}} {1x} {_d}") == ["b", "a", "_d"]


def test_an_unknown_name_leaves_no_stray_space() -> None:
    empty = builtin_values(name=None, business_name=None, platform=Platform.INSTAGRAM)
    assert render("Olá {first_name}, tudo bem?", empty) == "Olá, tudo bem?"
    assert render("Olá {first_name}!", empty) == "Olá!"
    assert render("Oi {name} tudo certo", empty) == "Oi tudo certo"


def test_first_name() -> None:
    assert first_name("  joão  pedro ") == "joão"
    assert first_name("@maria_doces") == "maria_doces"
    assert first_name(None) == first_name("") == first_name("   ") == ""


@given(st.text())
def test_render_never_fails(text: str) -> None:
    render(text, VALUES)
    placeholders(text)
