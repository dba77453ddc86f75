"""From list to action: each audience's flags evaluated on a schedule (their history kept),
cases with their actions, regressions and deadlines, and the measured effect of each
action. docs/cases.md is the admin's side.
"""
import statistics
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from peewee import fn

from .alerts import admins_of, record_event
from .charts import weekly_chart
from .db import database
from .models import AdminUser, Bank, Case, CaseAction, Feedback, FlagChange, Merchant, MerchantDay, MerchantFlag, Network
from .ranking import Filters, merchant_leaderboard
from .rollups import SCORE_UNITS, count_before_reading

EVALUATED = 200  # ranked merchants whose flags each evaluation reads, per audience
FULL_EVALUATION = timedelta(minutes=10)  # every audience, news or not (flags move as days pass too)
ID_MARGIN = 1000  # audiences_since: ids PostgreSQL may commit out of order
FIRST_ACTION_DAYS = 15  # a case's first action is due this many days after it opened (CASE_DUE_DAYS)
EFFECT_WEEKS = 4  # an action's effect: the weekly level this many weeks before against after
ACTIONS = {"staff_training": "Staff training", "merchant_contacted": "Merchant contacted",
           "offer_paused": "Offer paused", "escalated": "Escalated to fraud team", "note": "Note"}
# What the system records on a case, besides the admins' actions.
EVENTS = {"opened": "Opened", "resolved": "Resolved", "reopened": "Reopened by itself", "owner": "Owner set",
          "overdue": "First action overdue"}
STATES = {"open": "Open", "in_progress": "In progress", "resolved": "Resolved"}


def audiences():
    """Every audience with a leaderboard: the platform's, each bank's and each network's."""
    return (["all"] + [f"bank:{bank_id}" for (bank_id,) in Bank.select(Bank.id).order_by(Bank.id).tuples()]
            + [f"network:{network_id}" for (network_id,) in Network.select(Network.id).order_by(Network.id).tuples()])


def scope_name(scope):
    kind, _, key = scope.partition(":")
    if kind == "bank":
        return Bank.get_by_id(int(key)).name
    if kind == "network":
        return Network.get_by_id(int(key)).name
    return "platform"


def weekly_level(scope, merchant_id, today):
    """A merchant's weighted customer-days in the 7 days to today, for an audience."""
    count_before_reading()
    return weekly_levels_now(scope, [merchant_id], today).get(merchant_id, 0.0)


def weekly_levels_now(scope, merchant_ids, today):
    """{merchant: weighted customer-days in the 7 days to today} for an audience (as counted)."""
    return {merchant_id: int(units or 0) / SCORE_UNITS for merchant_id, units in (
        MerchantDay.select(MerchantDay.merchant, fn.SUM(MerchantDay.score))
        .where(MerchantDay.scope == scope, MerchantDay.feedback_type == 0, MerchantDay.city == "",
               MerchantDay.merchant.in_(list(merchant_ids)), MerchantDay.day.between(today - timedelta(days=6), today))
        .group_by(MerchantDay.merchant).tuples())}


def audiences_since(report_id):
    """(the audiences of the reports stored after report_id (None: every audience), the last report's id)."""
    last = Feedback.select(fn.MAX(Feedback.id)).scalar() or 0
    if report_id is None:
        return audiences(), last
    if last <= report_id:
        return [], last  # nothing new: no audience to read again
    # A margin of ids: PostgreSQL hands ids out as reports start, which commit in any order.
    banks = Bank.select(Bank.id, Bank.network).where(
        Bank.id.in_(Feedback.select(Feedback.bank).distinct().where(Feedback.id > report_id - ID_MARGIN)))
    scopes = {f"bank:{bank.id}" for bank in banks} | {f"network:{bank.network_id}" for bank in banks if bank.network_id}
    return (["all"] if scopes else []) + sorted(scopes), last


def evaluate_flags(now, public_url="", scopes=None):
    """Evaluate the audiences' leaderboards (the last 30 days; every audience's, unless
    scopes says which): record flag changes, tell of new flags, open a case on a new
    fraud_watch, reopen resolved cases that regressed; and mark every audience's overdue
    cases. Each audience's changes and their events commit together."""
    changes = 0
    for scope in audiences() if scopes is None else scopes:
        today = now.date()
        board = merchant_leaderboard(Filters(scope, today - timedelta(days=29), today), today, limit=EVALUATED,
                                     flags_only=True)
        rows = {row.merchant_id: row for row in board.ranked}
        with database.atomic():
            stored = {flag.merchant_id: flag for flag in MerchantFlag.select().where(MerchantFlag.scope == scope)}
            for merchant_id in sorted(set(rows) | set(stored)):
                row, before = rows.get(merchant_id), stored.get(merchant_id)
                flag, previous = (row.flag if row else ""), (before.flag if before else "")
                if flag != previous:
                    changes += 1
                    _flag_changed(scope, merchant_id, row, flag, previous, now, public_url)
            _reopen_regressed(scope, now, public_url)
    for scope in audiences():
        with database.atomic():
            _mark_overdue(scope, now, public_url)
    return changes


def _flag_changed(scope, merchant_id, row, flag, previous, now, public_url):
    level = row.trend[-1] if row else 0.0
    reasons = row.flag_reasons if row else []
    FlagChange.create(scope=scope, merchant=merchant_id, changed_at=now, flag=flag, previous_flag=previous,
                      level=level, reasons="\n".join(reasons))
    MerchantFlag.insert(scope=scope, merchant=merchant_id, flag=flag, level=level, since=now).on_conflict(
        conflict_target=[MerchantFlag.scope, MerchantFlag.merchant],
        update={MerchantFlag.flag: flag, MerchantFlag.level: level, MerchantFlag.since: now}).execute()
    if not flag:
        return
    merchant = Merchant.get_by_id(merchant_id)
    record_event("merchant.flagged", scope, {
        **_merchant_data(merchant, scope, public_url), "flag": flag, "previous_flag": previous, "reasons": reasons,
    }, now)
    if flag == "fraud_watch" and active_case(scope, merchant_id) is None:
        open_case(scope, merchant, None, now, public_url, level=level)


def _merchant_data(merchant, scope, public_url):
    return {"merchant_code": merchant.code, "merchant_name": merchant.name, "scope": scope,
            "scope_name": scope_name(scope), "url": f"{public_url}/admin/merchants/{merchant.id}"}


def active_case(scope, merchant_id):
    """The merchant's case in this audience that is not resolved, if any."""
    return (Case.select().where(Case.scope == scope, Case.merchant == merchant_id, Case.state != "resolved")
            .order_by(Case.id.desc()).first())


def latest_cases(scope, merchant_ids):
    """{merchant: its latest case in this audience}."""
    latest = (Case.select(fn.MAX(Case.id)).where(Case.scope == scope, Case.merchant.in_(list(merchant_ids)))
              .group_by(Case.merchant))
    return {case.merchant_id: case for case in Case.select().where(Case.id.in_(latest))}


def case_label(case, now):
    """none, open, in progress, resolved or reopened; and overdue."""
    if case is None:
        return "none"
    label = "reopened" if case.reopened and case.state != "resolved" else STATES[case.state].lower()
    return label + (", overdue" if is_overdue(case, now) else "")


def is_overdue(case, now):
    return case.state == "open" and not case.reopened and now > case.due_at


def open_case(scope, merchant, admin, now, public_url="", level=None):
    """Open a case for a merchant in an audience (one not resolved, if there is one already)."""
    case = active_case(scope, merchant.id)
    if case is not None:
        return case
    with database.atomic():
        case = Case.create(scope=scope, merchant=merchant, opened_at=now, opened_by=admin, owner=admin,
                           due_at=now + timedelta(days=_due_days()),
                           flag_level=weekly_level(scope, merchant.id, now.date()) if level is None else level)
        CaseAction.create(case=case, kind="opened", author=admin, at=now,
                          note="by a new fraud_watch flag" if admin is None else "")
        record_event("case.opened", scope, {
            **_merchant_data(merchant, scope, public_url), "case_id": case.id,
            "opened_by": admin.email if admin else "by itself, on a new fraud_watch",
            "due_at": case.due_at.date().isoformat()}, now)
    return case


def _due_days():
    """The app's CASE_DUE_DAYS (FIRST_ACTION_DAYS outside an app)."""
    return current_app.config["CASE_DUE_DAYS"] if has_app_context() else FIRST_ACTION_DAYS


def take_action(case, kind, admin, note, now):
    """Record an admin's action (or note) on a case: the case is in progress once an action is taken."""
    with database.atomic():
        CaseAction.create(case=case, kind=kind, author=admin, at=now, note=note)
        if kind != "note" and case.state == "open":
            case.state = "in_progress"
            case.save()


def resolve(case, admin, note, now):
    with database.atomic():
        CaseAction.create(case=case, kind="resolved", author=admin, at=now, note=note)
        case.state, case.resolved_at = "resolved", now
        case.save()


def set_owner(case, owner, admin, now):
    with database.atomic():
        case.owner = owner
        case.save()
        CaseAction.create(case=case, kind="owner", author=admin, at=now, note=owner.email if owner else "nobody")


def _reopen_regressed(scope, now, public_url):
    """Resolved cases whose merchant's weekly level rose back above the level that flagged it
    (each merchant's latest case only; the counters as the evaluation just counted them)."""
    latest = Case.select(fn.MAX(Case.id)).where(Case.scope == scope).group_by(Case.merchant)
    resolved = list(Case.select().where(Case.id.in_(latest), Case.state == "resolved"))
    levels = weekly_levels_now(scope, {case.merchant_id for case in resolved}, now.date()) if resolved else {}
    for case in resolved:
        level = levels.get(case.merchant_id, 0.0)
        if level > max(case.flag_level, 1.0):
            reason = (f"{level:.1f} weighted customer-days in the last 7 days, above the {case.flag_level:.1f} "
                      "that flagged it")
            case.state, case.reopened, case.resolved_at = "open", True, None
            case.save()
            CaseAction.create(case=case, kind="reopened", author=None, at=now, note=reason)
            record_event("case.regressed", scope, {**_merchant_data(case.merchant, scope, public_url),
                                                   "case_id": case.id, "reason": reason, "level": round(level, 2)}, now)


def _mark_overdue(scope, now, public_url):
    for case in Case.select().where(Case.scope == scope, Case.state == "open", Case.reopened == False,  # noqa: E712
                                    Case.overdue_at.is_null(), Case.due_at < now):
        case.overdue_at = now
        case.save()
        CaseAction.create(case=case, kind="overdue", author=None, at=now)
        record_event("case.overdue", scope, {**_merchant_data(case.merchant, scope, public_url), "case_id": case.id,
                                             "opened_at": case.opened_at.date().isoformat(),
                                             "due_at": case.due_at.date().isoformat()}, now)


# Effect.

def weekly_levels(scope, merchant_id, first, weeks):
    """Weighted customer-days per week from the week starting on first, for weeks weeks."""
    levels = [0.0] * weeks
    last = first + timedelta(days=7 * weeks - 1)
    for day, units in (MerchantDay.select(MerchantDay.day, MerchantDay.score)
                       .where(MerchantDay.scope == scope, MerchantDay.feedback_type == 0, MerchantDay.city == "",
                              MerchantDay.merchant == merchant_id, MerchantDay.day.between(first, last)).tuples()):
        if isinstance(day, str):
            day = datetime.fromisoformat(day).date()
        levels[(day - first).days // 7] += int(units) / SCORE_UNITS
    return levels


def effect(case, now, weeks=26):
    """The case's chart (weekly levels, oldest first, with the weeks its actions fell in) and,
    for each action, the mean weekly level in the EFFECT_WEEKS before against after."""
    today = now.date()
    first = min(today - timedelta(days=7 * weeks - 1), case.opened_at.date() - timedelta(days=7 * EFFECT_WEEKS))
    count = (today - first).days // 7 + 1
    levels = weekly_levels(case.scope, case.merchant_id, first, count)
    actions = [action for action in case.actions.order_by(CaseAction.at) if action.kind in ACTIONS]
    marks, findings = {}, []
    for action in actions:
        week = (action.at.date() - first).days // 7
        marks.setdefault(week, []).append(ACTIONS[action.kind])
        before = levels[max(0, week - EFFECT_WEEKS):week]
        after = levels[week + 1:week + 1 + EFFECT_WEEKS]
        findings.append(_finding(action, before, after))
    return {"first": first, "levels": levels, "marks": marks, "findings": findings}


def effect_chart(case, now):
    """(chart for templates/admin/_chart.html, findings) of a case's effect."""
    found = effect(case, now)
    weeks = [(found["first"] + timedelta(days=7 * i), round(level, 1)) for i, level in enumerate(found["levels"])]
    return weekly_chart(weeks, title="Weighted customer-days per week, actions marked", marks=found["marks"]), \
        found["findings"]


def _finding(action, before, after):
    """One action's effect in words and numbers."""
    mean_before = statistics.fmean(before) if before else 0.0
    label = f"{ACTIONS[action.kind]} on {action.at:%d %b %Y}"
    if not after:
        return {"action": label, "before": mean_before, "after": None, "weeks_after": 0,
                "words": f"{label}: too early to tell (no full week since); {mean_before:.1f} a week before."}
    mean_after = statistics.fmean(after)
    so_far = "" if len(after) >= EFFECT_WEEKS else f" ({len(after)} week{'s' * (len(after) > 1)} so far)"
    if mean_before == 0:
        trend = "rose from none" if mean_after else "stayed at none"
    else:
        change = (mean_after - mean_before) / mean_before
        trend = ("fell" if change < 0 else "rose") + f" {abs(change):.0%}" if abs(change) >= 0.05 else "stayed level"
    return {"action": label, "before": mean_before, "after": mean_after, "weeks_after": len(after),
            "words": f"{label}: weekly weighted customer-days {trend}, from {mean_before:.1f} in the "
                     f"{EFFECT_WEEKS} weeks before to {mean_after:.1f} after{so_far}."}


def scope_admins(scope):
    """The admins who may own a case of this audience: its analysts and admins."""
    return list(admins_of(scope).where(AdminUser.role != "viewer").order_by(AdminUser.email))


def flagged_counts(scope, since):
    """(merchants flagged now, merchants flagged at the moment since) on an audience's
    leaderboard, as the flag evaluations found them (MerchantFlag, FlagChange)."""
    now = MerchantFlag.select().where(MerchantFlag.scope == scope, MerchantFlag.flag != "").count()
    latest = (FlagChange.select(FlagChange.merchant, fn.MAX(FlagChange.id).alias("last"))
              .where(FlagChange.scope == scope, FlagChange.changed_at < since).group_by(FlagChange.merchant))
    before = (FlagChange.select().join(latest, on=(FlagChange.id == latest.c.last))
              .where(FlagChange.flag != "").count())
    return now, before
