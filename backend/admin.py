"""Admin pages: login, the merchant leaderboard, a merchant's page and CSV exports.

Every query is scoped to what the signed-in admin's bank or network may see; the scope
comes from the account, never from the URL.
"""
import csv
import functools
import io
import re
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from peewee import fn
from wtforms import BooleanField, DateField, EmailField, Form, HiddenField, IntegerField, PasswordField, SelectField
from wtforms.csrf.session import SessionCSRF
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, NumberRange, Optional, ValidationError

from .accounts import (admin_scope, authenticate, end_expired_sessions, end_session, find_admin, has_role,
                       session_admin, start_session, visible_banks)
from .audit import audit_admin
from .cases import case_label, effect_chart, flagged_counts, latest_cases
from .charts import sparkline_points, weekly_chart
from .models import Bank, Case, Feedback, FeedbackType, Merchant, MerchantDay, Offer, Outlet, utcnow
from .ranking import MIN_CUSTOMERS, ORDERS, Figure, Filters, merchant_leaderboard, scope_condition, summary
from .privacy import shown
from .rollups import OFFER_EXPIRED, count_before_reading
from .web import ADMIN_PREFIX

bp = Blueprint("admin", __name__, url_prefix=ADMIN_PREFIX)


PERIODS = [SelectChoice("7", "Last 7 days"), SelectChoice("30", "Last 30 days"), SelectChoice("90", "Last 90 days"),
           SelectChoice("custom", "From … to …")]


class CsrfForm(Form):
    """A POST form with a CSRF token tied to the session (no cookie beyond the session's own)."""

    class Meta:
        csrf = True
        csrf_class = SessionCSRF

        @property
        def csrf_secret(self):
            return current_app.config["SECRET_KEY"].encode()

        @property
        def csrf_context(self):
            return session


def no_control_characters(form, field):
    """Refuse control characters (a NUL cannot even reach PostgreSQL)."""
    if field.data and not field.data.isprintable():
        raise ValidationError("An e-mail address has no control characters.")


class LoginForm(CsrfForm):
    email = EmailField("Email", [InputRequired(), no_control_characters])
    password = PasswordField("Password", [InputRequired()])


# Periods end by this day at the latest: days near the year 9999 overflow the date arithmetic.
LAST_DAY = date(2999, 12, 31)


class FilterForm(Form):
    """The leaderboard's filters, read from the query string (shareable URLs)."""

    period = SelectField("Period", choices=PERIODS, default="30")
    start = DateField("From", [Optional()])
    end = DateField("To", [Optional()])
    bank = SelectField("Bank", choices=[], default="")
    feedback_type = SelectField("Problem", choices=[], default="0")
    city = SelectField("City", choices=[], default="")
    verified = BooleanField("Verified at the outlet only")
    no_case = BooleanField("No case yet")
    order = HiddenField("Order", [Optional(), AnyOf(list(ORDERS))], default="rank")
    page = IntegerField("Page", [Optional(), NumberRange(1, 10_000)], default=1)

    def validate(self, extra_validators=None):
        """Also check a custom period's dates (Optional() would skip a field-level check)."""
        ok = super().validate(extra_validators)
        start, end = self.start.data, self.end.data
        if ok and self.period.data == "custom":
            problem = ("Give both dates for a custom period." if not (start and end) else
                       "The end date must not be before the start date." if end < start else
                       "Choose at most a year." if (end - start).days > 366 else
                       "Choose dates before the year 3000." if end > LAST_DAY else None)
            if problem:
                self.end.errors.append(problem)
                ok = False
        return ok


def session_limits():
    """(idle, lifetime): a session ends after idle time without a request, or lifetime after login."""
    return timedelta(minutes=current_app.config["ADMIN_IDLE_MINUTES"]), current_app.permanent_session_lifetime


def current_admin():
    """The admin whose session the cookie names, if that session is still open on the server."""
    token = session.get("token")
    admin = session_admin(token, utcnow(), *session_limits()) if token else None
    if token and admin is None:
        session.pop("token")  # ended elsewhere: the browser forgets it too
    return admin


def login_required(view):
    """Send visitors without a session to the login page, and back here afterwards."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        g.admin = current_admin()
        if g.admin is None:
            return redirect(url_for("admin.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def requires(role):
    """login_required, and the 403 page for an admin whose role does not include role's."""

    def decorate(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            if not has_role(g.admin, role):
                abort(403)
            return view(*args, **kwargs)

        return login_required(checked)

    return decorate


@bp.context_processor
def logout_form():
    """Every admin page's header carries the logout form, with its CSRF token; may(role)
    says whether the signed-in admin's role includes role's (pages hide what it may not do)."""
    admin = g.get("admin")
    return {"logout_form": CsrfForm() if admin else None, "may": lambda role: bool(admin and has_role(admin, role))}


@bp.after_request
def never_framed(response):
    """Admin pages are never framable nor cached."""
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def safe_next(target):
    """Only a path on this site: never an open redirect, nor a header split by control characters."""
    target = target or ""
    try:
        parts = urlsplit(target)
    except ValueError:  # "//[", say
        return url_for("admin.leaderboard")
    if parts.scheme or parts.netloc or not target.startswith("/") or not target.isprintable():
        return url_for("admin.leaderboard")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with e-mail and password; repeated failures lock the account for a while."""
    form = LoginForm(request.form)
    error = None
    if request.method == "POST" and form.validate():
        now = utcnow()
        known = find_admin(form.email.data)
        counted = known is not None and known.disabled_at is None and (known.locked_until is None or
                                                                       known.locked_until <= now)
        admin = authenticate(form.email.data, form.password.data, now)
        if admin:
            end_expired_sessions(now, *session_limits())
            # A new token and a new cookie (no fixation); the session this browser had ends.
            token = start_session(admin, now, replacing=session.get("token"))
            session.clear()
            session["token"] = token
            audit_admin(admin, "login")
            return redirect(safe_next(request.args.get("next")))
        if counted:  # in its audience's log, at most 5 per lock-out (unknown e-mails: the access log only)
            audit_admin(known, "login.failed", "wrong password")
        error = "Wrong e-mail or password, or too many attempts: try again later."
    elif request.method == "POST":
        error = ("The form expired; please try again." if form.csrf_token.errors else
                 form.email.errors[0] if form.email.errors and form.email.data else "Give your e-mail and password.")
    return render_template("admin/login.html", form=form, error=error), 400 if error else 200


@bp.post("/logout")
def logout():
    """Log out (a POST with a CSRF token, so another site cannot log you out)."""
    form = CsrfForm(request.form)
    if not form.validate():
        abort(400)
    admin = current_admin()
    if admin:
        audit_admin(admin, "logout")
    if session.get("token"):
        end_session(session["token"])  # a copy of the cookie is worth nothing from now on
    session.clear()
    return redirect(url_for("admin.login"))


@bp.get("/")
@login_required
def home():
    return redirect(url_for("admin.leaderboard"))


def filters_from_request():
    """(form, Filters or None) for the signed-in admin; the scope always comes from the account."""
    scope = admin_scope(g.admin)
    banks = visible_banks(scope)
    form = FilterForm(request.args)
    if len(banks) > 1:
        form.bank.choices = [SelectChoice("", "All banks")] + [SelectChoice(bank.code, bank.name) for bank in banks]
    else:
        form.bank.choices = [SelectChoice("", banks[0].name if banks else "All banks")]
    types = FeedbackType.select().order_by(FeedbackType.id)
    form.feedback_type.choices = [SelectChoice("0", "Any problem")] + [SelectChoice(str(t.id), t.label) for t in types]
    cities = sorted({c for (c,) in Outlet.select(Outlet.city).distinct().tuples()})
    form.city.choices = [SelectChoice("", "Any city")] + [SelectChoice(city) for city in cities]
    if not form.validate():
        return form, None
    today = utcnow().date()
    if form.period.data == "custom":
        start, end = form.start.data, form.end.data
    else:  # the dates show the period chosen; changing one makes the period "From … to …" (console.js)
        start, end = today - timedelta(days=int(form.period.data) - 1), today
        form.start.data, form.end.data = start, end
        form.start.raw_data = form.end.raw_data = None  # else WTForms shows the dates as sent
    if form.bank.data:
        scope = f"bank:{next(bank.id for bank in banks if bank.code == form.bank.data)}"
    return form, Filters(scope, start, end, int(form.feedback_type.data), form.city.data, form.verified.data)


def wants_fragment():
    """htmx asking for the fragment (a history restore asks for the whole page)."""
    return request.headers.get("HX-Request") and request.headers.get("HX-Request-Type") != "full"


PAGE_ROWS = 25


@bp.get("/leaderboard")
@login_required
def leaderboard():
    """The merchants where the bank or network must step in, ranked, a page at a time."""
    form, filters = filters_from_request()
    today = utcnow().date()
    board = figures = None
    if filters:
        page = form.page.data or 1
        with_case = ({merchant_id for (merchant_id,) in Case.select(Case.merchant).where(
            Case.scope == admin_scope(g.admin)).tuples()} if form.no_case.data else frozenset())
        board = merchant_leaderboard(filters, today, limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS,
                                     order=form.order.data or "rank", leave_out=with_case, outlets=outlets_of(filters))
        figures = summary(filters, board.period)
        figures["flagged"] = Figure(*flagged_counts(filters.scope, datetime.combine(filters.start, time())))
    cases = latest_cases(admin_scope(g.admin), [row.merchant_id for row in board.ranked]) if board else {}
    now = utcnow()
    labels = dict(FeedbackType.select(FeedbackType.id, FeedbackType.label).tuples())
    context = {"form": form, "filters": filters, "board": board, "figures": figures, "labels": labels,
               "min_customers": MIN_CUSTOMERS, "sparkline": sparkline_points, "query": request.query_string.decode(),
               "cases": cases, "case_label": lambda case: case_label(case, now), "case_form": CsrfForm(),
               "with_args": with_args, "page_rows": PAGE_ROWS}
    template = "admin/_leaderboard.html" if wants_fragment() else "admin/leaderboard.html"
    return render_template(template, **context), 200 if filters else 400


def with_args(**changes):
    """This page's query string with some arguments changed (None drops one)."""
    args = request.args.to_dict()
    args.update(changes)
    return urlencode({name: value for name, value in args.items() if value is not None})


@bp.get("/leaderboard.csv")
@login_required
def leaderboard_csv():
    """The leaderboard as filtered, as CSV."""
    form, filters = filters_from_request()
    if filters is None:
        abort(400)
    # Every ranked merchant, however many.
    board = merchant_leaderboard(filters, utcnow().date(), limit=10**9, outlets=outlets_of(filters))
    now = utcnow()
    cases = latest_cases(admin_scope(g.admin), [r.merchant_id for r in board.ranked + board.low_volume])
    types = _type_names()
    header = ["rank", "merchant_code", "merchant_name", "score_weighted_customer_days", "outlets",
              "score_per_outlet_weighted_customer_days", "reports", "distinct_customers", "anonymous_customers",
              "verified_customer_days", "unverified_customer_days", "away_customer_days", "discounted_customer_days",
              "verified_share_0_to_1", "outlets_affected", "change_against_previous_period_ratio", "flag",
              "flag_reasons", "case"] + [f"type_{slug}" for slug in types.values()]
    rows = [[r.rank or "", r.code, r.name, f"{r.score:.2f}", r.outlets, f"{r.score_per_outlet:.2f}", r.reports,
             r.distinct_customers, r.anonymous_customers, r.verified_customer_days, r.unverified_customer_days,
             r.away_customer_days, r.discounted_customer_days, f"{r.verified_share:.3f}", r.outlets_affected,
             "" if r.change is None else f"{r.change:.3f}", r.flag, "; ".join(r.flag_reasons),
             case_label(cases.get(r.merchant_id), now)]
            + [r.by_type.get(type_id, 0) for type_id in types] for r in board.ranked + board.low_volume]
    audit_admin(g.admin, "export.leaderboard_csv", request.query_string.decode()[:500])
    return csv_response(f"leaderboard-{filters.start}-{filters.end}.csv", header, rows)


def outlets_of(filters):
    """The merchants' outlet counts for the city filtered on, from the worker's catalogue cache."""
    return current_app.extensions["lookups"].outlet_counts(filters.city)


def _type_names():
    return dict(FeedbackType.select(FeedbackType.id, FeedbackType.slug).order_by(FeedbackType.id).tuples())


# Text a spreadsheet would run as a formula starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def spreadsheet_safe(value):
    """A cell as written: text that could run as a formula gets a leading ', numbers
    (negative ones too) and empty cells stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_response(filename, header, rows):
    """A CSV download: UTF-8 with a byte order mark (so that spreadsheets read Hindi right)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([[spreadsheet_safe(value) for value in row] for row in rows])
    response = current_app.make_response(buffer.getvalue())
    response.mimetype = "text/csv"
    # Merchant codes come from catalogues: only safe characters make the file's name.
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response


def visible_reports(merchant_id, filters):
    """A merchant's raw reports that this audience may see, in the period and filters."""
    query = Feedback.select().where(
        Feedback.merchant == merchant_id, Feedback.created_at >= filters.start,
        Feedback.created_at < filters.end + timedelta(days=1), scope_condition(Feedback, filters.scope))
    if filters.feedback_type:
        query = query.where(Feedback.feedback_type == filters.feedback_type)
    if filters.city:
        query = query.where(Feedback.outlet.in_(Outlet.select(Outlet.id).where(Outlet.city == filters.city)))
    if filters.verified_only:
        query = query.where(Feedback.verdict == "at_outlet")
    return query


def merchant_or_404(merchant_id, scope):
    """The merchant, if this audience has ever seen a report about it (counted or not)."""
    count_before_reading()
    if merchant_id > 2**63 - 1:  # beyond any database's integers
        abort(404)
    merchant = Merchant.get_or_none(Merchant.id == merchant_id)
    seen = Feedback.select().where(Feedback.merchant == merchant_id, scope_condition(Feedback, scope)).exists()
    if merchant is None or not seen:
        abort(404)
    return merchant


@bp.get("/merchants/<int:merchant_id>")
@login_required
def merchant(merchant_id):
    """One merchant: outlets, verdicts, types, weekly trend, recent comments, offers."""
    form, filters = filters_from_request()
    merchant = merchant_or_404(merchant_id, admin_scope(g.admin))
    if filters is None:
        return render_template("admin/merchant.html", merchant=merchant, form=form, filters=None), 400
    reports = visible_reports(merchant_id, filters)
    outlets = {}
    for outlet_id, verdict, count in (reports.select(Feedback.outlet, Feedback.verdict, fn.COUNT(Feedback.id))
                                      .group_by(Feedback.outlet, Feedback.verdict).tuples()):
        outlets.setdefault(outlet_id, {})[verdict] = count
    names = {o.id: o for o in Outlet.select().where(Outlet.id.in_([i for i in outlets if i]))}
    by_type = dict(reports.select(Feedback.feedback_type, fn.COUNT(Feedback.id)).group_by(Feedback.feedback_type).tuples())
    # Listed, though they count nowhere: the offer had in fact ended (or not started).
    justified = reports.where(Feedback.feedback_type == OFFER_EXPIRED, Feedback.offer_status != "active").count()
    comments = list(reports.where(Feedback.comment != "").order_by(Feedback.created_at.desc()).limit(20))
    offer_ids = [o for (o,) in reports.select(Feedback.offer).distinct().tuples()]
    today = utcnow().date()
    weeks = weekly_counts(merchant_id, filters.scope, today)
    case = latest_cases(admin_scope(g.admin), [merchant_id]).get(merchant_id)
    context = {
        "merchant": merchant, "form": form, "filters": filters, "query": request.query_string.decode(),
        "outlets": sorted(((names.get(i), verdicts) for i, verdicts in outlets.items()),
                          key=lambda item: -sum(item[1].values())),
        "types": {t.id: t.label for t in FeedbackType.select()}, "by_type": by_type,
        "comments": comments, "mask": mask_customer, "chart": weekly_chart(weeks), "justified_expired": justified,
        "offers": list(Offer.select().where(Offer.id.in_(offer_ids)).order_by(Offer.valid_to.desc())),
        "today": today, "case": case, "case_label": lambda case: case_label(case, utcnow()), "case_form": CsrfForm(),
        "effect": effect_chart(case, utcnow()) if case else None,
    }
    return render_template("admin/merchant.html", **context)


@bp.get("/merchants/<int:merchant_id>/reports.csv")
@login_required
def merchant_csv(merchant_id):
    """A merchant's reports as filtered, as CSV (customer ids masked)."""
    form, filters = filters_from_request()
    merchant = merchant_or_404(merchant_id, admin_scope(g.admin))
    if filters is None:
        abort(400)
    header = ["feedback_id", "created_at_utc", "outlet_code", "feedback_type", "verdict", "distance_m", "offer_code",
              "offer_status", "bank_code", "customer", "comment"]
    reports = visible_reports(merchant_id, filters).order_by(Feedback.created_at.desc())
    outlet_codes = dict(Outlet.select(Outlet.id, Outlet.code).where(Outlet.merchant == merchant_id).tuples())
    offer_codes = dict(Offer.select(Offer.id, Offer.code).where(Offer.merchant == merchant_id).tuples())
    bank_codes = dict(Bank.select(Bank.id, Bank.code).tuples())
    slugs = _type_names()
    rows = [[r.public_id, r.created_at.isoformat(timespec="seconds"), outlet_codes.get(r.outlet_id, ""),
             slugs[r.feedback_type_id], r.verdict, "" if r.distance_m is None else r.distance_m,
             offer_codes[r.offer_id], r.offer_status, bank_codes[r.bank_id], mask_customer(r), r.comment]
            for r in reports.iterator()]
    audit_admin(g.admin, "export.merchant_csv", f"{merchant.code}: {len(rows)} reports")
    return csv_response(f"{merchant.code}-reports-{filters.start}-{filters.end}.csv", header, rows)


def weekly_counts(merchant_id, scope, today, weeks=12):
    """Reports per week for the last weeks, oldest first: [(week start, count)]."""
    first = today - timedelta(days=7 * weeks - 1)
    counts = [0] * weeks
    for day, count in (MerchantDay.select(MerchantDay.day, MerchantDay.reports)
                       .where(MerchantDay.scope == scope, MerchantDay.feedback_type == 0, MerchantDay.city == "",
                              MerchantDay.merchant == merchant_id, MerchantDay.day >= first).tuples()):
        counts[(day - first).days // 7] += count
    return [(first + timedelta(days=7 * i), count) for i, count in enumerate(counts)]


def mask_customer(report):
    """A report's customer as admin pages show it: its short pseudonym (privacy.shown)."""
    return shown(report.user_id, report.anonymous)
