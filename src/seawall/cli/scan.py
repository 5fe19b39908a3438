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

import typer

if TYPE_CHECKING:
    from seawall.pii.engine import Span

_BATCH_LINES = 2048


_CHUNK_BYTES = 1 << 20


def _batches(stream: BinaryIO) -> Iterator[list[str]]:
    """Lists of text lines without their terminator, read a megabyte at a time.

    Splitting on the newline byte before decoding never cuts a UTF-8 sequence; invalid
    UTF-8 never stops the scan (``surrogateescape``).  A ``\\r`` before the newline
    goes with the terminator.
    """
    rest = b""
    while chunk := stream.read(_CHUNK_BYTES):
        chunk = rest + chunk
        cut = chunk.rfind(b"\n") + 1
        rest = chunk[cut:]
        if cut:
            yield _split(chunk[: cut - 1])
    if rest:  # the last line, without a terminator: nothing to strip
        yield [rest.decode("utf-8", "surrogateescape")]


def _split(block: bytes) -> list[str]:
    """The lines of ``block``, each of which was followed by a newline."""
    lines = block.decode("utf-8", "surrogateescape").split("\n")
    if b"\r" in block:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


def run_scan(stdin: BinaryIO, stdout: BinaryIO, entities: frozenset[str] | None) -> int:
    """Scan ``stdin`` into ``stdout`` in batches of lines; returns the number of findings."""
    from seawall.pii.engine import default_scanner

    scanner = default_scanner()
    total = 0
    number = 0
    for lines in _batches(stdin):
        for begin in range(0, len(lines), _BATCH_LINES):
            batch = lines[begin : begin + _BATCH_LINES]
            total += _write_batch(scanner.spans_of_lines(batch, entities), number, stdout)
            number += len(batch)
    stdout.flush()
    return total


def _write_batch(results: list[list[Span]], offset: int, stdout: BinaryIO) -> int:
    """One write per batch, formatted by hand: the output is a fixed shape of entity
    names (ASCII identifiers, nothing to escape) and integers, and building dicts for
    orjson cost more than formatting them."""
    out: list[bytes] = []
    total = 0
    for number, spans in enumerate(results, start=offset + 1):
        if spans:
            total += len(spans)
            items = b",".join(
                b'{"entity":"%s","start":%d,"end":%d}' % (e.encode(), s, t) for e, s, t in spans
            )
            out.append(b'{"line":%d,"findings":[%s]}' % (number, items))
        else:
            out.append(b'{"line":%d,"findings":[]}' % number)
    if out:
        out.append(b"")
        stdout.write(b"\n".join(out))
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
