"""Customers' ids become pseudonyms (backend/privacy.py): every raw user_id in the reports
and the counters is replaced by HMAC-SHA256 under the bank's key, derived from CUSTOMER_KEY
(made in the data folder on first start, or set in the environment: every app host must
have the same one before this runs, and hosts running older code must be stopped: on
PostgreSQL the tables are locked while it runs, so their reports wait, then store raw ids). Counters keep their counts: the same customer gets the
same pseudonym everywhere. About a second per 100,000 customers.
"""
import hashlib
import hmac

from peewee import SqliteDatabase

from backend.config import customer_key
from backend.db import database

TABLES = ("feedback", "customerday", "merchantcustomer")


def pseudonym(key, bank_id, user_id):
    """privacy.pseudonym as this migration was written: it must give the same for ever."""
    bank_key = hmac.new(key.encode(), f"bank:{bank_id}".encode(), hashlib.sha256).digest()
    return "c" + hmac.new(bank_key, user_id.encode(), hashlib.sha256).hexdigest()[:40]


def upgrade(migrator):
    key = customer_key()
    if not isinstance(database.obj, SqliteDatabase):
        # No report may come in between reading the ids and replacing them (another host
        # still running the old code, say): it would be left raw, or fail the update.
        database.execute_sql('LOCK TABLE "feedback", "customerday", "merchantcustomer" IN EXCLUSIVE MODE')
    customers = set()
    for table in TABLES:
        customers.update(database.execute_sql(f'SELECT DISTINCT "bank_id", "user_id" FROM "{table}"').fetchall())
    if not customers:
        return
    database.execute_sql('CREATE TEMPORARY TABLE "pseudonym_map" ("bank_id" INTEGER NOT NULL, "raw_id" VARCHAR(254) '
                         'NOT NULL, "stored_id" VARCHAR(254) NOT NULL, PRIMARY KEY ("bank_id", "raw_id"))')
    rows = [(bank_id, user_id, pseudonym(key, bank_id, user_id)) for bank_id, user_id in customers]
    param = database.param
    for start in range(0, len(rows), 500):
        chunk = rows[start:start + 500]
        database.execute_sql('INSERT INTO "pseudonym_map" VALUES ' + ", ".join([f"({param}, {param}, {param})"] * len(chunk)),
                             [value for row in chunk for value in row])
    for table in TABLES:
        database.execute_sql(f'UPDATE "{table}" SET "user_id" = (SELECT m."stored_id" FROM "pseudonym_map" m '
                             f'WHERE m."bank_id" = "{table}"."bank_id" AND m."raw_id" = "{table}"."user_id")')
    database.execute_sql('DROP TABLE "pseudonym_map"')
