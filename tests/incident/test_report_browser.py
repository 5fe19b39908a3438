"""The report renders in headless Chromium (a screenshot) and carries no script."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from seawall.incident.clocks import deadlines
from seawall.incident.model import Exposure, Incident, TimelineEntry
from seawall.incident.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_screenshot(tmp_path: Path) -> None:
    inc = Incident(
        1, "mixpanel", "Mixpanel breach", "vendor_notice", "open", 1e9, 1e9, None, None, None
    )
    exposures = [
        Exposure(
            f"{i:032x}",
            f"user-{i}",
            (f"org-{i % 5}",),
            ("user.contact.email", "user.name"),
            ("$email", "$name"),
            "both" if i % 2 else "ledger",
            "high",
            1e9,
            1e9 + i * 3600,
        )
        for i in range(40)
    ]
    summary: dict[str, object] = {
        "subjects": 40,
        "users": 40,
        "orgs": 5,
        "anonymous": 0,
        "canaries": 0,
        "categories": {"user.contact.email": 40, "user.name": 40},
        "field_combinations": {"user.contact.email+user.name": 40},
        "risk_tiers": {"high": 40, "medium": 0, "low": 0},
        "provenance": {"ledger": 20, "file": 0, "both": 20},
        "countries": {"DE": 30, "US-CA": 10},
        "top_orgs": {f"org-{k}": 8 for k in range(5)},
        "window": {"start": None, "end": 1e9},
    }
    paths = write_report(
        tmp_path,
        inc,
        1,
        summary,
        exposures,
        [TimelineEntry(1, 1e9, "opened", "opened")],
        deadlines(aware_at=1e9, people=[]),
    )
    html = Path(paths["html"])
    assert "<script" not in html.read_text()
    png = tmp_path / "report.png"
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={png}",
            "--window-size=1200,2000",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert png.stat().st_size > 10_000
