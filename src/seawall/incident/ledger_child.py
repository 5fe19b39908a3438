"""Run as a script in a child process: read a SQLite ledger with ADBC into Parquet files.

``adbc-driver-sqlite`` links its own copy of SQLite, which must never share a process
with the copy Python's ``sqlite3`` uses (see ``ledger_arrow``). In a process of its own
its POSIX locks are real, so it reads safely beside the ledger writer. This file is run
by path, so it imports neither ``seawall`` nor ``sqlite3``.

Usage: ``python ledger_child.py DATABASE OUT_DIR`` with a JSON list of ``[name, sql]``
on standard input; writes ``OUT_DIR/name.parquet`` for each, or exits non-zero.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    import adbc_driver_manager
    import adbc_driver_sqlite
    import duckdb

    database, out = sys.argv[1], Path(sys.argv[2])
    queries = json.load(sys.stdin)
    adbc = adbc_driver_sqlite.connect(f"file:{Path(database).as_posix()}?mode=ro")
    conn = adbc_driver_manager.AdbcConnection(adbc)
    con = duckdb.connect()
    # Rows stream from the driver to the file: a small limit keeps this process small
    # while its parent holds the scope's own DuckDB memory.
    con.execute("SET memory_limit = '128MB'").fetchall()
    try:
        for name, sql in queries:
            stmt = adbc_driver_manager.AdbcStatement(conn)
            try:
                stmt.set_sql_query(sql)
                stream, _ = stmt.execute_query()
                con.register("sw_arrow", stream)
                target = str(out / f"{name}.parquet").replace("'", "''")
                con.execute(
                    f"COPY (SELECT * FROM sw_arrow) TO '{target}' "  # noqa: S608
                    "(FORMAT parquet, COMPRESSION uncompressed)"
                ).fetchall()
                con.unregister("sw_arrow")
            finally:
                stmt.close()
    finally:
        con.close()
        conn.close()
        adbc.close()


if __name__ == "__main__":
    main()
