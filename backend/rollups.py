"""Leaderboard counters: brought up to date from newly stored reports, and rebuildable.

A report counts in the rows of every audience that may see it: all (the platform), its
customer's bank, and that bank's network (an offer is either the customer's bank's own or
its network's, so these are exactly the parties the report concerns). Each audience gets
rows for any type and any city, for the report's type, for its city, and for both.
"""
import functools
import logging
import operator
from datetime import date, datetime

from peewee import SqliteDatabase

from .db import database, exclusive, write_transaction
from .models import Bank, CustomerDay, Feedback, MerchantDay, Outlet

# How much one customer-day counts in the score, by where the customer was: reports from
# people who were not there cannot carry a merchant.
VERDICT_WEIGHTS = {
    "at_outlet": 1.0,
    "inconclusive": 0.5,
    "not_shared": 0.5,
    "outlet_location_unknown": 0.5,
    "away_from_outlet": 0.1,
}
OFFER_EXPIRED = 2  # feedback type id of "Told the offer has expired"
COUNTERS = ("reports", "customer_days", "score", "verified_reports", "verified_customer_days", "verified_score",
            "expired_claims")


def scopes_of(bank_id, network_id):
    """The audiences a report for a customer of this bank is visible to."""
    return ["all", f"bank:{bank_id}"] + ([f"network:{network_id}"] if network_id else [])


def counter_rows(*, day, merchant_id, bank_id, network_id, type_id, city, verdict, offer_status, first_of_day):
    """The MerchantDay increments one report makes, as (key..., counters...) tuples."""
    verified = verdict == "at_outlet"
    weight = VERDICT_WEIGHTS[verdict] if first_of_day else 0.0
    counters = (1, int(first_of_day), weight, int(verified), int(verified and first_of_day), weight if verified else 0.0,
                int(verified and type_id == OFFER_EXPIRED and offer_status == "active"))
    combos = {(0, ""), (type_id, ""), (0, city or ""), (type_id, city or "")}
    return [(scope, t, c, day, merchant_id) + counters for scope in scopes_of(bank_id, network_id) for t, c in combos]


class Tally:
    """Counter increments summed by MerchantDay key, and the customer-days reports start.

    Reports must be added in the order they arrived: a customer's first report at a
    merchant on a day is the one that counts for distinct customers and the score.
    """

    def __init__(self, counted_customer_days=()):
        self.counted = set(counted_customer_days)  # (merchant, day, user) counted before
        self.customer_days = {}  # (merchant, day, user) -> (bank, network) of the first report
        self.totals = {}  # MerchantDay key -> counters

    def add(self, *, day, merchant_id, bank_id, network_id, user_id, type_id, city, verdict, offer_status):
        key = (merchant_id, day, user_id)
        first = key not in self.customer_days and key not in self.counted
        if first:
            self.customer_days[key] = (bank_id, network_id)
        for row in counter_rows(day=day, merchant_id=merchant_id, bank_id=bank_id, network_id=network_id,
                                type_id=type_id, city=city, verdict=verdict, offer_status=offer_status,
                                first_of_day=first):
            total = self.totals.get(row[:5])
            self.totals[row[:5]] = row[5:] if total is None else tuple(map(operator.add, total, row[5:]))

    def write(self, customer_day_sql=None, merchant_day_sql=None):
        """Insert the customer-days and add the totals to the MerchantDay rows (in a transaction),
        or run the statements given on the same rows."""
        # executemany on the driver's cursor: peewee's insert_many is far slower at millions of rows.
        cursor = database.cursor()
        for sql, rows in ((customer_day_sql or _customer_day_sql(database.param),
                           [k + v for k, v in self.customer_days.items()]),
                          (merchant_day_sql or _merchant_day_sql(database.param),
                           [k + v for k, v in self.totals.items()])):
            for start in range(0, len(rows), 50_000):
                cursor.executemany(sql, rows[start:start + 50_000])


# Reports are stored without touching the counters: after every COUNT_EVERY-th report a
# process stores, once its answer is sent, it counts what is pending (count_after_response).
# In one go the counters take far fewer writes than report by report (bench/ingest.py).
# Readers count what is pending first (count_before_reading), so they see every stored
# report.
COUNT_EVERY = 64
COUNTING_LOCK = "rollups"
READ_WAIT_SECONDS = 2


class _Backlog:
    stored = 0  # reports this process stored since it last counted


def note_stored():
    """Called by record_feedback for each report it stores."""
    _Backlog.stored += 1


def count_pending(batch_size=5000, timeout=None, one_batch=False):
    """Add the stored reports the counters do not include yet (all, or the oldest
    batch_size); returns how many.

    One counts at a time (the COUNTING_LOCK); with a timeout (seconds), give way to whoever
    still holds it by then. Pending reports are read and summed outside the writers' lock,
    so only the final writes hold up reports being stored meanwhile.
    """
    total = 0
    while True:
        with exclusive(COUNTING_LOCK, timeout) as acquired:
            counted = _count_batch(batch_size) if acquired else 0
        total += counted
        if counted < batch_size or one_batch:
            return total


def _count_batch(limit):
    rows = [(report_id, _day(created_at), *rest) for report_id, created_at, *rest in database.execute_sql(
        _pending_sql(database.param, isinstance(database.obj, SqliteDatabase)), [limit]).fetchall()]
    if not rows:
        return 0
    tally = Tally(_counted_customer_days({(merchant_id, day, user_id) for _, day, merchant_id, _, _, user_id, *_ in rows}))
    for _, day, merchant_id, bank_id, network_id, user_id, type_id, city, verdict, offer_status in rows:
        tally.add(day=day, merchant_id=merchant_id, bank_id=bank_id, network_id=network_id, user_id=user_id,
                  type_id=type_id, city=city, verdict=verdict, offer_status=offer_status)
    with write_transaction(COUNTING_LOCK + "-write"):
        tally.write()
        _set_uncounted(False, [row[0] for row in rows])
    return len(rows)


def count_before_reading():
    """Count what is pending before reading the counters. A rebuild holds the counting
    lock for minutes: after READ_WAIT_SECONDS, read the counters as they are."""
    count_pending(timeout=READ_WAIT_SECONDS)


def count_after_response(response):
    """Flask after_request hook: count what is pending once this answer is sent, when due."""
    if _Backlog.stored >= COUNT_EVERY:
        _Backlog.stored = 0
        response.call_on_close(_count_quietly)
    return response


def _count_quietly():
    try:
        # One batch: a backlog (after a rebuild, say) is not worth keeping this worker from
        # its next request; the next count, or the next reader, takes the rest.
        count_pending(batch_size=10 * COUNT_EVERY, timeout=0, one_batch=True)
    except Exception:  # the answer is sent and the reports stay pending: the next count takes them
        logging.getLogger(__name__).exception("Counting pending reports failed")


def _day(value):
    """The day of a stored date or timestamp (SQLite hands back the text peewee stored)."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value[:10])


@functools.cache
def _pending_sql(param, sqlite):
    # A literal, not a parameter: only then may SQLite use the partial index of pending reports.
    pending = '"uncounted" = 1' if sqlite else '"uncounted" = true'
    return ('SELECT f."id", f."created_at", f."merchant_id", f."bank_id", b."network_id", f."user_id", '
            'f."feedback_type_id", COALESCE(o."city", \'\'), f."verdict", f."offer_status" FROM "feedback" f '
            'JOIN "bank" b ON b."id" = f."bank_id" LEFT JOIN "outlet" o ON o."id" = f."outlet_id" '
            f'WHERE f.{pending} ORDER BY f."id" LIMIT {param}')


def _counted_customer_days(keys, batch_size=300):
    """Which of these (merchant, day, customer) already count."""
    keys, found = list(keys), set()
    for start in range(0, len(keys), batch_size):
        chunk = keys[start:start + batch_size]
        values = ", ".join([f"({database.param}, {database.param}, {database.param})"] * len(chunk))
        cursor = database.execute_sql(
            f'SELECT c."merchant_id", c."day", c."user_id" FROM "customerday" c JOIN (VALUES {values}) k '
            'ON c."merchant_id" = k.column1 AND c."day" = k.column2 AND c."user_id" = k.column3',
            [value for key in chunk for value in key])
        found.update((merchant_id, _day(day), user_id) for merchant_id, day, user_id in cursor)
    return found


def _set_uncounted(value, ids, batch_size=500):
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        database.execute_sql(f'UPDATE "feedback" SET "uncounted" = {database.param} WHERE "id" IN '
                             f'({", ".join([database.param] * len(chunk))})', [value, *chunk])


CUSTOMER_DAY_COLUMNS = ("merchant_id", "day", "user_id", "bank_id", "network_id")
MERCHANT_DAY_COLUMNS = ("scope", "feedback_type", "city", "day", "merchant_id") + COUNTERS


@functools.cache
def _insert_sql(table, columns, param):
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join([param] * len(columns))})'


@functools.cache
def _customer_day_sql(param):
    return _insert_sql("customerday", CUSTOMER_DAY_COLUMNS, param) + " ON CONFLICT DO NOTHING"


@functools.cache
def _merchant_day_sql(param):
    """Add one row's counters (for executemany: 100-row statements were twice as slow, measured)."""
    key = ", ".join(f'"{c}"' for c in MERCHANT_DAY_COLUMNS[:5])
    updates = ", ".join(f'"{c}" = "merchantday"."{c}" + excluded."{c}"' for c in COUNTERS)
    return _insert_sql("merchantday", MERCHANT_DAY_COLUMNS, param) + f" ON CONFLICT ({key}) DO UPDATE SET {updates}"


def rebuild_rollups(on_progress=lambda count: None):
    """Recompute every counter from the stored reports (in report order); returns how many.

    Holds the counting lock throughout, so nothing else counts meanwhile; reports stored
    meanwhile stay pending and count afterwards. Reads without holding up the writers,
    and keeps one day in memory at a time: a day's counters are final once the reports
    (in time order) reach the next day, so they wait in staging tables until the end,
    when one transaction swaps them in.
    """
    with exclusive(COUNTING_LOCK):
        networks = dict(Bank.select(Bank.id, Bank.network).tuples())
        cities = dict(Outlet.select(Outlet.id, Outlet.city).tuples())
        staging = _Staging()
        tally, day, pending, total = Tally(), None, [], 0
        query = (Feedback.select(Feedback.id, Feedback.uncounted, Feedback.created_at, Feedback.merchant, Feedback.bank,
                                 Feedback.user_id, Feedback.feedback_type, Feedback.outlet, Feedback.verdict,
                                 Feedback.offer_status)
                 .order_by(Feedback.created_at, Feedback.id).tuples())
        for count, (report_id, uncounted, created_at, merchant_id, bank_id, user_id, type_id, outlet_id, verdict,
                    offer_status) in enumerate(query.iterator(), 1):
            if created_at.date() != day:
                total += staging.add(tally)
                tally, day = Tally(), created_at.date()
            if uncounted:
                pending.append(report_id)
            tally.add(day=day, merchant_id=merchant_id, bank_id=bank_id, network_id=networks[bank_id],
                      user_id=user_id, type_id=type_id, city=cities.get(outlet_id, ""), verdict=verdict,
                      offer_status=offer_status)
            if count % 100_000 == 0:
                on_progress(100_000)
        total += staging.add(tally)
        with write_transaction(COUNTING_LOCK + "-write"):
            MerchantDay.delete().execute()
            CustomerDay.delete().execute()
            staging.move()
            _set_uncounted(False, pending)
        staging.drop()
    return total


class _Staging:
    """Temporary tables (this connection's own) shaped like the counters' tables."""

    TABLES = ("customerday", "merchantday")

    def __init__(self):
        for table in self.TABLES:
            # A rebuild that failed on SQLite leaves its tables until the connection closes.
            database.execute_sql(f'DROP TABLE IF EXISTS "staged_{table}"')
            database.execute_sql(f'CREATE TEMPORARY TABLE "staged_{table}" AS SELECT * FROM "{table}" WHERE 1 = 0')

    def add(self, tally):
        """Stage a finished day's rows; returns the reports they count."""
        tally.write(*(_insert_sql(f"staged_{table}", columns, database.param)
                      for table, columns in zip(self.TABLES, (CUSTOMER_DAY_COLUMNS, MERCHANT_DAY_COLUMNS))))
        return count_reports_total(tally.totals)

    def move(self):
        for table in self.TABLES:
            database.execute_sql(f'INSERT INTO "{table}" SELECT * FROM "staged_{table}"')

    def drop(self):
        for table in self.TABLES:
            database.execute_sql(f'DROP TABLE "staged_{table}"')


def count_reports_total(totals):
    """Reports counted, read back from the platform-wide, any-type, any-city rows."""
    return sum(values[0] for key, values in totals.items() if key[:3] == ("all", 0, ""))
