"""Customers who do not want campaigns: "sair", "parar", "stop", "baja" opts out; "voltar", "start", "alta" back in.

Only a message that is nothing but the keyword counts ("SAIR", "Parar!", "stop." — case, accents and
punctuation ignored; a couple of common two-word forms like "parar mensagens"), so "não quero sair de
casa" or "stop by tomorrow" never opt anyone out. Stored per business, platform and customer in
`opt_outs` (migration 0013); the row goes when the customer opts in again. Broadcasts never include a
customer listed there (papo.services.broadcasts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from papo.engine.text import tokens

# Folded word sequences -> the language of the confirmation.
OPT_OUT = {
    ("sair",): "pt", ("parar",): "pt", ("pare",): "pt", ("descadastrar",): "pt", ("cancelar", "inscricao"): "pt",
    ("parar", "mensagens"): "pt", ("nao", "quero", "mais", "receber"): "pt",
    ("stop",): "en", ("unsubscribe",): "en", ("stop", "messages"): "en",
    ("baja",): "es", ("darme", "de", "baja"): "es", ("dar", "de", "baja"): "es",
}
OPT_IN = {("voltar",): "pt", ("start",): "en", ("alta",): "es", ("darme", "de", "alta"): "es"}

# The one message a customer gets when their choice changes, in the language of the word they wrote.
CONFIRM_OUT = {
    "pt": "Pronto, você não vai mais receber nossas campanhas. Para voltar a receber, envie VOLTAR.",
    "en": "Done, you will not get our campaigns any more. To get them again, send START.",
    "es": "Listo, ya no recibirás nuestras campañas. Para volver a recibirlas, envía ALTA.",
}
CONFIRM_IN = {
    "pt": "Que bom ter você de volta! Você voltará a receber nossas campanhas. Para sair, envie SAIR.",
    "en": "Welcome back! You will get our campaigns again. To stop them, send STOP.",
    "es": "¡Qué bueno tenerte de vuelta! Volverás a recibir nuestras campañas. Para salir, envía BAJA.",
}


@dataclass(frozen=True, slots=True)
class Keyword:
    """A message recognised as an opt-out (`out=True`) or opt-in, and its language."""

    out: bool
    language: str
    word: str

    def confirmation(self) -> str:
        """The confirmation text to send when the customer's choice changed."""
        return (CONFIRM_OUT if self.out else CONFIRM_IN)[self.language]


def detect(text: str | None) -> Keyword | None:
    """The opt-out/opt-in keyword a whole message consists of, or None (most messages)."""
    if not text or len(text) > 60:
        return None
    words = tuple(tokens(text))
    if words in OPT_OUT:
        return Keyword(True, OPT_OUT[words], " ".join(words))
    if words in OPT_IN:
        return Keyword(False, OPT_IN[words], " ".join(words))
    return None


def _conn(conn: BaseDBAsyncClient | None) -> BaseDBAsyncClient:
    return conn or Tortoise.get_connection("default")


async def opt_out(user_id: uuid.UUID | str, platform: str, remote_user_id: str, *, keyword: str | None = None,
                  conn: BaseDBAsyncClient | None = None) -> bool:
    """Record the opt-out; True when the customer was not opted out before (then confirm once)."""
    rows = await _conn(conn).execute_query_dict(
        "INSERT INTO opt_outs (user_id, platform, remote_user_id, keyword) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING RETURNING user_id",
        [uuid.UUID(str(user_id)), str(platform), remote_user_id, keyword])
    return bool(rows)


async def opt_in(user_id: uuid.UUID | str, platform: str, remote_user_id: str, *,
                 conn: BaseDBAsyncClient | None = None) -> bool:
    """Remove the opt-out; True when there was one (then confirm once)."""
    rows = await _conn(conn).execute_query_dict(
        "DELETE FROM opt_outs WHERE user_id = $1 AND platform = $2 AND remote_user_id = $3 RETURNING user_id",
        [uuid.UUID(str(user_id)), str(platform), remote_user_id])
    return bool(rows)


async def is_opted_out(user_id: uuid.UUID | str, platform: str, remote_user_id: str) -> bool:
    """Whether this customer of this business opted out of campaigns."""
    rows = await _conn(None).execute_query_dict(
        "SELECT 1 FROM opt_outs WHERE user_id = $1 AND platform = $2 AND remote_user_id = $3",
        [uuid.UUID(str(user_id)), str(platform), remote_user_id])
    return bool(rows)


async def count_opted_out(user_id: uuid.UUID | str) -> int:
    """How many customers of a business opted out."""
    rows = await _conn(None).execute_query_dict("SELECT count(*) AS n FROM opt_outs WHERE user_id = $1",
                                                [uuid.UUID(str(user_id))])
    return int(rows[0]["n"])
