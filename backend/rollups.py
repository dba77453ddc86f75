"""Leaderboard counters: brought up to date from newly stored reports, and rebuildable.

A report counts in the rows of every audience that may see it: all (the platform), its
customer's bank, and that bank's network (an offer is either the customer's bank's own or
its network's, so these are exactly the parties the report concerns). Each audience gets
rows for any type and any city, for the report's type, for its city, and for both.
"""
import functools
import io
import logging
import operator
import time
from collections import Counter
from datetime import date, datetime
from typing import NamedTuple

from peewee import SqliteDatabase

from .db import database, exclusive, prepared, write_transaction
from .models import Bank, Feedback, Outlet

# What one customer-day weighs in the score, by the evidence its report carries: people
# who were not there cannot carry a merchant, and a position nobody can check counts half.
EVIDENCE_WEIGHTS = {"verified": 1.0, "unverified": 0.5, "away": 0.1}
# An unsigned widget device id is free to make: nobody vouches for the customer behind it.
ANONYMOUS_WEIGHT = 0.25
# Nobody has seen a brand-new customer before (a customer's first report at the bank).
NEW_CUSTOMER_WEIGHT = 0.5
# Scores are stored as whole numbers of 1/80 of a customer-day: every weight above is an
# exact number of them (the lightest, 0.1 x 0.25 x 0.5, is one), so live counting and a
# recount add the same integers in any order and agree exactly (sums of fractions in
# floating point depend on their order).
SCORE_UNITS = 80
# Brand-new customers (a first report at the bank) counted per merchant, day and bank; more
# are discounted: a burst of fresh ids is the cheapest fake there is. Anonymous devices,
# new or not, have an allowance of the same size of their own, so a flood of them cannot
# use up the bank's customers'.
NEW_CUSTOMERS_PER_DAY = 3
OFFER_EXPIRED = 2  # feedback type id of "Told the offer has expired"
COUNTERS = ("reports", "customer_days", "score", "verified_reports", "verified_customer_days", "verified_score",
            "unverified_customer_days", "away_customer_days", "discounted_customer_days", "expired_claims")


class Counted(NamedTuple):
    """What counting needs of one stored report."""

    id: int
    day: date
    merchant_id: int
    bank_id: int
    network_id: int | None
    user_id: str
    type_id: int
    city: str
    verdict: str
    offer_status: str
    anonymous: bool
    new_customer: bool
    repeat_visit: bool
    suspicion: str
    ip_hash: str | None
    device_hash: str | None

    def evidence(self):
        """verified (at the outlet, nothing suspicious), away, or unverified."""
        if self.verdict == "away_from_outlet":
            return "away"
        return "verified" if self.verdict == "at_outlet" and not self.suspicion else "unverified"

    def not_counted(self):
        """"Told it expired" about an offer that had expired (or not started) is no one's fault."""
        return self.type_id == OFFER_EXPIRED and self.offer_status != "active"

    def sources(self):
        """The IP and device this report came from, where known; anonymous devices apart, so
        that they cannot take a shared address's place from the bank's customers."""
        prefix = "anonymous-" if self.anonymous else ""
        return ([f"{prefix}ip:{self.ip_hash}"] * bool(self.ip_hash)
                + [f"{prefix}device:{self.device_hash}"] * bool(self.device_hash))

    def places(self):
        """The day's limited places (NEW_CUSTOMERS_PER_DAY) one of which this customer-day
        needs: brand-new customers and anonymous devices, each kind its own."""
        if not (self.new_customer or self.anonymous):
            return []
        kind = "anonymous-place" if self.anonymous else "new-customer-place"
        return [f"{kind}:{n}" for n in range(1, NEW_CUSTOMERS_PER_DAY + 1)]


def scopes_of(bank_id, network_id):
    """The audiences a report for a customer of this bank is visible to."""
    return ["all", f"bank:{bank_id}"] + ([f"network:{network_id}"] if network_id else [])


def counter_rows(report, first_of_day, discounted):
    """The MerchantDay increments one report makes, as (key..., counters...) tuples."""
    evidence = report.evidence()
    counts = first_of_day and not discounted
    weight = round(SCORE_UNITS * EVIDENCE_WEIGHTS[evidence] * (ANONYMOUS_WEIGHT if report.anonymous else 1.0)
                   * (NEW_CUSTOMER_WEIGHT if report.new_customer else 1.0)) if counts else 0
    verified = evidence == "verified"
    # A claim that points at fraud must come from customers the bank knows, not fresh ids.
    claim = counts and verified and not (report.anonymous or report.new_customer) and report.type_id == OFFER_EXPIRED
    counters = (1, int(counts), weight, int(verified), int(verified and counts), weight if verified else 0,
                int(counts and evidence == "unverified"), int(counts and evidence == "away"),
                int(first_of_day and discounted), int(claim))
    combos = {(0, ""), (report.type_id, ""), (0, report.city), (report.type_id, report.city)}
    return [(scope, t, c, report.day, report.merchant_id) + counters
            for scope in scopes_of(report.bank_id, report.network_id) for t, c in combos]


class Tally:
    """Counter increments summed by MerchantDay key, and the customer-days reports start.

    Reports must be added in the order they arrived: a customer's first report at a
    merchant on a day is the one that counts, and the first customers from an IP or device,
    or brand-new ones, are the ones that are not discounted. Everything is per bank: what
    one bank's customers send never changes what another bank's count.
    """

    def __init__(self, counted_customer_days=(), used_sources=()):
        self.counted = set(counted_customer_days)  # (merchant, day, bank, user) counted before
        # (merchant, day, bank, source) that carried a customer-day: IPs, devices, and the
        # places taken (Counted.places), so that counting in batches reads them by key.
        self.used_sources = set(used_sources)
        self.customer_days = {}  # (merchant, day, bank, user) -> (network, anonymous, new, discounted)
        self.source_days = set()  # new (merchant, day, bank, source)
        self.totals = {}  # MerchantDay key -> counters

    def add(self, report):
        if report.not_counted():
            return
        place = (report.merchant_id, report.day, report.bank_id)
        key = place + (report.user_id,)
        first = key not in self.customer_days and key not in self.counted
        discounted = False
        if first:
            sources = [place + (source,) for source in report.sources()]
            places = [place + (name,) for name in report.places()]
            free = next((name for name in places if name not in self.used_sources), None)
            # A fresh id with a spoofed-looking position is what a fake report looks like.
            discounted = (report.repeat_visit or (report.new_customer and bool(report.suspicion))
                          or any(source in self.used_sources for source in sources) or (bool(places) and free is None))
            if not discounted:
                taken = sources + [free] * bool(places)
                self.used_sources.update(taken)
                self.source_days.update(taken)
            self.customer_days[key] = (report.network_id, report.anonymous, report.new_customer, discounted)
        for row in counter_rows(report, first, discounted):
            total = self.totals.get(row[:5])
            self.totals[row[:5]] = row[5:] if total is None else tuple(map(operator.add, total, row[5:]))

    def write(self, staged=False):
        """Insert the customer-days and sources and add the totals to the MerchantDay rows
        (in a transaction); staged: into a rebuild's staging tables instead (_Staging)."""
        for table, columns, rows in (("customerday", CUSTOMER_DAY_COLUMNS, [k + v for k, v in self.customer_days.items()]),
                                     ("sourceday", SOURCE_DAY_COLUMNS, list(self.source_days)),
                                     ("merchantday", MERCHANT_DAY_COLUMNS, [k + v for k, v in self.totals.items()])):
            for start in range(0, len(rows), 50_000):
                _insert_rows(table, columns, rows[start:start + 50_000], staged)


def _insert_rows(table, columns, rows, staged):
    """Insert (or, for merchantday, add to) rows of the columns, in as few statements as the database allows.

    SQLite: executemany, one row at a time (peewee's insert_many is far slower at millions
    of rows). PostgreSQL: one statement takes an array of each column (psycopg2 sends a
    statement per row with executemany, and its execute_batch spent most of counting's time
    quoting each value in Python, measured with bench/ingest.py).
    """
    if not rows:
        return
    if isinstance(database.obj, SqliteDatabase):
        one_row = f'VALUES ({", ".join([database.param] * len(columns))})'
        database.cursor().executemany(_upsert_sql(table, columns, one_row, staged), rows)
        return
    if staged:  # a rebuild's millions of new rows: COPY, PostgreSQL's bulk load (at a million reports: 10 s per 100,000 read instead of 28 s with unnest)
        names = ", ".join(f'"{c}"' for c in columns)
        database.cursor().copy_expert(f'COPY "staged_{table}" ({names}) FROM STDIN', _copy_text(rows))
        return
    arrays = ", ".join(f"%s::{kind}[]" for kind in _column_types(table, columns))
    sql = _upsert_sql(table, columns, f"SELECT * FROM unnest({arrays})", staged)
    database.execute_sql(prepared(f"count_{table}", sql), [_array_text(column) for column in zip(*rows)])


def _array_text(values):
    """A PostgreSQL array literal ('{1,2,NULL}') of the values: psycopg2 turns a list into an
    ARRAY[...] expression, adapting and quoting each value in turn (measured: the workers'
    CPU counting a batch of 64 reports, 230 -> 176 µs a report; docs/operations.md)."""
    return "{" + ",".join(map(_array_item, values)) + "}"


def _array_item(value):
    if value is None:
        return "NULL"
    if isinstance(value, bool):  # before int: a bool is an int
        return "t" if value else "f"
    if isinstance(value, (int, date)):
        return str(value)  # a date's str is its ISO form
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _copy_text(rows):
    """Rows in COPY's text format: tab-separated, \\N for NULL, t/f, backslash escapes."""
    def text(value):
        if value is None:
            return "\\N"
        if isinstance(value, bool):
            return "t" if value else "f"
        return str(value).translate(COPY_ESCAPES)

    return io.StringIO("".join("\t".join(map(text, row)) + "\n" for row in rows))


COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@functools.cache
def _column_types(table, columns):
    """PostgreSQL's names of the columns' types, without lengths (read once per process): a
    cast to varchar(n) would cut a longer value, where the INSERT refuses it."""
    types = dict(database.execute_sql(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
        [table]).fetchall())
    return tuple(types[column] for column in columns)


# Reports are stored without touching the counters: once its answer is sent, a request
# that stored a report counts what is pending (count_after_response), at most once every
# COUNT_SECONDS in each process. In one go the counters take far fewer writes than report
# by report, and the busier the server, the larger each go (bench/ingest.py). Readers count
# what is pending first (count_before_reading), so they see every stored report.
COUNT_SECONDS = 1.0
COUNT_BATCH = 5000
COUNTING_LOCK = "rollups"
READ_WAIT_SECONDS = 2


class _Backlog:
    stored = 0  # reports this process stored since it last counted
    counted_at = 0.0  # time.monotonic() of its last count


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
    rows = [Counted(report_id, _day(created_at), *rest) for report_id, created_at, *rest in database.execute_sql(
        _pending_sql(database.param, isinstance(database.obj, SqliteDatabase)), [limit]).fetchall()]
    if not rows:
        return 0
    tally = Tally(_existing("customerday", ("merchant_id", "day", "bank_id", "user_id"),
                            {(r.merchant_id, r.day, r.bank_id, r.user_id) for r in rows}),
                  _existing("sourceday", ("merchant_id", "day", "bank_id", "source"),
                            {(r.merchant_id, r.day, r.bank_id, source) for r in rows
                             for source in r.sources() + r.places()}))
    for row in rows:
        tally.add(row)
    customers, by_last_day = _last_days_moved(tally.customer_days)
    with write_transaction(COUNTING_LOCK + "-write"):
        tally.write()
        _insert_rows("merchantcustomer", MERCHANT_CUSTOMER_COLUMNS, customers, staged=False)
        _insert_rows("customersbylastday", LAST_DAY_COLUMNS, by_last_day, staged=False)
        _set_uncounted(False, [row.id for row in rows])
    return len(rows)


def _last_days_moved(customer_days):
    """The customers whose last counted day at a merchant moves on with these new customer-days:
    their MerchantCustomer rows, and the CustomersByLastDay changes (one customer off their
    previous last day, onto the new one)."""
    latest = {}
    for (merchant_id, day, bank_id, user_id), (_, anonymous, _, discounted) in customer_days.items():
        key = (merchant_id, bank_id, user_id, anonymous)
        if not discounted and day > latest.get(key, date.min):
            latest[key] = day
    before = dict(_existing("merchantcustomer", MERCHANT_CUSTOMER_COLUMNS, latest))
    customers, changes = [], Counter()
    for key, day in latest.items():
        previous = before.get(key)
        if previous is not None and previous >= day:
            continue  # a late report, for a day before the customer's last
        merchant_id, bank_id, _, anonymous = key
        if previous is not None:
            changes[merchant_id, previous, bank_id, anonymous] -= 1
        changes[merchant_id, day, bank_id, anonymous] += 1
        customers.append(key + (day,))
    return customers, [key + (change,) for key, change in changes.items() if change]


def count_before_reading():
    """Count what is pending before reading the counters. A rebuild holds the counting
    lock for minutes: after READ_WAIT_SECONDS, read the counters as they are."""
    count_pending(timeout=READ_WAIT_SECONDS)


def count_after_response(response):
    """Flask after_request hook: count what is pending once this answer is sent, when due."""
    now = time.monotonic()
    if _Backlog.stored and now - _Backlog.counted_at >= COUNT_SECONDS:
        _Backlog.stored, _Backlog.counted_at = 0, now
        response.call_on_close(_count_quietly)
    return response


def _count_quietly():
    try:
        # One batch: a backlog (after a rebuild, say) is not worth keeping this worker from
        # its next request; the next count, or the next reader, takes the rest.
        count_pending(batch_size=COUNT_BATCH, timeout=0, one_batch=True)
    except Exception:  # the answer is sent and the reports stay pending: the next count takes them
        logging.getLogger(__name__).exception("Counting pending reports failed")


def _day(value):
    """The day of a stored date or timestamp (SQLite hands back the text peewee stored)."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value[:10])


REPORT_COLUMNS = ('f."merchant_id", f."bank_id", b."network_id", f."user_id", f."feedback_type_id", '
                  'COALESCE(o."city", \'\'), f."verdict", f."offer_status", f."anonymous", f."new_customer", '
                  'f."repeat_visit", f."suspicion", f."ip_hash", f."device_hash"')


@functools.cache
def _pending_sql(param, sqlite):
    # A literal, not a parameter: only then may SQLite use the partial index of pending reports.
    pending = '"uncounted" = 1' if sqlite else '"uncounted" = true'
    return (f'SELECT f."id", f."created_at", {REPORT_COLUMNS} FROM "feedback" f '
            'JOIN "bank" b ON b."id" = f."bank_id" LEFT JOIN "outlet" o ON o."id" = f."outlet_id" '
            f'WHERE f.{pending} ORDER BY f."id" LIMIT {param}')


def _existing(table, columns, keys, batch_size=200):
    """Which of these keys (tuples of the leading columns) the table already holds: a set of
    them; or, where columns go on past the key (a MerchantCustomer's day), (key, day) pairs."""
    keys, found = list(keys), set()
    if not keys:
        return found
    width = len(keys[0])
    for start in range(0, len(keys), batch_size):
        chunk = keys[start:start + batch_size]
        row = "(" + ", ".join([database.param] * width) + ")"
        joined = " AND ".join(f'c."{column}" = k.column{n}' for n, column in enumerate(columns[:width], 1))
        names = ", ".join(f'c."{column}"' for column in columns)
        cursor = database.execute_sql(f'SELECT {names} FROM "{table}" c JOIN (VALUES {", ".join([row] * len(chunk))}) k '
                                      f'ON {joined}', [value for key in chunk for value in key])
        if width < len(columns):
            found.update((tuple(found_row[:width]), _day(found_row[width])) for found_row in cursor)
        else:
            found.update((merchant_id, _day(day), *rest) for merchant_id, day, *rest in cursor)
    return found


def _set_uncounted(value, ids, batch_size=500):
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        database.execute_sql(f'UPDATE "feedback" SET "uncounted" = {database.param} WHERE "id" IN '
                             f'({", ".join([database.param] * len(chunk))})', [value, *chunk])


CUSTOMER_DAY_COLUMNS = ("merchant_id", "day", "bank_id", "user_id", "network_id", "anonymous", "new_customer",
                        "discounted")
SOURCE_DAY_COLUMNS = ("merchant_id", "day", "bank_id", "source")
MERCHANT_DAY_COLUMNS = ("scope", "feedback_type", "city", "day", "merchant_id") + COUNTERS
MERCHANT_CUSTOMER_COLUMNS = ("merchant_id", "bank_id", "user_id", "anonymous", "day")
LAST_DAY_COLUMNS = ("merchant_id", "day", "bank_id", "anonymous", "customers")
# On a key already there: counters added (merchantday, customersbylastday), the last day
# replaced (merchantcustomer: counting moves it only forward), else the row is kept.
ON_CONFLICT = {"merchantday": (MERCHANT_DAY_COLUMNS[:5], COUNTERS, ()),
               "customersbylastday": (LAST_DAY_COLUMNS[:4], ("customers",), ()),
               "merchantcustomer": (MERCHANT_CUSTOMER_COLUMNS[:4], (), ("day",))}


def last_days_sql(prefix=""):
    """Statements that fill MerchantCustomer and CustomersByLastDay (their tables named with the
    prefix) from the CustomerDay rows (of the prefixed table), from scratch."""
    return (f'INSERT INTO "{prefix}merchantcustomer" ("merchant_id", "bank_id", "user_id", "anonymous", "day") '
            f'SELECT "merchant_id", "bank_id", "user_id", "anonymous", MAX("day") FROM "{prefix}customerday" '
            'WHERE NOT "discounted" GROUP BY "merchant_id", "bank_id", "user_id", "anonymous"',
            f'INSERT INTO "{prefix}customersbylastday" ("merchant_id", "day", "bank_id", "anonymous", "customers") '
            f'SELECT "merchant_id", "day", "bank_id", "anonymous", COUNT(*) FROM "{prefix}merchantcustomer" '
            'GROUP BY "merchant_id", "day", "bank_id", "anonymous"')


@functools.cache
def _upsert_sql(table, columns, rows, staged=False):
    """INSERT of rows (a VALUES row of placeholders, or a SELECT) into a counters' table: a
    customer-day or source already there is kept, MerchantDay counters are added to."""
    names = ", ".join(f'"{c}"' for c in columns)
    if staged:  # a day's rows, each new: the staging tables have no keys to conflict on
        return f'INSERT INTO "staged_{table}" ({names}) {rows}'
    if table not in ON_CONFLICT:
        return f'INSERT INTO "{table}" ({names}) {rows} ON CONFLICT DO NOTHING'
    key, added, replaced = ON_CONFLICT[table]
    updates = ", ".join([f'"{c}" = "{table}"."{c}" + excluded."{c}"' for c in added]
                        + [f'"{c}" = excluded."{c}"' for c in replaced])
    key = ", ".join(f'"{c}"' for c in key)
    return f'INSERT INTO "{table}" ({names}) {rows} ON CONFLICT ({key}) DO UPDATE SET {updates}'


def rebuild_rollups(on_progress=lambda count: None):
    """Recompute every counter from the stored reports (day by day, each day's reports in
    the order they arrived); returns how many.

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
        day_reports, pending, total = [], [], 0
        query = (Feedback.select(Feedback.id, Feedback.uncounted, Feedback.created_at, Feedback.merchant, Feedback.bank,
                                 Feedback.user_id, Feedback.feedback_type, Feedback.outlet, Feedback.verdict,
                                 Feedback.offer_status, Feedback.anonymous, Feedback.new_customer,
                                 Feedback.repeat_visit, Feedback.suspicion,
                                 Feedback.ip_hash, Feedback.device_hash)
                 .order_by(Feedback.created_at, Feedback.id).tuples())
        for count, (report_id, uncounted, created_at, merchant_id, bank_id, user_id, type_id, outlet_id, *rest) in \
                enumerate(_streamed(query), 1):
            if day_reports and created_at.date() != day_reports[-1].day:
                total += staging.add(_day_tally(day_reports))
                day_reports = []
            if uncounted:
                pending.append(report_id)
            day_reports.append(Counted(report_id, created_at.date(), merchant_id, bank_id, networks[bank_id], user_id,
                                       type_id, cities.get(outlet_id, ""), *rest))
            if count % 100_000 == 0:
                on_progress(100_000)
        total += staging.add(_day_tally(day_reports))
        staging.add_last_days()
        with write_transaction(COUNTING_LOCK + "-write"):
            for table in _Staging.TABLES:
                database.execute_sql(f'DELETE FROM "{table}"')
            staging.move()
            _set_uncounted(False, pending)
        staging.drop()
    return total


def _streamed(query):
    """A query's rows, fetched some at a time: psycopg2 would otherwise fetch the whole result
    at once (a rebuild's 1 million reports: 400 MB). SQLite steps through them anyway."""
    if isinstance(database.obj, SqliteDatabase):
        yield from query.iterator()
        return
    sql, params = query.sql()
    # psycopg2 allows a named (server-side) cursor on peewee's autocommit connection only
    # WITH HOLD; inside the transaction that holds the counting lock, it is read as it goes.
    with database.connection().cursor(name="rebuild_rollups", withhold=True) as cursor:
        cursor.itersize = 20_000
        cursor.execute(sql, params)
        yield from cursor


def _day_tally(reports):
    """One day's counters, its reports taken in the order they arrived (as counting does)."""
    tally = Tally()
    for report in sorted(reports, key=operator.attrgetter("id")):
        tally.add(report)
    return tally


class _Staging:
    """Temporary tables (this connection's own) shaped like the counters' tables."""

    TABLES = ("customerday", "sourceday", "merchantday", "merchantcustomer", "customersbylastday")
    COLUMNS = (CUSTOMER_DAY_COLUMNS, SOURCE_DAY_COLUMNS, MERCHANT_DAY_COLUMNS, MERCHANT_CUSTOMER_COLUMNS,
               LAST_DAY_COLUMNS)

    def __init__(self):
        for table in self.TABLES:
            # A rebuild that failed on SQLite leaves its tables until the connection closes.
            database.execute_sql(f'DROP TABLE IF EXISTS "staged_{table}"')
            database.execute_sql(f'CREATE TEMPORARY TABLE "staged_{table}" AS SELECT * FROM "{table}" WHERE 1 = 0')

    def add(self, tally):
        """Stage a finished day's rows; returns the reports they count."""
        tally.write(staged=True)
        return count_reports_total(tally.totals)

    def add_last_days(self):
        """Once every day is staged: each customer's last counted day, and the customers per last day."""
        for sql in last_days_sql(prefix="staged_"):
            database.execute_sql(sql)

    def move(self):
        for table, columns in zip(self.TABLES, self.COLUMNS):
            names = ", ".join(f'"{c}"' for c in columns)
            # In the key's order: the index grows at its end (-20 % time on PostgreSQL, measured).
            key = ", ".join(f'"{c}"' for c in columns[:5 if table == "merchantday" else 4])
            database.execute_sql(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "staged_{table}" ORDER BY {key}')

    def drop(self):
        for table in self.TABLES:
            database.execute_sql(f'DROP TABLE "staged_{table}"')


def count_reports_total(totals):
    """Reports counted, read back from the platform-wide, any-type, any-city rows."""
    return sum(values[0] for key, values in totals.items() if key[:3] == ("all", 0, ""))
