"""The merchant leaderboard: who ranks, in what order, and which flag each merchant gets.

Read from the MerchantDay and CustomerDay counters (never by scanning raw reports for the
whole table); distinct customers and outlets are counted only for the rows shown. Score,
trend and flags all count the same unit: customer-days weighted by their evidence
(rollups.EVIDENCE_WEIGHTS). docs/ranking.md states every rule.
"""
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

from peewee import Case, Select, fn

from .db import database, large_reads
from .models import Bank, CustomerDay, CustomersByLastDay, Feedback, FeedbackType, Merchant, MerchantDay, Outlet
from .rollups import SCORE_UNITS, count_before_reading

MIN_CUSTOMERS = 3  # distinct bank-vouched customers in the period before a merchant is ranked
TREND_WEEKS = 12
# fraud_watch on a burst: the last 7 days against the weekly mean of the 8 weeks before,
# for merchants with a baseline (customer-days in at least 4 of those 8 weeks).
SPIKE_FACTOR = 3
SPIKE_MIN = 8  # weighted customer-days in the last 7 days
BASELINE_WEEKS = 8
BASELINE_MIN_WEEKS = 4
# fraud_watch on "told it expired" about an active offer, from bank-vouched customers
# verified at the outlet: at least this many customer-days, and this share of the verified ones.
EXPIRED_CLAIMS_MIN = 5
EXPIRED_CLAIMS_SHARE = 0.4
# needs_training: a level per outlet in the period at least this many times the median
# merchant's in the same audience, with customer-days in at least 3 of the last 4 weeks.
TRAINING_WEEKS = 4
TRAINING_FACTOR = 3
TRAINING_MIN_WEEKS = 3
TRAINING_MIN_LEVEL = 1.0  # weighted customer-days a week
# The change against the period before is "new" (None) when that period had less than this
# score: +24,300 % against a quarter of a customer-day says nothing.
CHANGE_BASE_MIN = 1.0


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
    expired_claims: int = 0
    verified_reports: int = 0
    verified_customer_days: int = 0
    unverified_customer_days: int = 0
    away_customer_days: int = 0
    discounted_customer_days: int = 0
    outlets: int = 1  # the merchant's outlets in the catalogue (in the city filtered on)
    distinct_customers: int = 0  # bank-vouched, not discounted
    anonymous_customers: int = 0  # unsigned widget devices, not discounted
    verified_share: float = 0.0
    by_type: dict = field(default_factory=dict)
    outlets_affected: int = 0
    trend: list = field(default_factory=list)  # weighted customer-days per week, oldest first
    change: float | None = None
    flag: str = ""
    flag_reasons: list = field(default_factory=list)
    rank: int | None = None

    @property
    def score_per_outlet(self):
        return self.score / self.outlets


@dataclass
class Leaderboard:
    ranked: list  # the rows asked for: a page of the ranked merchants, in the order asked
    low_volume: list
    low_volume_count: int  # exact when ranked_count is known, else at least this many
    ranked_count: int | None = None  # every ranked merchant (None: not all were read)
    more: bool = False  # ranked merchants after these
    period: tuple = (0, 0, 0)  # the audience's reports, customer-days and verified reports in the period


# The orders a leaderboard lists its ranked merchants in: by rank (score per outlet), or
# by a count, highest first (ties by rank). Each needs only what every candidate has.
ORDERS = {
    "rank": lambda row: row.rank,
    "score": lambda row: (-row.score, row.rank),
    "reports": lambda row: (-row.reports, row.rank),
    "customers": lambda row: (-row.distinct_customers, row.rank),
    "customer_days": lambda row: (-row.customer_days, row.rank),
}


RANKING_COUNTERS = ("reports", "customer_days", "score")  # summed for every merchant
DETAIL_COUNTERS = ("verified_reports", "expired_claims", "verified_customer_days", "unverified_customer_days",
                   "away_customer_days", "discounted_customer_days")  # only for the rows shown


def _sums(names, verified_only):
    """SUM columns of the counters named; reports, customer-days and score of verified ones only, if asked."""
    prefix = "verified_" if verified_only else ""
    return [fn.SUM(getattr(MerchantDay, (prefix if name in RANKING_COUNTERS else "") + name)) for name in names]


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


def merchant_leaderboard(filters, today, limit=25, min_customers=MIN_CUSTOMERS, outlets=None, flags_only=False,
                         offset=0, order="rank", leave_out=frozenset()):
    """Rank merchants by score per outlet for an audience and filters (a chain's many
    outlets draw more reports than one shop, and staff are trained outlet by outlet);
    low-volume ones listed apart. outlets: {merchant: outlets in the city filtered on}, if
    the caller keeps them (Lookups.outlet_counts). flags_only: without what the flags do not
    need (the breakdown by problem, the outlets affected), for the flag evaluation job.

    The rows are the ranked merchants from offset on, at most limit of them, in order (one
    of ORDERS), without those in leave_out (they keep their ranks). In rank order only as
    many merchants are read as the page needs; any other order, or leaving some out, reads
    every candidate's distinct customers, and then the ranked count is known."""
    count_before_reading()
    with large_reads():
        return _leaderboard(filters, today, limit, min_customers,
                            outlet_counts(filters.city) if outlets is None else outlets, flags_only,
                            offset, order, leave_out)


def _leaderboard(filters, today, limit, min_customers, outlets, flags_only=False, offset=0, order="rank",
                 leave_out=frozenset()):
    totals = fetched(_rollup(filters, filters.start, filters.end)
                     .select(MerchantDay.merchant, *_sums(RANKING_COUNTERS, filters.verified_only),
                             fn.SUM(MerchantDay.verified_reports))
                     .group_by(MerchantDay.merchant))
    # Every merchant with reports is a Total; only the rows shown become MerchantRows (at a
    # million reports, making one for each of 2,000 merchants took a fifth of the page's time).
    rows, period = [], [0, 0, 0]  # the audience's reports, customer-days, verified reports
    for merchant_id, reports, customer_days, score, verified in totals:
        if reports:
            rows.append(Total(merchant_id, int(reports), int(customer_days or 0), int(score or 0) / SCORE_UNITS,
                              outlets.get(merchant_id, 1)))
            period = [period[0] + int(reports), period[1] + int(customer_days or 0), period[2] + int(verified or 0)]
    # Distinct customers never exceed customer-days: below the bar on those, certainly low volume.
    candidates = sorted((r for r in rows if r.customer_days >= min_customers),
                        key=lambda r: (-r.score / r.outlets, -r.score, -r.reports, r.merchant_id))
    ranked, low = [], [r for r in rows if r.customer_days < min_customers]
    everyone = order != "rank" or bool(leave_out)
    wanted = offset + limit + 1  # one more tells whether a next page exists
    position = 0
    while (everyone or len(ranked) < wanted) and position < len(candidates):
        # Everyone: one read for all (in batches of 50, 2,000 merchants took 20-30 ms more).
        batch = candidates[position:position + (len(candidates) if everyone else max(2 * limit, 50))]
        position += len(batch)
        distinct = _distinct_customers(filters, [r.merchant_id for r in batch], today)
        for total in batch:
            vouched, anonymous = distinct.get(total.merchant_id, (0, 0))
            row = total.row(distinct_customers=vouched, anonymous_customers=anonymous)
            (ranked if row.distinct_customers >= min_customers else low).append(row)
    for rank, row in enumerate(ranked, 1):
        row.rank = rank
    listed = sorted((row for row in ranked if row.merchant_id not in leave_out), key=ORDERS[order])
    shown = listed[offset:offset + limit]
    low.sort(key=lambda r: (-r.reports, r.merchant_id))
    low_shown = [r if isinstance(r, MerchantRow) else r.row() for r in low[:10]]
    _fill_details(filters, shown + low_shown, today, median_level(filters, rows), flags_only)
    return Leaderboard(shown, low_shown, len(low), len(listed) if position >= len(candidates) else None,
                       len(listed) > offset + limit, tuple(period))


FIGURE_BASE_MIN = 10  # a summary figure's change is a percentage from this earlier figure on


@dataclass
class Figure:
    """One figure of the summary strip: this period's, and the period before's of the same length."""

    now: float
    before: float

    @property
    def change(self):
        """The relative change, or None when the earlier figure is too small for a share
        of it to mean anything (1 report then, 600 now is not "+59,900 %")."""
        return (self.now - self.before) / self.before if self.before >= FIGURE_BASE_MIN else None


def summary(filters, period):
    """The audience's figures for the period against the period before (same filters):
    reports, customer-days, the share of reports verified at the outlet. period: this
    period's sums (Leaderboard.period, read with the ranking); one more sum reads the
    period before."""
    length = (filters.end - filters.start).days + 1
    reports = MerchantDay.verified_reports if filters.verified_only else MerchantDay.reports
    days = MerchantDay.verified_customer_days if filters.verified_only else MerchantDay.customer_days
    before = (_rollup(filters, filters.start - timedelta(days=length), filters.start - timedelta(days=1))
              .select(fn.SUM(reports), fn.SUM(days), fn.SUM(MerchantDay.verified_reports)).tuples().first())
    (reports_before, days_before, verified_before), (reports_now, days_now, verified_now) = (
        tuple(int(value or 0) for value in before or (0, 0, 0)), period)
    return {"reports": Figure(reports_now, reports_before), "customer_days": Figure(days_now, days_before),
            "verified_share": Figure(verified_now / max(reports_now, 1), verified_before / max(reports_before, 1))}


class Total(NamedTuple):
    """A merchant's totals in the period, before it is known to be shown."""

    merchant_id: int
    reports: int
    customer_days: int
    score: float
    outlets: int

    def row(self, **values):
        return MerchantRow(self.merchant_id, "", "", self.reports, self.customer_days, self.score,
                           outlets=self.outlets, **values)


def outlet_counts(city=""):
    """{merchant: its outlets in the catalogue (in city, if given)}."""
    query = Outlet.select(Outlet.merchant, fn.COUNT(Outlet.id)).group_by(Outlet.merchant)
    return dict(fetched(query.where(Outlet.city == city) if city else query))


def fetched(query):
    """A read's rows as the driver hands them over (numbers; a day is text on SQLite), for the
    reads of thousands of rows: peewee's conversion of each value took a third of the time of
    the largest (every merchant's totals, 2,000 rows: 21 -> 14 ms at 1M reports, PostgreSQL)."""
    return database.execute(query).fetchall()


def _distinct_customers(filters, merchant_ids, today):
    """{merchant: (bank-vouched customers, anonymous devices)}, neither discounted, in the period."""
    if filters.end < today:
        return _distinct_customers_counted(filters, merchant_ids)
    # A period that runs to today: the customers whose last counted day is in it (from its
    # first day on; a merchant with a last day after the period's, a report dated ahead of
    # the server's clock, is counted the long way).
    anonymous = Case(None, [(CustomersByLastDay.anonymous == True, CustomersByLastDay.customers)], 0)  # noqa: E712
    query = (CustomersByLastDay.select(CustomersByLastDay.merchant, fn.SUM(CustomersByLastDay.customers - anonymous),
                                       fn.SUM(anonymous), fn.MAX(CustomersByLastDay.day))
             .where(CustomersByLastDay.merchant.in_(merchant_ids), CustomersByLastDay.day >= filters.start,
                    CustomersByLastDay.customers > 0, scope_condition(CustomersByLastDay, filters.scope))
             .group_by(CustomersByLastDay.merchant).tuples())
    found, ahead = {}, []
    for merchant_id, vouched, anonymous, last in query:
        if date.fromisoformat(str(last)) > filters.end:
            ahead.append(merchant_id)
        else:
            found[merchant_id] = (int(vouched), int(anonymous))
    return found | (_distinct_customers_counted(filters, ahead) if ahead else {})


def _distinct_customers_counted(filters, merchant_ids):
    """_distinct_customers from the customer-days themselves, for any period."""
    # A customer is (bank, user_id). DISTINCT rows, then counted: PostgreSQL hashes them, where
    # COUNT(DISTINCT ...) sorts (half the time, measured at a million reports).
    customers = (CustomerDay.select(CustomerDay.merchant, CustomerDay.bank, CustomerDay.user_id, CustomerDay.anonymous)
                 .distinct()
                 .where(CustomerDay.merchant.in_(merchant_ids), CustomerDay.day.between(filters.start, filters.end),
                        CustomerDay.discounted == False, scope_condition(CustomerDay, filters.scope)))  # noqa: E712
    anonymous = Case(None, [(customers.c.anonymous == True, 1)], 0)  # noqa: E712
    query = (Select([customers], [customers.c.merchant_id, fn.SUM(1 - anonymous), fn.SUM(anonymous)])
             .group_by(customers.c.merchant_id).bind(CustomerDay._meta.database))
    return {merchant_id: (int(vouched), int(anonymous)) for merchant_id, vouched, anonymous in query.tuples()}


def _fill_details(filters, rows, today, median, flags_only=False):
    """Names, type breakdown, outlets affected, weekly trend, change and flag for the rows shown."""
    if not rows:
        return
    ids = [row.merchant_id for row in rows]
    by_id = {row.merchant_id: row for row in rows}
    for merchant in Merchant.select(Merchant.id, Merchant.code, Merchant.name).where(Merchant.id.in_(ids)):
        by_id[merchant.id].code, by_id[merchant.id].name = merchant.code, merchant.name
    counter = MerchantDay.verified_reports if filters.verified_only else MerchantDay.reports
    score = MerchantDay.verified_score if filters.verified_only else MerchantDay.score
    details = (MerchantDay.select(MerchantDay.merchant, *_sums(DETAIL_COUNTERS, False))
               .where(MerchantDay.scope == filters.scope, MerchantDay.feedback_type == filters.feedback_type,
                      MerchantDay.city == filters.city, MerchantDay.day.between(filters.start, filters.end),
                      MerchantDay.merchant.in_(ids))
               .group_by(MerchantDay.merchant).tuples())
    for merchant_id, *sums in details:
        row = by_id[merchant_id]
        for name, value in zip(DETAIL_COUNTERS, sums):
            setattr(row, name, int(value or 0))
        row.verified_share = row.verified_reports / max(row.reports, 1)
    if not flags_only:
        _fill_breakdown(filters, ids, by_id, counter)
    _fill_trends(filters, rows, ids, today, score, median)


def _fill_breakdown(filters, ids, by_id, counter):
    """The rows' reports by problem, and how many of their outlets have reports."""
    type_ids = [filters.feedback_type] if filters.feedback_type else [t for (t,) in FeedbackType.select(FeedbackType.id).tuples()]
    types = (MerchantDay.select(MerchantDay.merchant, MerchantDay.feedback_type, fn.SUM(counter))
             .where(MerchantDay.scope == filters.scope, MerchantDay.feedback_type.in_(type_ids),
                    MerchantDay.city == filters.city, MerchantDay.day.between(filters.start, filters.end),
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


def _fill_trends(filters, rows, ids, today, score, median):
    """Each row's weekly trend of weighted customer-days, its change against the period
    before, and its flag with the reasons."""
    length = (filters.end - filters.start).days + 1
    previous_start = filters.start - timedelta(days=length)
    first_week = today - timedelta(days=7 * TREND_WEEKS - 1)
    since = min(first_week, previous_start)
    daily = fetched(MerchantDay.select(MerchantDay.merchant, MerchantDay.day, score)
                    .where(MerchantDay.scope == filters.scope, MerchantDay.feedback_type == filters.feedback_type,
                           MerchantDay.city == filters.city, MerchantDay.day.between(since, max(today, filters.end)),
                           MerchantDay.merchant.in_(ids)))
    weeks = defaultdict(lambda: [0.0] * TREND_WEEKS)
    previous = defaultdict(float)
    for merchant_id, day, units in daily:
        value = units / SCORE_UNITS
        if isinstance(day, str):
            day = date.fromisoformat(day)
        index = (day - first_week).days // 7
        if 0 <= index < TREND_WEEKS:
            weeks[merchant_id][index] += value
        if previous_start <= day < filters.start:
            previous[merchant_id] += value
    for row in rows:
        row.trend = [round(value, 2) for value in weeks[row.merchant_id]]
        before = previous[row.merchant_id]
        row.change = (row.score - before) / before if before >= CHANGE_BASE_MIN else None
        row.flag, row.flag_reasons = merchant_flag(filters, row, median) if row.rank else ("low_volume", [])


def median_level(filters, rows):
    """The median merchant's weighted customer-days a week per outlet in the period, among
    the audience's merchants with any (0 when there are none)."""
    levels = [level(filters, row) for row in rows if row.score > 0]
    return statistics.median(levels) if levels else 0.0


def level(filters, row):
    """A merchant's weighted customer-days a week per outlet in the period."""
    weeks = ((filters.end - filters.start).days + 1) / 7
    return row.score / row.outlets / weeks


def merchant_flag(filters, row, median):
    """(flag, reasons): fraud_watch on a burst against the merchant's own baseline or on
    verified "expired" claims about active offers; needs_training on a steady level per
    outlet well above the median merchant's; else no flag ("")."""
    reasons = []
    this_week, baseline = row.trend[-1], row.trend[-1 - BASELINE_WEEKS:-1]
    mean = sum(baseline) / len(baseline)
    has_baseline = sum(1 for week in baseline if week > 0) >= BASELINE_MIN_WEEKS
    if has_baseline and this_week >= SPIKE_MIN and this_week >= SPIKE_FACTOR * max(mean, 1):
        reasons.append(f"{this_week:.1f} weighted customer-days in the last 7 days, "
                       f"{this_week / max(mean, 1):.1f} x the 8-week weekly mean ({mean:.1f})")
    verified = max(row.verified_customer_days, 1)
    if row.expired_claims >= EXPIRED_CLAIMS_MIN and row.expired_claims >= EXPIRED_CLAIMS_SHARE * verified:
        reasons.append(f"{row.expired_claims} verified customers told the offer had expired while it was active "
                       f"({row.expired_claims / verified:.0%} of verified customer-days)")
    if reasons:
        return "fraud_watch", reasons
    steady = sum(1 for week in row.trend[-TRAINING_WEEKS:] if week > 0) >= TRAINING_MIN_WEEKS
    weekly = level(filters, row)
    if steady and weekly >= TRAINING_MIN_LEVEL and weekly >= TRAINING_FACTOR * median:
        ratio = f", {weekly / median:.1f} x the median merchant's ({median:.1f})" if median else ""
        where = "at its outlet" if row.outlets == 1 else f"per outlet ({row.outlets} outlets)"
        return "needs_training", [f"{weekly:.1f} weighted customer-days a week {where} in the period" + ratio
                                  + f"; {row.distinct_customers} bank-vouched customers"]
    return "", []
