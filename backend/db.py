"""The database connection: chosen from DATABASE_URL at start-up, one kept per worker."""
import hashlib
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
            pragmas={"journal_mode": "wal", "synchronous": "normal", "foreign_keys": 1},
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


def serialize_on(key):
    """Inside a transaction, make others holding the same key wait until it ends."""
    if isinstance(database.obj, PostgresqlDatabase):
        lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (lock_id,))
    # SQLite needs nothing: every transaction begins IMMEDIATE and so runs alone.


def _connect():
    # Kept open after the request: reconnecting each time halves ingest throughput.
    database.connect(reuse_if_open=True)


def init_app(app):
    """Open the app's database and connect lazily on each worker's first request."""
    use_database(app.config["DATABASE_URL"])
    app.before_request(_connect)
