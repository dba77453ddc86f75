"""Serving under gunicorn (the production WSGI server), with secrets kept out of the access log."""
import gc
import os
import re
import select
import socket
import sqlite3
import threading
import time

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.http.body import LengthReader
from gunicorn.workers.sync import SyncWorker

from .db import WRITER_LOCK, exclusive, sqlite_path

# Secrets arrive in query strings (the published API is a GET URL), so the log must not
# keep them. Matches the parameter wherever it stands in the query.
SECRET_PARAMS = re.compile(r"(?i)((?:^|[?&])(?:clientpass|apikey)=)[^&\s]*")


def redact(text):
    """Replace secret query parameter values with [REDACTED]."""
    return SECRET_PARAMS.sub(r"\1[REDACTED]", text) if text else text


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


class PromptSyncWorker(SyncWorker):
    """gunicorn's sync worker, which neither waits for a request that does not come nor
    for the client to hang up after its answer.

    Browsers open spare connections ahead of need; a plain sync worker waits on such a
    connection until its 30-second timeout, and with one worker per core the widget then
    stalls. (Behind a buffering proxy, as gunicorn recommends, this never arises.)
    """

    first_byte_seconds = 2

    def handle(self, listener, client, addr):
        readable, _, _ = select.select([client], [], [], self.first_byte_seconds)
        if not readable:
            client.close()
            return
        if client.family in (socket.AF_INET, socket.AF_INET6) and hasattr(socket, "TCP_CORK"):
            # gunicorn sends the headers and the body in two writes; corked, they leave in
            # one segment when the connection closes (right after the answer): the client
            # wakes once, not twice (-20 to -40 us of kernel time a request, bench/ingest.py).
            # Linux sends corked bytes after 200 ms anyway, so nothing waits longer.
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        super().handle(listener, client, addr)

    def handle_request(self, listener, req, client, addr):
        super().handle_request(listener, req, client, addr)
        # gunicorn then closes gracefully: it reads until the client hangs up, lest unread
        # request bytes make the close a reset that loses the answer. With the whole request
        # read and nothing more arrived, that wait only keeps the worker from the next
        # request (9 % of its time under bench/ingest.py): close now. The later graceful
        # close of the closed socket does nothing.
        reader = req.body.reader
        if isinstance(reader, LengthReader) and reader.length == 0 and not select.select([client], [], [], 0)[0]:
            client.close()


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


def default_workers():
    """WEB_CONCURRENCY, else one sync worker per core: ingest is CPU-bound and SQLite
    takes one writer at a time, so more workers only add switching (bench/ingest.py)."""
    return int(os.environ.get("WEB_CONCURRENCY", max(2, os.cpu_count() or 2)))


def serve(app, host, port, workers=None, accesslog="-"):
    """Serve app with sync workers (steadier than threads for SQLite writes)."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers or default_workers(),
        "worker_class": PromptSyncWorker,
        "accesslog": accesslog,
        "logger_class": RedactingLogger,
        # The app itself refuses over-long queries with a JSON 413; gunicorn's own
        # 4 KB limit would answer first, with an HTML page.
        "limit_request_line": 0,
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
