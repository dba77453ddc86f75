"""Back-ups and restores of the database, while the server runs (back-up) or is stopped (restore).

SQLite: its online backup API copies a consistent snapshot page by page, writers carrying
on meanwhile. PostgreSQL: pg_dump's custom format (one consistent snapshot), restored
with pg_restore. Both files are private to their owner (0600): they hold everything.
"""
import glob
import os
import sqlite3
import subprocess
from pathlib import Path

from .config import private_file
from .db import sqlite_path


def _pg_tool(name):
    """The newest of Debian's versioned binaries (matching the server installed), else PATH's."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else name


def back_up(database_url, destination):
    """Write a back-up of the database to destination (a new file); returns its size in bytes."""
    destination = Path(destination)
    if destination.exists():
        raise FileExistsError(f"{destination} exists: a back-up never overwrites a file")
    private_file(destination)
    path = sqlite_path(database_url)
    if path:
        with sqlite3.connect(path) as source, sqlite3.connect(destination) as copy:
            source.backup(copy, pages=1024)  # steps of 4 MB: writers get the lock in between
        os.chmod(destination, 0o600)
    else:
        subprocess.run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={destination}",
                        f"--dbname={database_url}"], check=True, capture_output=True)
    return destination.stat().st_size


def restore(database_url, source):
    """Replace the database's contents with a back-up made by back_up (stop the server first)."""
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"no back-up at {source}")
    path = sqlite_path(database_url)
    if path:
        with sqlite3.connect(source) as backup, sqlite3.connect(path) as target:
            backup.backup(target)
    else:
        subprocess.run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
                        f"--dbname={database_url}", str(source)], check=True, capture_output=True)
