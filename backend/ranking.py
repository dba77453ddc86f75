"""The merchant leaderboard: who ranks, in what order, and which flag each merchant gets.

Read from the MerchantDay and CustomerDay counters (never by scanning raw reports for the
whole table); distinct customers and outlets are counted only for the rows shown.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from peewee import fn

from .models import Bank, CustomerDay, Feedback, FeedbackType, Merchant, MerchantDay
from .rollups import count_before_reading

MIN_CUSTOMERS = 3  # distinct customers in the period before a merchant is ranked
SPIKE_FACTOR = 3  # this week against the mean of the 8 weeks before it
SPIKE_MIN_REPORTS = 8
EXPIRED_CLAIMS_MIN = 5  # "told it expired" while active, from verified customers...
EXPIRED_CLAIMS_SHARE = 0.4  # ...making up this much of the verified reports
TREND_WEEKS = 12


@dataclass(frozen=True)
class Filters:
    scope: str  # "all", "bank:<id>" or "network:<id>"
    start: date
    end: date  # inclusive
    feedback_type: int = 0  # 0: any
    city: str = ""  # "": any
    verified_only: bool = False


@dataclass
class MerchantRow:
    merchant_id: int
    code: str
    name: str
    reports: int
    customer_days: int
    score: float
    expired_claims: int
    verified_reports: int
    distinct_customers: int = 0
    verified_share: float = 0.0
    by_type: dict = field(default_factory=dict)
    outlets_affected: int = 0
    trend: list = field(default_factory=list)
    change: float | None = None
    flag: str = ""
    rank: int | None = None


@dataclass
class Leaderboard:
    ranked: list
    low_volume: list
    low_volume_count: int


def _counter_columns(verified_only):
    """reports, customer-days, score (of verified reports only, if asked), verified reports, expired claims."""
    prefix = "verified_" if verified_only else ""
    return (fn.SUM(getattr(MerchantDay, prefix + "reports")), fn.SUM(getattr(MerchantDay, prefix + "customer_days")),
            fn.SUM(getattr(MerchantDay, prefix + "score")), fn.SUM(MerchantDay.verified_reports),
            fn.SUM(MerchantDay.expired_claims))


def _rollup(filters, start, end, feedback_type=None):
    return MerchantDay.select().where(
        MerchantDay.scope == filters.scope,
        MerchantDay.feedback_type == (filters.feedback_type if feedback_type is None else feedback_type),
        MerchantDay.city == filters.city,
        MerchantDay.day.between(start, end),
    )


def scope_condition(model, scope):
    """A WHERE clause limiting rows with bank (and network) columns to an audience."""
    kind, _, key = scope.partition(":")
    if kind == "bank":
        return model.bank == int(key)
    if kind == "network":
        if model is CustomerDay:
            return CustomerDay.network == int(key)
        return model.bank.in_(Bank.select(Bank.id).where(Bank.network == int(key)))
    return True


def merchant_leaderboard(filters, today, limit=25, min_customers=MIN_CUSTOMERS):
    """Rank merchants by score for an audience and filters; low-volume ones listed apart."""
    count_before_reading()
    totals = (_rollup(filters, filters.start, filters.end)
              .select(MerchantDay.merchant, *_counter_columns(filters.verified_only))
              .group_by(MerchantDay.merchant).tuples())
    rows = [MerchantRow(m, "", "", int(r or 0), int(c or 0), float(s or 0), int(e or 0), int(v or 0),
                        verified_share=(v or 0) / r)
            for m, r, c, s, v, e in totals if r]
    # Distinct customers never exceed customer-days: below the bar on those, certainly low volume.
    candidates = sorted((r for r in rows if r.customer_days >= min_customers),
                        key=lambda r: (-r.score, -r.reports, r.merchant_id))
    ranked, low = [], [r for r in rows if r.customer_days < min_customers]
    position = 0
    while len(ranked) < limit and position < len(candidates):
        batch = candidates[position:position + 2 * limit]
        position += len(batch)
        distinct = _distinct_customers(filters, [r.merchant_id for r in batch])
        for row in batch:
            row.distinct_customers = distinct.get(row.merchant_id, 0)
            (ranked if row.distinct_customers >= min_customers else low).append(row)
    ranked = ranked[:limit]
    for rank, row in enumerate(ranked, 1):
        row.rank = rank
    low.sort(key=lambda r: (-r.reports, r.merchant_id))
    shown = ranked + low[:10]
    _fill_details(filters, shown, today)
    return Leaderboard(ranked, low[:10], len(low))


def _distinct_customers(filters, merchant_ids):
    query = (CustomerDay.select(CustomerDay.merchant, fn.COUNT(fn.DISTINCT(CustomerDay.user_id)))
             .where(CustomerDay.merchant.in_(merchant_ids), CustomerDay.day.between(filters.start, filters.end),
                    scope_condition(CustomerDay, filters.scope))
             .group_by(CustomerDay.merchant).tuples())
    return dict(query)


def _fill_details(filters, rows, today):
    """Names, type breakdown, outlets affected, weekly trend, change and flag for the rows shown."""
    if not rows:
        return
    ids = [row.merchant_id for row in rows]
    by_id = {row.merchant_id: row for row in rows}
    for merchant in Merchant.select(Merchant.id, Merchant.code, Merchant.name).where(Merchant.id.in_(ids)):
        by_id[merchant.id].code, by_id[merchant.id].name = merchant.code, merchant.name
    counter = MerchantDay.verified_reports if filters.verified_only else MerchantDay.reports
    type_ids = [filters.feedback_type] if filters.feedback_type else [t for (t,) in FeedbackType.select(FeedbackType.id).tuples()]
    types = (MerchantDay.select(MerchantDay.merchant, MerchantDay.feedback_type, fn.SUM(counter))
             .where(MerchantDay.scope == filters.scope, MerchantDay.feedback_type.in_(type_ids),
                    MerchantDay.city == filters.city, MerchantDay.day.in_(_days(filters.start, filters.end)),
                    MerchantDay.merchant.in_(ids))
             .group_by(MerchantDay.merchant, MerchantDay.feedback_type).tuples())
    for merchant_id, type_id, count in types:
        if count:
            by_id[merchant_id].by_type[type_id] = int(count)
    outlets = (Feedback.select(Feedback.merchant, fn.COUNT(fn.DISTINCT(Feedback.outlet)))
               .where(Feedback.merchant.in_(ids), Feedback.created_at >= filters.start,
                      Feedback.created_at < filters.end + timedelta(days=1), scope_condition(Feedback, filters.scope))
               .group_by(Feedback.merchant).tuples())
    for merchant_id, count in outlets:
        by_id[merchant_id].outlets_affected = count
    _fill_trends(filters, rows, by_id, ids, today, counter)


def _fill_trends(filters, rows, by_id, ids, today, counter):
    length = (filters.end - filters.start).days + 1
    previous_start = filters.start - timedelta(days=length)
    first_week = today - timedelta(days=7 * TREND_WEEKS - 1)
    since = min(first_week, previous_start)
    # Days and merchants as lists: the counters' key then gives one seek per (day, merchant)
    # instead of a scan of every merchant's days.
    daily = (MerchantDay.select(MerchantDay.merchant, MerchantDay.day, counter)
             .where(MerchantDay.scope == filters.scope, MerchantDay.feedback_type == filters.feedback_type,
                    MerchantDay.city == filters.city, MerchantDay.day.in_(_days(since, max(today, filters.end))),
                    MerchantDay.merchant.in_(ids))
             .tuples())
    weeks = defaultdict(lambda: [0] * TREND_WEEKS)
    previous = defaultdict(int)
    for merchant_id, day, count in daily:
        if isinstance(day, str):
            day = date.fromisoformat(day)
        index = (day - first_week).days // 7
        if 0 <= index < TREND_WEEKS:
            weeks[merchant_id][index] += count
        if previous_start <= day < filters.start:
            previous[merchant_id] += count
    for row in rows:
        row.trend = weeks[row.merchant_id]
        before = previous[row.merchant_id]
        row.change = (row.reports - before) / before if before else None
        row.flag = merchant_flag(row) if row.rank else "low_volume"


def _days(first, last):
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def merchant_flag(row):
    """fraud_watch on a sudden rise or on verified "expired" claims about active offers; else needs_training."""
    this_week, baseline = row.trend[-1], row.trend[-9:-1]
    mean = sum(baseline) / len(baseline)
    spike = this_week >= SPIKE_MIN_REPORTS and this_week >= SPIKE_FACTOR * max(mean, 1)
    claims = row.expired_claims >= EXPIRED_CLAIMS_MIN and row.expired_claims >= EXPIRED_CLAIMS_SHARE * row.verified_reports
    return "fraud_watch" if spike or claims else "needs_training"
