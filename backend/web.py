"""What applies to every request, whichever part of the site it is for: the answers to
errors (JSON under /api, the site's own pages elsewhere), the session interface (admin
pages only), and headers every answer carries. create_app installs them."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, g, render_template, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from .api import error_response

ADMIN_PREFIX = "/admin"


def install(app):
    app.session_interface = AdminSessions()
    app.jinja_env.filters.update(local_time=local_time, local_day=local_day)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
    app.after_request(no_sniffing)


class AdminSessions(SecureCookieSessionInterface):
    """Only the admin pages keep a session: every other request (the API's, the widget's)
    skips reading and verifying the cookie, and sees an empty session it cannot write."""

    def open_session(self, app, request):
        if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
            return super().open_session(app, request)
        return None  # Flask then uses its null session


PAGES = {
    400: ("Bad request", "The page could not read that request."),
    403: ("Not for your role", "Your role does not include this; an admin of your organisation can change it."),
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed here", "This page does not answer that kind of request."),
    413: ("Request too large", "The request is larger than this site accepts."),
    500: ("Something went wrong", "The server could not answer; try again later."),
}


def error_page(exc):
    """An error as the site's page with its status; any exception but an HTTP one is a 500,
    shown without its details (they go to the log, unexpected_error)."""
    status = exc.code if isinstance(exc, HTTPException) and exc.code else 500
    title, message = PAGES.get(status, (getattr(exc, "name", "Error"), "The page could not answer that request."))
    if status >= 500:
        # The header shows no account: the page must render even when the database failed.
        g.admin = None
    response = render_template("admin/error.html", status=status, title=title, message=message)
    headers = {"Allow": ", ".join(exc.valid_methods)} if getattr(exc, "valid_methods", None) else {}
    return response, status, headers


HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def http_error(exc):
    """JSON instead of Werkzeug's HTML pages under /api; the site's own page elsewhere."""
    if not request.path.startswith("/api"):
        return error_page(exc)
    code = HTTP_ERROR_CODES.get(exc.code, "server_error" if exc.code >= 500 else "invalid_value")
    messages = {
        "not_found": "No such API path; use /api?action=... .",
        "method_not_allowed": "Use GET or POST.",
        "payload_too_large": "The request is too large.",
        "server_error": "The server could not answer; try again later.",
        "invalid_value": "The request could not be read.",
    }
    response, status = error_response(code, messages[code])
    if getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response, status


def unexpected_error(exc):
    """Log the fault (path only: query strings carry secrets) and answer without internals."""
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    if request.path.startswith("/api"):
        return error_response("server_error", "The server could not answer; try again later.")
    return error_page(exc)


def no_sniffing(response):
    """Browsers take every answer (pages, JSON, static files) as the type it says."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _local(moment):
    """A stored (naive UTC) time in the configured zone (TIME_ZONE)."""
    return moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(current_app.config["TIME_ZONE"]))


def local_time(moment):
    """28 Nov 2026, 17:30 IST: a stored time as admins read it, with its zone named."""
    local = _local(moment)
    return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def local_day(moment):
    """28 Nov 2026: a date, or the day a stored time falls on in the configured zone."""
    day = _local(moment) if isinstance(moment, datetime) else moment
    return f"{day.day} {day:%b %Y}"
