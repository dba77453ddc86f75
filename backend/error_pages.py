"""The site's own HTML pages for HTTP errors outside /api (the API answers JSON: api.py)."""
from flask import g, render_template
from werkzeug.exceptions import HTTPException

PAGES = {
    400: ("Bad request", "The page could not read that request."),
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed here", "This page does not answer that kind of request."),
    413: ("Request too large", "The request is larger than this site accepts."),
    500: ("Something went wrong", "The server could not answer; try again later."),
}


def error_page(exc):
    """An error as the site's page with its status; any exception but an HTTP one is a 500,
    shown without its details (they go to the log, api.unexpected_error)."""
    status = exc.code if isinstance(exc, HTTPException) and exc.code else 500
    title, message = PAGES.get(status, (getattr(exc, "name", "Error"), "The page could not answer that request."))
    if status >= 500:
        # The header shows no account: the page must render even when the database failed.
        g.admin = None
    response = render_template("admin/error.html", status=status, title=title, message=message)
    headers = {"Allow": ", ".join(exc.valid_methods)} if getattr(exc, "valid_methods", None) else {}
    return response, status, headers
