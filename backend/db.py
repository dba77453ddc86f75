"""The database connection: chosen from DATABASE_URL at start-up, one kept per worker."""
import fcntl
import hashlib
from contextlib import contextmanager
from pathlib import Path

import click
from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse import db_url

database = DatabaseProxy()


def open_database(url):
    """Build the peewee database for a URL: SQLite (WAL) or PostgreSQL."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE transactions take the write lock up front, so a read-then-write
        # (the duplicate check) cannot interleave with another worker's write.
        return SqliteDatabase(
            str(path),
            # mmap: each worker re-reads pages another worker changed; mapped, that is cheap.
            pragmas={"journal_mode": "wal", "synchronous": "normal", "foreign_keys": 1, "mmap_size": 256 * 2**20},
            timeout=15,
            lock_type="IMMEDIATE",
        )
    if url.startswith(("postgres://", "postgresql://")):
        return db_url.connect(url)
    raise click.UsageError(f"DATABASE_URL must start with sqlite:/// or postgresql://, got {url.split(':')[0]}:")


def use_database(url):
    """Point the models at the database named by url."""
    if database.obj is not None and not database.is_closed():
        database.close()
    database.initialize(open_database(url))


@contextmanager
def write_transaction(key):
    """A transaction that runs alone among writers using the same key.

    PostgreSQL: a transaction-scoped advisory lock on the key. SQLite allows one writer
    at a time anyway, and a writer that finds the database locked sleeps in steps of 1 ms
    or more; so writers queue on an exclusive file lock instead, which wakes the next
    one the moment the lock is released.
    """
    if isinstance(database.obj, PostgresqlDatabase):
        with database.atomic():
            lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (lock_id,))
            yield
        return
    with open(database.database + "-writer.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            with database.atomic():
                yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _connect():
    # Kept open after the request: reconnecting each time halves ingest throughput.
    database.connect(reuse_if_open=True)


def init_app(app):
    """Open the app's database and connect lazily on each worker's first request."""
    use_database(app.config["DATABASE_URL"])
    app.before_request(_connect)
