"""``seawall scan``: find personal data in text lines on stdin, one JSON object per line.

The output names entities and character offsets only; the matched text is never
echoed, so the output can be shared or logged.  Exit code 1 when anything was
found (like ``grep``), 0 when the input is clean, 2 on bad usage.

A plain invocation (``seawall scan``, with ``--entities`` and ``--config`` given
plainly) runs without Typer (``run_plain``): building the Typer app and the pydantic
adapters for its options cost over half of the command's start-up.  Everything else
(``--help``, usage errors, unusual spellings) goes to the Typer command, which stays
the one source of the options, their help and their error messages.

Typer's annotations are evaluated where the command is defined, inside ``register``
(which imports Typer), so this module does not use ``from __future__ import
annotations``.
"""

import errno
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, compress, count, islice
from operator import not_
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

    import typer

    from seawall.pii.engine import Span

_BATCH_LINES = 2048
_CHUNK_BYTES = 1 << 20
#: Inputs of more than this many chunks are scanned by one worker process per core:
#: a forked worker starts in about a millisecond, and a megabyte keeps one busy for
#: a fraction of a second, so two chunks already pay for it.
_PARALLEL_MIN_CHUNKS = 2


def _blocks(stream: BinaryIO) -> Iterator[bytes]:
    """The input a megabyte at a time, cut after a newline (the last block may end
    without one).  Cutting at the newline byte never cuts a UTF-8 sequence."""
    rest = b""
    while chunk := stream.read(_CHUNK_BYTES):
        chunk = rest + chunk
        cut = chunk.rfind(b"\n") + 1
        rest = chunk[cut:]
        if cut:
            yield chunk[:cut]
    if rest:
        yield rest


def _lines(block: bytes) -> list[str]:
    """The text lines of a block, without their terminator.

    Invalid UTF-8 never stops the scan (``surrogateescape``).  A ``\r`` before the
    newline goes with the terminator; a last line without a newline is kept whole.
    """
    if not block.endswith(b"\n"):
        return [block.decode("utf-8", "surrogateescape")]
    lines = block[:-1].decode("utf-8", "surrogateescape").split("\n")
    if b"\r" in block:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


def _batches(stream: BinaryIO) -> Iterator[list[str]]:
    """Lists of text lines without their terminator, one per block of the input."""
    for block in _blocks(stream):
        yield _lines(block)


def _line_count(block: bytes) -> int:
    return block.count(b"\n") if block.endswith(b"\n") else 1


def run_scan(stdin: BinaryIO, stdout: BinaryIO, entities: frozenset[str] | None) -> int:
    """Scan ``stdin`` into ``stdout``, in order; returns the number of findings.

    Large inputs are scanned in parallel when the machine has more than one core
    (blocks handed to forked workers, written back in input order); small ones in
    this process, which is cheaper than starting workers.
    """
    from seawall.pii.engine import default_scanner

    default_scanner()  # built before forking: workers inherit the compiled databases
    blocks = _blocks(stdin)
    first = list(islice(blocks, _PARALLEL_MIN_CHUNKS))
    # Asked only of large inputs: importing multiprocessing is a sixth of start-up.
    workers = _worker_count() if len(first) >= _PARALLEL_MIN_CHUNKS else 1
    jobs = _numbered(chain(first, blocks), entities)
    if workers < 2:
        total = 0
        for job in jobs:
            output, found = _scan_block(job)
            stdout.write(output)
            total += found
    else:
        total = _run_parallel(jobs, stdout, workers)
    stdout.flush()
    return total


_Job = tuple[bytes, int, "frozenset[str] | None"]


def _numbered(blocks: Iterable[bytes], entities: frozenset[str] | None) -> Iterator[_Job]:
    """Each block with the number of its first line."""
    number = 1
    for block in blocks:
        yield block, number, entities
        number += _line_count(block)


def _worker_count() -> int:
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return 1  # spawned workers would pay the whole start-up again
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _run_parallel(jobs: Iterator[_Job], stdout: BinaryIO, workers: int) -> int:
    """Blocks scanned by ``workers`` forked processes, written in input order, with at
    most two blocks per worker in flight (memory stays bounded on endless input)."""
    import multiprocessing

    total = 0
    pending: deque[AsyncResult[tuple[bytes, int]]] = deque()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for job in jobs:
            pending.append(pool.apply_async(_scan_block, (job,)))
            if len(pending) >= 2 * workers:
                total += _write(pending.popleft().get(), stdout)
        while pending:
            total += _write(pending.popleft().get(), stdout)
    return total


def _write(result: tuple[bytes, int], stdout: BinaryIO) -> int:
    stdout.write(result[0])
    return result[1]


def _scan_block(job: _Job) -> tuple[bytes, int]:
    """The JSON lines of one block and its number of findings.

    Analytics strings repeat (page URLs, titles, user agents): a line this process
    has already scanned takes its findings from ``_Seen`` and only new, distinct lines
    reach the engine.  The findings of a line depend on nothing but its text and the
    entities asked for, so the output is the same either way.
    """
    block, number, entities = job
    lines = _lines(block)
    findings = _Seen.for_entities(entities).findings_of(lines)
    out = b"".join(map(_LINE.__mod__, zip(count(number), map(findings.__getitem__, lines))))
    # Each finding is one ``{"entity":`` and nothing else in the output contains it.
    return out, out.count(b'{"entity":')


_LINE = b'{"line":%d,"findings":[%s]}\n'


class _Seen:
    """The findings of the lines this process has scanned (JSON bytes by line text),
    for one choice of entities.  Bounded in bytes (``LIMIT``), each line counted as its
    string's size (2 or 4 bytes a character once one is outside Latin-1) plus
    ``ENTRY`` (its findings and the dict slot), then it starts over: short ids counted
    by characters alone held 3.5 times the figure."""

    LIMIT = 32 << 20
    ENTRY = 150
    _current: "_Seen | None" = None

    def __init__(self, entities: frozenset[str] | None) -> None:
        self.entities = entities
        self.findings: dict[str, bytes] = {}
        self.size = 0

    @classmethod
    def for_entities(cls, entities: frozenset[str] | None) -> "_Seen":
        if cls._current is None or cls._current.entities != entities:
            cls._current = cls(entities)
        return cls._current

    def findings_of(self, lines: Sequence[str]) -> dict[str, bytes]:
        """A map that holds every one of ``lines``: the new ones scanned (each distinct
        line once, C-level iterators pick them), the others as they were found before."""
        from seawall.pii.engine import default_scanner

        known = self.findings
        todo = list(dict.fromkeys(compress(lines, map(not_, map(known.__contains__, lines)))))
        size = sum(map(sys.getsizeof, todo)) + self.ENTRY * len(todo)
        if self.size + size > self.LIMIT:
            known.clear()
            todo = list(dict.fromkeys(lines))
            size = sum(map(sys.getsizeof, todo)) + self.ENTRY * len(todo)
            self.size = 0
        self.size += size
        scanner = default_scanner()
        for begin in range(0, len(todo), _BATCH_LINES):
            batch = todo[begin : begin + _BATCH_LINES]
            found = scanner.spans_of_lines(batch, self.entities)
            known.update(zip(batch, map(_findings, found), strict=True))
        return known


def _findings(spans: "list[Span]") -> bytes:
    """A line's findings as the inside of its JSON array, formatted by hand: entity
    names are ASCII identifiers (nothing to escape) and offsets integers, and building
    dicts for orjson cost more than formatting them."""
    if not spans:
        return b""
    return b",".join(
        b'{"entity":"%s","start":%d,"end":%d}' % (e.encode(), s, t) for e, s, t in spans
    )


#: The command's options, named once: ``register`` declares them to Typer with
#: these names and ``run_plain`` reads plain invocations by the same names.
ENTITIES_OPTION = ("--entities",)
CONFIG_OPTION = ("--config", "-c")


def _chosen(value: str | None) -> tuple[frozenset[str] | None, list[str]]:
    """The entities ``--entities`` names (``None``: all) and the unknown ones."""
    from seawall.pii import ENTITIES

    if not value:
        return None, []
    chosen = frozenset(v.strip().upper() for v in value.split(",") if v.strip())
    return chosen, sorted(chosen - set(ENTITIES))


def _parse_entities(value: str | None) -> frozenset[str] | None:
    import typer

    from seawall.pii import ENTITIES

    chosen, unknown = _chosen(value)
    if unknown:
        raise typer.BadParameter(
            f"unknown entity {', '.join(unknown)}; choose from {', '.join(ENTITIES)}",
            param_hint=ENTITIES_OPTION[0],
        )
    return chosen


def _plain_options(args: Sequence[str]) -> dict[str, str] | None:
    """The values of ``args`` by option name, when each option is given at most once,
    as its name followed by a value or as ``--name=value``, and nothing else is given;
    otherwise ``None`` (Typer decides: help, errors and every other spelling)."""
    names = dict.fromkeys(ENTITIES_OPTION, ENTITIES_OPTION[0])
    names.update(dict.fromkeys(CONFIG_OPTION, CONFIG_OPTION[0]))
    values: dict[str, str] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg.startswith("--") and "=" in arg:
            arg, value = arg.split("=", 1)
        elif rest:
            value = rest.pop(0)
        else:
            return None
        name = names.get(arg)
        if name is None or name in values or value.startswith("-"):
            return None
        values[name] = value
    return values


def _collect_rarely() -> None:
    """For a process that only scans: what start-up built lives to the end, and the
    scan makes few reference cycles, yet the collector, run every 700 allocations,
    walked its young objects and now and then all of them (2-3% of a scan)."""
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def run_plain(args: Sequence[str]) -> int | None:
    """``seawall scan`` for ``args`` (what follows ``scan``) without Typer: the exit
    code, or ``None`` when the invocation is not plain and Typer must handle it.

    Exit codes and failure handling are the Typer command's: 1 when anything was
    found, 130 on Ctrl-C, 1 without a message when the reader closes the pipe.
    """
    values = _plain_options(args)
    if values is None or any(name.endswith("_COMPLETE") for name in os.environ):
        return None  # Typer (Click) answers shell-completion requests itself
    chosen, unknown = _chosen(values.get(ENTITIES_OPTION[0]))
    if unknown:
        return None  # the usage error comes from Typer, word for word
    _collect_rarely()
    try:
        found = run_scan(sys.stdin.buffer, sys.stdout.buffer, chosen)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # Closed by the reader (``| head``): exit quietly, as Click does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 1 if found else 0


def register(app: "typer.Typer") -> None:
    """Add the ``scan`` command to ``app``."""
    import typer

    @app.command("scan")
    def scan_command(
        entities: Annotated[
            str | None,
            typer.Option(
                *ENTITIES_OPTION, help="Comma-separated entities to look for (default: all)."
            ),
        ] = None,
        config: Annotated[
            Path,
            typer.Option(*CONFIG_OPTION, help="Path to seawall.yaml (not needed by scan)."),
        ] = Path("seawall.yaml"),
    ) -> None:
        """Read text lines on stdin; print one JSON object of findings per line."""
        del config  # accepted so that every command takes --config
        chosen = _parse_entities(entities)
        _collect_rarely()
        found = run_scan(sys.stdin.buffer, sys.stdout.buffer, chosen)
        if found:
            raise typer.Exit(1)


def _main() -> None:
    import typer

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(app)

    @app.callback()
    def _root() -> None:
        """Seawall's PII scanner."""

    app()


if __name__ == "__main__":
    _main()
