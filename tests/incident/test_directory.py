"""The directory reader: CSV and SQL sources, and errors that name the source and the fix."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from seawall.incident.directory import Person, read_csv_directory, read_sql_directory
from seawall.incident.errors import DirectoryError


def test_csv(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(
        "\ufeffUser_ID, Email ,name,org_id,role,locale,country\n"
        "u1, a@example.com ,Ann,o1,owner,en,us-ca\n"
        ",nobody@example.com,,,,,\n"  # no user id: not a person
        "u2,,Bob,,,,\n",
        encoding="utf-8",
    )
    assert list(read_csv_directory(path)) == [
        Person("u1", "a@example.com", "Ann", "o1", "owner", "en", "US-CA"),
        Person("u2", None, "Bob", None, None, None, None),
    ]


def test_csv_optional_columns_and_short_rows(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("email,user_id,country\n a@example.com ,u1\n,u2, de \n", encoding="utf-8")
    assert list(read_csv_directory(path)) == [
        Person("u1", "a@example.com", None, None, None, None, None),
        Person("u2", None, None, None, None, None, "DE"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"id,mail\nu1,a@example.com\n", "no column user_id, email"),
        (b"user_id,name\nu1,A\n", "no column email"),
        (b"", "no column user_id, email (found: none)"),
        (b"user_id,email\nu1,a@example.com\ncaf\xe9,b@example.com\n", "line 3: not UTF-8"),
    ],
)
def test_csv_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "users.csv"
    path.write_bytes(content)
    with pytest.raises(DirectoryError, match="Fix:") as err:
        list(read_csv_directory(path))
    assert message in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("make", [lambda p: p / "absent.csv", lambda p: p])
def test_unreadable_csv(tmp_path: Path, make: object) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(DirectoryError, match=r"cannot open .*Fix: check 'directory.path'"):
        list(read_csv_directory(path))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    path = tmp_path / "crm.db"
    con = sqlite3.connect(path)
    con.executescript(
        """CREATE TABLE accounts (id TEXT, mail TEXT, full_name TEXT, org INTEGER, land TEXT);
        INSERT INTO accounts VALUES ('u1', 'a@example.com', 'Ann', 7, 'de'),
                                    ('u2', NULL, NULL, NULL, NULL), (NULL, 'x', 'X', 1, 'FR');"""
    )
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def test_sql(sqlite_url: str) -> None:
    query = (
        "SELECT id AS user_id, mail AS email, full_name AS name, org AS org_id, "
        "land AS country FROM accounts"
    )
    assert list(read_sql_directory(sqlite_url, query)) == [
        Person("u1", "a@example.com", "Ann", "7", None, None, "DE"),
        Person("u2", None, None, None, None, None, None),
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT id, mail FROM accounts", "no column user_id, email (found: id, mail)"),
        ("SELECT * FROM missing_table", "directory query failed: OperationalError"),
        ("SELEKT 1", "directory query failed"),
    ],
)
def test_sql_errors(sqlite_url: str, query: str, message: str) -> None:
    with pytest.raises(DirectoryError, match="Fix:") as err:
        list(read_sql_directory(sqlite_url, query))
    assert message in str(err.value)


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://host/db"])
def test_bad_sql_url(url: str) -> None:
    with pytest.raises(DirectoryError, match=r"Fix: 'directory\.url'"):
        list(read_sql_directory(url, "SELECT 1"))


def test_unreachable_sql_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}"
    with pytest.raises(DirectoryError, match="directory query failed"):
        list(read_sql_directory(url, "SELECT 1 AS user_id, 2 AS email"))


@pytest.mark.parametrize(
    "content",
    [
        "\ufeffUser_ID, Email ,name,org_id,role,locale,country\n"
        "u1, a@example.com ,Ann,o1,owner,en,us-ca\n"
        ",nobody@example.com,,,,,\n"
        "u2,,Bob,,,,\n"
        "u1,late@example.com,Ann B,o2,admin,de,de\n",  # a repeated id: the last row wins
        "email,user_id,country\n a@example.com ,u1\n,u2, de \n",  # ragged: Python reads it
        'user_id,email,name\n"u,3","x@example.com","Doe, J."\n\tu4\t,\t ,"  "\n',
        "user_id,email\n,nobody@example.com\nu5,e@example.com\n",  # no id, no repeat
    ],
)
def test_duckdb_staging_reads_what_the_python_reader_reads(tmp_path: Path, content: str) -> None:
    import duckdb

    from seawall.incident.directory import stage_csv_directory

    path = tmp_path / "users.csv"
    path.write_text(content, encoding="utf-8")
    con = duckdb.connect()
    n = stage_csv_directory(con, path)
    staged = [Person(*r) for r in con.execute("SELECT * FROM people ORDER BY user_id").fetchall()]
    expected = {p.user_id: p for p in read_csv_directory(path)}
    assert n == len(expected)
    assert staged == [expected[k] for k in sorted(expected)]
