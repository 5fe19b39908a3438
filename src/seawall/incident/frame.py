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
    import numpy as np

    cols = ", ".join(f"{n} {t}" for n, t in zip(names, types, strict=True))
    _x(con, f"CREATE OR REPLACE TEMP TABLE {table} ({cols})")
    total = 0
    for chunk in chunks:
        arrays = {
            n: np.array(c, dtype=object)
            for n, c in zip(names, zip(*chunk, strict=True), strict=True)
        }
        con.register("sw_chunk", arrays)
        _x(con, f"INSERT INTO {table} SELECT {', '.join(names)} FROM sw_chunk")
        con.unregister("sw_chunk")
        total += len(chunk)
    return total


def _chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def stage_fingerprints(con: Any, ledger_key: bytes, canary_user_ids: Iterable[str]) -> None:
    """``dir``: each directory user's subject fingerprint, org and role; ``orgfp``: each
    directory org's fingerprint; ``canary``: the canaries' fingerprints."""
    params = fingerprint_params(ledger_key)
    _x(
        con,
        f"""CREATE OR REPLACE TEMP TABLE dir AS SELECT user_id,
          unhex({fingerprint_sql("user_id")}) AS fp, org_id, role, country
        FROM people""",
        params,
    )
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


def _normalise_sets(con: Any, source: str, column: str, cats: dict[str, str] | None) -> None:
    """``{column}_n``: for each distinct raw joined set in ``source``.``column``, the set
    sorted and deduplicated, its categories (when ``cats``) and whether it names an org."""
    raws = [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {source}").fetchall()]
    rows = []
    for raw in raws:
        items = sorted(set(_split(raw)))
        cat = sorted({cats.get(f, "unknown") for f in items}) if cats is not None else []
        rows.append((raw, SEP.join(items), SEP.join(cat), not ORG_FIELDS.isdisjoint(items)))
    load_columns(
        con,
        f"{column}_n",
        ("raw", "items", "cats", "has_org"),
        ("VARCHAR", "VARCHAR", "VARCHAR", "BOOLEAN"),
        rows,
    )


def build_scope(con: Any, categories: dict[str, str]) -> dict[str, object]:
    """Exposures into table ``ex`` from ``led``/``links``/``sorg`` (the ledger, see
    ``ledger_query.stage_ledger``), the directory tables and ``hits``; the summary."""
    # One row per person: a subject stitched to a user is folded into the user's row.
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE person AS
        SELECT coalesce(k.person, l.subject) AS subject,
          max(CASE WHEN k.person IS NULL THEN l.kind ELSE k.pkind END) AS kind,
          string_agg(l.fields, chr(31)) AS raw, min(l.first_seen) AS first_seen,
          max(l.last_seen) AS last_seen
        FROM led l LEFT JOIN links k ON k.alias = l.subject GROUP BY 1""",
    )
    _normalise_sets(con, "person", "raw", categories)
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE porg AS
        SELECT DISTINCT coalesce(k.person, s.subject) AS subject, o.org_id
        FROM sorg s LEFT JOIN links k ON k.alias = s.subject JOIN orgfp o ON o.fp = s.org""",
    )
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE lex AS
        SELECT p.subject, coalesce(c.user_id, d.user_id) AS user_id,
          c.user_id IS NOT NULL AS canary, d.user_id IS NOT NULL AS in_dir, p.kind,
          f.items AS fields, f.cats, f.has_org, p.first_seen, p.last_seen
        FROM person p JOIN raw_n f ON f.raw IS NOT DISTINCT FROM p.raw
        LEFT JOIN canary c ON c.fp = p.subject LEFT JOIN dir d ON d.fp = p.subject""",
    )
    # The file side, one row per subject.
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE hs AS
        SELECT subject, min(user_id) AS user_id, bool_or(canary) AS canary,
          string_agg(ff, chr(31)) AS ff, string_agg(hc, chr(31)) AS hc
        FROM hits GROUP BY subject""",
    )
    _normalise_sets(con, "hs", "ff", None)
    _normalise_sets(con, "hs", "hc", None)
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE j AS
        SELECT coalesce(l.subject, h.subject) AS subject,
          CASE WHEN l.subject IS NULL THEN h.user_id ELSE l.user_id END AS user_id,
          CASE WHEN h.subject IS NULL THEN l.user_id ELSE h.user_id END AS person,
          CASE WHEN l.subject IS NULL THEN h.canary ELSE l.canary END AS canary,
          CASE WHEN l.subject IS NULL THEN 'file' WHEN h.subject IS NULL THEN 'ledger'
               ELSE 'both' END AS provenance,
          coalesce(l.fields, '') AS fields, coalesce(l.cats, '') AS lc,
          coalesce(hc.items, '') AS hc, coalesce(ff.items, '') AS file_fields,
          coalesce(l.has_org, false) OR coalesce(ff.has_org, false) AS has_org,
          l.first_seen, l.last_seen
        FROM lex l FULL OUTER JOIN hs h ON h.subject = l.subject
        LEFT JOIN ff_n ff ON ff.raw IS NOT DISTINCT FROM h.ff
        LEFT JOIN hc_n hc ON hc.raw IS NOT DISTINCT FROM h.hc""",
    )
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE j2 AS
        SELECT j.*, d.role, d.org_id AS dir_org
        FROM j LEFT JOIN people d ON d.user_id = j.person""",
    )
    _tiers(con)
    # Org ids: the ledger's (named through the directory's orgs) and the directory's own
    # for a person the ledger knows; the directory's alone for a file-only person.
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE eorg AS
        SELECT subject, array_to_string(list_sort(list_distinct(list(org_id))), chr(31)) AS o
        FROM (SELECT subject, org_id FROM porg
              UNION ALL SELECT subject, dir_org FROM j2
              WHERE dir_org IS NOT NULL AND provenance <> 'file')
        GROUP BY subject""",
    )
    _x(
        con,
        """CREATE OR REPLACE TEMP TABLE ex AS
        SELECT lower(hex(j2.subject)) AS subject, j2.user_id,
          CASE WHEN j2.provenance = 'file' THEN coalesce(j2.dir_org, '')
               ELSE coalesce(eorg.o, '') END AS org_ids,
          t.categories, j2.fields, j2.provenance, t.tier AS risk_tier, j2.first_seen,
          j2.last_seen, j2.canary, j2.file_fields
        FROM j2 JOIN tiers t ON t.lc = j2.lc AND t.hc = j2.hc AND t.has_org = j2.has_org
          AND t.role IS NOT DISTINCT FROM j2.role
        LEFT JOIN eorg ON eorg.subject = j2.subject""",
    )
    return _summary(con)


def _tiers(con: Any) -> None:
    """The categories and risk tier of each distinct (ledger categories, file
    categories, org shown, directory role), computed once each."""
    combos = con.execute("SELECT DISTINCT lc, hc, has_org, role FROM j2").fetchall()
    rows = []
    for lc, hc, has_org, role in combos:
        cats = sorted({*_split(lc), *_split(hc)})
        tier, _ = risk_tier(cats, has_org=bool(has_org), role=role)
        rows.append((lc, hc, has_org, role, SEP.join(cats), tier))
    load_columns(
        con,
        "tiers",
        ("lc", "hc", "has_org", "role", "categories", "tier"),
        ("VARCHAR", "VARCHAR", "BOOLEAN", "VARCHAR", "VARCHAR", "VARCHAR"),
        rows,
    )


def _summary(con: Any) -> dict[str, object]:
    """The counts ``incident scope --json`` prints; canaries are counted apart. A
    million people share a few hundred (categories, tier, provenance) keys and org
    lists: count those in DuckDB, then spread them here."""
    categories: Counter[str] = Counter()
    combos: Counter[str] = Counter()
    tiers: Counter[str] = Counter({"high": 0, "medium": 0, "low": 0})
    provenance: Counter[str] = Counter({"ledger": 0, "file": 0, "both": 0})
    for cats, tier, prov, n in con.execute(
        "SELECT categories, risk_tier, provenance, count(*) FROM ex WHERE NOT canary "
        "GROUP BY ALL ORDER BY 1, 2, 3"
    ).fetchall():
        for c in _split(cats):
            categories[c] += n
        combos[cats.replace(SEP, "+") or "(none)"] += n
        tiers[tier] += n
        provenance[prov] += n
    orgs: Counter[str] = Counter()
    for ids, n in con.execute(
        "SELECT org_ids, count(*) FROM ex WHERE NOT canary AND org_ids <> '' GROUP BY 1 ORDER BY 1"
    ).fetchall():
        for o in _split(ids):
            orgs[o] += n
    real, named, in_dir, canaries = con.execute(
        """SELECT count(*) FILTER (NOT canary), count(ex.user_id) FILTER (NOT canary),
          count(d.user_id) FILTER (NOT canary), count(*) FILTER (canary)
        FROM ex LEFT JOIN people d ON d.user_id = ex.user_id"""
    ).fetchall()[0]
    countries = con.execute(
        """SELECT coalesce(d.country, 'unknown'), count(*) FROM ex
        JOIN people d ON d.user_id = ex.user_id WHERE NOT ex.canary GROUP BY 1 ORDER BY 2 DESC, 1"""
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
