"""Distinct customers by their last day: MerchantCustomer and CustomersByLastDay, filled from
the customer-days already counted.

The leaderboard counted a period's distinct customers from its customer-days, for the rows
shown: at 10 million reports, two thirds of the page's time. For a period that runs to
today, they are the customers whose last counted day is in it: a sum over a few rows per
merchant and day (backend/ranking.py, bench/leaderboard.py).
"""
from pathlib import Path

from peewee import BooleanField, CharField, CompositeKey, DateField, ForeignKeyField, IntegerField, SqliteDatabase

from backend.db import database
from backend.migrations import load

schema = load(Path(__file__).with_name("0001_schema.py"))
BaseModel, Bank, Merchant = schema.BaseModel, schema.Bank, schema.Merchant


class MerchantCustomer(BaseModel):
    merchant = ForeignKeyField(Merchant, index=False)
    bank = ForeignKeyField(Bank, index=False)
    user_id = CharField(max_length=254)
    anonymous = BooleanField(default=False)
    day = DateField()

    class Meta:
        primary_key = CompositeKey("merchant", "bank", "user_id", "anonymous")


class CustomersByLastDay(BaseModel):
    merchant = ForeignKeyField(Merchant, index=False)
    day = DateField()
    bank = ForeignKeyField(Bank, index=False)
    anonymous = BooleanField(default=False)
    customers = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("merchant", "day", "bank", "anonymous")


# A copy of rollups.last_days_sql() as this migration was written: it must fill the tables
# the same way for ever.
FILL = (
    'INSERT INTO "merchantcustomer" ("merchant_id", "bank_id", "user_id", "anonymous", "day") '
    'SELECT "merchant_id", "bank_id", "user_id", "anonymous", MAX("day") FROM "customerday" '
    'WHERE NOT "discounted" GROUP BY "merchant_id", "bank_id", "user_id", "anonymous"',
    'INSERT INTO "customersbylastday" ("merchant_id", "day", "bank_id", "anonymous", "customers") '
    'SELECT "merchant_id", "day", "bank_id", "anonymous", COUNT(*) FROM "merchantcustomer" '
    'GROUP BY "merchant_id", "day", "bank_id", "anonymous"',
)


def upgrade(migrator):
    for model in (MerchantCustomer, CustomersByLastDay):
        model._meta.without_rowid = isinstance(database.obj, SqliteDatabase)  # as 0001 makes the counters
    database.create_tables([MerchantCustomer, CustomersByLastDay], safe=True)
    # Derived rows: made anew (a database counted as made before migrations may hold some).
    for sql in ('DELETE FROM "customersbylastday"', 'DELETE FROM "merchantcustomer"') + FILL:
        database.execute_sql(sql)
