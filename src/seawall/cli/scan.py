"""``seawall scan``: find personal data in text lines on stdin, one JSON object per line.

The output names entities and character offsets only; the matched text is never
echoed, so the output can be shared or logged.  Exit code 1 when anything was
found (like ``grep``), 0 when the input is clean, 2 on bad usage.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import orjson
import typer

if TYPE_CHECKING:
    from seawall.pii.finding import Finding

_BATCH_LINES = 2048


def _lines(stream: BinaryIO) -> Iterator[str]:
    """Text lines without their terminator; invalid UTF-8 never stops the scan."""
    for raw in stream:
        line = raw
        if line.endswith(b"\n"):
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        yield line.decode("utf-8", "surrogateescape")


def run_scan(stdin: BinaryIO, stdout: BinaryIO, entities: frozenset[str] | None) -> int:
    """Scan ``stdin`` into ``stdout`` in batches of lines; returns the number of findings."""
    from seawall.pii.engine import default_scanner

    scanner = default_scanner()
    total = 0
    number = 0
    batch: list[str] = []
    for line in _lines(stdin):
        batch.append(line)
        if len(batch) >= _BATCH_LINES:
            total += _write_batch(scanner.scan_lines(batch, entities), number, stdout)
            number += len(batch)
            batch.clear()
    total += _write_batch(scanner.scan_lines(batch, entities), number, stdout)
    stdout.flush()
    return total


def _write_batch(results: list[list[Finding]], offset: int, stdout: BinaryIO) -> int:
    out: list[bytes] = []
    total = 0
    for number, findings in enumerate(results, start=offset + 1):
        if findings:
            total += len(findings)
            record = {
                "line": number,
                "findings": [
                    {"entity": f.entity, "start": f.start, "end": f.end} for f in findings
                ],
            }
            out.append(orjson.dumps(record))
        else:
            out.append(b'{"line":%d,"findings":[]}' % number)
    if out:
        stdout.write(b"\n".join(out) + b"\n")
    return total


def _parse_entities(value: str | None) -> frozenset[str] | None:
    from seawall.pii import ENTITIES

    if not value:
        return None
    chosen = frozenset(v.strip().upper() for v in value.split(",") if v.strip())
    unknown = sorted(chosen - set(ENTITIES))
    if unknown:
        raise typer.BadParameter(
            f"unknown entity {', '.join(unknown)}; choose from {', '.join(ENTITIES)}",
            param_hint="--entities",
        )
    return chosen


def register(app: typer.Typer) -> None:
    """Add the ``scan`` command to ``app``."""

    @app.command("scan")
    def scan_command(
        entities: Annotated[
            str | None,
            typer.Option(help="Comma-separated entities to look for (default: all)."),
        ] = None,
        config: Annotated[
            Path,
            typer.Option("--config", "-c", help="Path to seawall.yaml (not needed by scan)."),
        ] = Path("seawall.yaml"),
    ) -> None:
        """Read text lines on stdin; print one JSON object of findings per line."""
        del config  # accepted so that every command takes --config
        chosen = _parse_entities(entities)
        found = run_scan(sys.stdin.buffer, sys.stdout.buffer, chosen)
        if found:
            raise typer.Exit(1)


def _main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(app)

    @app.callback()
    def _root() -> None:
        """Seawall's PII scanner."""

    app()


if __name__ == "__main__":
    _main()
