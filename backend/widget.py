"""The embeddable widget: the loader script and the framed two-click report form.

The frame lives on our origin, so the bank's page can neither read nor restyle it. It
does not rely on cookies (third-party cookies are blocked): each form carries a signed,
expiring token naming the widget key, bank, offer, outlet, customer and host page origin.
"""
import functools
import gzip
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, g, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import Form, StringField, ValidationError

from .config import PROJECT_DIR
from .credentials import signature_matches
from .feedback import Reporter, ReportRejected, Rules, ip_hash, resolve_report, submit_report
from .privacy import pseudonym
from .forms import NumberField, between, plain_text, strip, undecodable_fields
from .i18n import TEXT, language, type_label
from .models import Client, Feedback, FeedbackType, utcnow

bp = Blueprint("widget", __name__)

LOCATION_STATUSES = ("granted", "denied", "unavailable", "timeout", "unsupported")


def _short(label, max_length=200):
    return StringField(label, [plain_text()], filters=[strip, lambda v: (v or "")[:max_length]])


class FrameForm(Form):
    """The loader's query string; everything optional here, checked in context below."""

    key, offer, outlet, bank = _short("key"), _short("offer"), _short("outlet"), _short("bank")
    lang, theme, uid, sig, device = _short("lang"), _short("theme"), _short("uid", 254), _short("sig"), _short("device")


class TokenForm(Form):
    token = StringField("token", filters=[strip])


class ChoiceForm(TokenForm):
    """Click 1: a feedback type and, when the browser gave it, where the customer stands."""

    feedback_type = StringField("feedback_type", [plain_text()], filters=[strip])
    user_latitude = NumberField("user_latitude", [between(-90, 90)])
    user_longitude = NumberField("user_longitude", [between(-180, 180)])
    user_accuracy = NumberField("user_accuracy", [between(0, 100_000)])
    location_status = StringField("location_status", filters=[strip])

    def validate_location_status(self, field):
        if field.data and field.data not in LOCATION_STATUSES:
            raise ValidationError("unknown location status")
        if (self.user_latitude.data is None) != (self.user_longitude.data is None):
            raise ValidationError("coordinates come in pairs")


class ReportForm(ChoiceForm):
    """Click 2: the same, with an optional comment."""

    comment = StringField("comment", [plain_text(allow_newlines=True)], filters=[strip])

    def validate_comment(self, field):
        if len(field.data or "") > 1000:
            raise ValidationError("too long")


class Problem(Exception):
    """Something that makes the form unusable; key names a TEXT entry."""

    def __init__(self, key, status=400):
        super().__init__(key)
        self.key, self.status = key, status


def serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="widget-form")


def origin_of(url):
    """scheme://host[:port] of a URL, or None (also for one that cannot be parsed, such as "http://[")."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def frame_headers(response, client):
    """CSP for the frame: only our own assets, and only the client's pages may embed it."""
    ancestors = " ".join(client.allowed_origins()) if client and client.allowed_origins() else "'none'"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        f"form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def render_view(partial, context, status=200, client=None):
    """The partial alone for htmx, else the whole frame page around it (works without JS)."""
    template = partial if request.headers.get("HX-Request") else "widget/frame.html"
    response = current_app.make_response((render_template(template, partial=partial, **context), status))
    return frame_headers(response, client)


def problem_view(problem, lang, client=None):
    """The problem's words for the customer; the frame also tells the bank's page which it
    is (frame.js), whose loader warns the bank's developers in the console."""
    return render_view("widget/_problem.html", {"t": TEXT[lang], "message": TEXT[lang][problem.key],
                                                "lang": lang, "theme": "", "problem": problem.key,
                                                "host_origins": " ".join(client.allowed_origins()) if client else ""},
                       problem.status, client)


def reporter_of(client):
    return Reporter(client.id, client.bank_id, client.network_id)


def rejected_problem(exc):
    """The customer's words for a report the catalogue rules refuse."""
    if exc.fields == ["your_bank_code"]:
        return Problem("bank_needed")
    return Problem("unknown_offer", 404)


def resolve(client, bank_code, offer_code, outlet_code):
    """The bank, offer and outlet a widget reports on, checked to belong together."""
    if client.bank_id:
        bank_code = client.bank.code
    try:
        bank, offer, outlet, _ = resolve_report(current_app.extensions["lookups"], reporter_of(client),
                                                bank_code=bank_code, offer_code=offer_code, outlet_code=outlet_code)
    except ReportRejected as exc:
        raise rejected_problem(exc) from None
    return bank, offer, outlet


def view_context(state, client, bank, offer, outlet, token):
    lang = state["l"]
    types = FeedbackType.select().where(FeedbackType.active == True).order_by(FeedbackType.id)  # noqa: E712
    return {
        "t": TEXT[lang], "lang": lang, "theme": state["m"], "token": token, "offer": offer,
        "merchant": offer.merchant, "outlet": outlet, "bank": bank,
        # Where the frame posts its height: the embedding page, else (no Referer) each origin
        # allowed to embed it, never "*" (postMessage drops what reaches another origin).
        "host_origins": state["h"] or " ".join(client.allowed_origins()),
        "offer_status": offer.status_on(utcnow().date()),
        "types": [(feedback_type, type_label(feedback_type, lang)) for feedback_type in types],
    }


# The widget's own files: served gzipped when the browser takes it (a frame's first render
# should cost a phone little), cached, and never from anywhere but our origin.
WIDGET_DIR = PROJECT_DIR / "widget"
ASSETS = {
    "frame.css": (WIDGET_DIR / "frame.css", "text/css"),
    "frame.js": (WIDGET_DIR / "frame.js", "text/javascript"),
    "htmx.min.js": (PROJECT_DIR / "node_modules" / "htmx.org" / "dist" / "htmx.min.js", "text/javascript"),
}


@functools.cache
def _file_bytes(path, compressed):
    data = path.read_bytes()
    return gzip.compress(data, 9) if compressed else data


def asset_response(path, mimetype, max_age):
    """A static file, gzipped for browsers that accept it."""
    compressed = "gzip" in request.accept_encodings
    response = current_app.make_response(_file_bytes(path, compressed))
    response.mimetype = mimetype
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if compressed:
        response.headers["Content-Encoding"] = "gzip"
    return response


@bp.get("/widget.js")
def loader():
    """The loader banks embed; cacheable, it changes only with a release."""
    return asset_response(WIDGET_DIR / "loader.js", "text/javascript", 3600)


@bp.get("/widget/assets/<name>")
def asset(name):
    """The frame's stylesheet and scripts, htmx among them (installed from the npm registry)."""
    if name not in ASSETS:
        abort(404)
    path, mimetype = ASSETS[name]
    return asset_response(path, mimetype, 86400)


@bp.get("/widget/frame")
def frame():
    """The first view: the offer and one button per feedback type."""
    form = FrameForm(request.args)
    valid = form.validate() and not undecodable_fields(request.query_string)
    data = form.data
    lang = g.widget_lang = language((data["lang"] if valid else "") or request.accept_languages.best)
    if not valid:  # control characters or undecodable bytes in the page's attributes
        raise Problem("invalid")
    client = g.widget_client = Client.get_or_none(Client.widget_key == data["key"]) if data["key"] else None
    if client is None or not client.allowed_origins():
        raise Problem("unknown_key", 404)
    host_origin = origin_of(request.referrer)
    if host_origin and host_origin not in client.allowed_origins():
        raise Problem("not_allowed", 403)
    if data["uid"]:
        if not (data["sig"] and client.widget_secret and signature_matches(client.widget_secret, data["uid"], data["sig"])):
            raise Problem("signature", 403)
        user_id = data["uid"]
    elif data["device"]:
        # A device id means something only to the widget key that made it.
        user_id = f"device:{client.id}:{data['device'][:64]}"
    else:
        raise Problem("unknown_key")
    bank, offer, outlet = resolve(client, data["bank"], data["offer"], data["outlet"])
    state = {"k": client.widget_key, "b": bank.code, "o": offer.code, "t": outlet.code if outlet else "",
             "u": user_id, "s": bool(data["uid"]), "h": host_origin, "l": lang, "m": data["theme"] if data["theme"] in ("light", "dark", "auto") else ""}
    token = serializer().dumps(state)
    return render_view("widget/_choose.html", view_context(state, client, bank, offer, outlet, token), client=client)


def posted(form_class):
    """Check a POST from the frame: from our own origin, with a live token, for a page still allowed."""
    if request.headers.get("Origin") != origin_of(request.host_url):
        raise Problem("not_allowed", 403)
    if request.mimetype == "application/x-www-form-urlencoded" and undecodable_fields(request.get_data()):
        raise Problem("invalid")
    form = form_class(request.form)
    try:
        state = serializer().loads(form.token.data or "", max_age=current_app.config["WIDGET_TOKEN_SECONDS"])
    except BadSignature:
        raise Problem("expired", 403) from None
    g.widget_lang = state["l"]
    client = g.widget_client = Client.get_or_none(Client.widget_key == state["k"])
    if client is None or not client.allowed_origins() or (state["h"] and state["h"] not in client.allowed_origins()):
        raise Problem("not_allowed", 403)
    bank, offer, outlet = resolve(client, state["b"], state["o"], state["t"])
    if not form.validate():
        raise Problem("invalid")
    context = view_context(state, client, bank, offer, outlet, form.token.data)
    return form, state, client, context


def chosen_type(form):
    """The active feedback type a form names."""
    found = current_app.extensions["lookups"].feedback_type(form.feedback_type.data or "")
    if found is None:
        raise Problem("invalid")
    return found


@bp.post("/widget/choose")
def choose():
    """Back from the confirm view to the feedback types."""
    _, _, client, context = posted(TokenForm)
    return render_view("widget/_choose.html", context, client=client)


@bp.post("/widget/confirm")
def confirm():
    """After click 1: what will be reported, an optional comment, Send and Back."""
    form, _, client, context = posted(ChoiceForm)
    feedback_type = chosen_type(form)
    context.update(form=form, feedback_type=feedback_type, type_label=type_label(feedback_type, context["lang"]),
                   location_shared=form.user_latitude.data is not None)
    return render_view("widget/_confirm.html", context, client=client)


@bp.post("/widget/report")
def report():
    """Click 2: record the report and thank the customer with a reference."""
    form, state, client, context = posted(ReportForm)
    feedback_type = chosen_type(form)
    config = current_app.config
    now = utcnow()
    address = ip_hash(config["SECRET_KEY"], request.remote_addr or "unknown")
    bank_id = context["bank"].id
    by_device, by_ip = recent_reports(bank_id, pseudonym(config["CUSTOMER_KEY"], bank_id, state["u"]), address,
                                      now - timedelta(hours=1))
    if by_device >= config["WIDGET_REPORTS_PER_DEVICE_HOUR"] or by_ip >= config["WIDGET_REPORTS_PER_IP_HOUR"]:
        raise Problem("rate_limited", 429)
    try:
        result = submit_report(
            current_app.extensions["lookups"], Rules.from_config(config), reporter_of(client),
            bank_code=context["bank"].code, offer_code=context["offer"].code, outlet_code=state["t"],
            feedback_type=str(feedback_type.id), user_id=state["u"], now=now, latitude=form.user_latitude.data,
            longitude=form.user_longitude.data, accuracy_m=form.user_accuracy.data, comment=form.comment.data or "",
            # "s": the customer id was signed by the bank (forms from before it existed: by the id's form).
            channel="widget", anonymous=not state.get("s", not state["u"].startswith("device:")), ip_hash=address,
        )
    except ReportRejected as exc:
        raise rejected_problem(exc) from None
    context.update(duplicate=result.duplicate, reference=reference_number(result.feedback_id))
    return render_view("widget/_thanks.html", context, client=client)


@bp.errorhandler(Problem)
def problem_page(problem):
    """Whatever makes the frame or a click unusable: the problem view, in the customer's
    language once it is known, framable by the client's pages once the client is known."""
    return problem_view(problem, g.get("widget_lang") or language(request.accept_languages.best), g.get("widget_client"))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc):
    """An oversized form gets the frame's own message, not a bare error page."""
    return problem_page(Problem("invalid", 413))


def reference_number(feedback_id):
    """A short reference a customer can read out: the first 8 hex digits of the report's id."""
    digits = feedback_id.removeprefix("fb_")[:8].upper()
    return f"{digits[:4]}-{digits[4:]}"


def recent_reports(bank_id, stored_id, ip_hash, since):
    """Widget reports stored since a time: (from this customer or device of the bank (its
    pseudonym: the reports' index by bank and customer finds them), from this IP)."""
    recent = Feedback.select().where(Feedback.channel == "widget", Feedback.created_at > since)
    return (recent.where(Feedback.bank == bank_id, Feedback.user_id == stored_id).count(),
            recent.where(Feedback.ip_hash == ip_hash).count())
