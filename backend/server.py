"""Serving under gunicorn (the production WSGI server), with secrets kept out of the access log."""
import gc
import json
import os
import re
import sqlite3
import threading
import time
from http import HTTPStatus
from ssl import SSLError
from urllib.parse import unquote_plus

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.http import errors as http_errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import ThreadWorker as ThreadWorkerBase
from gunicorn.workers.sync import SyncWorker

from .config import SettingsError
from .db import WRITER_LOCK, exclusive, sqlite_path

# Secrets (clientpass, apikey) and customers' data (ids, positions, comments) arrive in
# query strings, the published API being a GET URL: the log keeps the values of these
# parameters only, judged by their decoded name (`%63lientpass` is clientpass).
LOGGED_PARAMS = frozenset({"action", "clientkey", "your_bank_code", "offer_code", "outlet_code", "feedback_type",
                           "period", "start", "end", "limit", "city", "verified_only", "key", "bank", "offer",
                           "outlet", "lang", "theme", "origin"})
QUERY_PARAM = re.compile(r"([?&;])([^=&;\s]*)(=[^&;\s]*)?")


def redact(text):
    """The text with every query parameter value not in LOGGED_PARAMS replaced by [REDACTED]."""
    if not text or "?" not in text:
        return text
    path, _, query = text.partition("?")

    def keep_or_hide(match):
        if match.group(3) is None or unquote_plus(match.group(2)).strip().lower() in LOGGED_PARAMS:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}=[REDACTED]"

    return path + QUERY_PARAM.sub(keep_or_hide, "?" + query)


class RedactingLogger(Logger):
    """gunicorn's logger, writing its default access-log line with secret parameters removed.

    The line is built from the few values it shows: gunicorn's generic path first gathers
    every header and environment variable (47 µs a line against 20 µs, measured here).
    """

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        request_line = f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}"
        self.access_log.info('%s - - %s "%s" %s %s "%s" "%s"', environ.get("REMOTE_ADDR", "-"), self.now(),
                             redact(request_line), status, "-" if resp.sent is None else resp.sent,
                             redact(environ.get("HTTP_REFERER", "-")), environ.get("HTTP_USER_AGENT", "-"))


class JsonProtocolErrors:
    """For gunicorn workers: a request gunicorn could not parse gets the API's JSON error
    shape, and the log names the fault's kind only (gunicorn's own page and log line echo
    the request line, secrets included)."""

    def handle_error(self, req, client, addr, exc):
        status, code, message = protocol_error(exc)
        peer = addr[0] if addr else ""
        if status >= 500:
            where = f"{req.method} {req.path}" if req is not None and getattr(req, "path", None) else "(not read)"
            self.log.exception("Error handling request %s", where)
        else:
            self.log.warning("Invalid request from ip=%s: %s", peer, type(exc).__name__)
        if req is not None:
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"] = peer
            response = Response(req, client, self.cfg)
            response.status = str(status)
            self.log.access(response, req, environ, 0)
        body = json.dumps({"status": "error", "error": code, "message": message, "fields": []}).encode()
        try:
            client.sendall(f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        except OSError:
            pass


def protocol_error(exc):
    """(HTTP status, API error code, message) for an exception raised while reading a request."""
    if isinstance(exc, http_errors.LimitRequestLine):
        return 414, "payload_too_large", "The request line is too long; send long reports by POST."
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return 431, "payload_too_large", "The request headers are too large."
    if isinstance(exc, http_errors.UnsupportedTransferCoding):  # a client's fault: no 5xx
        return 400, "invalid_value", "Send the body whole (Content-Length) or chunked, nothing else."
    if isinstance(exc, http_errors.InvalidRequestMethod):
        return 405, "method_not_allowed", "Use GET or POST (in capitals)."
    if isinstance(exc, (http_errors.ParseException, SSLError)) and not isinstance(
            exc, (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName, http_errors.ConfigurationProblem)):
        return 400, "invalid_value", "The request could not be read as HTTP/1.1."
    return 500, "server_error", "The server could not answer; try again later."


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


def checkpoint_in_background(path, every_seconds=0.1, restart_above_pages=20_000):
    """Copy SQLite's WAL back into the database from a thread of gunicorn's master.

    A checkpoint fsyncs; run by the committing request (SQLite's default) it stalls that
    request and every writer queued behind it for milliseconds. Passive checkpoints never
    block writers; run often, each is short (under load, one a second took 40-50 ms of a
    core in one go, and the requests meanwhile waited longer: p99 +1.5 ms, bench/ingest.py).

    Under steady load the WAL never starts over by itself: each writer finds frames not
    yet copied. When it has grown large, the rest is copied while writers wait on their
    lock (db.write_transaction); the next writer then starts the WAL from its beginning.
    (A RESTART checkpoint did the same by polling in steps of milliseconds, stalling every
    writer for 4-18 ms.)
    """

    def run():
        with IN_SQLITE:
            connection = sqlite3.connect(path, timeout=30, isolation_level=None)
        while True:
            time.sleep(every_seconds)
            with IN_SQLITE:
                checkpoint(connection, restart_above_pages)

    threading.Thread(target=run, name="sqlite-checkpoint", daemon=True).start()


# gunicorn forks workers while the checkpoint thread runs (at start, and to replace one). A
# child forked while that thread is inside SQLite would inherit SQLite's mutexes locked,
# with no thread left to unlock them, and hang on its first query: forks wait for it.
IN_SQLITE = threading.Lock()
os.register_at_fork(before=IN_SQLITE.acquire, after_in_parent=IN_SQLITE.release, after_in_child=IN_SQLITE.release)


def checkpoint(connection, restart_above_pages):
    """One passive checkpoint; above restart_above_pages, the rest too, while writers wait.
    Returns the WAL's length in pages before."""
    _, wal_pages, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if wal_pages > restart_above_pages:
        with exclusive(WRITER_LOCK):
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    return wal_pages


class ThreadWorker(JsonProtocolErrors, ThreadWorkerBase):
    """gunicorn's gthread worker: connections wait in a poller, not in a worker, until their
    request arrives, and each request has a thread of its own. A phone on a slow network
    (a request started seconds after connecting, headers sent a line a second) holds one
    thread, not the worker, and gets its answer."""


class JsonSyncWorker(JsonProtocolErrors, SyncWorker):
    """gunicorn's sync worker: one connection at a time, so only behind a buffering proxy
    (nginx reads each request whole before passing it on; a slow client would hold it).
    Two changes it once had (close at once after the request; drop a connection silent for
    2 s) measured no gain on either database (docs/operations.md) and were dropped."""


WORKER_CLASSES = {"gthread": ThreadWorker, "sync": JsonSyncWorker}


def default_workers():
    """WEB_CONCURRENCY, else one worker per core: ingest is CPU-bound and SQLite takes one
    writer at a time, so more workers only add switching (bench/ingest.py)."""
    return int(os.environ.get("WEB_CONCURRENCY", max(2, os.cpu_count() or 2)))


def worker_settings():
    """WORKER_CLASS (gthread, the default; or sync, for a buffering proxy in front) and
    WORKER_THREADS, threads per gthread worker (docs/operations.md has the figures)."""
    name = os.environ.get("WORKER_CLASS", "gthread")
    if name not in WORKER_CLASSES:
        raise SettingsError(f"WORKER_CLASS must be one of {', '.join(WORKER_CLASSES)}, not {name!r}.")
    threads = int(os.environ.get("WORKER_THREADS", 8)) if name == "gthread" else 1
    return {"worker_class": WORKER_CLASSES[name], "threads": threads}


def serve(app, host, port, workers=None, accesslog="-"):
    """Serve app with gunicorn's workers as worker_settings() chooses."""
    options = {
        **worker_settings(),
        "bind": f"{host}:{port}",
        "workers": workers or default_workers(),
        "accesslog": accesslog,
        "logger_class": RedactingLogger,
        # gunicorn's largest limit (0, unlimited, parses long lines in quadratic time: a
        # 16 MB line took 18 s). The published URL with a 1,000-character comment fits
        # percent-encoded (3,500 bytes; a Hindi comment fits up to about 850 characters);
        # longer lines get a JSON 414 (handle_error), POST bodies may hold 16 KB.
        "limit_request_line": 8190,
        "timeout": 30,
        # One shared control socket path would clash between servers on one machine.
        "control_socket_disable": True,
    }
    path = sqlite_path(app.config["DATABASE_URL"])
    if path and app.config["SQLITE_WAL_AUTOCHECKPOINT"] == 0:
        options["when_ready"] = lambda server: checkpoint_in_background(path)
    # What start-up made lives as long as the server: the workers' full garbage collections
    # then skip it (25-36 ms each, measured under bench/ingest.py; under 1 ms once frozen).
    gc.freeze()
    GunicornServer(app, options).run()
