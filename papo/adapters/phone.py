"""Phone numbers as WhatsApp sends them (digits, country code first), and Brazil's ninth digit.

Brazilian mobile numbers gained a leading 9 (55 + DDD + 9XXXXXXXX) between 2012 and 2016, but WhatsApp
still reports many accounts in the old 8-digit form (55 + DDD + XXXXXXXX) — the same person can show up
both ways. Papo keys a Brazilian mobile on the 9-digit form and matches both.
"""

from __future__ import annotations

_BR = "55"


def digits(phone: str) -> str:
    """Only the digits of a phone number (drops +, spaces, dashes, parentheses)."""
    if phone.isascii() and phone.isdigit():  # WhatsApp's own form: nothing to drop
        return phone
    return "".join(ch for ch in phone if ch.isdigit())


def _br_parts(number: str) -> tuple[str, str] | None:
    """(DDD, subscriber) for a Brazilian number in WhatsApp's digits-only form, else None."""
    if not number.startswith(_BR) or len(number) not in (12, 13):
        return None
    ddd, subscriber = number[2:4], number[4:]
    # Area codes run 11-99 and never contain a 0.
    if "0" in ddd:
        return None
    return ddd, subscriber


def normalize_phone(phone: str) -> str:
    """Digits only; an 8-digit Brazilian mobile (first digit 6-9) gets its ninth digit."""
    number = digits(phone)
    parts = _br_parts(number)
    if parts is not None:
        ddd, subscriber = parts
        # Only mobiles got the 9; 8-digit numbers starting 2-5 are landlines and stay as they are.
        if len(subscriber) == 8 and subscriber[0] in "6789":
            return f"{_BR}{ddd}9{subscriber}"
    return number


def br_phone_variants(phone: str) -> tuple[str, ...]:
    """Every form under which WhatsApp may report this number: (with ninth digit, without) for BR mobiles."""
    normalized = normalize_phone(phone)
    parts = _br_parts(normalized)
    if parts is not None:
        ddd, subscriber = parts
        if len(subscriber) == 9 and subscriber[0] == "9" and subscriber[1] in "6789":
            return normalized, f"{_BR}{ddd}{subscriber[1:]}"
    return (normalized,)
