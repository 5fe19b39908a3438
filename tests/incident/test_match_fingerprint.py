"""The value-fingerprint step of ``incident match``: computed in DuckDB, equal to the
ledger's fingerprints, and applied id first, then email."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.incident import match
from seawall.incident.directory import Person
from seawall.incident.keyed import fingerprints
from seawall.incident.match import _fingerprint_sql, _pads, _py_norm, match_file

KEY = b"ledger-key-for-tests-0123456789ab"


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=1, max_size=100),
    values=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=8),
)
def test_sql_fingerprints_equal_the_ledgers(key: bytes, values: list[str]) -> None:
    values = [v.replace("\x00", "") or "x" for v in values]  # DuckDB strings hold no NUL
    con = duckdb.connect()
    con.create_function("sw_norm", _py_norm, ["VARCHAR"], "VARCHAR")
    con.execute("CREATE TABLE v (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?, ?)", list(enumerate(values)))
    got = con.execute(f"SELECT {_fingerprint_sql('v')} FROM v ORDER BY i", _pads(key)).fetchall()
    # lower-case hex, as bytes.hex() spells the ledger subjects exposures are keyed by
    assert [h for (h,) in got] == [fp.hex() for fp in fingerprints(key, values)]


def test_fingerprint_step_matches_id_then_email(tmp_path: Path) -> None:
    leak = tmp_path / "leak.csv"
    leak.write_text(
        "distinct_id,email\n"
        "old-id-1,nobody@example.org\n"  # the id is known to the ledger
        "ext-2, Changed@Example.COM \n"  # only the (old) email is known
        "old-id-1,changed@example.com\n"  # both known: the id wins
        "ext-4,canary-old@example.com\n"  # a canary's old email
        "ext-5,stranger@example.org\n",  # unknown
        encoding="utf-8",
    )
    people = {"u1": Person("u1", "new1@example.com", None, None, None, None, None)}
    fp = dict(zip(["old-id-1", "changed@example.com", "canary-old@example.com"],
                  fingerprints(KEY, ["old-id-1", "changed@example.com", "canary-old@example.com"]),
                  strict=True))  # fmt: skip
    known = {
        fp["old-id-1"]: "u1",
        fp["changed@example.com"]: "u2",
        fp["canary-old@example.com"]: "c1",
    }
    asked: list[bytes] = []

    def lookup(fps: list[bytes]) -> dict[bytes, str]:
        asked.extend(fps)
        return {f: known[f] for f in fps if f in known}

    result = match_file(
        leak,
        people,
        vendor_key=b"v" * 32,
        ledger_key=KEY,
        canary_user_ids={"c1"},
        lookup=lookup,
        outcomes=tmp_path / "out.csv",
    )
    assert (result.matched, result.canaries, result.unknown) == (3, 1, 1)
    assert result.by_method == {"canary": 1, "fingerprint": 3}
    assert result.unknown_lines == [6]
    assert len(asked) == len(set(asked)) == 8  # 4 distinct ids + 4 distinct emails, once each
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[1:] == [
        "2,matched,fingerprint,u1",
        "3,matched,fingerprint,u2",
        "4,matched,fingerprint,u1",
        "5,canary,canary,c1",
        "6,unknown,,",
    ]


def test_fingerprint_step_takes_the_first_rows_up_to_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cap, the rows still unknown are the first ones by line (an empty row
    does not count towards it), and the rest are reported as skipped."""
    monkeypatch.setattr(match, "FINGERPRINT_CAP", 2)
    leak = tmp_path / "leak.csv"
    leak.write_text(
        "distinct_id,email\n" + ",\n" + "".join(f"ext-{i},\n" for i in range(2, 7)),
        encoding="utf-8",
    )
    asked: list[bytes] = []

    def lookup(fps: list[bytes]) -> dict[bytes, str]:
        asked.extend(fps)
        return {}

    result = match_file(leak, {}, vendor_key=b"v" * 32, ledger_key=KEY, lookup=lookup)
    assert sorted(asked) == sorted(fingerprints(KEY, ["ext-2", "ext-3"]))
    assert (result.unknown, result.fingerprint_skipped) == (6, 4)
