"""``seawall scan`` as a real subprocess: JSON lines, offsets, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from seawall.cli import scan as cli


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


# ``seawall scan`` runs plain invocations without Typer (``run_plain``).  Each case runs
# through both entry points and through the Typer app itself (forced, with the same
# program name): output, messages and exit codes must be the same.
TYPER = (
    "import sys; from seawall.cli.main import build_app; "
    "build_app(sys.argv[2:])(sys.argv[2:], prog_name=sys.argv[1])"
)
STDIN = b"mail jane@example.com\nnothing here\ncall +1 202-555-0143 now\n"
INVOCATIONS = [
    (),
    ("--entities", "PHONE_NUMBER,email_address"),
    ("--entities=IP_ADDRESS",),
    ("--entities", ""),
    ("-c", "x.yaml", "--entities", "EMAIL_ADDRESS"),
    ("--config=seawall.yaml",),
    ("--entities", "NAME"),
    ("--entities",),
    ("-c",),
    ("--entities", "--config"),
    ("--entities", "IP_ADDRESS", "--entities", "EMAIL_ADDRESS"),
    ("-cx.yaml",),
    ("extra",),
    ("--",),
    ("--ent", "EMAIL_ADDRESS"),
    ("--help",),
]


def _entry_points() -> list[tuple[list[str], str]]:
    script = Path(sys.executable).with_name("seawall")
    points = [([sys.executable, "-m", "seawall"], "python -m seawall")]
    if script.exists():
        points.append(([str(script)], "seawall"))
    return points


@pytest.mark.parametrize("args", INVOCATIONS, ids=" ".join)
def test_plain_invocations_behave_as_the_typer_command(args: tuple[str, ...]) -> None:
    for command, prog in _entry_points():
        direct = subprocess.run(
            [*command, "scan", *args], input=STDIN, capture_output=True, timeout=60, check=False
        )
        typer = subprocess.run(
            [sys.executable, "-c", TYPER, prog, "scan", *args],
            input=STDIN,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert (direct.returncode, direct.stdout, direct.stderr) == (
            typer.returncode,
            typer.stdout,
            typer.stderr,
        )


def test_a_plain_scan_never_imports_typer() -> None:
    probe = (
        "import sys; sys.argv = ['seawall', 'scan', '--entities', 'EMAIL_ADDRESS']\n"
        "from seawall.cli.main import run\n"
        "try:\n    run()\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('typer', 'rich', 'pydantic')), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], input=STDIN, capture_output=True, timeout=60, check=True
    )
    assert result.stderr.decode().split() == ["1", "[]"]


@pytest.mark.parametrize(
    ("args", "plain"),
    [
        ((), {}),
        (("--entities=IP_ADDRESS", "-c", "x"), {"--entities": "IP_ADDRESS", "--config": "x"}),
        (("--help",), None),
        (("--entities",), None),
        (("-c", "a", "--config", "b"), None),
        (("--entities", "-c"), None),
        (("-c=x",), None),
        (("--", "x"), None),
    ],
)
def test_plain_options(args: tuple[str, ...], plain: dict[str, str] | None) -> None:
    assert cli._plain_options(args) == plain
