"""``seawall scan`` as a real subprocess: JSON lines, offsets, exit codes."""

from __future__ import annotations

import subprocess
import sys

import orjson


def run(stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "seawall.cli.scan", "scan", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_scan_reports_offsets_and_never_echoes_the_text() -> None:
    stdin = "mail jane@example.com\nnothing\nZoë +1 202-555-0143 \xff\n".encode(
        "utf-8", "surrogateescape"
    )
    stdin = stdin.replace("\xff".encode(), b"\xff")
    result = run(stdin + b"\r\nlast 10.0.0.1")
    assert result.returncode == 1
    assert b"jane" not in result.stdout
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert records == [
        {"line": 1, "findings": [{"entity": "EMAIL_ADDRESS", "start": 5, "end": 21}]},
        {"line": 2, "findings": []},
        {"line": 3, "findings": [{"entity": "PHONE_NUMBER", "start": 4, "end": 19}]},
        {"line": 4, "findings": []},
        {"line": 5, "findings": [{"entity": "IP_ADDRESS", "start": 5, "end": 13}]},
    ]


def test_entities_option_and_clean_input() -> None:
    result = run(b"jane@example.com\n", "--entities", "PHONE_NUMBER", "--config", "seawall.yaml")
    assert result.returncode == 0
    assert orjson.loads(result.stdout) == {"line": 1, "findings": []}


def test_unknown_entity_is_a_usage_error() -> None:
    result = run(b"x\n", "--entities", "NAME")
    assert result.returncode == 2
    assert b"unknown entity NAME" in result.stderr
