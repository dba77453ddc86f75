"""Versioned schema migrations: the numbered files in this folder, applied in order.

Each NNNN_what.py has upgrade(migrator), given playhouse.migrate's SchemaMigrator for the
database; it returns True when the leaderboard counters must be recounted from the reports
afterwards. The schema_migration table records each one applied; docs/operations.md says
how to write one.
"""
import functools
import importlib.util
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from peewee import CharField, DateTimeField, Model, SqliteDatabase
from playhouse.migrate import SchemaMigrator

from ..db import database, exclusive

FOLDER = Path(__file__).parent
LOCK = "migrations"


class Migration(Model):
    """A migration applied: its file's name without .py."""

    name = CharField(primary_key=True, max_length=100)
    applied_at = DateTimeField()

    class Meta:
        database = database
        table_name = "schema_migration"


def migration_files(folder=FOLDER):
    """The migrations in folder, in the order they apply."""
    return sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.py"))


@functools.cache
def load(path):
    """The module of a migration file (loaded once: a migration may use an earlier one's models)."""
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def apply_migrations(folder=FOLDER, report=lambda line: None):
    """Apply the migrations not yet recorded, one process at a time; returns their names.

    report(line) hears of each. A database made before migrations existed (tables, but no
    schema_migration) counts the first one, which creates the tables, as applied: the next
    one brings such a database to that schema.
    """
    applied, recount = [], False
    with exclusive(LOCK):
        if not database.table_exists(Migration._meta.table_name):
            made_before_migrations = database.table_exists("feedback")
            database.create_tables([Migration])
            if made_before_migrations:
                first = migration_files(folder)[0].stem
                Migration.create(name=first, applied_at=_utcnow())
                report(f"{first}: recorded as applied (the tables were made before migrations)")
        done = {name for (name,) in Migration.select(Migration.name).tuples()}
        with _foreign_keys_unchecked():
            for path in migration_files(folder):
                if path.stem in done:
                    continue
                with database.atomic():
                    recount |= bool(load(path).upgrade(SchemaMigrator.from_database(database.obj)))
                    _check_foreign_keys(path.stem)
                    Migration.create(name=path.stem, applied_at=_utcnow())
                applied.append(path.stem)
                report(f"{path.stem}: applied")
        if recount:
            # With today's code, on today's schema: no migration depends on how counting
            # works at the time it was written.
            from ..rollups import rebuild_rollups

            report(f"Recounted the leaderboard counters from {rebuild_rollups()} reports")
    return applied


def _utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


@contextmanager
def _foreign_keys_unchecked():
    """SQLite: playhouse.migrate changes a column by copying its table to a new one and
    dropping the old; with foreign keys on, that drop would delete (ON DELETE CASCADE) or
    refuse the rows that refer to it. _check_foreign_keys checks them before each commit."""
    if not isinstance(database.obj, SqliteDatabase):
        yield
        return
    before = database.pragma("foreign_keys")
    database.pragma("foreign_keys", 0)  # outside a transaction, where SQLite takes it
    try:
        yield
    finally:
        database.pragma("foreign_keys", before)


def _check_foreign_keys(name):
    if not isinstance(database.obj, SqliteDatabase):
        return  # PostgreSQL checks them as ever
    if broken := database.execute_sql("PRAGMA foreign_key_check").fetchall():
        raise RuntimeError(f"{name} leaves rows whose foreign keys point nowhere: {broken[:5]}")
