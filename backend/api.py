"""The documented Offers Feedback HTTP API at /api: one JSON answer shape for everything."""
import json
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request
from werkzeug.datastructures import MultiDict

from .cases import case_label, latest_cases
from .credentials import credentials_match
from .audit import record_audit
from .feedback import ReportRejected, Rules, device_hash, ip_hash, served_bank, submit_report
from .forms import (CustomerForm, LeaderboardForm, OffersForm, UserFeedbackForm, bound_form, form_problems, reported_at_problem,
                    undecodable_fields)
from .models import Bank, FeedbackType, utcnow
from .offers import usable_offers
from .privacy import customer_reports, erase_customer
from .ranking import Filters, merchant_leaderboard

bp = Blueprint("api", __name__)

# Every error code the API answers, with its HTTP status (docs/api.md lists the same).
ERROR_STATUS = {
    "missing_value": 400,
    "invalid_value": 400,
    "unknown_action": 400,
    "invalid_credentials": 401,
    "not_allowed": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "unknown_code": 422,
    "server_error": 500,
}


class ApiError(Exception):
    def __init__(self, code, message, fields=()):
        super().__init__(message)
        self.code, self.message, self.fields = code, message, list(fields)


def error_response(code, message, fields=()):
    """The one error shape: {"status": "error", "error", "message", "fields"}."""
    body = {"status": "error", "error": code, "message": message, "fields": list(fields)}
    return jsonify(body), ERROR_STATUS[code]


def request_params():
    """Query string merged with a form or JSON body (the body wins), as a MultiDict."""
    if len(request.query_string) > current_app.config["MAX_CONTENT_LENGTH"]:
        raise ApiError("payload_too_large", "The request is too large.")
    # Werkzeug keeps undecodable bytes as literal %XX text; refuse them instead.
    bad = undecodable_fields(request.query_string)
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        bad += undecodable_fields(request.get_data())
    if bad:
        raise ApiError("invalid_value", f"Invalid value for {bad[0]}: is not valid UTF-8.", bad)
    if request.method != "POST":
        return request.args
    params = MultiDict(request.args)
    if request.is_json:
        for key, value in json_params(request.get_data()).items():
            params.setlist(key, [value])
    else:
        for key in request.form:
            params.setlist(key, request.form.getlist(key))
    return params


# JSON numbers are taken where the parameter is a number (a feedback type's id among them),
# true and false for verified_only; the other parameters must be strings. null is "not
# given"; keys that are no parameter are ignored, as in a query string.
JSON_NUMBERS = frozenset({"user_latitude", "user_longitude", "user_accuracy", "feedback_type", "limit"})
JSON_BOOLEANS = frozenset({"verified_only"})
PARAMETERS = frozenset({"action"} | {field.name for form in (UserFeedbackForm, LeaderboardForm, OffersForm, CustomerForm)
                                      for field in form()})


def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")


def json_params(body):
    """A JSON object body's parameters as strings; invalid_value for anything else."""
    try:
        data = json.loads(body, parse_constant=_not_json)  # NaN and Infinity are not JSON
    except (ValueError, RecursionError):  # also bytes that are not UTF-8, and nesting thousands deep
        data = None
    if not isinstance(data, dict):
        raise ApiError("invalid_value", "The request body must be a JSON object in UTF-8.")
    params = {}
    for key, value in data.items():
        name = key.encode("utf-8", "replace").decode()
        if not _encodable(key) or (isinstance(value, str) and not _encodable(value)):
            # "\ud800": JSON can spell a lone surrogate, which is no text at all.
            raise ApiError("invalid_value", f"Invalid value for {name}: is not valid UTF-8.", [name])
        if key not in PARAMETERS:
            continue
        if isinstance(value, bool) and key in JSON_BOOLEANS:
            value = "true" if value else "false"
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and key in JSON_NUMBERS:
            value = str(value)
        elif value is not None and not isinstance(value, str):
            kind = "a string or a number" if key in JSON_NUMBERS else "true or false" if key in JSON_BOOLEANS else "a string"
            raise ApiError("invalid_value", f"Invalid value for {name}: must be {kind}.", [name])
        if value is not None:
            params[key] = value
    return params


def _encodable(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validated(form):
    """Raise missing_value (all missing fields at once) or invalid_value for a bad form."""
    if form.validate():
        return form
    missing, invalid = form_problems(form)
    if missing:
        raise ApiError("missing_value", "Missing value for: " + ", ".join(missing), missing)
    detail = "; ".join(f"{name}: {message}" for name, message in invalid.items())
    raise ApiError("invalid_value", f"Invalid value for {detail}.", invalid)


def authenticated(form):
    """The client's credentials, or invalid_credentials (one answer for every failure)."""
    lookups = current_app.extensions["lookups"]
    credentials = lookups.credentials(form.clientkey.data)
    key_id = credentials_match(credentials, form.clientpass.data, form.apikey.data)
    if key_id is None:
        # A key added since the cache was filled must work at once: look again.
        credentials = lookups.credentials(form.clientkey.data, fresh=True)
        key_id = credentials_match(credentials, form.clientpass.data, form.apikey.data)
    if key_id is None:
        raise ApiError(
            "invalid_credentials",
            "The clientkey, clientpass and apikey do not match an active API key.",
            ["clientkey", "clientpass", "apikey"],
        )
    lookups.key_used(key_id, utcnow())
    return credentials


# A report an app queued offline may arrive late; older history goes through import-reports.
REPORTED_AT_MAX_AGE = timedelta(days=7)


def user_feedback(params):
    """Record one customer report."""
    form = validated(bound_form(UserFeedbackForm, params))
    config = current_app.config
    now = utcnow()
    if form.reported_at.data is not None:
        problem = reported_at_problem(form.reported_at.data, now, REPORTED_AT_MAX_AGE)
        if problem:
            raise ApiError("invalid_value", f"Invalid value for reported_at: {problem}.", ["reported_at"])
    credentials = authenticated(form)
    secret = config["SECRET_KEY"]
    try:
        result = submit_report(
            current_app.extensions["lookups"], Rules.from_config(config), credentials,
            bank_code=form.your_bank_code.data, offer_code=form.offer_code.data, outlet_code=form.outlet_code.data,
            feedback_type=form.feedback_type.data, user_id=form.user_id.data, now=form.reported_at.data or now,
            received_at=now, latitude=form.user_latitude.data, longitude=form.user_longitude.data,
            accuracy_m=form.user_accuracy.data, comment=form.comment.data or "", channel="api",
            ip_hash=ip_hash(secret, form.client_ip.data),
            device_hash=device_hash(secret, form.device_id.data),
        )
    except ReportRejected as exc:
        raise ApiError(exc.code, exc.message, exc.fields) from None
    message = (
        "Already reported recently; counted once." if result.duplicate else "Thank you, your feedback was recorded."
    )
    return jsonify(
        status="success",
        message=message,
        feedback_id=result.feedback_id,
        duplicate=result.duplicate,
        location={"verdict": result.verdict, "distance_m": result.distance_m, "radius_m": result.radius_m},
        offer_status=result.offer_status,
    )


def feedback_types(params):
    """The feedback type catalogue (public: it holds nothing secret)."""
    types = FeedbackType.select().where(FeedbackType.active == True).order_by(FeedbackType.id)  # noqa: E712
    return jsonify(status="success", feedback_types=[{"id": t.id, "slug": t.slug, "label": t.label} for t in types])


def leaderboard(params):
    """The merchant leaderboard, scoped to the client's bank or network."""
    form = validated(LeaderboardForm(params))
    credentials = authenticated(form)
    feedback_type = 0
    if form.feedback_type.data:
        found = current_app.extensions["lookups"].feedback_type(form.feedback_type.data)
        if found is None:
            raise ApiError("unknown_code", "Unknown feedback_type: see action=feedback_types.", ["feedback_type"])
        feedback_type = found.id
    today = utcnow().date()
    start, end = form.dates if form.dates[0] else (today - timedelta(days=int(form.period.data or 30) - 1), today)
    scope = f"bank:{credentials.bank_id}" if credentials.bank_id else f"network:{credentials.network_id}"
    filters = Filters(scope, start, end, feedback_type, verified_only=form.wants_verified_only())
    board = merchant_leaderboard(filters, today, limit=int(form.limit.data or 25),
                                 outlets=current_app.extensions["lookups"].outlet_counts(filters.city))
    cases, now = latest_cases(scope, [row.merchant_id for row in board.ranked]), utcnow()
    merchants = [
        {"rank": row.rank, "merchant_code": row.code, "merchant_name": row.name, "score": round(row.score, 2),
         "outlets": row.outlets, "score_per_outlet": round(row.score_per_outlet, 2),
         "reports": row.reports, "distinct_customers": row.distinct_customers,
         "anonymous_customers": row.anonymous_customers,
         "customer_days": {"verified": row.verified_customer_days, "unverified": row.unverified_customer_days,
                           "away": row.away_customer_days, "discounted": row.discounted_customer_days},
         "verified_share": round(row.verified_share, 3), "outlets_affected": row.outlets_affected,
         "by_type": {str(k): v for k, v in sorted(row.by_type.items())}, "trend_weekly": row.trend,
         "change": None if row.change is None else round(row.change, 3), "flag": row.flag,
         "flag_reasons": row.flag_reasons, "case": case_label(cases.get(row.merchant_id), now)}
        for row in board.ranked
    ]
    return jsonify(status="success", period={"from": start.isoformat(), "to": end.isoformat()},
                   verified_only=filters.verified_only, merchants=merchants, low_volume_merchants=board.low_volume_count)


def offers(params):
    """The offers the client's customers can use (one bank's, for a network naming it), with their outlets."""
    form = validated(OffersForm(params))
    credentials = authenticated(form)
    try:
        listed = usable_offers(current_app.extensions["lookups"], credentials, form.your_bank_code.data, utcnow().date(),
                               current_app.config["LOCATION_RADIUS_M"])
    except ReportRejected as exc:
        raise ApiError(exc.code, exc.message, exc.fields) from None
    return jsonify(status="success", offers=listed)


def customer_of(params):
    """(form, bank) of a customer request: a bank's client asks about its own customers, a
    network's client names one of its banks."""
    form = validated(CustomerForm(params))
    credentials = authenticated(form)
    try:
        if form.your_bank_code.data:
            return form, served_bank(current_app.extensions["lookups"], credentials, form.your_bank_code.data)
    except ReportRejected as exc:
        raise ApiError(exc.code, exc.message, exc.fields) from None
    if credentials.bank_id is None:
        raise ApiError("missing_value", "Missing value for: your_bank_code (a network's client names the bank)",
                       ["your_bank_code"])
    return form, Bank.get_by_id(credentials.bank_id)


def audit_request(form, bank, action, count):
    """A customer request in the bank's audit log: which client, how many reports; never the customer's id."""
    record_audit(None, f"api {form.clientkey.data}", f"bank:{bank.id}", action, f"{count} reports", utcnow())


def customer_reports_action(params):
    """A customer's access request: every report stored of them at that bank."""
    form, bank = customer_of(params)
    reports = customer_reports(current_app.config["CUSTOMER_KEY"], bank, form.user_id.data)
    audit_request(form, bank, "customer.reports_read", len(reports))
    return jsonify(status="success", reports=reports)


def erase_customer_action(params):
    """A customer's erasure request: their comments, positions and pseudonym leave every report."""
    form, bank = customer_of(params)
    erased = erase_customer(current_app.config["CUSTOMER_KEY"], bank, form.user_id.data,
                            record=lambda erased: audit_request(form, bank, "customer.erased", erased))
    return jsonify(status="success", erased_reports=erased)


# The published documentation spells the report action both ways.
ACTIONS = {"user_feedback": user_feedback, "feedback": user_feedback, "feedback_types": feedback_types,
           "merchant_leaderboard": leaderboard, "offers": offers, "customer_reports": customer_reports_action,
           "erase_customer": erase_customer_action}


@bp.route("/api", methods=["GET", "POST"], provide_automatic_options=False)
def api():
    """Dispatch on the action parameter; only GET and POST act (Flask would answer HEAD too)."""
    if request.method not in ("GET", "POST"):
        response, status = error_response("method_not_allowed", "Use GET or POST.")
        response.headers["Allow"] = "GET, POST"
        return response, status
    try:
        params = request_params()
        action = (params.get("action") or "").strip()
        if not action:
            raise ApiError("missing_value", "Missing value for: action", ["action"])
        if action not in ACTIONS:
            raise ApiError("unknown_action", f"Unknown action; use one of: {', '.join(ACTIONS)}.", ["action"])
        return ACTIONS[action](params)
    except ApiError as exc:
        return error_response(exc.code, exc.message, exc.fields)


# The OpenAPI 3.1 description of /api (tests/test_openapi.py keeps it in step with the code).
OPENAPI_DOCUMENT = (Path(__file__).parent / "openapi.json").read_bytes()


@bp.get("/api/openapi.json", provide_automatic_options=False)
def openapi_document():
    """The machine-readable contract of /api, for code generators and schemathesis."""
    return current_app.response_class(OPENAPI_DOCUMENT, mimetype="application/json")
