"""Find an e-mail address and a phone number in a customer's message.

Phones come back as digits only, with the country code when the text gives one. The hard part is
what is *not* a phone: prices, dates, CEPs, CPFs, order/tracking numbers and times, which customers
write next to their numbers all the time. A candidate is accepted only when its shape and its
context both say "phone".
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][\w.%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

# A run of digits and phone separators; validation below decides what it is.
_CANDIDATE = re.compile(r"(?<![\w/@$€£¥.,:-])(?:\+[ \t]?)?\(?\d[\d \t().\-]{5,24}\d\)?(?![\w/@%°ºª]|[.,:]\d)")

# Brazilian area codes (DDD) in use; a 10/11-digit run with another prefix is not a BR phone.
_DDD = frozenset(
    {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44, 45,
     46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83,
     84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99}
)

# Country codes customers of a Latin American business write without the "+".
_COUNTRY_CODES = (
    "55", "52", "54", "56", "57", "51", "58", "593", "595", "598", "591", "506", "507", "34", "1",
)

_PHONE_WORDS = re.compile(
    r"(whats|wpp|zap|tel|fone|phone|cel|m[oó]vil|contat|contact|lig(?:a|ar|ue)|llam|call|text|"
    r"n[uú]mero|number|n[uú]m\b|chama|escrib|manda|me add|me adiciona|sms)",
    re.IGNORECASE,
)
# Words that, right before a number, say it is something else.
_NOT_PHONE_BEFORE = re.compile(
    r"(cpf|cnpj|\brg|cep|c[oó]digo postal|zip|pedido|order|orden|compra|protocolo|c[oó]digo|code|rastreio|"
    r"rastreamento|tracking|seguimiento|gu[ií]a|nota|\bnf|boleto|fatura|factura|invoice|conta|cuenta|account|"
    r"ag[eê]ncia|cart[aã]o|tarjeta|card|ticket|chamado|reserva|booking|lote|serial|s[eé]rie|imei|chassi|"
    r"placa|matr[ií]cula|dni|rut|curp|nit|ssn|\bid|#|\bn[º°]|\bno\.|\bnro\.?)[\s:.#º°=-]*"
    r"(?:(?:do|da|de|del|of|my|meu|minha|mi|[eé]|is|es|n[uú]mero|number|n[º°]|:)[\s:.#º°=-]*){0,3}$",
    re.IGNORECASE,
)
_MONEY_BEFORE = re.compile(
    r"(r\$|us\$|\$|€|£|usd|brl|mxn|ars|cop|eur|reais|pesos|por|custa|cuesta|costs?)\s*$",
                           re.IGNORECASE)
_MONEY_AFTER = re.compile(r"^\s*(,\d|reais|real\b|mil\b|pesos|d[oó]lares|dollars|bucks|usd|brl|k\b|%)",
                          re.IGNORECASE)

_CPF = re.compile(r"^\d{3}\.\d{3}\.\d{3}-?\d{2}$")
_CEP = re.compile(r"^\d{2}\.?\d{3}-\d{3}$")
_DATE = re.compile(r"^\d{1,4}[.\-]\d{1,2}[.\-]\d{1,4}$")
_LOCAL = re.compile(r"^(?:\d{5}|9[ .]?\d{4}|\d{4})[ .\-]?\d{4}$")
_US_LIKE = re.compile(r"^\(?\d{3}\)?[ .\-]?\d{3}[ .\-]?\d{4}$")
_ES_LIKE = re.compile(r"^\d{3}[ .\-]?\d{2,3}[ .\-]?\d{2,3}(?:[ .\-]?\d{2})?$")


def extract_email(text: str) -> str | None:
    """The first e-mail address in the text, lower-cased, or None."""
    match = _EMAIL.search(text)
    return match.group(0).rstrip(".").lower() if match else None


def extract_phone(text: str) -> str | None:
    """The first phone number in the text as digits (country code kept when given), or None."""
    for match in _CANDIDATE.finditer(text):
        phone = _from_candidate(text, match.start(), match.group(0).strip())
        if phone:
            return phone
    return None


def _from_candidate(text: str, start: int, raw: str) -> str | None:
    # A run can glue an order number to the phone after it ("pedido 12345 11 98765-4321"):
    # try the whole run, then drop leading groups one at a time.
    parts = raw.split()
    offset = start
    for i in range(len(parts)):
        sub = " ".join(parts[i:])
        phone = _validate(text, offset, sub)
        if phone:
            return phone
        offset = text.find(parts[i], offset) + len(parts[i])
        if i == 0 and parts[0].startswith("+"):
            break
    return None


def _validate(text: str, start: int, raw: str) -> str | None:
    raw = raw.strip(" \t.-")
    if raw.count("(") != raw.count(")"):
        raw = raw.lstrip("(") if raw.startswith("(") and ")" not in raw else raw
    digits = re.sub(r"\D", "", raw)
    # Every shape accepted below has 8 to 15 digits, and 8 only when written with a separator or "+"
    # ("9876-5432"): reject the rest before the context searches, the costly part.
    if not 8 <= len(digits) <= 15 or (len(digits) == 8 and raw == digits):
        return None
    before = text[max(0, start - 40) : start]
    after = text[start + len(raw) : start + len(raw) + 12]
    if _NOT_PHONE_BEFORE.search(before) or _MONEY_BEFORE.search(before) or _MONEY_AFTER.match(after):
        return None
    if raw.startswith("+"):
        return digits if 8 <= len(digits) <= 15 else None
    if _CPF.match(raw) or _CEP.match(raw) or _DATE.match(raw):
        return None
    keyword = bool(_PHONE_WORDS.search(text[max(0, start - 60) : start + len(raw) + 30]))
    separated = raw != digits
    if len(digits) in (12, 13) and digits.startswith("55") and _is_br(digits[2:]):
        return digits
    if len(digits) in (10, 11) and _is_br(digits):
        return digits
    if len(digits) == 10 and ((_US_LIKE.match(raw) and separated) or keyword):
        return digits
    if len(digits) in (8, 9) and _LOCAL.match(raw) and separated:
        # Local numbers without area code: a 9xxxx-xxxx mobile, or anything phone-shaped next to "zap".
        return digits if (len(digits) == 9 and digits[0] == "9") or keyword else None
    if len(digits) == 9 and keyword and _ES_LIKE.match(raw):
        return digits
    if 11 <= len(digits) <= 13 and separated and (keyword or raw.count(" ") + raw.count("-") >= 2):
        return digits if digits.startswith(_COUNTRY_CODES) and len(re.findall(r"\d+", raw)) >= 3 else None
    return None


def _is_br(digits: str) -> bool:
    """A Brazilian number with area code: DDD + 8 digits (landline/old) or DDD + 9xxxx-xxxx."""
    if len(digits) not in (10, 11) or int(digits[:2]) not in _DDD:
        return False
    if len(digits) == 11:
        return digits[2] == "9"
    return digits[2] in "23456789"
