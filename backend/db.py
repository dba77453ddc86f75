"""The database connection: chosen from DATABASE_URL at start-up, one kept per worker."""
import fcntl
import functools
import hashlib
import os
import re
import select
import threading
import time
import weakref
from contextlib import contextmanager, nullcontext
from pathlib import Path

import click
from peewee import DatabaseError, DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse import db_url

from .config import READ_WORK_MEM, private_file, private_folder

database = DatabaseProxy()


def sqlite_path(url):
    """The file of a sqlite:/// URL, or None for any other database."""
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None


def open_database(url, wal_autocheckpoint=1000):
    """Build the peewee database for a URL: SQLite (WAL) or PostgreSQL.

    wal_autocheckpoint=0 leaves checkpoints to someone else (see server.py).
    """
    if sqlite_path(url):
        path = Path(sqlite_path(url))
        if not path.parent.exists():
            private_folder(path.parent)
        private_file(path)
        # IMMEDIATE transactions take the write lock up front, so a read-then-write
        # (the duplicate check) cannot interleave with another worker's write.
        return SqliteDatabase(
            str(path),
            # mmap: each worker re-reads pages another worker changed; mapped, that is cheap.
            # secure_delete: what an erasure or retention removes is overwritten in the file,
            # not left in free space (docs/privacy.md; its cost: docs/operations.md).
            pragmas={"journal_mode": "wal", "synchronous": "normal", "foreign_keys": 1, "mmap_size": 256 * 2**20,
                     "wal_autocheckpoint": wal_autocheckpoint, "secure_delete": 1},
            timeout=15,
            lock_type="IMMEDIATE",
        )
    if url.startswith(("postgres://", "postgresql://")):
        return db_url.connect(url)
    raise click.UsageError(f"DATABASE_URL must start with sqlite:/// or postgresql://, got {url.split(':')[0]}:")


def use_database(url, wal_autocheckpoint=1000, prepared_statements=True, read_work_mem=READ_WORK_MEM):
    """Point the models at the database named by url."""
    if database.obj is not None and not database.is_closed():
        database.close()
    database.initialize(open_database(url, wal_autocheckpoint))
    _Prepared.enabled = prepared_statements
    _LargeReads.work_mem = read_work_mem


class _LargeReads:
    work_mem = READ_WORK_MEM


@contextmanager
def large_reads():
    """Around the leaderboard's reads. PostgreSQL: a transaction whose aggregates may use
    PG_READ_WORK_MEM each before spilling to disk (the server's default, 4 MB, spilled at
    10 million reports), without JIT compilation (it took longer than it saved on queries of
    this size). Measured at 10 million reports: distinct customers 266 ms -> 172-176 ms.
    PG_READ_WORK_MEM=0 leaves both to the server's settings."""
    if not isinstance(database.obj, PostgresqlDatabase) or _LargeReads.work_mem == "0":
        yield
        return
    with database.atomic():
        database.execute_sql("SET LOCAL work_mem = %s; SET LOCAL jit = off", [_LargeReads.work_mem])
        yield


class _Prepared:
    enabled = True
    names = weakref.WeakKeyDictionary()  # PostgreSQL connection -> statements prepared on it
    lock = threading.Lock()  # a gthread worker's threads each have a connection, and share this


def prepared(name, sql):
    """sql (placeholders: database.param) for a statement the ingest path runs on every
    report: on PostgreSQL, EXECUTE of a statement this connection prepared the first time,
    so that the server parses and plans it once, not on every report (measured: a third of
    the server's CPU time for storing a report, docs/operations.md). SQLite caches its
    statements itself. PG_PREPARED_STATEMENTS=0 sends sql as it is (a pooler in
    transaction mode, PgBouncer's say, cannot keep a connection's prepared statements)."""
    if not _Prepared.enabled or not isinstance(database.obj, PostgresqlDatabase):
        return sql
    connection = database.connection()
    with _Prepared.lock:
        names = _Prepared.names.setdefault(connection, set())
    count = sql.count("%s")
    if name not in names:
        numbers = iter(range(1, count + 1))
        # Prepared statements outlive a rollback: once prepared, always there on this connection.
        database.execute_sql(f"PREPARE {name} AS " + re.sub("%s", lambda _: f"${next(numbers)}", sql))
        names.add(name)
    return f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"


@contextmanager
def exclusive(name, timeout=None):
    """Run alone among everyone holding the same name, in any process; yields whether it
    got the lock: always when timeout is None (it waits as long as it takes), else when
    it got it within timeout seconds (0: one try).

    PostgreSQL: a transaction holding an advisory lock on the name. SQLite: an exclusive
    lock on a file beside the database (no transaction: the caller opens what it needs).
    """
    if isinstance(database.obj, PostgresqlDatabase):
        with database.atomic():
            if timeout is None:
                database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (lock_id(name),))
            yield timeout is None or _within(timeout, lambda: database.execute_sql(
                "SELECT pg_try_advisory_xact_lock(%s)", (lock_id(name),)).fetchone()[0])
        return
    lock = _file_lock(database.database, name)
    if not lock.acquire(timeout):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


@contextmanager
def held_alone(name):
    """Yields whether this process got the lock on name (one try), held without a
    transaction (a job's work commits as it goes): a PostgreSQL session-level advisory
    lock, or a file lock beside a SQLite database."""
    if not isinstance(database.obj, PostgresqlDatabase):
        with exclusive(name, timeout=0) as acquired:
            yield acquired
        return
    acquired = database.execute_sql("SELECT pg_try_advisory_lock(%s)", (lock_id(name),)).fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired and not database.is_closed():
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (lock_id(name),))


def _try_flock(lock_file):
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _within(seconds, attempt, pause=0.01):
    """Whether attempt() succeeds, tried until seconds have passed (at least once)."""
    deadline = time.monotonic() + seconds
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
    return True


def lock_id(name):
    """A PostgreSQL advisory lock's number for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


WRITER_LOCK = "writer"


_writing = threading.local()  # depth of this thread's write transactions
LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"


class Writing:
    """What write_transaction yields: the rows of the query it began with, and finish()."""

    def __init__(self, rows):
        self.rows = rows
        self.last = None

    def finish(self, sql, params):
        """Name the transaction's last statement, run as it ends (with COMMIT on PostgreSQL)."""
        self.last = (sql, list(params))


@contextmanager
def write_transaction(key, first=None):
    """A transaction that runs alone among writers using the same key; inside another
    write transaction (a batch of them, say), part of that one. first: (sql, params) of a
    query to run once the lock is held; its rows are the yielded Writing's rows.

    PostgreSQL locks the key only, and sends BEGIN, the lock and the first query in one
    round trip, and the last statement (Writing.finish) with COMMIT in another: each round
    trip waits for a busy machine to schedule the database and then the worker (measured
    with bench/ingest.py: docs/operations.md). Statements sent together run one after
    another, each seeing what was committed when it starts, so the first query sees every
    report committed by the lock's previous holder.

    SQLite allows one writer at a time anyway, and a writer that finds the database locked
    sleeps in steps of 1 ms or more; so all writers queue on one file lock instead, which
    wakes the next one the moment the lock is released.
    """
    # Inside another write transaction no savepoint: an error rolls the outer one back anyway
    # (and savepoints cost import-reports two round trips a row on PostgreSQL).
    nested = getattr(_writing, "depth", 0)
    if isinstance(database.obj, PostgresqlDatabase):
        if nested or database.in_transaction():
            # Part of a transaction already open: in peewee's own (atomic()), a savepoint, as there.
            with nullcontext() if nested else database.atomic():
                writing = Writing(_run_together(None, (LOCK_SQL, [lock_id(key)]), first))
                yield writing
                _run_together(None, writing.last)
            return
        # peewee's bookkeeping: an atomic() inside becomes a savepoint, as in its own transactions.
        database.push_transaction(writing := Writing([]))
        _writing.depth = 1
        try:
            writing.rows = _run_together(("BEGIN", []), (LOCK_SQL, [lock_id(key)]), first)
            yield writing
            _run_together(writing.last, ("COMMIT", []))
        except BaseException as error:
            _rollback_quietly()
            _forget_stale_statements(error)
            raise
        finally:
            _writing.depth = 0
            database.pop_transaction()
        return
    if nested:  # the outer transaction holds the writers' lock
        writing = Writing(_run_together(None, first))
        yield writing
        _run_together(None, writing.last)
        return
    with exclusive(WRITER_LOCK), database.atomic():
        _writing.depth = 1
        try:
            writing = Writing(_run_together(None, first))
            yield writing
            _run_together(None, writing.last)
        finally:
            _writing.depth = 0


# "cached plan must not change result type", "prepared statement does not exist": a
# migration changed a column a statement prepared before reads, or a pooler moved us.
STALE_STATEMENT_CODES = {"0A000", "26000"}


def _stale_statement(error):
    original = error.__context__ if error.__context__ is not None else error
    return getattr(original, "pgcode", None) in STALE_STATEMENT_CODES


def _forget_stale_statements(error):
    """After such an error, this connection prepares its statements anew."""
    if _stale_statement(error) and not database.is_closed():
        connection = database.connection()
        with _Prepared.lock:
            _Prepared.names.pop(connection, None)
        try:
            database.execute_sql("DEALLOCATE ALL")
        except Exception:  # noqa: BLE001  (a connection too broken for it is opened anew next request)
            database.close()


def retried_if_stale(function):
    """function (one write transaction) run again once if it failed on a stale prepared
    statement: it stored nothing, and its connection has prepared anew (tested)."""
    @functools.wraps(function)
    def once_more_if_stale(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except DatabaseError as error:
            if not _stale_statement(error) or getattr(_writing, "depth", 0):
                raise  # part of a larger transaction (import-reports' batch): that one fails whole
            return function(*args, **kwargs)

    return once_more_if_stale


def _run_together(*statements):
    """Send the (sql, params) statements given (None: none) in one round trip; the last one's rows.

    SQLite runs one statement at a time: there, only one may be given.
    """
    present = [statement for statement in statements if statement]
    if not present:
        return []
    cursor = database.execute_sql("; ".join(sql for sql, _ in present), [p for _, params in present for p in params])
    return cursor.fetchall() if cursor.description else []


def _rollback_quietly():
    """Roll back after an error; a connection too broken for that is opened anew next request."""
    try:
        database.execute_sql("ROLLBACK")
    except Exception:  # noqa: BLE001  (the error that brought us here is the one to report)
        pass


class FileLock:
    """An exclusive lock on a file beside a SQLite database, among processes and threads:
    flock belongs to the open file, which a process's threads share, so they first take a
    lock of their own."""

    def __init__(self, path):
        self.file = open(path, "a")  # noqa: SIM115  (kept for the process's life)
        self.threads = threading.Lock()

    def acquire(self, timeout=None):
        """Whether the lock was taken: always when timeout is None, else within timeout seconds."""
        if timeout is None:
            self.threads.acquire()
            fcntl.flock(self.file, fcntl.LOCK_EX)
            return True
        started = time.monotonic()
        if not self.threads.acquire(timeout=timeout):
            return False
        if _within(max(0.0, timeout - (time.monotonic() - started)), lambda: _try_flock(self.file)):
            return True
        self.threads.release()
        return False

    def release(self):
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.threads.release()


@functools.cache
def _file_lock(database_path, name):
    return FileLock(f"{database_path}-{name}.lock")


# A forked child would share its parent's open file (and flock), and might copy a thread
# lock another thread held: a child makes its own.
os.register_at_fork(after_in_child=_file_lock.cache_clear)


def _connect():
    # Kept open after the request: reconnecting each time halves ingest throughput. A
    # PostgreSQL connection the server cut (a restart, an idle timeout, an administrator)
    # is opened again before the request uses it: psycopg2 would notice the cut only when
    # a query failed on it, and that request would fail. An idle connection has nothing to
    # read; anything readable is the server's goodbye (or the end of the stream).
    if isinstance(database.obj, PostgresqlDatabase) and not database.is_closed():
        connection = database.connection()
        if connection.closed or select.select([connection], [], [], 0)[0]:
            database.close()
    database.connect(reuse_if_open=True)


def init_app(app):
    """Open the app's database and connect lazily on each worker's first request."""
    use_database(app.config["DATABASE_URL"], app.config["SQLITE_WAL_AUTOCHECKPOINT"],
                 app.config["PG_PREPARED_STATEMENTS"], app.config["PG_READ_WORK_MEM"])
    app.before_request(_connect)
