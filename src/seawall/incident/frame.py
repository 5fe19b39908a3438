# ruff: noqa: S608  (DuckDB SQL here is built from constants and _lit-quoted literals)
"""Scope as columns: the ledger, the directory and the file's hits joined in DuckDB.

A million exposed people share a few dozen field sets, categories, roles and org
lists, so nothing here makes a Python object per person: the ledger's summary rows go
into DuckDB in chunks, the directory is read (and fingerprinted) there, and whatever
needs Python (field categories, risk tiers) is computed once per distinct
combination and joined back. Lists are kept as FIELD_SEP-joined strings, sorted.

Tables a caller provides on the connection: ``people`` (the directory, see
``directory.stage_directory``) and ``hits`` (the file side: user_id, subject BLOB,
ff, hc, canary; ff/hc are joined file fields and categories). ``build_scope`` leaves
the exposures in table ``ex`` and returns the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from seawall.incident.dircache import DirectoryCache, stage_keyed
from seawall.incident.keyed import fingerprint_params, fingerprint_sql, register_sql
from seawall.incident.leaked import _lit, _x
from seawall.incident.risk import risk_tier
from seawall.storage.tables import FIELD_SEP

SEP = FIELD_SEP
# Field names that tell the vendor which organisation a person belongs to.
ORG_FIELDS = frozenset(
    {"org_id", "$group_key", "$group_id", "$groups", "company", "company_id", "groupId"}
)


def connect(tmp: Path, memory_limit: str = "1GB") -> Any:
    """A DuckDB connection for incident work: bounded memory, spilling to ``tmp``."""
    import duckdb

    con = duckdb.connect()
    _x(con, f"SET memory_limit = {_lit(memory_limit)}")
    _x(con, f"SET temp_directory = {_lit(str(tmp))}")
    register_sql(con)
    return con


def _split(text: str | None) -> list[str]:
    return text.split(SEP) if text else []


def load_columns(
    con: Any, table: str, names: Sequence[str], types: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Create ``table`` and append ``rows`` to it in chunks (through numpy arrays,
    DuckDB's fastest way in from Python); returns the row count."""
    return load_chunks(con, table, names, types, _chunks(rows, 200_000))


def load_chunks(
    con: Any,
    table: str,
    names: Sequence[str],
    types: Sequence[str],
    chunks: Iterable[Sequence[Sequence[Any]]],
) -> int:
    """``load_columns`` for rows that already come in chunks (a cursor's fetchmany)."""
    cols = ", ".join(f"{n} {t}" for n, t in zip(names, types, strict=True))
    _x(con, f"CREATE OR REPLACE TEMP TABLE {table} ({cols})")
    total = 0
    for chunk in chunks:
        columns = zip(*chunk, strict=True)
        arrays = {n: _objects(c) for n, c in zip(names, columns, strict=True)}
        con.register("sw_chunk", arrays)
        _x(con, f"INSERT INTO {table} SELECT {', '.join(names)} FROM sw_chunk")
        con.unregister("sw_chunk")
        total += len(chunk)
    return total


def _objects(values: Sequence[Any]) -> Any:
    """A one-dimensional object array (``np.array`` would make lists a second axis)."""
    import numpy as np

    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def stage_fingerprints(
    con: Any,
    ledger_key: bytes,
    canary_user_ids: Iterable[str],
    cache: DirectoryCache | None = None,
) -> None:
    """``dir``: each directory user's subject fingerprint (user_id, fp; org, role and
    country are read from ``people`` where needed, not copied); ``orgfp``: each
    directory org's fingerprint; ``canary``: the canaries' fingerprints. The users'
    fingerprints come from ``cache`` when it holds them for this directory and key."""
    params = fingerprint_params(ledger_key)
    value = (f"unhex({fingerprint_sql('user_id')})", params)
    stage_keyed(con, cache, "dir", "fingerprints", ledger_key, value)
    _x(con, "ALTER TABLE dir RENAME v TO fp")
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE orgfp AS SELECT org_id,
          unhex({fingerprint_sql("org_id")}) AS fp
        FROM (SELECT DISTINCT org_id FROM people WHERE org_id IS NOT NULL)""",
        params,
    )
    load_columns(con, "canary_ids", ("user_id",), ("VARCHAR",), [(c,) for c in canary_user_ids])
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE canary AS SELECT DISTINCT user_id,
          unhex({fingerprint_sql("user_id")}) AS fp FROM canary_ids""",
        params,
    )


class _Strings:
    """Sorted, FIELD_SEP-joined lists by small integer id (0 is the empty list): DuckDB
    carries ids through the joins, and the strings are joined in once, when written."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {"": 0}

    def id(self, items: Iterable[str]) -> int:
        text = SEP.join(sorted(set(items)))
        return self.ids.setdefault(text, len(self.ids))

    def texts(self) -> list[str]:
        """Every list so far, by id."""
        return list(self.ids)

    def stage(self, con: Any) -> None:
        load_columns(
            con, "strs", ("id", "s"), ("INTEGER", "VARCHAR"), [(i, t) for t, i in self.ids.items()]
        )


def _raw_ids(con: Any, source: str, column: str, table: str) -> list[str]:
    """``table(raw, rid)``: an id for each distinct value of ``source``.``column``."""
    raws = [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {source}").fetchall()]
    load_columns(
        con, table, ("raw", "rid"), ("VARCHAR", "INTEGER"), [(r, i) for i, r in enumerate(raws)]
    )
    return raws


def build_scope(con: Any, categories: dict[str, str]) -> dict[str, object]:
    """Exposures as view ``ex`` from ``led``/``links``/``sorg`` (the ledger, see
    ``ledger_query.stage_ledger``), the directory tables and ``hits``; the summary.

    Field sets travel as small integers: a million rows of 150-character strings,
    copied through five joins, made DuckDB spill at its memory limit."""
    strs = _Strings()
    raws = _raw_ids(con, "led", "fields", "led_fs")
    # One row per person: a subject stitched to a user is folded into the user's row.
    # Only subjects that links name (as alias or as person) are grouped; the rest, most
    # of a million, are one row each already.
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE linked AS
        SELECT alias AS subject FROM links UNION SELECT person FROM links""",
    )
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE person AS
        SELECT l.subject, l.kind, [r.rid] AS rids, l.first_seen, l.last_seen
        FROM led l JOIN led_fs r ON r.raw = l.fields ANTI JOIN linked k ON k.subject = l.subject
        UNION ALL
        SELECT coalesce(k.person, l.subject) AS subject,
          max(CASE WHEN k.person IS NULL THEN l.kind ELSE k.pkind END) AS kind,
          list_sort(list_distinct(list(r.rid))) AS rids, min(l.first_seen) AS first_seen,
          max(l.last_seen) AS last_seen
        FROM led l JOIN led_fs r ON r.raw = l.fields SEMI JOIN linked s ON s.subject = l.subject
        LEFT JOIN links k ON k.alias = l.subject GROUP BY 1""",
    )
    _x(con, "DROP TABLE linked")
    _x(con, "DROP TABLE led")
    rows = []
    for (rids,) in con.execute("SELECT DISTINCT rids FROM person").fetchall():
        fields = {f for rid in rids for f in _split(raws[rid])}
        cats = {categories.get(f, "unknown") for f in fields}
        rows.append((rids, strs.id(fields), strs.id(cats), not ORG_FIELDS.isdisjoint(fields)))
    load_columns(
        con,
        "pset",
        ("rids", "sid", "cid", "has_org"),
        ("INTEGER[]", "INTEGER", "INTEGER", "BOOLEAN"),
        rows,
    )
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE lex AS
        SELECT p.subject, coalesce(c.user_id, d.user_id) AS user_id,
          c.user_id IS NOT NULL AS canary, d.user_id IS NOT NULL AS in_dir, p.kind,
          f.sid, f.cid, f.has_org, p.first_seen, p.last_seen
        FROM person p JOIN pset f ON f.rids = p.rids
        LEFT JOIN canary c ON c.fp = p.subject LEFT JOIN dir d ON d.fp = p.subject""",
    )
    _x(con, "DROP TABLE person")
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE porg AS
        SELECT coalesce(k.person, s.subject) AS subject, o.org_id
        FROM sorg s LEFT JOIN links k ON k.alias = s.subject JOIN orgfp o ON o.fp = s.org""",
    )
    _x(con, "DROP TABLE sorg")
    _file_side(con, strs)
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE j AS
        SELECT coalesce(l.subject, h.subject) AS subject,
          CASE WHEN l.subject IS NULL THEN h.user_id ELSE l.user_id END AS user_id,
          CASE WHEN h.subject IS NULL THEN l.user_id ELSE h.user_id END AS person,
          CASE WHEN l.subject IS NULL THEN h.canary ELSE l.canary END AS canary,
          CASE WHEN l.subject IS NULL THEN 'file' WHEN h.subject IS NULL THEN 'ledger'
               ELSE 'both' END AS provenance,
          coalesce(l.sid, 0) AS sid, coalesce(l.cid, 0) AS lc, coalesce(h.hc, 0) AS hc,
          coalesce(h.ff, 0) AS ff,
          coalesce(l.has_org, false) OR coalesce(h.has_org, false) AS has_org,
          l.first_seen, l.last_seen
        FROM lex l FULL OUTER JOIN hs h ON h.subject = l.subject""",
    )
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE j2 AS
        SELECT j.*, d.role, d.org_id AS dir_org
        FROM j LEFT JOIN people d ON d.user_id = j.person""",
    )
    _x(con, "DROP TABLE j")
    _tiers(con, strs)
    # Org ids: the ledger's (named through the directory's orgs) and the directory's own
    # for a person the ledger knows; the directory's alone for a file-only person.
    # Nearly everyone has one org (as often as not named twice): min = max settles
    # those, and only the others pay for a sorted list (half the CPU of listing all).
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE eorg AS
        WITH u AS MATERIALIZED (
          SELECT subject, org_id FROM porg
          UNION ALL SELECT subject, dir_org FROM j2
          WHERE dir_org IS NOT NULL AND provenance <> 'file'),
        g AS MATERIALIZED (
          SELECT subject, min(org_id) AS lo, max(org_id) AS hi FROM u GROUP BY subject)
        SELECT subject, lo AS o FROM g WHERE lo = hi
        UNION ALL
        SELECT subject, array_to_string(list_sort(list_distinct(list(org_id))), chr(31))
        FROM u WHERE subject IN (SELECT subject FROM g WHERE lo <> hi) GROUP BY subject""",
    )
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE jt AS
        SELECT j2.subject, j2.user_id, j2.canary, j2.provenance, j2.sid, t.cid, t.tier,
          j2.ff, j2.first_seen, j2.last_seen,
          CASE WHEN j2.provenance = 'file' THEN coalesce(j2.dir_org, '')
               ELSE coalesce(eorg.o, '') END AS org_ids
        FROM j2 JOIN tiers t ON t.lc = j2.lc AND t.hc = j2.hc AND t.has_org = j2.has_org
          AND t.role IS NOT DISTINCT FROM j2.role
        LEFT JOIN eorg ON eorg.subject = j2.subject""",
    )
    _x(con, "DROP TABLE j2; DROP TABLE eorg; DROP TABLE porg")
    strs.stage(con)
    _x(
        con,
        """CREATE OR REPLACE TEMP VIEW ex AS
        SELECT lower(hex(jt.subject)) AS subject, jt.user_id, jt.org_ids,
          c.s AS categories, f.s AS fields, jt.provenance, jt.tier AS risk_tier,
          jt.first_seen, jt.last_seen, jt.canary, ff.s AS file_fields
        FROM jt JOIN strs c ON c.id = jt.cid JOIN strs f ON f.id = jt.sid
        JOIN strs ff ON ff.id = jt.ff""",
    )
    return _summary(con, strs)


def _file_side(con: Any, strs: _Strings) -> None:
    """``hs``: the file's hits, one row per subject, with ids of their file fields
    (``ff``) and categories (``hc``) and whether the fields name an org."""
    ffs = _raw_ids(con, "hits", "ff", "hit_ff")
    hcs = _raw_ids(con, "hits", "hc", "hit_hc")
    # Nearly every subject is one hit (a user is matched, or a canary): only subjects
    # with several pay for lists of distinct ids; the others pass as they are.
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE hs0 AS
        WITH x AS MATERIALIZED (
          SELECT h.subject, h.user_id, h.canary, f.rid AS f, c.rid AS c
          FROM hits h JOIN hit_ff f ON f.raw = h.ff JOIN hit_hc c ON c.raw = h.hc),
        several AS MATERIALIZED (SELECT subject FROM x GROUP BY subject HAVING count(*) > 1)
        SELECT subject, user_id, canary, [f] AS fr, [c] AS cr
        FROM x ANTI JOIN several s ON s.subject = x.subject
        UNION ALL
        SELECT x.subject, min(user_id), bool_or(canary), list_sort(list_distinct(list(f))),
          list_sort(list_distinct(list(c)))
        FROM x SEMI JOIN several s ON s.subject = x.subject GROUP BY x.subject""",
    )
    rows = []
    for fr, cr in con.execute("SELECT DISTINCT fr, cr FROM hs0").fetchall():
        fields = {f for rid in fr for f in _split(ffs[rid])}
        cats = {c for rid in cr for c in _split(hcs[rid])}
        rows.append((fr, cr, strs.id(fields), strs.id(cats), not ORG_FIELDS.isdisjoint(fields)))
    load_columns(
        con,
        "hset",
        ("fr", "cr", "ff", "hc", "has_org"),
        ("INTEGER[]", "INTEGER[]", "INTEGER", "INTEGER", "BOOLEAN"),
        rows,
    )
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE hs AS
        SELECT h.subject, h.user_id, h.canary, s.ff, s.hc, s.has_org
        FROM hs0 h JOIN hset s ON s.fr = h.fr AND s.cr = h.cr""",
    )


def _tiers(con: Any, strs: _Strings) -> None:
    """The categories and risk tier of each distinct (ledger categories, file
    categories, org shown, directory role), computed once each."""
    texts = strs.texts()
    rows = []
    combos = con.execute("SELECT DISTINCT lc, hc, has_org, role FROM j2").fetchall()
    for lc, hc, has_org, role in combos:
        cats = {*_split(texts[lc]), *_split(texts[hc])}
        tier, _ = risk_tier(sorted(cats), has_org=bool(has_org), role=role)
        rows.append((lc, hc, has_org, role, strs.id(cats), tier))
    load_columns(
        con,
        "tiers",
        ("lc", "hc", "has_org", "role", "cid", "tier"),
        ("INTEGER", "INTEGER", "BOOLEAN", "VARCHAR", "INTEGER", "VARCHAR"),
        rows,
    )


def _summary(con: Any, strs: _Strings) -> dict[str, object]:
    """The counts ``incident scope --json`` prints; canaries are counted apart. A
    million people share a few hundred (categories, tier, provenance) keys and org
    lists: count those in DuckDB, then spread them here."""
    categories: Counter[str] = Counter()
    combos: Counter[str] = Counter()
    tiers: Counter[str] = Counter({"high": 0, "medium": 0, "low": 0})
    provenance: Counter[str] = Counter({"ledger": 0, "file": 0, "both": 0})
    texts = strs.texts()
    for cid, tier, prov, n in con.execute(
        "SELECT cid, tier, provenance, count(*) FROM jt WHERE NOT canary "
        "GROUP BY ALL ORDER BY 1, 2, 3"
    ).fetchall():
        cats = texts[cid]
        for c in _split(cats):
            categories[c] += n
        combos[cats.replace(SEP, "+") or "(none)"] += n
        tiers[tier] += n
        provenance[prov] += n
    orgs: Counter[str] = Counter()
    for ids, n in con.execute(
        "SELECT org_ids, count(*) FROM jt WHERE NOT canary AND org_ids <> '' GROUP BY 1 ORDER BY 1"
    ).fetchall():
        for o in _split(ids):
            orgs[o] += n
    real, named, in_dir, canaries = con.execute(
        """SELECT count(*) FILTER (NOT canary), count(jt.user_id) FILTER (NOT canary),
          count(d.user_id) FILTER (NOT canary), count(*) FILTER (canary)
        FROM jt LEFT JOIN people d ON d.user_id = jt.user_id"""
    ).fetchall()[0]
    countries = con.execute(
        """SELECT coalesce(d.country, 'unknown'), count(*) FROM jt
        JOIN people d ON d.user_id = jt.user_id WHERE NOT jt.canary GROUP BY 1 ORDER BY 2 DESC, 1"""
    ).fetchall()
    # Users the ledger knows but the directory cannot name (canaries aside).
    unnamed_users, canary_users = con.execute(
        "SELECT count(*) FILTER (NOT in_dir), count(*) FILTER (canary) FROM lex WHERE kind = 'user'"
    ).fetchall()[0]
    unnamed = max(0, int(unnamed_users) - int(canary_users))
    return {
        "subjects": int(real),
        "users": int(named) + unnamed,
        "named": int(in_dir),
        "unnamed": unnamed,
        "orgs": len(orgs),
        "anonymous": int(real) - int(named) - unnamed,
        "canaries": int(canaries),
        "categories": dict(categories.most_common()),
        "field_combinations": dict(combos.most_common()),
        "risk_tiers": dict(tiers),
        "provenance": dict(provenance),
        "countries": {str(c): int(n) for c, n in countries},
        "top_orgs": dict(orgs.most_common(20)),
    }
