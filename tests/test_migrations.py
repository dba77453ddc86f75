"""Versioned migrations: the last release's database upgrades with its data, a new one gets
the models' schema, one process migrates at a time, and playhouse.migrate can rename,
retype and add NOT NULL columns on both databases."""
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from datetime import timedelta

import psycopg2
import pytest
from peewee import IntegrityError, SqliteDatabase

from backend import create_app
from backend.accounts import authenticate, session_admin, start_session
from backend.db import database, sqlite_path, use_database
from backend.migrations import Migration, apply_migrations, migration_files
from backend.models import (
    MODELS,
    AdminUser,
    Bank,
    CustomerDay,
    CustomersByLastDay,
    Feedback,
    MerchantCustomer,
    MerchantDay,
    SourceDay,
    utcnow,
)
from backend.rollups import count_pending, rebuild_rollups
from support import DATA, ROOT, counter_rows, make_report, run_py, site_stored_id

RELEASE = DATA / "last_release"  # made by its make_dumps.py
COUNTERS = (CustomerDay, SourceDay, MerchantDay, MerchantCustomer, CustomersByLastDay)


def load_last_release(url):
    """Fill an empty database as release 6ede8a1, the last before migrations, left it."""
    if sqlite_path(url):
        with closing(sqlite3.connect(sqlite_path(url))) as connection:
            connection.executescript((RELEASE / "sqlite.sql").read_text())
    else:
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute((RELEASE / "postgresql.sql").read_text())


def row_counts():
    return {table: database.execute_sql(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in database.get_tables() if table != Migration._meta.table_name}


def column_types(table):
    return {column.name: column.data_type.lower() for column in database.get_columns(table)}


def counters():
    return {model.__name__: sorted(model.select().tuples()) for model in COUNTERS}


@pytest.fixture
def env(database_url, tmp_path):
    """run.py's environment for the test's database."""
    return {**os.environ, "DATABASE_URL": database_url, "OFFERS_FEEDBACK_DATA": str(tmp_path)}


def test_the_last_release_upgrades_with_its_data(database_url, env):
    load_last_release(database_url)
    use_database(database_url)
    before = row_counts()
    database.close()
    assert before["feedback"] == 5 and before["adminuser"] == 1 and before["merchantday"] > 0

    assert run_py(env, "migrate").splitlines() == [
        "0001_schema: recorded as applied (the tables were made before migrations)",
        "0002_before_migrations: applied",
        "0003_merchantday_by_merchant: applied",
        "0004_customers_by_last_day: applied",
        "0005_action_loop: applied",
        "0006_console: applied",
        "0007_pseudonyms: applied",
        "0008_key_check: applied",
        "Recounted the leaderboard counters from 5 reports"]

    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    database.connect()
    after = row_counts()
    assert {table: after[table] for table in before if table not in ("customerday", "sourceday", "merchantday")} == \
           {table: count for table, count in before.items() if table not in ("customerday", "sourceday", "merchantday")}
    assert after["adminsession"] == 0 and "disabled_at" in column_types("adminuser")
    assert "int" in column_types("merchantday")["score"] and "int" in column_types("merchantday")["verified_score"]
    if not isinstance(database.obj, SqliteDatabase):
        assert {column_types(table)[column] for table in ("feedback", "outlet")
                for column in ("latitude", "longitude")} == {"double precision"}
    asha = site_stored_id(env, "asha@example.com", Bank.get(Bank.code == "BANK1").id)  # with the key run.py made
    first = Feedback.get(Feedback.user_id == asha, Feedback.channel == "import")
    assert not Feedback.select().where(Feedback.user_id.contains("@")).exists()  # every raw id replaced
    assert first.latitude == pytest.approx(19.059712345, abs=1e-5) and first.comment == "refused"
    migrated = counters()
    assert migrated["MerchantDay"] and all(isinstance(row[7], int) for row in migrated["MerchantDay"])  # score
    rebuild_rollups()
    assert counters() == migrated

    # The release's admin logs in; its client records a report, which counts.
    credentials = json.loads((RELEASE / "credentials.json").read_text())
    admin = authenticate(credentials["admin"]["email"], credentials["admin"]["password"], utcnow())
    assert isinstance(admin, AdminUser) and admin.disabled_at is None and admin.role == "admin"  # keeps its powers
    assert session_admin(start_session(admin, utcnow()), utcnow(), timedelta(minutes=30), timedelta(hours=8)) == admin
    client = credentials["sqlite" if isinstance(database.obj, SqliteDatabase) else "postgresql"]
    answer = app.test_client().get("/api", query_string={
        **client, "action": "user_feedback", "user_id": "new@example.com", "user_latitude": "19.0597",
        "user_longitude": "72.8295", "feedback_type": "1", "offer_code": "OF1", "your_bank_code": "BANK1",
        "outlet_code": "O1"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "success"
    count_pending()
    assert Feedback.select().count() == 6 and not Feedback.select().where(Feedback.uncounted).exists()
    database.close()

    assert run_py(env, "migrate") == "No migration to apply: the database is up to date.\n"


def schema():
    """Every table, column, index and constraint, as the database describes them."""
    if isinstance(database.obj, SqliteDatabase):
        return sorted(database.execute_sql("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                                           "AND tbl_name <> 'schema_migration'").fetchall())
    return [sorted(database.execute_sql(sql).fetchall()) for sql in (
        "SELECT table_name, column_name, data_type, is_nullable, character_maximum_length, column_default "
        "FROM information_schema.columns WHERE table_schema = current_schema() AND table_name <> 'schema_migration'",
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename <> 'schema_migration'",
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = current_schema()::regnamespace AND conrelid::regclass::text <> 'schema_migration'")]


def test_migrations_make_the_schema_the_models_describe(app):
    """Fails when a model changes without a migration that makes the change."""
    migrated = schema()
    database.drop_tables(MODELS + [Migration])
    for model in COUNTERS:  # as 0001 makes them: see there
        model._meta.without_rowid = isinstance(database.obj, SqliteDatabase)
    try:
        database.create_tables(MODELS)
    finally:
        for model in COUNTERS:
            model._meta.without_rowid = False
    assert schema() == migrated


def test_customers_by_last_day_are_filled_from_the_counted_customer_days(catalog):
    """0004 on a database with counted reports: the rows live counting would have made."""
    for n in range(12):
        make_report(when=utcnow() - timedelta(days=n % 5, hours=n), user=f"u{n % 4}", bank=("BANK1", "BANK2")[n % 2],
                    offer=("OF1", "OF2")[n % 2], device_hash=f"d{n}", anonymous=n % 3 == 0)
    count_pending()
    counted = counter_rows()
    assert counted[3] and counted[4]
    database.drop_tables([MerchantCustomer, CustomersByLastDay])
    Migration.delete().where(Migration.name == "0004_customers_by_last_day").execute()
    assert apply_migrations() == ["0004_customers_by_last_day"]
    assert counter_rows() == counted


def test_two_processes_starting_at_once_migrate_once(env):
    starts = [subprocess.Popen([sys.executable, "run.py", "migrate"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in starts]
    assert [process.returncode for process in starts] == [0, 0], outputs
    printed = sorted(line for stdout, _ in outputs for line in stdout.splitlines())
    assert printed == sorted([f"{path.stem}: applied" for path in migration_files()]
                             + ["No migration to apply: the database is up to date."])
    use_database(env["DATABASE_URL"])
    assert sorted(Migration.select(Migration.name).tuples()) == [(path.stem,) for path in migration_files()]
    database.close()


RENAME_RETYPE_NOT_NULL = {
    "0001_owners.py": """
        from peewee import CharField, ForeignKeyField, Model

        from backend.db import database


        class Owner(Model):
            name = CharField()
            age = CharField(null=True)  # a number kept as text, by mistake

            class Meta:
                database = database


        class Pet(Model):
            owner = ForeignKeyField(Owner, on_delete="CASCADE")
            name = CharField()

            class Meta:
                database = database


        def upgrade(migrator):
            database.create_tables([Owner, Pet])
            asha, ravi = (Owner.create(name=name, age=age).id for name, age in (("Asha", "42"), ("Ravi", None)))
            Pet.insert_many([(asha, "Tom"), (asha, "Kit"), (ravi, "Rex")], fields=[Pet.owner, Pet.name]).execute()
    """,
    "0002_reshape_owners.py": """
        from peewee import CharField, IntegerField, SqliteDatabase
        from playhouse.migrate import migrate

        from backend.db import database


        def upgrade(migrator):
            # PostgreSQL converts the values as told; SQLite copies the table and converts them itself.
            cast = None if isinstance(database.obj, SqliteDatabase) else '"age"::integer'
            migrate(
                migrator.rename_column("owner", "name", "full_name"),
                migrator.alter_column_type("owner", "age", IntegerField(null=True), cast=cast),
                migrator.add_column("owner", "country", CharField(max_length=2, default="IN")),  # NOT NULL, defaulted
                migrator.add_column("owner", "pets", IntegerField(null=True)),
            )
            database.execute_sql('UPDATE "owner" SET "pets" = '
                                 '(SELECT count(*) FROM "pet" WHERE "owner_id" = "owner"."id")')
            migrate(migrator.add_not_null("owner", "pets"))  # NOT NULL, backfilled
    """,
}


def test_a_migration_renames_retypes_and_adds_not_null_columns(database_url, tmp_path):
    for name, text in RENAME_RETYPE_NOT_NULL.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    use_database(database_url)
    database.connect()
    assert apply_migrations(tmp_path) == ["0001_owners", "0002_reshape_owners"]
    assert database.execute_sql('SELECT "full_name", "age", "country", "pets" FROM "owner" ORDER BY "id"').fetchall() \
           == [("Asha", 42, "IN", 2), ("Ravi", None, "IN", 1)]
    assert database.execute_sql('SELECT count(*) FROM "pet"').fetchone()[0] == 3  # SQLite's table copy kept them
    assert "int" in column_types("owner")["age"]
    with pytest.raises(IntegrityError), database.atomic():
        database.execute_sql('INSERT INTO "owner" ("full_name", "country") VALUES (\'Mia\', \'IN\')')
    assert apply_migrations(tmp_path) == []
    database.close()

