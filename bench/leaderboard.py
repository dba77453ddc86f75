#!/usr/bin/env python3
"""Leaderboard benchmark: synthetic reports at scale, then the 30-day query and the page.

Generates a realistic year of reports (skewed merchants, many outlets, several banks on two
networks, eight cities) straight into a fresh SQLite database, recomputes the counters with
`rebuild_rollups` (the product's own code), then prints the median time of the 30-day
leaderboard query and of the full page render (Flask test client, logged-in platform admin)
for each size. Usage: .venv/bin/python bench/leaderboard.py [--sizes 1000000 10000000]
"""
import argparse
import bisect
import itertools
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CITIES = ["Mumbai", "Bengaluru", "Delhi", "Chennai", "Hyderabad", "Pune", "Kolkata", "Ahmedabad"]
VERDICTS = [("at_outlet", 0.62), ("not_shared", 0.18), ("away_from_outlet", 0.1), ("inconclusive", 0.06),
            ("outlet_location_unknown", 0.04)]
PASSWORD = "benchmark password"


def catalogue(merchants=2000):
    """Networks, banks, merchants, ~10 outlets each, one or two offers each, in import shape."""
    rng = random.Random(1)
    sections = {"networks": [{"code": "N1", "name": "Network One"}, {"code": "N2", "name": "Network Two"}],
                "banks": [{"code": f"B{n}", "name": f"Bank {n}", "network": "N1" if n <= 3 else "N2"} for n in range(1, 7)],
                "merchants": [], "outlets": [], "offers": []}
    for m in range(merchants):
        code = f"M{m:05d}"
        sections["merchants"].append({"code": code, "name": f"Merchant {m}"})
        home = rng.choice(CITIES)
        for o in range(rng.randint(3, 17)):
            city = home if rng.random() < 0.85 else rng.choice(CITIES)
            sections["outlets"].append({"code": f"{code}-{o}", "merchant": code, "name": f"Merchant {m} #{o}",
                                        "city": city, "latitude": "19.0", "longitude": "72.8"})
        for sponsor in rng.sample(["B1", "B2", "B3", "B4", "B5", "B6", "N1", "N2"], k=rng.choice([1, 2])):
            offer = {"code": f"{code}-{sponsor}", "title": f"Offer {m}", "merchant": code,
                     "valid_from": "2025-01-01", "valid_to": "2027-12-31" if rng.random() < 0.8 else "2026-06-30"}
            offer["network" if sponsor.startswith("N") else "bank"] = sponsor
            sections["offers"].append(offer)
    return {name: [(f"bench {name} {i}", {k: str(v) for k, v in row.items()}) for i, row in enumerate(rows)]
            for name, rows in sections.items()}


def generate_reports(db_path, count, now, chunk=200_000):
    """Insert count reports over the year before now, in time order, with sqlite3 directly."""
    rng = random.Random(count)
    conn = sqlite3.connect(db_path)
    offers = conn.execute("SELECT id, merchant_id, bank_id, network_id FROM offer").fetchall()
    banks = conn.execute("SELECT id, network_id FROM bank").fetchall()
    outlets = {}
    for outlet_id, merchant_id in conn.execute("SELECT id, merchant_id FROM outlet"):
        outlets.setdefault(merchant_id, []).append(outlet_id)
    eligible = {o[0]: [b for b, n in banks if b == o[2] or (o[3] and n == o[3])] for o in offers}
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(offers))]
    rng.shuffle(weights)
    cumulative = list(itertools.accumulate(weights))
    verdicts, verdict_weights = zip(*VERDICTS)
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='feedback' "
                           "AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:  # faster to build them once at the end
        conn.execute(f'DROP INDEX "{name}"')
    start = now - timedelta(days=365)
    step = timedelta(days=365) / count
    sql = ('INSERT INTO feedback (public_id, channel, bank_id, offer_id, merchant_id, outlet_id, feedback_type_id, '
           'user_id, radius_m, verdict, offer_status, comment, created_at, outlet_inferred, uncounted, anonymous, '
           'new_customer, repeat_visit, suspicion) VALUES (?, \'import\', ?, ?, ?, ?, ?, ?, 150, ?, ?, \'\', ?, 0, 0, 0, 0, 0, \'\')')
    with click.progressbar(length=count, label=f"Generating {count:,} reports", file=sys.stderr) as bar:
        for first in range(0, count, chunk):
            rows = []
            for n in range(first, min(first + chunk, count)):
                offer_id, merchant_id, _, _ = offers[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
                rows.append((secrets.token_hex(8), rng.choice(eligible[offer_id]), offer_id, merchant_id,
                             rng.choice(outlets[merchant_id]), rng.choices((1, 2, 3, 4, 5), (40, 25, 20, 10, 5))[0],
                             f"user{int(rng.paretovariate(1.2) * 1000) % 2_000_000}",
                             rng.choices(verdicts, verdict_weights)[0], "active",
                             (start + step * n).isoformat(sep=" ")))
            conn.executemany(sql, rows)
            conn.commit()
            bar.update(len(rows))
    for _, create in indexes:
        conn.execute(create)
    conn.commit()
    conn.close()


def median_ms(action, runs=15):
    action()  # warm the caches once, as a server would be
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def run_size(count, now):
    from backend import create_app
    from backend.accounts import create_admin
    from backend.catalog import import_catalog
    from backend.db import database
    from backend.models import create_tables
    from backend.ranking import Filters, merchant_leaderboard
    from backend.rollups import rebuild_rollups

    tmp = Path(tempfile.mkdtemp(prefix="offers-feedback-leaderboard-"))
    os.environ["OFFERS_FEEDBACK_DATA"] = str(tmp)
    db_path = tmp / "bench.db"
    app = create_app({"DATABASE_URL": f"sqlite:///{db_path}"})
    database.connect(reuse_if_open=True)
    create_tables()
    import_catalog(catalogue())
    create_admin("bench@example.com", PASSWORD, "platform", now)
    database.close()
    generate_reports(str(db_path), count, now)
    database.connect(reuse_if_open=True)
    began = time.perf_counter()
    with click.progressbar(length=count, label="Rebuilding the counters", file=sys.stderr) as bar:
        rebuild_rollups(on_progress=bar.update)
    rebuild_s = time.perf_counter() - began
    database.execute_sql("ANALYZE")
    today = now.date()
    filters = Filters("all", today - timedelta(days=29), today)
    query_ms = median_ms(lambda: merchant_leaderboard(filters, today))
    bank_ms = median_ms(lambda: merchant_leaderboard(Filters("bank:1", filters.start, filters.end), today))
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/admin/login", data={"email": "bench@example.com", "password": PASSWORD, "csrf_token": token})
    assert client.get("/admin/leaderboard").status_code == 200
    page_ms = median_ms(lambda: client.get("/admin/leaderboard"))
    sizes = {table: database.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
             for table in ("feedback", "merchantday", "customerday")}
    database.close()
    megabytes = db_path.stat().st_size / 2**20
    if os.environ.get("KEEP_BENCH_DB"):
        print(f"kept {db_path}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"count": count, "query_ms": query_ms, "bank_ms": bank_ms, "page_ms": page_ms, "rebuild_s": rebuild_s,
            "rows": sizes, "mb": megabytes}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    now = datetime(2026, 11, 25, 12, 0)
    results = [run_size(count, now) for count in args.sizes]
    print("SQLite, 2,000 merchants, ~20,000 outlets, 6 banks on 2 networks, one year; medians of 15 runs")
    print(f"{'reports':>12} {'30-day query':>13} {'bank scope':>11} {'page render':>12} {'rollup rows':>12} "
          f"{'rebuild':>9} {'db size':>9}")
    for r in results:
        print(f"{r['count']:>12,} {r['query_ms']:>10.1f} ms {r['bank_ms']:>8.1f} ms {r['page_ms']:>9.1f} ms "
              f"{r['rows']['merchantday']:>12,} {r['rebuild_s']:>7.0f} s {r['mb']:>6.0f} MB")
    print("targets: page under 100 ms at 1M and under 250 ms at 10M")


if __name__ == "__main__":
    main()
