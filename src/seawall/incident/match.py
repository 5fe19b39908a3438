# ruff: noqa: S608  (DuckDB SQL is built from names quoted by _q and literals by _lit)
"""Matching a leaked file to the directory, the canaries and the ledger, in DuckDB.

Every record of the file ends in exactly one class:

* **invalid**: unreadable (bad encoding, ragged CSV row, not JSON), with its line;
* **canary**: shows a canary's user id, its pseudonym, or an address at the canary domain;
* **matched**: shows a directory user, tried in this order: user id, pseudonymous id
  (the vendor's HMAC recomputed for each directory id), normalised email (NFKC, trimmed,
  case-folded, exactly as the ledger normalises; no provider folding such as Gmail
  dots), then value fingerprint (the ledger key's HMAC of the record's id and email,
  looked up in the ledger's values for this vendor: it finds people whose email has
  changed since, or who are not in the directory);
* **unknown**: readable, but none of the above.

Emails are compared with the directory in clear inside the process, not by
fingerprint: one hash join of normalised strings in DuckDB is what makes ten million
rows take seconds, where an HMAC per leaked row would take minutes in Python. The
fingerprint step runs only on the rows still unknown (capped, and reported when capped).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seawall.incident.dircache import DirectoryCache, stage_keyed
from seawall.incident.directory import Person
from seawall.incident.errors import LeakedFileError
from seawall.incident.frame import SEP, connect, load_columns
from seawall.incident.keyed import (
    ascii_sql,
    fingerprint_params,
    fingerprint_sql,
    py_norm,
    trim_sql,
)
from seawall.incident.leaked import LeakedFile, _lit, _q, _x, drop_tables, load_leaked
from seawall.incident.scope import FileHit
from seawall.policy.catalogue import FALLBACK_CATEGORY, category_of

ID_NAMES = frozenset(
    {"userid", "user", "uid", "distinctid", "id", "anonymousid", "customerid", "accountid"}
)
_ID_PRIORITY = ("userid", "user", "uid", "customerid", "accountid", "id", "distinctid")
LINES_SHOWN = 1000
_MASK_COLUMNS = 62
FINGERPRINT_CAP = 200_000

# Resolves value fingerprints to user ids (the ledger's ledger_values for this vendor).
FingerprintLookup = Callable[[list[bytes]], dict[bytes, str]]


def _key(name: str) -> str:
    return name.lower().translate({ord(c): None for c in "$_- ."})


def map_columns(
    columns: Iterable[str], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Column -> data category; ``overrides`` (from ``--map``) win. Unknown headers map
    to "unknown" and are reported, so that nobody mistakes them for nothing."""
    out: dict[str, str] = {}
    for col in columns:
        if overrides and col in overrides:
            out[col] = overrides[col]
        elif _key(col) in ID_NAMES:
            out[col] = "user.unique_id"
        elif _key(col) in ("email", "mail", "emailaddress"):
            out[col] = "user.contact.email"
        else:
            cat = category_of("mixpanel", col)
            out[col] = "unknown" if cat == FALLBACK_CATEGORY else cat
    return out


@dataclass
class MatchResult:
    file: LeakedFile
    columns: dict[str, str]
    rows: int = 0
    matched: int = 0
    canaries: int = 0
    unknown: int = 0
    invalid: int = 0
    invalid_lines: list[dict[str, object]] = field(default_factory=list)
    unknown_lines: list[int] = field(default_factory=list)
    by_method: dict[str, int] = field(default_factory=dict)
    hits: list[FileHit] = field(default_factory=list)
    fingerprint_skipped: int = 0
    matched_users: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "file": self.file.path.name,
            "format": self.file.format,
            "rows": self.rows,
            "matched": self.matched,
            "matched_users": self.matched_users,
            "canaries": self.canaries,
            "unknown": self.unknown,
            "invalid": self.invalid,
            "invalid_lines": self.invalid_lines,
            "unknown_lines": self.unknown_lines,
            "by_method": self.by_method,
            "columns": self.columns,
            "unmapped_columns": [c for c, k in self.columns.items() if k == "unknown"],
            "fingerprint_skipped": self.fingerprint_skipped,
        }


def _norm_sql(expr: str) -> str:
    # First and last characters above U+0020: nothing to trim and not blank, which is
    # nearly every address; only the rest pay for the blank test and the trim.
    plain = f"ascii({expr}) > 32 AND ascii(right({expr}, 1)) > 32"
    return (
        f"CASE WHEN {plain} THEN (CASE WHEN {ascii_sql(expr)} THEN lower({expr}) "
        f"ELSE sw_norm({expr}) END) "
        f"WHEN {expr} IS NULL OR trim({expr}) = '' THEN NULL "
        f"WHEN {ascii_sql(expr)} THEN lower({trim_sql(expr)}) "
        f"ELSE sw_norm({expr}) END"
    )


def _id_sql(column: str) -> str:
    """The column without surrounding spaces, NULL when blank (the trim only where the
    first or last character could be a space)."""
    return (
        f"CASE WHEN ascii({column}) > 32 AND ascii(right({column}, 1)) > 32 THEN {column} "
        f"ELSE nullif(trim({column}), '') END"
    )


_py_norm = py_norm


def match_file(
    path: Path, people: Mapping[str, Person], *, memory_limit: str = "1GB", **options: Any
) -> MatchResult:
    """Classify every record of ``path`` against ``people`` (``options``: those of
    ``classify``); ``outcomes`` receives one CSV line per record."""
    from seawall.incident.directory import stage_people

    with tempfile.TemporaryDirectory(prefix="seawall-match-") as tmpdir:
        con = connect(Path(tmpdir), memory_limit)
        try:
            stage_people(con, people.values())
            return classify(con, path, **options)
        finally:
            con.close()


def classify(
    con: Any,
    path: Path,
    *,
    vendor_key: bytes,
    ledger_key: bytes,
    canary_user_ids: Iterable[str] = (),
    canary_domain: str | None = None,
    lookup: FingerprintLookup | None = None,
    overrides: Mapping[str, str] | None = None,
    fmt: str | None = None,
    outcomes: Path | None = None,
    keep_hits: bool = True,
    cache: DirectoryCache | None = None,
    vendor: str = "vendor",
) -> MatchResult:
    """``match_file`` on a DuckDB connection where the directory is table ``people``;
    leaves the people the file shows in table ``hits`` (and, with ``keep_hits``, in
    ``MatchResult.hits`` too). ``cache``: where the directory's pseudonyms for
    ``vendor`` (key ``vendor_key``) are kept between runs."""
    import duckdb

    try:
        leaked = load_leaked(con, path, fmt, lambda names: _row_sql(map_columns(names, overrides)))
        columns = map_columns(leaked.columns, overrides)
        _x(con, "CREATE OR REPLACE TEMP VIEW r AS SELECT line, id, email_n, shown FROM leak")
    except duckdb.Error as exc:
        # DuckDB's messages quote the cell they choke on: leaked values must not reach
        # the console or CI logs, so only the error's kind is said.
        raise LeakedFileError(
            f"{path.name}: its columns could not be read for matching "
            f"({type(exc).__name__}). A column named like one Seawall adds ('line', 'rn') "
            "or a JSON key holding a quote is the usual cause: rename it in a copy of "
            "the file and match the copy"
        ) from None
    result = MatchResult(leaked, columns)
    canaries = set(canary_user_ids)
    _stage_directory(con, canaries)
    _stage_pseudonyms(con, vendor_key, cache, vendor)
    _classify(con, canary_domain)
    # The file's records are in ``res`` now: free DuckDB's memory for what follows.
    drop_tables(con, "r", "leak", "leak_rn", "lines", "pseudo", "dir_email")
    if lookup is not None:
        result.fingerprint_skipped = _fingerprint_stage(con, ledger_key, lookup)
    _collect(con, result, ledger_key, keep_hits)
    if outcomes is not None:
        _write_outcomes(con, outcomes)
    # The file's rows are done with: free DuckDB's memory for the scope that follows.
    drop_tables(con, "r", "res", "leak", "leak_rn", "lines", "fp_rows", "fp_vals", "hits_raw")
    return result


def _row_sql(columns: Mapping[str, str]) -> str:
    """What matching keeps of each record: its id, normalised email and the columns it
    shows (``id``, ``email_n``, ``shown``), as an SQL select list over the file's
    columns."""
    ids = sorted(
        (c for c, k in columns.items() if k.startswith("user.unique_id")),
        key=lambda c: _ID_PRIORITY.index(_key(c)) if _key(c) in _ID_PRIORITY else 99,
    )
    emails = [c for c, k in columns.items() if k.startswith("user.contact.email")]
    id_parts = ", ".join(_id_sql(_q(c)) for c in ids)
    # Typed NULLs: DuckDB before 2.0 gives a bare NULL column the type INTEGER.
    id_expr = f"coalesce({id_parts})" if ids else "NULL::VARCHAR"
    email_expr = (
        _norm_sql(f"coalesce({', '.join(_q(c) for c in emails)})") if emails else "NULL::VARCHAR"
    )
    # The columns a record shows: a bit per column (or, past 62 columns, their names
    # FIELD_SEP-joined); far cheaper than a list (and a lambda) over ten million rows.
    if len(columns) <= _MASK_COLUMNS:
        bits = " + ".join(
            f"CASE WHEN {_q(c)} IS NOT NULL AND {_q(c)} <> '' THEN {1 << i} ELSE 0 END"
            for i, c in enumerate(columns)
        )
        shown_expr = f"({bits or '0'})::{_mask_type(len(columns))}"
    else:
        shown = ", ".join(
            f"CASE WHEN {_q(c)} IS NOT NULL AND {_q(c)} <> '' THEN {_lit(c)} END" for c in columns
        )
        shown_expr = f"concat_ws(chr(31), {shown})"
    return f"{id_expr} AS id, {email_expr} AS email_n, {shown_expr} AS shown"


def _mask_type(columns: int) -> str:
    """The smallest integer type with a bit per column: ten million records of a
    four-column file hold one byte each, not eight (the parsed records and the
    classification then fit DuckDB's memory limit better)."""
    for bits, kind in ((8, "UTINYINT"), (16, "USMALLINT"), (32, "UINTEGER")):
        if columns <= bits:
            return kind
    return "BIGINT"


def _stage_directory(con: Any, canaries: set[str]) -> None:
    # An address shared by several users names the lowest id; the rest are still exposed
    # through their own rows when the file shows their ids.
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE dir_email AS
        SELECT email_n, min(user_id) AS user_id
        FROM (SELECT user_id, {_norm_sql("email")} AS email_n FROM people)
        WHERE email_n IS NOT NULL GROUP BY email_n""",
    )
    _x(con, "CREATE OR REPLACE TEMP TABLE m_canary (user_id VARCHAR)")
    if canaries:
        con.executemany("INSERT INTO m_canary VALUES (?)", [[c] for c in sorted(canaries)])


def _stage_pseudonyms(
    con: Any, vendor_key: bytes, cache: DirectoryCache | None, vendor: str
) -> None:
    """``pseudo``: the vendor's pseudonym of every directory and canary id:
    ``core.crypto.pseudonym`` (HMAC of the id as is, not normalised), computed in
    DuckDB, the directory's from ``cache`` when it holds them for this key."""
    pseudonym = "'sw_' || left(sha256($2::BLOB || unhex(sha256($1::BLOB || encode(user_id)))), 32)"
    params = fingerprint_params(vendor_key)
    stage_keyed(con, cache, "dir_ps", f"pseudonyms-{vendor}", vendor_key, (pseudonym, params))
    # Every id's: filtering by the ids the file shows cost a scan of its records (~1 s
    # of CPU on ten million), more than the larger hash table costs the join.
    # A canary that is also in the directory is paired once, as by a UNION.
    _x(
        con,
        f"""INSERT INTO dir_ps SELECT user_id, {pseudonym} FROM m_canary c
        WHERE NOT EXISTS (SELECT 1 FROM people d WHERE d.user_id = c.user_id)""",
        params,
    )
    _x(con, "ALTER TABLE dir_ps RENAME v TO p")
    _x(con, "ALTER TABLE dir_ps RENAME TO pseudo")


# ``res`` holds a record's outcome and method as ENUMs, a byte each instead of a string:
# the passes that read ``res`` again (counts, the fingerprint step, the outcomes file)
# cost ~2 s less CPU on ten million records. The labels are in alphabetical order, so
# ORDER BY gives the order the strings did; they compare and print as the strings.
_OUTCOME = "ENUM('canary', 'matched', 'unknown')"
_METHOD = "ENUM('canary', 'email', 'fingerprint', 'pseudonym', 'user_id')"


def _classify(con: Any, canary_domain: str | None) -> None:
    domain = _lit("@" + canary_domain.lower()) if canary_domain else "NULL::VARCHAR"
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE res AS
        WITH j AS (
          SELECT r.line, r.shown, r.id, r.email_n,
            d.user_id AS by_id, ps.user_id AS by_pseudo, de.user_id AS by_email,
            (c1.user_id IS NOT NULL OR c2.user_id IS NOT NULL
             OR ({domain} IS NOT NULL AND ends_with(r.email_n, {domain}))) AS is_canary,
            coalesce(c1.user_id, c2.user_id) AS canary_id
          FROM r
          LEFT JOIN people d ON d.user_id = r.id
          LEFT JOIN pseudo ps ON ps.p = r.id
          LEFT JOIN dir_email de ON de.email_n = r.email_n
          LEFT JOIN m_canary c1 ON c1.user_id = r.id
          LEFT JOIN m_canary c2 ON c2.user_id = ps.user_id)
        SELECT line, shown,
          -- kept only where the fingerprint step needs them: the rows still unknown
          CASE WHEN NOT is_canary AND coalesce(by_id, by_pseudo, by_email) IS NULL
               THEN id END AS id,
          CASE WHEN NOT is_canary AND coalesce(by_id, by_pseudo, by_email) IS NULL
               THEN email_n END AS email_n,
          CASE WHEN is_canary THEN 'canary'::{_OUTCOME}
               WHEN coalesce(by_id, by_pseudo, by_email) IS NOT NULL THEN 'matched'::{_OUTCOME}
               ELSE 'unknown'::{_OUTCOME} END AS outcome,
          CASE WHEN is_canary THEN canary_id ELSE coalesce(by_id, by_pseudo, by_email) END
            AS user_id,
          CASE WHEN is_canary THEN 'canary'::{_METHOD}
               WHEN by_id IS NOT NULL THEN 'user_id'::{_METHOD}
               WHEN by_pseudo IS NOT NULL THEN 'pseudonym'::{_METHOD}
               WHEN by_email IS NOT NULL THEN 'email'::{_METHOD} END AS method
        FROM j""",
    )


_fingerprint_sql = fingerprint_sql
_pads = fingerprint_params


def _fingerprint_stage(con: Any, ledger_key: bytes, lookup: FingerprintLookup) -> int:
    """Rows still unknown (up to the cap): their id, else their email, fingerprinted with
    the ledger key in DuckDB and looked up in the ledger's values."""
    total = con.execute("SELECT count(*) FROM res WHERE outcome = 'unknown'").fetchall()[0][0]
    unknown = "outcome = 'unknown' AND (id IS NOT NULL OR email_n IS NOT NULL)"
    # The first FINGERPRINT_CAP such rows by line: the line of the last one is found from
    # the lines alone (lines are unique), so the top-N does not carry ids and emails.
    last = con.execute(
        f"SELECT line FROM res WHERE {unknown} ORDER BY line LIMIT 1 OFFSET {FINGERPRINT_CAP - 1}"
    ).fetchall()
    upto = f" AND line <= {int(last[0][0])}" if last else ""
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE fp_rows AS SELECT line, id, email_n FROM res
        WHERE {unknown}{upto}""",
    )
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE fp_vals AS SELECT v, {_fingerprint_sql("v")} AS fp
        FROM (SELECT id AS v FROM fp_rows WHERE id <> ''
              UNION SELECT email_n FROM fp_rows WHERE email_n <> '')""",
        _pads(ledger_key),
    )
    fps = [bytes.fromhex(h) for (h,) in con.execute("SELECT DISTINCT fp FROM fp_vals").fetchall()]
    found = lookup(fps)
    if found:
        rows = ((fp.hex(), uid) for fp, uid in found.items())
        load_columns(con, "fp_found", ("fp", "user_id"), ("VARCHAR", "VARCHAR"), rows)
        # The id's fingerprint first, then the email's, as the ledger would key them.
        _x(
            con,
            """UPDATE res SET user_id = h.user_id, method = h.method,
              outcome = CASE WHEN h.method = 'canary' THEN 'canary' ELSE 'matched' END
            FROM (
              SELECT r.line, coalesce(fi.user_id, fe.user_id) AS user_id,
                CASE WHEN c.user_id IS NOT NULL THEN 'canary' ELSE 'fingerprint' END AS method
              FROM fp_rows r
              LEFT JOIN fp_vals vi ON vi.v = r.id LEFT JOIN fp_found fi ON fi.fp = vi.fp
              LEFT JOIN fp_vals ve ON ve.v = r.email_n LEFT JOIN fp_found fe ON fe.fp = ve.fp
              LEFT JOIN m_canary c ON c.user_id = coalesce(fi.user_id, fe.user_id)
              WHERE coalesce(fi.user_id, fe.user_id) IS NOT NULL) h
            WHERE res.line = h.line""",
        )
    return max(0, int(total) - FINGERPRINT_CAP)


def _collect(con: Any, result: MatchResult, ledger_key: bytes, keep_hits: bool) -> None:
    counts = dict(con.execute("SELECT outcome, count(*) FROM res GROUP BY 1").fetchall())
    result.matched = int(counts.get("matched", 0))
    result.canaries = int(counts.get("canary", 0))
    result.unknown = int(counts.get("unknown", 0))
    result.invalid = result.file.bad
    result.rows = result.matched + result.canaries + result.unknown + result.invalid
    result.by_method = {
        str(m): int(n)
        for m, n in con.execute(
            "SELECT method, count(*) FROM res WHERE method IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).fetchall()
    }
    result.invalid_lines = [
        {"line": int(ln), "reason": str(why)}
        for ln, why in con.execute(
            f"SELECT line, min(reason) FROM bad GROUP BY line ORDER BY line LIMIT {LINES_SHOWN}"
        ).fetchall()
    ]
    result.unknown_lines = [
        int(r[0])
        for r in con.execute(
            f"SELECT line FROM res WHERE outcome = 'unknown' ORDER BY line LIMIT {LINES_SHOWN}"
        ).fetchall()
    ]
    masks = len(result.columns) <= _MASK_COLUMNS
    # The people the file shows, as the scope takes them (table ``hits``): the subject
    # (the ledger key's fingerprint of the user id) is taken from the directory's
    # fingerprints when a caller staged them (``frame.stage_fingerprints``, same key),
    # else computed by DuckDB; the categories once per distinct column set.
    staged = bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'dir'"
        ).fetchall()[0][0]
    )
    fp = f"unhex({fingerprint_sql('g.user_id')})"
    subject = f"CASE WHEN d.fp IS NOT NULL THEN d.fp ELSE {fp} END" if staged else fp
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE hits_raw AS
        SELECT g.user_id, {subject} AS subject, g.ff, g.canary FROM (
          SELECT user_id, outcome = 'canary' AS canary,
            {"bit_or(shown)::VARCHAR" if masks else "string_agg(DISTINCT shown, chr(31))"} AS ff
          FROM res WHERE outcome IN ('matched', 'canary') AND user_id IS NOT NULL
          GROUP BY user_id, outcome) g
        {"LEFT JOIN dir d ON d.user_id = g.user_id" if staged else ""}""",
        fingerprint_params(ledger_key),
    )
    shapes = [r[0] for r in con.execute("SELECT DISTINCT ff FROM hits_raw").fetchall()]
    cats = []
    names = list(result.columns)
    for raw in shapes:
        if masks:
            shown = sorted({c for i, c in enumerate(names) if int(raw) >> i & 1})
        else:
            shown = sorted({f for f in (raw or "").split(SEP) if f})
        hc = SEP.join(sorted({result.columns.get(f, "unknown") for f in shown}))
        cats.append((raw, SEP.join(shown), hc))
    load_columns(con, "hit_cats", ("raw", "ff", "hc"), ("VARCHAR",) * 3, cats)
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE hits AS SELECT h.user_id, h.subject, c.ff, c.hc,
          h.canary FROM hits_raw h JOIN hit_cats c ON c.raw IS NOT DISTINCT FROM h.ff""",
    )
    result.matched_users = int(
        con.execute("SELECT count(*) FROM hits WHERE NOT canary").fetchall()[0][0]
    )
    if not keep_hits:
        return
    split: dict[str, tuple[str, ...]] = {}
    for uid, subject, ff, hc, is_canary in con.execute(
        "SELECT user_id, subject, ff, hc, canary FROM hits ORDER BY user_id"
    ).fetchall():
        fields = split.setdefault(ff, tuple(ff.split(SEP)) if ff else ())
        categories = split.setdefault(hc, tuple(hc.split(SEP)) if hc else ())
        result.hits.append(FileHit(str(uid), bytes(subject).hex(), fields, categories, is_canary))


# Rows of the outcomes file sorted at a time (see ``_write_outcomes``).
_OUTCOME_CHUNK = 500_000


def _write_outcomes(con: Any, out: Path) -> None:
    """One line per record, by line: line, outcome, method, user id (invalid: the
    reason). Written in ranges of lines, each sorted on its own and appended: sorting
    ten million rows at once spilled a gigabyte under the memory limit and cost twice
    the CPU of writing them (6.4 against 3.1 s); ranges of half a million cost 3.9 s.
    ``res`` comes out of the joins nearly in line order, so each range's scan skips
    most row groups by their line bounds (any order gives the same file)."""
    lo, hi, n = con.execute(
        "SELECT min(line), max(line), count(*) FROM "
        "(SELECT line FROM res UNION ALL SELECT line FROM bad)"
    ).fetchall()[0]
    ranges = ["true"]  # no records: the header alone
    if n:
        parts = -(-int(n) // _OUTCOME_CHUNK)
        step = (int(hi) - int(lo)) // parts + 1
        starts = [int(lo) + i * step for i in range(parts)]
        ranges = [f"line >= {a} AND line < {a + step}" for a in starts]
    with (
        tempfile.TemporaryDirectory(prefix="seawall-outcomes-", dir=_parts_dir(out)) as tmp,
        out.open("wb") as dst,
    ):
        for i, where in enumerate(ranges):
            part = Path(tmp) / f"{i}.csv"
            _x(
                con,
                f"""COPY (SELECT line, outcome, method, user_id FROM res WHERE {where}
                  UNION ALL SELECT line, 'invalid', reason, NULL FROM bad WHERE {where}
                  ORDER BY line)
                TO {_lit(str(part))} (HEADER {"true" if i == 0 else "false"}, DELIMITER ',')""",
            )
            with part.open("rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
            part.unlink()


def _parts_dir(out: Path) -> Path | None:
    """Beside the outcomes file (same file system, no second copy in a small /tmp);
    the system's temporary directory when that is not writable (``/dev/stdout``)."""
    return out.parent if os.access(out.parent, os.W_OK) else None
