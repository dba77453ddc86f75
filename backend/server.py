"""Serving under gunicorn (the production WSGI server), with secrets kept out of the access log."""
import os
import re

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

# Secrets arrive in query strings (the published API is a GET URL), so the log must not
# keep them. Matches the parameter wherever it stands in the query.
SECRET_PARAMS = re.compile(r"(?i)((?:^|[?&])(?:clientpass|apikey)=)[^&\s]*")


def redact(text):
    """Replace secret query parameter values with [REDACTED]."""
    return SECRET_PARAMS.sub(r"\1[REDACTED]", text) if text else text


class RedactingLogger(Logger):
    """gunicorn's logger, with secret parameters removed from every access-log atom."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "q", "f", "{referer}i"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms


class GunicornServer(BaseApplication):
    """Runs a Flask app under gunicorn with settings given in code, not a config file."""

    def __init__(self, app, options):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def serve(app, host, port, workers=None, accesslog="-"):
    """Serve app with sync workers (steadier than threads for SQLite writes)."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers or int(os.environ.get("WEB_CONCURRENCY", 4)),
        "worker_class": "sync",
        "accesslog": accesslog,
        "logger_class": RedactingLogger,
        # The app itself refuses over-long queries with a JSON 413; gunicorn's own
        # 4 KB limit would answer first, with an HTML page.
        "limit_request_line": 0,
        "timeout": 30,
        # One shared control socket path would clash between servers on one machine.
        "control_socket_disable": True,
    }
    GunicornServer(app, options).run()
