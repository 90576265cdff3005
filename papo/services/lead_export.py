"""A business's leads as a spreadsheet: CSV (standard library) or XLSX (openpyxl), one row per lead.

The same filters as the CRM lists (quality, status, platform, tag); erased customers are not leads any more and are left
out. Times are written in the owner's time zone, as the bot shows them.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import Tortoise

from papo.enums import LeadQuality, LeadStatus
from papo.services import ServiceError
from papo.services.leads import lead_filter, lead_score
from papo.services.templates import UserRef
from papo.timezones import DEFAULT_TIMEZONE

FORMATS = ("csv", "xlsx")
COLUMNS = ("id", "name", "platform", "remote_user_id", "email", "phone", "quality", "status", "score", "tags",
           "last_interaction", "next_followup", "created_at")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def parse_format(value: str) -> str:
    """`csv` or `xlsx`; ServiceError for anything else."""
    kind = (value or "").strip().lower()
    if kind not in FORMATS:
        raise ServiceError(f"format {value!r} is not one of: {', '.join(FORMATS)}")
    return kind


async def lead_rows(user: UserRef, *, quality: str | None = None, status: str | None = None,
                    platform: str | None = None, tag: str | None = None,
                    timezone: str = DEFAULT_TIMEZONE) -> list[list[Any]]:
    """The leads as rows in COLUMNS order, newest interaction first."""
    where, params = lead_filter(user, quality=quality, status=status, platform=platform, tag=tag)
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT id, remote_user_name, platform, remote_user_id, email, phone, quality, status, metadata, tags, "
        f"last_interaction, next_followup, created_at FROM crm_leads WHERE {where} "
        "ORDER BY last_interaction DESC NULLS LAST, created_at DESC, id", params)
    zone = ZoneInfo(timezone)
    return [[str(r["id"]), r["remote_user_name"] or "", r["platform"], r["remote_user_id"], r["email"] or "",
             r["phone"] or "", r["quality"] or LeadQuality.COLD.value, r["status"] or LeadStatus.NEW.value,
             lead_score(r["metadata"]), ", ".join(r["tags"] or ()), _local(r["last_interaction"], zone),
             _local(r["next_followup"], zone), _local(r["created_at"], zone)] for r in rows]


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """A time in the owner's zone, without the offset (spreadsheets cannot hold one)."""
    return value.astimezone(zone).replace(tzinfo=None, microsecond=0) if value is not None else None


def to_csv(rows: list[list[Any]]) -> bytes:
    """UTF-8 CSV with a byte order mark, so spreadsheet programs read accents right; a header row first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if v is None else v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in row])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(rows: list[list[Any]]) -> bytes:
    """One worksheet "Leads": the header row, then a row per lead (times as spreadsheet dates)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Leads"
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_cols(min_col=COLUMNS.index("last_interaction") + 1, max_col=len(COLUMNS), min_row=2):
        for cell in cells:
            cell.number_format = "yyyy-mm-dd hh:mm"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def export_leads(user: UserRef, *, fmt: str = "csv", quality: str | None = None, status: str | None = None,
                       platform: str | None = None, tag: str | None = None,
                       timezone: str = DEFAULT_TIMEZONE) -> tuple[bytes, int]:
    """The file's bytes in `fmt` and how many leads it holds (filtered like the CRM lists)."""
    kind = parse_format(fmt)
    rows = await lead_rows(user, quality=quality, status=status, platform=platform, tag=tag, timezone=timezone)
    return (to_xlsx(rows) if kind == "xlsx" else to_csv(rows)), len(rows)
