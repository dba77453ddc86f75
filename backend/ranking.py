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

from peewee import Case, fn

from .models import Bank, CustomerDay, Feedback, FeedbackType, Merchant, MerchantDay, Outlet
from .rollups import count_before_reading

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
# needs_training: a level per outlet over the last 4 weeks at least this many times the
# median merchant's in the same audience, with customer-days in at least 3 of those weeks.
TRAINING_WEEKS = 4
TRAINING_FACTOR = 3
TRAINING_MIN_WEEKS = 3
TRAINING_MIN_LEVEL = 1.0  # weighted customer-days a week


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
    ranked: list
    low_volume: list
    low_volume_count: int


COUNTER_NAMES = ("reports", "customer_days", "score", "verified_reports", "expired_claims", "verified_customer_days",
                 "unverified_customer_days", "away_customer_days", "discounted_customer_days")


def _counter_columns(verified_only):
    """The sums of COUNTER_NAMES; reports, customer-days and score of verified ones only, if asked."""
    prefix = "verified_" if verified_only else ""
    return [fn.SUM(getattr(MerchantDay, (prefix if name in ("reports", "customer_days", "score") else "") + name))
            for name in COUNTER_NAMES]


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
    """Rank merchants by score per outlet for an audience and filters (a chain's many
    outlets draw more reports than one shop, and staff are trained outlet by outlet);
    low-volume ones listed apart."""
    count_before_reading()
    outlets = outlet_counts(filters.city)
    totals = (_rollup(filters, filters.start, filters.end)
              .select(MerchantDay.merchant, *_counter_columns(filters.verified_only))
              .group_by(MerchantDay.merchant).tuples())
    rows = []
    for merchant_id, *sums in totals:
        values = dict(zip(COUNTER_NAMES, (value or 0 for value in sums)))
        if values["reports"] or values["discounted_customer_days"]:
            rows.append(MerchantRow(merchant_id, "", "", **{k: float(v) if k == "score" else int(v) for k, v in values.items()},
                                    outlets=outlets.get(merchant_id, 1),
                                    verified_share=values["verified_reports"] / max(values["reports"], 1)))
    # Distinct customers never exceed customer-days: below the bar on those, certainly low volume.
    candidates = sorted((r for r in rows if r.customer_days >= min_customers),
                        key=lambda r: (-r.score_per_outlet, -r.score, -r.reports, r.merchant_id))
    ranked, low = [], [r for r in rows if r.customer_days < min_customers]
    position = 0
    while len(ranked) < limit and position < len(candidates):
        batch = candidates[position:position + 2 * limit]
        position += len(batch)
        distinct = _distinct_customers(filters, [r.merchant_id for r in batch])
        for row in batch:
            row.distinct_customers, row.anonymous_customers = distinct.get(row.merchant_id, (0, 0))
            (ranked if row.distinct_customers >= min_customers else low).append(row)
    ranked = ranked[:limit]
    for rank, row in enumerate(ranked, 1):
        row.rank = rank
    low.sort(key=lambda r: (-r.reports, r.merchant_id))
    shown = ranked + low[:10]
    _fill_details(filters, shown, today)
    return Leaderboard(ranked, low[:10], len(low))


def outlet_counts(city=""):
    """{merchant: its outlets in the catalogue (in city, if given)}."""
    query = Outlet.select(Outlet.merchant, fn.COUNT(Outlet.id)).group_by(Outlet.merchant)
    return dict((query.where(Outlet.city == city) if city else query).tuples())


def _distinct_customers(filters, merchant_ids):
    """{merchant: (bank-vouched customers, anonymous devices)}, neither discounted, in the period."""
    customer = CustomerDay.user_id.concat(":").concat(CustomerDay.bank)  # a customer is (bank, user_id)
    query = (CustomerDay.select(CustomerDay.merchant,
                                fn.COUNT(fn.DISTINCT(Case(None, [(CustomerDay.anonymous == False, customer)], None))),  # noqa: E712
                                fn.COUNT(fn.DISTINCT(Case(None, [(CustomerDay.anonymous == True, customer)], None))))  # noqa: E712
             .where(CustomerDay.merchant.in_(merchant_ids), CustomerDay.day.between(filters.start, filters.end),
                    CustomerDay.discounted == False, scope_condition(CustomerDay, filters.scope))  # noqa: E712
             .group_by(CustomerDay.merchant).tuples())
    return {merchant_id: (vouched, anonymous) for merchant_id, vouched, anonymous in query}


def _fill_details(filters, rows, today):
    """Names, type breakdown, outlets affected, weekly trend, change and flag for the rows shown."""
    if not rows:
        return
    ids = [row.merchant_id for row in rows]
    by_id = {row.merchant_id: row for row in rows}
    for merchant in Merchant.select(Merchant.id, Merchant.code, Merchant.name).where(Merchant.id.in_(ids)):
        by_id[merchant.id].code, by_id[merchant.id].name = merchant.code, merchant.name
    counter = MerchantDay.verified_reports if filters.verified_only else MerchantDay.reports
    score = MerchantDay.verified_score if filters.verified_only else MerchantDay.score
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
    _fill_trends(filters, rows, ids, today, score)


def _fill_trends(filters, rows, ids, today, score):
    """Each row's weekly trend of weighted customer-days, its change against the period
    before, and its flag with the reasons."""
    length = (filters.end - filters.start).days + 1
    previous_start = filters.start - timedelta(days=length)
    first_week = today - timedelta(days=7 * TREND_WEEKS - 1)
    since = min(first_week, previous_start)
    # Days and merchants as lists: the counters' key then gives one seek per (day, merchant)
    # instead of a scan of every merchant's days.
    daily = (MerchantDay.select(MerchantDay.merchant, MerchantDay.day, score)
             .where(MerchantDay.scope == filters.scope, MerchantDay.feedback_type == filters.feedback_type,
                    MerchantDay.city == filters.city, MerchantDay.day.in_(_days(since, max(today, filters.end))),
                    MerchantDay.merchant.in_(ids))
             .tuples())
    weeks = defaultdict(lambda: [0.0] * TREND_WEEKS)
    previous = defaultdict(float)
    for merchant_id, day, value in daily:
        if isinstance(day, str):
            day = date.fromisoformat(day)
        index = (day - first_week).days // 7
        if 0 <= index < TREND_WEEKS:
            weeks[merchant_id][index] += value
        if previous_start <= day < filters.start:
            previous[merchant_id] += value
    median = median_level(filters, today, score, outlet_counts(filters.city))
    for row in rows:
        row.trend = [round(value, 2) for value in weeks[row.merchant_id]]
        before = previous[row.merchant_id]
        row.change = (row.score - before) / before if before else None
        row.flag, row.flag_reasons = merchant_flag(row, median) if row.rank else ("low_volume", [])


def median_level(filters, today, score, outlets):
    """The median merchant's weighted customer-days a week per outlet over the last
    TRAINING_WEEKS weeks, among the audience's merchants with any (0 when there are none)."""
    start = today - timedelta(days=7 * TRAINING_WEEKS - 1)
    sums = (_rollup(filters, start, today).select(MerchantDay.merchant, fn.SUM(score))
            .group_by(MerchantDay.merchant).tuples())
    levels = [value / TRAINING_WEEKS / outlets.get(merchant_id, 1) for merchant_id, value in sums if value]
    return statistics.median(levels) if levels else 0.0


def _days(first, last):
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def merchant_flag(row, median):
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
    recent = row.trend[-TRAINING_WEEKS:]
    level = sum(recent) / TRAINING_WEEKS / row.outlets
    steady = sum(1 for week in recent if week > 0) >= TRAINING_MIN_WEEKS
    if steady and level >= TRAINING_MIN_LEVEL and level >= TRAINING_FACTOR * median:
        ratio = f", {level / median:.1f} x the median merchant's ({median:.1f})" if median else ""
        where = "at its outlet" if row.outlets == 1 else f"per outlet ({row.outlets} outlets)"
        return "needs_training", [f"{level:.1f} weighted customer-days a week {where} over the last {TRAINING_WEEKS} "
                                  "weeks" + ratio + f"; {row.distinct_customers} bank-vouched customers"]
    return "", []
