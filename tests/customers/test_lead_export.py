"""`papo leads export`: CSV read back with the csv module, XLSX opened with openpyxl; filters; one business."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from papo.enums import Platform
from papo.models import Lead
from papo.runtime import Stores
from papo.services.customer_data import customer
from papo.services.customer_erase import erase_customer
from papo.services.lead_export import COLUMNS, export_leads
from tests.customers.seed import BSUID, business, seed_customer
from tests.test_cli_bad_input import _papo, env  # noqa: F401 - `env`: the test stores in PAPO_* for the CLI


async def _leads(stores: Stores, settings: Any) -> Any:
    """Ana's three leads (one erased afterwards) and Beto's lead with the same customer id."""
    ana, ana_account = await business("ana@doceria.com.br", "Doceria da Ana", "106540352242922")
    beto, beto_account = await business("beto@oficina.com.br", "Oficina do Beto", "200000000000001")
    await seed_customer(stores, settings, ana, ana_account)
    await seed_customer(stores, settings, beto, beto_account, name="Bruna do Beto")
    now = datetime.now(UTC)
    await Lead.create(user=ana, remote_user_id="ig-1", remote_user_name="Iara Gonçalves", platform=Platform.INSTAGRAM,
                      quality="warm", status="new", last_interaction=now - timedelta(hours=1), tags=["vip"],
                      email="iara@example.com", metadata={"score": 0.6})
    await Lead.create(user=ana, remote_user_id="ig-2", remote_user_name="Caio", platform=Platform.INSTAGRAM,
                      quality="cold", status="lost", last_interaction=now - timedelta(days=3))
    erased = await Lead.create(user=ana, remote_user_id="ig-3", remote_user_name="Apagado", platform=Platform.INSTAGRAM,
                               quality="hot", status="new", last_interaction=now)
    await erase_customer(stores, settings, customer(ana, "instagram", "ig-3"))
    return ana, erased


async def test_csv_has_a_header_and_a_row_per_lead_newest_first(stores: Stores, settings: Any) -> None:
    ana, _ = await _leads(stores, settings)
    data, count = await export_leads(ana, fmt="csv")
    assert data.startswith("\ufeff".encode())  # spreadsheet programs read the accents right
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS and count == len(rows) - 1 == 3
    names = [r[1] for r in rows[1:]]
    assert names == ["Iara Gonçalves", "Bruna Teixeira", "Caio"]  # newest interaction first; no erased lead
    iara = dict(zip(COLUMNS, rows[1], strict=True))
    assert (iara["email"], iara["quality"], iara["status"], iara["score"], iara["tags"]) == (
        "iara@example.com", "warm", "new", "0.6", "vip")
    bruna = dict(zip(COLUMNS, rows[2], strict=True))
    assert bruna["tags"] == "bolo, aniversário" and bruna["phone"] == "5511987654321"
    assert bruna["remote_user_id"] == BSUID and "Bruna do Beto" not in data.decode("utf-8-sig")
    data, count = await export_leads(ana, fmt="csv", quality="hot")
    assert count == 1 and "Bruna Teixeira" in data.decode("utf-8-sig")
    data, count = await export_leads(ana, fmt="csv", status="lost")
    assert count == 1 and "Caio" in data.decode("utf-8-sig")


async def test_xlsx_opens_in_openpyxl_with_dates_as_dates(stores: Stores, settings: Any) -> None:
    ana, _ = await _leads(stores, settings)
    data, count = await export_leads(ana, fmt="xlsx", status="new")
    sheet = load_workbook(io.BytesIO(data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert sheet.title == "Leads" and values[0] == COLUMNS and count == len(values) - 1 == 1
    row = dict(zip(COLUMNS, values[1], strict=True))
    assert row["name"] == "Iara Gonçalves" and row["score"] == 0.6 and isinstance(row["last_interaction"], datetime)


async def test_cli_writes_csv_and_xlsx_files(env: Path, stores: Stores, settings: Any, capsys) -> None:  # noqa: F811
    await _leads(stores, settings.model_copy(update={"data_dir": env}))
    out = env / "leads.xlsx"
    assert await _papo("leads", "export", "--user", "ana@doceria.com.br", "--format", "xlsx",
                       "--output", str(out), "--quality", "WARM") == 0
    assert "exported 1 lead(s)" in capsys.readouterr().err
    values = list(load_workbook(out).active.iter_rows(values_only=True))
    assert [v[1] for v in values[1:]] == ["Iara Gonçalves"]
    assert await _papo("leads", "export", "--user", "beto@oficina.com.br") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out.lstrip("\ufeff"))))
    assert [r[1] for r in rows[1:]] == ["Bruna do Beto"]
