"""Databases made before migrations existed (release 6ede8a1 and older): bring them to 0001's schema.

Such a database counts 0001 as applied without running it (see __init__.py). On one that
0001 made, each step finds nothing to do. What the last release lacks: the admin_session
table, adminuser.disabled_at, scores in whole units (its counters are recounted) and, on
PostgreSQL, double precision positions.
"""
from pathlib import Path

from peewee import DoubleField, PostgresqlDatabase
from playhouse.migrate import migrate

from backend.db import database
from backend.migrations import load

schema = load(Path(__file__).with_name("0001_schema.py"))


def upgrade(migrator):
    recount = _counters_predate_exact_scores(_column_types())
    if recount:
        # Their keys changed too (a customer became bank and user id): made anew, recounted.
        database.drop_tables(schema.COUNTER_MODELS)
    columns = _column_types()
    for model in schema.MODELS:
        table = model._meta.table_name
        missing = [field for field in model._meta.sorted_fields
                   if table in columns and field.column_name not in columns[table]]
        if missing:  # all nullable or defaulted
            migrate(*(migrator.add_column(table, field.column_name, field) for field in missing))
        # PostgreSQL's "real" (peewee's FloatField, in older versions) keeps 6 digits: metres.
        # (SQLite's REAL is a double already.)
        if isinstance(database.obj, PostgresqlDatabase):
            migrate(*(migrator.alter_column_type(table, field.column_name, DoubleField())
                      for field in model._meta.sorted_fields
                      if isinstance(field, DoubleField) and columns.get(table, {}).get(field.column_name) == "real"))
    # Older versions kept a unique index on the public id, and looked duplicates up by
    # user id without the bank.
    database.execute_sql('DROP INDEX IF EXISTS "feedback_public_id"')
    database.execute_sql('DROP INDEX IF EXISTS "feedback_user_id_offer_id_outlet_id_feedback_type_id_created_at"')
    if recount:
        # Unsigned widget device ids were stored as "device:<id>" before the flag existed.
        schema.Feedback.update(anonymous=True).where(schema.Feedback.channel == "widget",
                                                     schema.Feedback.user_id.startswith("device:")).execute()
    schema.create_missing_tables()
    return recount


def _column_types():
    """{table: {column: its type as the database names it}}, in one query on PostgreSQL."""
    if isinstance(database.obj, PostgresqlDatabase):
        columns = {}
        for table, column, data_type in database.execute_sql(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema()"):
            columns.setdefault(table, {})[column] = data_type
        return columns
    return {table: {column.name: column.data_type.lower() for column in database.get_columns(table)}
            for table in database.get_tables()}


def _counters_predate_exact_scores(columns):
    """True when the counters were made before a customer was (bank, user_id), or before
    scores were whole numbers of units."""
    if "customerday" not in columns:
        return False
    return "discounted" not in columns["customerday"] or "int" not in columns["merchantday"].get("score", "")
