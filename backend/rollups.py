"""Leaderboard counters, kept up to date in each report's transaction and rebuildable.

A report counts in the rows of every audience that may see it: all (the platform), its
customer's bank, and that bank's network (an offer is either the customer's bank's own or
its network's, so these are exactly the parties the report concerns). Each audience gets
rows for any type and any city, for the report's type, for its city, and for both.
"""
import functools
from collections import defaultdict

from .db import database
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


def count_report(*, created_at, merchant_id, bank, user_id, type_id, city, verdict, offer_status):
    """Add one stored report to the counters (call inside its transaction)."""
    day = created_at.date()
    inserted = database.execute_sql(
        _customer_day_sql(database.param), [merchant_id, day, user_id, bank.id, bank.network_id]
    )
    rows = counter_rows(day=day, merchant_id=merchant_id, bank_id=bank.id, network_id=bank.network_id, type_id=type_id,
                        city=city, verdict=verdict, offer_status=offer_status, first_of_day=inserted.rowcount == 1)
    database.execute_sql(_merchant_day_sql(database.param, len(rows)), [value for row in rows for value in row])


@functools.cache
def _customer_day_sql(param):
    return (f'INSERT INTO "customerday" ("merchant_id", "day", "user_id", "bank_id", "network_id") '
            f'VALUES ({", ".join([param] * 5)}) ON CONFLICT DO NOTHING')


@functools.cache
def _merchant_day_sql(param, row_count):
    """One multi-row upsert: a statement per row cost ingest far more (bench/ingest.py)."""
    columns = ("scope", "feedback_type", "city", "day", "merchant_id") + COUNTERS
    values = ", ".join(["(" + ", ".join([param] * len(columns)) + ")"] * row_count)
    updates = ", ".join(f'"{c}" = "merchantday"."{c}" + excluded."{c}"' for c in COUNTERS)
    return (f'INSERT INTO "merchantday" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)}) VALUES {values} '
            f'ON CONFLICT ("scope", "feedback_type", "city", "day", "merchant_id") DO UPDATE SET {updates}')


def rebuild_rollups(on_progress=lambda count: None, batch_size=50_000):
    """Recompute every counter from the stored reports (in report order) in one transaction."""
    networks = dict(Bank.select(Bank.id, Bank.network).tuples())
    cities = dict(Outlet.select(Outlet.id, Outlet.city).tuples())
    first_reports = {}  # (merchant, day, user) -> bank of the first report
    totals = defaultdict(lambda: [0] * len(COUNTERS))
    query = (Feedback.select(Feedback.created_at, Feedback.merchant, Feedback.bank, Feedback.user_id,
                             Feedback.feedback_type, Feedback.outlet, Feedback.verdict, Feedback.offer_status)
             .order_by(Feedback.created_at, Feedback.id).tuples())
    for count, (created_at, merchant_id, bank_id, user_id, type_id, outlet_id, verdict, offer_status) in enumerate(
            query.iterator(), 1):
        day = created_at.date()
        first = (merchant_id, day, user_id) not in first_reports
        if first:
            first_reports[merchant_id, day, user_id] = bank_id
        for row in counter_rows(day=day, merchant_id=merchant_id, bank_id=bank_id, network_id=networks[bank_id],
                                type_id=type_id, city=cities.get(outlet_id, ""), verdict=verdict,
                                offer_status=offer_status, first_of_day=first):
            total = totals[row[:5]]
            for index, value in enumerate(row[5:]):
                total[index] += value
        if count % 100_000 == 0:
            on_progress(100_000)
    customer_days = [(m, d, u, b, networks[b]) for (m, d, u), b in first_reports.items()]
    merchant_days = [key + tuple(values) for key, values in totals.items()]
    with database.atomic():
        MerchantDay.delete().execute()
        CustomerDay.delete().execute()
        # executemany on the driver's cursor: peewee's insert_many is far slower at millions of rows.
        cursor = database.cursor()
        for sql, rows in ((_customer_day_sql(database.param), customer_days),
                          (_merchant_day_sql(database.param, 1), merchant_days)):
            for start in range(0, len(rows), batch_size):
                cursor.executemany(sql, rows[start:start + batch_size])
    return count_reports_total(totals)


def count_reports_total(totals):
    """Reports counted, read back from the platform-wide, any-type, any-city rows."""
    return sum(values[0] for key, values in totals.items() if key[:3] == ("all", 0, ""))
