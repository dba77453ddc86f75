#!/usr/bin/env python3
"""WAL benchmark: how long SQLite's WAL grows under a steady stream of writes, with passive
checkpoints only and with server.checkpoint's restart limit (what `run.py serve` runs).

A writer in another process (as gunicorn's workers are to its master) inserts 3 KB rows
without pause; a checkpointer runs every 10 ms. Passive checkpoints never block writers,
but while each writer finds frames not yet copied back the WAL cannot start over, so it
grows as long as the writes outpace the checkpoints; above the limit, server.checkpoint
copies the rest while writers wait, and the next writer starts the WAL over. Prints the
longest WAL and how often it started over, for each. (Was a test; how fast the writer goes
depends on the machine's load, so it is measured here instead.)
Usage: .venv/bin/python bench/wal.py [--seconds 5] [--limit 200]
"""
import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from backend.db import database, use_database  # noqa: E402
from backend.server import checkpoint  # noqa: E402

WRITER = """
from backend.db import database, use_database, write_transaction
use_database("{url}", wal_autocheckpoint=0)
while True:
    with write_transaction("t"):
        database.execute_sql("INSERT INTO t VALUES (randomblob(3000))")
"""


def measure(restart_above_pages, seconds):
    """(longest WAL in pages, times it started over, checkpoints) over seconds of writing."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'wal.db'}"
        use_database(url, wal_autocheckpoint=0)
        database.execute_sql("CREATE TABLE t (x)")
        database.close()
        writer = subprocess.Popen([sys.executable, "-c", WRITER.format(url=url)], cwd=ROOT)
        checker = sqlite3.connect(Path(tmp) / "wal.db", isolation_level=None)
        lengths = []
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(0.01)
                length = checkpoint(checker, restart_above_pages)
                if length >= 0:  # -1: busy
                    lengths.append(length)
        finally:
            writer.terminate()
            writer.wait()
            checker.close()
    restarts = sum(later < earlier for earlier, later in zip(lengths, lengths[1:]))
    return max(lengths, default=0), restarts, len(lengths)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--limit", type=int, default=200, help="restart_above_pages for the second run")
    args = parser.parse_args()
    print(f"{'checkpoints':28} {'longest WAL (pages)':>20} {'started over':>13} {'checkpoints':>12}")
    for label, limit in (("passive only", 10**9), (f"restart above {args.limit} pages", args.limit)):
        longest, restarts, count = measure(limit, args.seconds)
        print(f"{label:28} {longest:>20,} {restarts:>13,} {count:>12,}")


if __name__ == "__main__":
    main()
