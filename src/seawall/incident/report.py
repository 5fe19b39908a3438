"""The impact report: one self-contained HTML file (inline SVG, no script), JSON and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from seawall.incident.charts import bar_chart
from seawall.incident.clocks import Deadline
from seawall.incident.model import Exposure, Incident, TimelineEntry

EXPOSURE_COLUMNS = (
    "subject",
    "user_id",
    "org_ids",
    "categories",
    "fields",
    "file_fields",
    "provenance",
    "risk_tier",
    "first_seen",
    "last_seen",
    "canary",
)


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def exposure_row(e: Exposure) -> dict[str, object]:
    d = asdict(e)
    for k in ("org_ids", "categories", "fields", "file_fields"):
        d[k] = ";".join(d[k])
    return {k: spreadsheet_safe(v) for k, v in d.items()}


def spreadsheet_safe(value: object) -> object:
    """A CSV cell a spreadsheet will not run: the leaked file's column names, SDK field
    names and directory ids are chosen by others, and ``=HYPERLINK(...)`` in a cell
    is a live formula in Excel or Sheets. Such text gets a leading ``'`` (OWASP's
    advice); NDJSON output keeps every value exact."""
    if isinstance(value, str) and value[:1] in _FORMULA_START:
        return "'" + value
    return value


_FORMULA_START = frozenset("=+-@\t\r")


def write_exposures(path: Path, exposures: Sequence[Exposure]) -> None:
    """CSV or NDJSON by extension (``.ndjson``/``.jsonl``: NDJSON; else CSV)."""
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        with path.open("w", encoding="utf-8") as fh:
            for e in exposures:
                fh.write(json.dumps(asdict(e)) + "\n")
        return
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=EXPOSURE_COLUMNS)
        w.writeheader()
        for e in exposures:
            w.writerow(exposure_row(e))


def _by_day(exposures: Sequence[Exposure]) -> list[tuple[str, int]]:
    days = Counter(when(e.last_seen)[:10] for e in exposures if e.last_seen is not None)
    return sorted(days.items())[-15:]


def render_html(
    incident: Incident,
    version: int,
    summary: dict[str, object],
    exposures: Sequence[Exposure],
    timeline: Sequence[TimelineEntry],
    deadlines: Sequence[Deadline],
    match: dict[str, object] | None,
) -> str:
    env = Environment(
        loader=PackageLoader("seawall.incident", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    real = [e for e in exposures if not e.canary]

    def top(key: str) -> list[tuple[str, int]]:
        value = summary.get(key) or {}
        assert isinstance(value, dict)
        return sorted(((str(k), int(v)) for k, v in value.items()), key=lambda kv: -kv[1])

    charts = [
        bar_chart("Exposed people by data category", top("categories")),
        bar_chart("Exposed people by field combination", top("field_combinations")),
        bar_chart("Exposed people by organisation (top 15)", top("top_orgs")),
        bar_chart("Exposed people by country", top("countries")),
        bar_chart("Last disclosure, by day (latest 15 days)", _by_day(real), colour="#718096"),
        bar_chart("Risk tiers", top("risk_tiers"), colour="#c53030"),
    ]
    window = summary.get("window") or {}
    assert isinstance(window, dict)
    return env.get_template("report.html.j2").render(
        incident=incident,
        version=version,
        summary=summary,
        deadlines=deadlines,
        charts=charts,
        top_orgs=top("top_orgs")[:20],
        timeline=timeline,
        match=match,
        file_shows_more=sum(1 for e in real if set(e.file_fields) - set(e.fields)),
        window=(window.get("start"), window.get("end")),
        generated=time.time(),
        when=when,
    )


def write_report(
    out_dir: Path,
    incident: Incident,
    version: int,
    summary: dict[str, object],
    exposures: Sequence[Exposure],
    timeline: Sequence[TimelineEntry],
    deadlines: Sequence[Deadline],
    match: dict[str, object] | None = None,
) -> dict[str, str]:
    """Write report.html, report.json and exposures.csv into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"incident-{incident.id}-v{version}"
    html = out_dir / f"{stem}.html"
    html.write_text(
        render_html(incident, version, summary, exposures, timeline, deadlines, match),
        encoding="utf-8",
    )
    doc = {
        "incident": asdict(incident),
        "version": version,
        "summary": summary,
        "deadlines": [d.as_dict() for d in deadlines],
        "timeline": [asdict(t) for t in timeline],
        "match": match,
    }
    js = out_dir / f"{stem}.json"
    js.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    csv_path = out_dir / f"{stem}-exposures.csv"
    write_exposures(csv_path, exposures)
    return {"html": str(html), "json": str(js), "csv": str(csv_path)}
