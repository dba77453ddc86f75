"""The leaderboard's counters by merchant first: the rows shown, their trend and breakdown,
and a merchant's page read one merchant's days in one range each.

On the key alone (scope, type, city, day, merchant), a list of merchants over a period
took one index descent per merchant and day (PostgreSQL 15): at a million reports the
breakdown of the rows shown by problem took 21-26 ms; by this index, 6-10 ms.
PostgreSQL builds it holding off writes to the counters (about 30 s a million reports):
reports are still stored meanwhile, and counted after.
"""
from backend.db import database


def upgrade(migrator):
    # IF NOT EXISTS: a database counted as made before migrations (0002) may have it already.
    database.execute_sql('CREATE INDEX IF NOT EXISTS "merchantday_merchant_id_scope_city_feedback_type_day" '
                         'ON "merchantday" ("merchant_id", "scope", "city", "feedback_type", "day")')
