"""Reading what a sink wrote: one JSON record per line, appended as messages arrive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records a sink has written so far (see ``complete_lines``)."""
    return [orjson.loads(line) for line in complete_lines(path).splitlines() if line.strip()]


def complete_lines(path: Path) -> bytes:
    """The sink's file up to its last newline (empty when there is no file yet).

    The sink appends while others read (a test waiting for delivery, ``tail -f``, the
    demo's report), and a reader can catch the last record half-written: everything
    after the last newline is left for the next read.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    return data[: data.rfind(b"\n") + 1]
