#!/usr/bin/env python3
"""import-reports benchmark: a bank's year of history, a million rows by default.

Seeds the demo catalogue into a fresh database, writes a CSV of synthetic reports in time
order (customers that recur, positions at and away from the outlets, ~5 % duplicates),
runs `run.py import-reports` on it as an operator would, and prints the wall time, rows
per second and the summary; then checks that the leaderboard counters hold every stored
report.
Usage: .venv/bin/python bench/import.py [--rows 1000000] [--database-url postgresql://...]
"""
import argparse
import csv
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["reported_at", "your_bank_code", "user_id", "offer_code", "outlet_code", "feedback_type", "user_latitude",
           "user_longitude", "user_accuracy", "comment"]


def run_py(env, *args):
    """Run `python run.py ARGS`; returns (seconds, standard output)."""
    began = time.monotonic()
    result = subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr)
    return time.monotonic() - began, result.stdout


def catalogue(env):
    """(offers with their outlets) the Harbour Bank client may report on, from the seeded demo."""
    code = ("import json; from backend.cli import ready_app; from backend.models import Bank, Offer, Outlet; ready_app(); "
            "bank = Bank.get(Bank.code == 'HARBOUR'); "
            "print(json.dumps([[o.code, [[t.code, t.latitude, t.longitude] for t in Outlet.select().where("
            "Outlet.merchant == o.merchant_id)]] for o in Offer.select() if o.powered_for(bank)]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def write_rows(path, rows, offers, seed=11):
    """A year of reports up to yesterday, in time order."""
    rng = random.Random(seed)
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    start = end - timedelta(days=365)
    step = (end - start) / rows
    weights = [1 / (rank + 1) for rank in range(len(offers))]
    customers = 50_000
    previous = None
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for n in range(rows):
            if previous and rng.random() < 0.05:  # a resend
                writer.writerow(previous)
                continue
            offer, outlets = rng.choices(offers, weights)[0]
            outlet, lat, lon = rng.choice(outlets)
            roll, when = rng.random(), start + step * n
            position = ["", "", ""]
            if roll < 0.7:
                bearing, metres = rng.uniform(0, 2 * math.pi), rng.uniform(5, 90)
                position = [f"{lat + metres * math.cos(bearing) / 111_320:.6f}", f"{lon + metres * math.sin(bearing) / 105_000:.6f}",
                            f"{rng.uniform(8, 40):.0f}"]
            elif roll < 0.8:
                position = [f"{lat + 0.03:.6f}", f"{lon:.6f}", "20"]
            customer = int(customers * rng.random() ** 2)  # an engaged few report most
            previous = [when.isoformat(), "HARBOUR", f"c{customer}@harbour.example", offer, outlet,
                        rng.choice("11112233345"), *position, rng.choice(["", "", "Refused at the till"])]
            writer.writerow(previous)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="a PostgreSQL URL (an empty database); default: a new SQLite file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="offers-feedback-import-"))
    env = {**os.environ, "OFFERS_FEEDBACK_DATA": str(folder),
           "DATABASE_URL": args.database_url or f"sqlite:///{folder / 'bench.db'}"}
    run_py(env, "seed-demo")
    clientkey = json.loads(run_py(env, "create-client", "--name", "Harbour history", "--bank", "HARBOUR", "--json")[1])["clientkey"]
    path = folder / "history.csv"
    began = time.monotonic()
    write_rows(path, args.rows, catalogue(env))
    print(f"wrote {args.rows:,} rows ({path.stat().st_size / 2**20:.0f} MB) in {time.monotonic() - began:.0f} s")
    seconds, output = run_py(env, "import-reports", str(path), "--client", clientkey, "--json")
    summary = json.loads(output)
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{database}: import-reports of {summary['rows']:,} rows took {seconds:.0f} s "
          f"({summary['rows'] / seconds:,.0f} rows/s, checked, stored and counted): stored {summary['stored']:,}, "
          f"duplicates {summary['duplicates']:,}, bad {summary['bad']}")
    if not args.database_url:
        print(f"database file: {(folder / 'bench.db').stat().st_size / 2**20:.0f} MB")
    ok = summary["bad"] == 0 and summary["stored"] + summary["duplicates"] == args.rows
    print("RESULT:", "every row stored or answered as a duplicate" if ok else "ROWS MISSING")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
