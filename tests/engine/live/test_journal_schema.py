"""Opening a journal: the schema comes from the migrations shipped in the package and matches the tables the
queries use; every connection gets the journal's SQLite settings; a newer journal, someone else's database,
a folder, an unreadable file or a file that is not SQLite is refused with its path named."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from engine.live.journal import Journal, JournalError
from engine.live.journal.database import WRITE, connect
from engine.live.journal.migrate import MIGRATIONS, head_revision
from engine.live.journal.schema import metadata

ROOT = Path(__file__).resolve().parents[3]


def test_a_new_journal_is_made_at_the_newest_revision_with_the_tables_the_queries_use(tmp_path):
    with Journal.open(tmp_path / "deep" / "folder" / "journal.sqlite") as journal:
        assert journal.revision == head_revision() == "0003"
    engine = connect(tmp_path / "deep" / "folder" / "journal.sqlite", 5.0)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        assert set(inspect(connection).get_table_names()) == {"alembic_version", "equity", "events", "fills", "orders",
                                                              "runner", "snapshots", "starts"}
    engine.dispose()


def test_every_connection_is_in_wal_mode_durable_patient_and_checks_foreign_keys(tmp_path):
    engine = connect(tmp_path / "journal.sqlite", 7.5)
    with engine.connect() as first, engine.connect() as second:  # two connections of the pool
        for connection in (first, second):
            settings = [connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                        for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")]
            assert settings == ["wal", 2, 7500, 1]  # synchronous 2 = FULL
    engine.dispose()


def test_an_interrupted_upgrade_leaves_no_table_behind(tmp_path):
    """The upgrade runs in one transaction, and SQLite's DDL is transactional: a process killed mid-upgrade
    leaves the journal as it was (here the transaction is rolled back instead of killed)."""
    engine = connect(tmp_path / "journal.sqlite", 5.0)
    with engine.execution_options(**WRITE).connect() as connection:
        transaction = connection.begin()
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("path_separator", "os")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        assert "orders" in inspect(connection).get_table_names()
        transaction.rollback()
    with engine.connect() as connection:
        assert inspect(connection).get_table_names() == []
    engine.dispose()
    with Journal.open(tmp_path / "journal.sqlite") as journal:
        assert journal.revision == head_revision()


def test_opening_a_current_journal_writes_nothing(tmp_path):
    path = tmp_path / "journal.sqlite"
    Journal.open(path).close()
    stamp = path.stat().st_mtime_ns, path.read_bytes()
    for _ in range(2):
        Journal.open(path).close()
    assert (path.stat().st_mtime_ns, path.read_bytes()) == stamp


def test_a_journal_from_a_newer_gauntlet_is_refused_untouched(tmp_path):
    path = tmp_path / "journal.sqlite"
    Journal.open(path).close()
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = '0042'")
    before = path.read_bytes()
    with pytest.raises(JournalError) as refused:
        Journal.open(path)
    assert str(path) in str(refused.value) and "0042" in str(refused.value) and head_revision() in str(refused.value)
    assert "newer gauntlet" in str(refused.value)
    assert path.read_bytes() == before


def test_a_sqlite_database_that_is_not_a_journal_is_refused(tmp_path):
    path = tmp_path / "candles.sqlite"
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("CREATE TABLE candles (ts_ms INTEGER, close REAL)")
    with pytest.raises(JournalError, match="not a gauntlet journal") as refused:
        Journal.open(path)
    assert str(path) in str(refused.value) and "candles" in str(refused.value)


@pytest.mark.parametrize("make, words", [
    (lambda path: path.mkdir(), "is a folder"),
    (lambda path: path.write_text("ts_ms,close\n1,2\n"), "not a SQLite database"),
    (lambda path: os.mkfifo(path), "not a regular file"),
])
def test_a_path_that_cannot_be_a_journal_is_refused_by_name(tmp_path, make, words):
    path = tmp_path / "journal.sqlite"
    make(path)
    with pytest.raises(JournalError, match=words) as refused:
        Journal.open(path)
    assert str(path) in str(refused.value)


def test_an_unreadable_journal_is_refused_by_name(tmp_path):
    """As root, permissions do not stop a read: the check runs in a process without the capability to
    override them (setpriv), as an ordinary user would be."""
    path = tmp_path / "journal.sqlite"
    Journal.open(path).close()
    path.chmod(0)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]
    code = ("import sys\nfrom engine.live.journal import Journal, JournalError\ntry:\n    Journal.open(sys.argv[1])\n"
            "except JournalError as exc:\n    print(exc)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*(drop if os.geteuid() == 0 else []), sys.executable, "-c", code, str(path)],
                          capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == f"cannot read and write the journal {path}: Permission denied"
    assert done.stderr == ""


def test_a_journal_opens_by_url_too_and_a_url_never_shows_its_password(tmp_path):
    with Journal.open(f"sqlite:///{tmp_path / 'journal.sqlite'}") as journal:
        assert journal.where == str(tmp_path / "journal.sqlite")
    with pytest.raises(JournalError) as refused:  # no Postgres driver here: refused, by a name without the password
        Journal.open("postgresql://trader:hunter2@db.example/journal")
    assert "postgresql://trader:***@db.example/journal" in str(refused.value) and "hunter2" not in str(refused.value)


def test_the_cli_reports_a_bad_journal_in_one_line(tmp_path, capsys):
    import typer

    from research.cli import _guarded

    with pytest.raises(typer.Exit):
        _guarded(lambda: Journal.open(tmp_path))
    err = capsys.readouterr().err
    assert err.startswith("error:") and str(tmp_path) in err.replace("\n", "") and "Traceback" not in err


def test_the_migrations_ship_in_the_package(tmp_path):
    """What setuptools builds from the tree (as `pip install` does) holds env.py and every revision: they are
    modules of packages it finds, so no package data needs declaring."""
    done = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    built = tmp_path / MIGRATIONS.relative_to(ROOT)
    assert sorted(p.relative_to(built) for p in built.rglob("*.py")) == sorted(p.relative_to(MIGRATIONS)
                                                                             for p in MIGRATIONS.rglob("*.py"))
    assert (built / "versions" / "0001_initial.py").read_text() == (MIGRATIONS / "versions" / "0001_initial.py").read_text()
