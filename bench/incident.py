"""Benchmark incident response: scope from a big ledger, match a big leaked file.

    python bench/incident.py --dir DIR [--subjects 1000000] [--rows 10000000]
        [--skip scope,match,classify,floor] [--profile scope|match] [--repeat N] [--cold]

Builds (once, cached under DIR and reused) a SQLite ledger of SUBJECTS subjects x 2
vendors x 15 fields, a directory CSV of SUBJECTS users, and a ROWS-row leaked CSV: a
mix of rows matching by email (messy case and spaces), by user id and by pseudonym,
unknown rows, and a few corrupted rows (ragged, latin-1). Then times, each in a fresh
child process (so peak RSS, from /proc/self/status VmHWM, is the step's own, not that
of the processes it starts; CPU seconds include those, e.g. the SQLite ledger reader):

* ``scope``: ``run_scope`` (ledger query, directory, exposures, risk, version saved);
* ``match``: ``run_match`` (parse, normalise, classify, fingerprint step, provenance
  re-scope, outcomes CSV and version written): the whole ``incident match``;
* ``classify``: ``match_file`` alone (the DuckDB part of ``match``);
* ``reader``: ``load_leaked`` alone under the 1 GB DuckDB limit: the check that the
  reader streams (its peak must stay near the limit whatever the file's size; the
  result line says ``streams: false`` past 1.5 GB);
* ``floor``: a bare DuckDB join of the leaked CSV to the directory on
  ``lower(trim(email))``: what reading and joining the two files costs at least.

``scope`` and ``match`` keep the directory's keyed values (user id fingerprints,
pseudonyms) in a cache under DIR (``cache/directory`` beside ``keys``): the first run
after the data is built fills it, later runs read it. ``--cold`` deletes it before
each step, to time the first run after a directory or key change.

Imports are not timed. ``tree_mb`` (scope, match) is the highest RSS of the step's
process and its children together, sampled every 20 ms: the ledger reader runs beside
the step. The sampler's own CPU is left out of the step's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

VENDORS = ("mixpanel", "mixpanel_eu")
FIELDS = (
    "distinct_id", "$email", "$name", "$browser", "$os", "$city", "mp_country_code",
    "$current_url", "org_id", "$device_id", "$screen_width", "$referrer", "$region",
    "$timezone", "utm_source",
)  # fmt: skip
ORGS = 50_000
T0 = 1_760_000_000.0
DAY = 86_400.0
COUNTRIES = ("DE", "FR", "US-CA", "US-NY", "GB", "NL", "BR", "JP")


# -- data ------------------------------------------------------------------------------


def _config(base: Path) -> object:
    from seawall.core.config import parse_config

    vendor = {
        "kind": "mixpanel",
        "endpoint": "http://127.0.0.1:9",
        "token": "vendor-token",
        "contract": {"retention_days": 365},
        "policy": {"default": "drop", "rules": [{"field": "event", "action": "keep"}]},
    }
    data = {
        "database": f"sqlite:///{base / 'seawall.db'}",
        "keys_dir": str(base / "keys"),
        "sources": {"web": {"kind": "mixpanel", "token": "web", "destinations": list(VENDORS)}},
        "vendors": dict.fromkeys(VENDORS, vendor),
        "directory": {"kind": "csv", "path": "users.csv"},
        "canary": {"domain": "canary.example.com"},
    }
    return parse_config(data, base_dir=str(base))


def _uid(i: int) -> str:
    return f"user-{i:07d}"


def _email(i: int) -> str:
    return f"person{i}@corp{i % ORGS}.example.com"


def build_directory(base: Path, n: int) -> None:
    path = base / "users.csv"
    if path.exists():
        return
    import duckdb

    tmp = path.with_suffix(".tmp")
    duckdb.sql(
        f"""COPY (SELECT 'user-' || lpad(i::VARCHAR, 7, '0') AS user_id,
          'person' || i || '@corp' || (i % {ORGS}) || '.example.com' AS email,
          'Person ' || i AS name, 'org-' || (i % {ORGS}) AS org_id,
          CASE WHEN i % 50 = 0 THEN 'admin' ELSE 'member' END AS role, 'en' AS locale,
          {list(COUNTRIES)}[1 + i % {len(COUNTRIES)}] AS country
        FROM range({n}) t(i) ORDER BY i) TO '{tmp}' (HEADER, DELIMITER ',', FORMAT csv)"""
    )
    tmp.rename(path)


def build_ledger(base: Path, n: int) -> None:
    """Subject i: user i, except every 10th, which is a device id (half of those stitched
    to user i). Each subject has 15 fields at both vendors."""
    done = base / "ledger.done"
    if done.exists():
        return
    from seawall.core.keys import KeyRing
    from seawall.incident.keyed import fingerprints
    from seawall.policy.catalogue import category_of
    from seawall.storage.database import open_database

    cfg = _config(base)
    db = open_database(cfg.database)  # type: ignore[attr-defined]
    db.close()
    key = KeyRing(base / "keys").ledger_key()
    for v in VENDORS:
        KeyRing(base / "keys").vendor_key(v)
    ids = [f"dev-{i:07d}" if i % 10 == 0 else _uid(i) for i in range(n)]
    subjects = fingerprints(key, ids)
    user_fp = fingerprints(key, [_uid(i) for i in range(0, n, 10)])
    org_fp = fingerprints(key, [f"org-{k}" for k in range(ORGS)])
    email_fp = fingerprints(key, [_email(i) for i in range(n)])
    cats = [category_of("mixpanel", f) for f in FIELDS]
    order = sorted(range(n), key=subjects.__getitem__)
    con = sqlite3.connect(base / "seawall.db")
    con.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-400000")
    rng = random.Random(4)

    def fields(vendor: str):  # type: ignore[no-untyped-def]
        for i in order:
            s, t = subjects[i], T0 + (i % 300) * DAY
            for f, c in zip(FIELDS, cats, strict=True):
                yield (vendor, s, f, c, t, t + DAY, 3, s)

    t = time.perf_counter()
    for v in VENDORS:
        con.executemany("INSERT INTO ledger_fields VALUES (?,?,?,?,?,?,?,?)", fields(v))
        con.executemany(
            "INSERT INTO ledger_values VALUES (?,?,?,?,?,?)",
            ((v, subjects[i], "$email", email_fp[i], T0, T0) for i in order if i % 10),
        )
    con.executemany(
        "INSERT INTO ledger_subjects VALUES (?,?,?)",
        ((subjects[i], "anonymous" if i % 10 == 0 else "user", T0) for i in order),
    )
    # Half the device ids are stitched to their user (whose own subject is not in the
    # ledger: the user subject is named through the link).
    con.executemany(
        "INSERT INTO identity_links VALUES (?,?,?)",
        ((subjects[i], user_fp[i // 10], T0) for i in range(0, n, 20)),
    )
    con.executemany(
        "INSERT INTO subject_orgs VALUES (?,?,?)",
        ((subjects[i], org_fp[i % ORGS], T0) for i in range(n) if i % 10),
    )
    con.commit()
    con.close()
    rng.random()
    print(f"  ledger built in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    _backfill(base)
    done.touch()


def _backfill(base: Path) -> None:
    """The per-(vendor, subject) summary the ledger writer keeps, built from the field
    rows as migration 0005 does for an existing ledger (timed: that is its cost)."""
    from seawall.ledger.store import backfill_people
    from seawall.storage.database import open_database

    db = open_database(_config(base).database, migrate=False)  # type: ignore[attr-defined]
    t, c = time.perf_counter(), time.process_time()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM ledger_people")
        backfill_people(conn)
    db.close()
    with sqlite3.connect(base / "seawall.db") as con:
        con.execute("ANALYZE")
    print(
        f"  ledger_people backfilled in {time.perf_counter() - t:.0f} s "
        f"({time.process_time() - c:.0f} s CPU)",
        file=sys.stderr,
    )


def _upgrade(base: Path) -> None:
    """A ledger cached by an older bench: bring its schema up (migration 0005 backfills
    the summary; timed: that is what upgrading a ledger this size costs)."""
    from seawall.storage.database import open_database

    with sqlite3.connect(base / "seawall.db") as con:
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'ledger_people'").fetchall():
            return
    t, c = time.perf_counter(), time.process_time()
    open_database(_config(base).database).close()  # type: ignore[attr-defined]
    print(
        f"  schema upgraded (ledger_people backfilled) in {time.perf_counter() - t:.0f} s "
        f"({time.process_time() - c:.0f} s CPU)",
        file=sys.stderr,
    )


def build_leak(base: Path, n: int, rows: int) -> Path:
    """40 % email (messy case/space), 20 % user id, 20 % pseudonym, 20 % unknown, then
    a few corrupted rows spread through the file."""
    path = base / f"leak-{rows}.csv"
    if path.exists():
        return path
    import duckdb

    from seawall.core.keys import KeyRing
    from seawall.incident.keyed import pseudonyms

    vkey = KeyRing(base / "keys").vendor_key(VENDORS[0])
    pseudo = base / "pseudo.csv"
    with pseudo.open("w") as fh:
        fh.write("i,p\n")
        for i, p in enumerate(pseudonyms(vkey, [_uid(i) for i in range(n)])):
            fh.write(f"{i},{p}\n")
    body = base / "leak.body"
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"CREATE TABLE ps AS SELECT * FROM read_csv('{pseudo}', header=true)")
    con.execute(
        f"""COPY (
        WITH g AS (SELECT k, (k * 7919) % {n} AS i, k % 10 AS kind FROM range({rows}) t(k)),
        h AS (SELECT g.*, ps.p FROM g LEFT JOIN ps ON ps.i = g.i AND g.kind IN (6, 7))
        SELECT
          CASE WHEN kind IN (4, 5) THEN 'user-' || lpad(i::VARCHAR, 7, '0')
               WHEN kind IN (6, 7) THEN p
               WHEN kind >= 8 THEN 'ext-' || k END AS distinct_id,
          CASE WHEN kind < 4 THEN
                 CASE k % 4 WHEN 0 THEN upper('person' || i || '@corp' || (i % {ORGS}))
                                        || '.EXAMPLE.com'
                            WHEN 1 THEN '  person' || i || '@Corp' || (i % {ORGS})
                                        || '.example.com '
                            WHEN 2 THEN chr(9) || 'Person' || i || '@corp' || (i % {ORGS})
                                        || '.example.com'
                            ELSE 'person' || i || '@corp' || (i % {ORGS}) || '.example.com' END
               WHEN kind >= 8 THEN 'nobody' || k || '@elsewhere.example.org' END AS "$email",
          'Person ' || i AS "$name", 'Berlin' AS "$city"
        FROM h ORDER BY k
        ) TO '{body}' (HEADER, DELIMITER ',', FORMAT csv)"""
    )
    con.close()
    corrupt = [b"broken,row,with,too,many,columns\n", b"caf\xe9,latin1@example.com,x,y\n"]
    every = max(1, rows // 5)
    with body.open("rb") as src, path.open("wb") as dst:
        for k, line in enumerate(src):
            dst.write(line)
            if k and k % every == 0:
                dst.write(corrupt[(k // every) % 2])
    body.unlink()
    pseudo.unlink()
    return path


# -- children ----------------------------------------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process and of the child processes it waited for (scope reads
    a SQLite ledger in a child process)."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _tree_rss_kb(pid: int) -> int:
    """RSS of ``pid`` and of every process under it (0 for one that has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        kids = [
            int(k)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for k in (task / "children").read_text().split()
        ]
    except OSError:
        return 0
    rss = next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:")), 0)
    return rss + sum(_tree_rss_kb(k) for k in kids)


class TreePeak:
    """The highest RSS of this process and its children together, sampled every 20 ms
    (a child such as the ledger reader may run while this process is at its peak)."""

    def __init__(self) -> None:
        import threading

        self.peak_kb = 0
        self.cpu_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(os.getpid()))
        self.cpu_s = time.thread_time()

    def stop(self) -> tuple[float, float]:
        """(peak MB, the sampler's own CPU seconds, to leave out of the step's)."""
        self._stop.set()
        self._thread.join()
        return round(self.peak_kb / 1024), self.cpu_s


def child(step: str, base: Path, leak: Path, profile: bool) -> None:
    from seawall.incident.directory import read_directory
    from seawall.incident.match import match_file
    from seawall.incident.run import run_match, run_scope
    from seawall.incident.store import IncidentStore
    from seawall.storage.database import open_database

    cfg = _config(base)
    extra: dict[str, object] = {}
    prof = None
    if profile:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.005)
    if step == "floor":
        import duckdb

        t, c = time.perf_counter(), _cpu()
        (matches,) = duckdb.execute(
            f"""SELECT count(*) FROM read_csv('{leak}', all_varchar=true, ignore_errors=true) l
            JOIN read_csv('{base / "users.csv"}', all_varchar=true) d
              ON lower(trim(l."$email")) = lower(trim(d.email))"""
        ).fetchall()[0]
        extra["matches"] = matches
    elif step == "reader":
        import tempfile

        import duckdb

        from seawall.incident.leaked import load_leaked

        con = duckdb.connect()
        con.execute("SET memory_limit = '1GB'")
        con.execute(f"SET temp_directory = '{tempfile.mkdtemp(dir=base)}'")
        t, c = time.perf_counter(), _cpu()
        lf = load_leaked(con, leak)
        extra.update({"rows": lf.rows, "invalid": lf.bad, "streams": _peak_mb() < 1536})
    elif step == "classify":
        from seawall.core.keys import KeyRing

        keys = KeyRing(base / "keys")
        t, c = time.perf_counter(), _cpu()
        people = {p.user_id: p for p in read_directory(cfg)}  # type: ignore[arg-type]
        extra["directory_s"] = round(time.perf_counter() - t, 2)
        if prof:
            prof.start()
        result = match_file(
            leak,
            people,
            vendor_key=keys.vendor_key(VENDORS[0]),
            ledger_key=keys.ledger_key(),
            outcomes=base / "outcomes.csv",
        )
        extra.update({k: result.summary()[k] for k in ("rows", "matched", "unknown", "invalid")})
    else:
        db = open_database(cfg.database, migrate=False)  # type: ignore[attr-defined]
        store = IncidentStore(db)
        inc = store.open(VENDORS[0], aware_at=T0 + 310 * DAY)
        tree = TreePeak()
        t, c = time.perf_counter(), _cpu()
        if prof:
            prof.start()
        if step == "scope":
            run = run_scope(cfg, db, inc.id)  # type: ignore[arg-type]
            extra.update({k: run.summary[k] for k in ("subjects", "users", "anonymous")})
        else:
            result, run = run_match(cfg, db, inc.id, leak, outcomes=base / "outcomes.csv")  # type: ignore[arg-type]
            s = result.summary()
            extra.update({k: s[k] for k in ("rows", "matched", "unknown", "invalid", "by_method")})
            extra["provenance"] = run.summary["provenance"]
        elapsed, cpu = time.perf_counter() - t, _cpu() - c
        extra["tree_mb"], sampler_cpu = tree.stop()
        cpu -= sampler_cpu
        # Not timed: drop this run's versions so that repeated runs do not grow the file.
        with sqlite3.connect(base / "seawall.db") as lite:
            for table in (
                "incident_exposures",
                "incident_scope_files",
                "incident_scopes",
                "incident_timeline",
            ):
                lite.execute(f"DELETE FROM {table} WHERE incident = ?", [inc.id])
        db.close()
        print(
            json.dumps(
                {
                    "seconds": elapsed,
                    "cpu_s": round(cpu, 2),
                    "peak_mb": _peak_mb(),
                    **extra,
                }
            )
        )
        _dump_profile(prof, base, step)
        return
    elapsed, cpu = time.perf_counter() - t, _cpu() - c
    print(json.dumps({"seconds": elapsed, "cpu_s": round(cpu, 2), "peak_mb": _peak_mb(), **extra}))
    _dump_profile(prof, base, step)


def _dump_profile(prof: object, base: Path, step: str) -> None:
    if prof is None:
        return
    prof.stop()  # type: ignore[attr-defined]
    out = base / f"profile-{step}.txt"
    out.write_text(prof.output_text(unicode=False, color=False, show_all=False))  # type: ignore[attr-defined]
    print(f"  profile written to {out}", file=sys.stderr)


def run_child(step: str, base: Path, leak: Path, profile: bool) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", step, "--base", str(base), "--leak", str(leak)]
    if profile:
        cmd.append("--profile-child")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    sys.stderr.write(proc.stderr)
    if proc.returncode:
        raise SystemExit(f"{step} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, help="cache folder for the generated data")
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--skip", default="", help="comma list of steps not to run")
    ap.add_argument("--profile", default="", help="comma list of steps to profile")
    ap.add_argument("--repeat", type=int, default=1, help="runs per step (best is shown)")
    ap.add_argument("--cold", action="store_true", help="empty the directory cache first")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--base", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--leak", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--profile-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.base, args.leak, args.profile_child)
        return
    if args.dir is None:
        ap.error("--dir is required (a folder to cache the generated data in)")
    base = args.dir / f"s{args.subjects}"
    base.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    build_directory(base, args.subjects)
    build_ledger(base, args.subjects)
    _upgrade(base)
    leak = build_leak(base, args.subjects, args.rows)
    print(
        f"data ready in {time.perf_counter() - t:.0f} s: ledger "
        f"{(base / 'seawall.db').stat().st_size / 1e9:.2f} GB, leaked file "
        f"{leak.stat().st_size / 1e6:.0f} MB",
        file=sys.stderr,
    )
    skip = set(filter(None, args.skip.split(",")))
    prof = set(filter(None, args.profile.split(",")))
    goals = {
        "scope": "< 2 s",
        "match": "< 6 s, < 1024 MB",
        "classify": "",
        "reader": "",
        "floor": "",
    }
    print(f"{args.subjects:,} subjects x {len(VENDORS)} vendors x {len(FIELDS)} fields; "
          f"leaked file {args.rows:,} rows; {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'step':<10}{'seconds':>9}{'CPU s':>8}{'peak MB':>9}  goal              result")
    for step in ("scope", "match", "classify", "reader", "floor"):
        if step in skip:
            continue
        runs = []
        for _ in range(args.repeat):
            if args.cold:
                shutil.rmtree(base / "cache" / "directory", ignore_errors=True)
            runs.append(run_child(step, base, leak, step in prof))
        best = min(runs, key=lambda r: float(r["seconds"]))  # type: ignore[arg-type]
        rest = {k: v for k, v in best.items() if k not in ("seconds", "cpu_s", "peak_mb")}
        print(
            f"{step:<10}{best['seconds']:>9.2f}{best['cpu_s']:>8.2f}{best['peak_mb']:>9.0f}  "
            f"{goals[step]:<18}"
            f"{json.dumps(rest)}"
        )


if __name__ == "__main__":
    main()
