#!/usr/bin/env python3
"""Leaderboard benchmark: synthetic reports at scale, then the 30-day query and the page.

Generates a realistic year of reports (skewed merchants, many outlets, several banks on two
networks, eight cities) straight into a fresh database (SQLite, or with --database postgresql
a throwaway cluster with PostgreSQL's default, durable settings), recomputes the counters
with `run.py rebuild-rollups` (the product's own command: its time and peak memory), then
prints the median time of the 30-day leaderboard query (platform and one bank's scope) and
of the full page render (Flask test client, logged-in platform admin) for each size, and
the database's size.
Usage: .venv/bin/python bench/leaderboard.py [--database sqlite|postgresql] [--sizes 1000000 10000000]
       KEEP_BENCH_DB=1 keeps the databases (and the PostgreSQL cluster); --kept URL times one again;
       --also order=reports page=2 times the page with those query strings too.
"""
import argparse
import bisect
import io
import itertools
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

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


def generate_reports(url, count, now, chunk=200_000):
    """Insert count reports over the year before now, in time order, with the driver directly
    (sqlite3's executemany, PostgreSQL's COPY); the indexes are built once at the end."""
    rng = random.Random(count)
    store = SqliteStore(url) if url.startswith("sqlite:///") else PostgresStore(url)
    offers = store.rows("SELECT id, merchant_id, bank_id, network_id FROM offer")
    banks = store.rows("SELECT id, network_id FROM bank")
    outlets = {}
    for outlet_id, merchant_id in store.rows("SELECT id, merchant_id FROM outlet"):
        outlets.setdefault(merchant_id, []).append(outlet_id)
    eligible = {o[0]: [b for b, n in banks if b == o[2] or (o[3] and n == o[3])] for o in offers}
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(offers))]
    rng.shuffle(weights)
    cumulative = list(itertools.accumulate(weights))
    verdicts, verdict_weights = zip(*VERDICTS)
    indexes = store.drop_indexes()
    start = now - timedelta(days=365)
    step = timedelta(days=365) / count
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
            store.insert(rows)
            bar.update(len(rows))
    store.create_indexes(indexes)
    store.close()


REPORT_COLUMNS = ("public_id", "bank_id", "offer_id", "merchant_id", "outlet_id", "feedback_type_id", "user_id",
                  "verdict", "offer_status", "created_at")
# Columns every generated report shares: (name, SQLite value, PostgreSQL COPY text).
FIXED_COLUMNS = (("channel", "import", "import"), ("radius_m", 150, "150"), ("comment", "", ""),
                 ("outlet_inferred", 0, "f"), ("uncounted", 0, "f"), ("anonymous", 0, "f"),
                 ("new_customer", 0, "f"), ("repeat_visit", 0, "f"), ("suspicion", "", ""))


class SqliteStore:
    def __init__(self, url):
        self.conn = sqlite3.connect(url.removeprefix("sqlite:///"))

    def rows(self, sql):
        return self.conn.execute(sql).fetchall()

    def drop_indexes(self):
        indexes = self.rows("SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='feedback' "
                            "AND sql IS NOT NULL")
        for name, _ in indexes:  # faster to build them once at the end
            self.conn.execute(f'DROP INDEX "{name}"')
        return [create for _, create in indexes]

    def insert(self, rows):
        names = REPORT_COLUMNS + tuple(name for name, _, _ in FIXED_COLUMNS)
        fixed = tuple(value for _, value, _ in FIXED_COLUMNS)
        self.conn.executemany(f"INSERT INTO feedback ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                              [row + fixed for row in rows])
        self.conn.commit()

    def create_indexes(self, indexes):
        for create in indexes:
            self.conn.execute(create)
        self.conn.commit()

    def close(self):
        self.conn.close()


class PostgresStore(SqliteStore):
    def __init__(self, url):
        import psycopg2

        self.conn = psycopg2.connect(url)
        self.cursor = self.conn.cursor()

    def rows(self, sql):
        self.cursor.execute(sql)
        return self.cursor.fetchall()

    def drop_indexes(self):
        indexes = self.rows("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'feedback' "
                            "AND indexname NOT LIKE '%pkey'")
        for name, _ in indexes:
            self.cursor.execute(f'DROP INDEX "{name}"')
        self.conn.commit()
        return [create for _, create in indexes]

    def insert(self, rows):
        names = REPORT_COLUMNS + tuple(name for name, _, _ in FIXED_COLUMNS)
        fixed = "\t".join(text for _, _, text in FIXED_COLUMNS)
        data = io.StringIO("".join("\t".join(map(str, row)) + "\t" + fixed + "\n" for row in rows))
        self.cursor.copy_expert(f"COPY feedback ({', '.join(names)}) FROM STDIN", data)
        self.conn.commit()

    def create_indexes(self, indexes):
        for create in indexes:
            self.cursor.execute(create)
        self.conn.commit()


def median_ms(action, runs=15):
    action()  # warm the caches once, as a server would be
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def rebuild(env):
    """`run.py rebuild-rollups` as an operator runs it: (seconds, its peak resident memory in MB)."""
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "run.py", "rebuild-rollups"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.exit("rebuild-rollups failed")
    return time.perf_counter() - began, usage.ru_maxrss / 1024


def fresh_database(kind, tmp, cluster, count):
    """The URL of a new, empty database for one size."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}"
    import psycopg2

    conn = psycopg2.connect(cluster.url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE bench_{count}")
    conn.close()
    return cluster.url.rsplit("/", 1)[0] + f"/bench_{count}"


def run_size(kind, count, now, cluster, also=()):
    from backend import create_app
    from backend.catalog import import_catalog
    from backend.db import database
    from backend.models import create_tables

    tmp = Path(tempfile.mkdtemp(prefix="offers-feedback-leaderboard-"))
    os.environ["OFFERS_FEEDBACK_DATA"] = str(tmp)
    url = fresh_database(kind, tmp, cluster, count)
    app = create_app({"DATABASE_URL": url})
    database.connect(reuse_if_open=True)
    create_tables()
    import_catalog(catalogue())
    database.close()
    began = time.perf_counter()
    generate_reports(url, count, now)
    generate_s = time.perf_counter() - began
    rebuild_s, rebuild_mb = rebuild({**os.environ, "DATABASE_URL": url})
    figures = measure(kind, app, url, now, tmp, also)
    return {"count": count, "rebuild_s": rebuild_s, "rebuild_mb": rebuild_mb, "generate_s": generate_s, **figures}


def measure(kind, app, url, now, tmp, also=()):
    """The queries' and the page's median times (also: other query strings), the counters'
    rows and the database's size."""
    from backend.accounts import create_admin
    from backend.db import database
    from backend.models import AdminUser
    from backend.ranking import Filters, merchant_leaderboard

    database.connect(reuse_if_open=True)
    # Statistics, and on PostgreSQL the visibility map autovacuum keeps in a running system
    # (the rebuild marked every report counted: until a vacuum, index-only scans read the
    # table too, 150 ms instead of 42 for the outlets affected at 10M reports).
    database.execute_sql("ANALYZE" if kind == "sqlite" else "VACUUM ANALYZE")
    today = now.date()
    filters = Filters("all", today - timedelta(days=29), today)
    query_ms = median_ms(lambda: merchant_leaderboard(filters, today))
    bank_ms = median_ms(lambda: merchant_leaderboard(Filters("bank:1", filters.start, filters.end), today))
    client = app.test_client()
    if not AdminUser.select().where(AdminUser.email == "bench@example.com").exists():
        create_admin("bench@example.com", PASSWORD, "platform", now)
    page = client.get("/admin/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/admin/login", data={"email": "bench@example.com", "password": PASSWORD, "csrf_token": token})
    assert client.get("/admin/leaderboard").status_code == 200
    page_ms = median_ms(lambda: client.get("/admin/leaderboard"))
    also_ms = {}
    for query in also:
        assert client.get(f"/admin/leaderboard?{query}").status_code == 200, query
        also_ms[query] = median_ms(lambda: client.get(f"/admin/leaderboard?{query}"))
    sizes = {table: database.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
             for table in ("feedback", "merchantday", "customerday")}
    if kind == "sqlite":
        database.close()
        path = Path(url.removeprefix("sqlite:///"))
        megabytes = sum(file.stat().st_size for file in path.parent.glob(path.name + "*")) / 2**20
    else:
        megabytes = database.execute_sql("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20
        database.close()
    if os.environ.get("KEEP_BENCH_DB"):
        print(f"kept {url}", file=sys.stderr)
    elif tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"query_ms": query_ms, "bank_ms": bank_ms, "page_ms": page_ms, "also_ms": also_ms, "rows": sizes,
            "mb": megabytes}


def measure_kept(url, now, also=()):
    """Time a database an earlier run kept (KEEP_BENCH_DB=1), as it is now: code changed since."""
    from backend import create_app
    from backend.db import database
    from backend.migrations import apply_migrations

    os.environ["OFFERS_FEEDBACK_DATA"] = tempfile.mkdtemp(prefix="offers-feedback-leaderboard-")
    app = create_app({"DATABASE_URL": url})
    database.connect(reuse_if_open=True)
    apply_migrations()
    count = database.execute_sql("SELECT COUNT(*) FROM feedback").fetchone()[0]
    database.close()
    kind = "sqlite" if url.startswith("sqlite:") else "postgresql"
    return {"count": count, "rebuild_s": float("nan"), "rebuild_mb": float("nan"), "generate_s": float("nan"),
            **measure(kind, app, url, now, None, also)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--kept", metavar="URL", help="only time a database an earlier run kept (KEEP_BENCH_DB=1)")
    parser.add_argument("--also", metavar="QUERY", nargs="+", default=[],
                        help="also time the page with these query strings, e.g. order=reports page=2")
    args = parser.parse_args()
    now = datetime(2026, 11, 25, 12, 0)
    cluster = None
    if args.kept:
        print_results("SQLite (WAL)" if args.kept.startswith("sqlite:") else "PostgreSQL",
                      [measure_kept(args.kept, now, args.also)])
        return
    if args.database == "postgresql":
        from support import PostgresCluster

        cluster = PostgresCluster(durable=True)  # PostgreSQL's defaults, as a bank would run it
    try:
        results = [run_size(args.database, count, now, cluster, args.also) for count in args.sizes]
        if cluster:
            import psycopg2

            with psycopg2.connect(cluster.url) as conn, conn.cursor() as cursor:
                cursor.execute("SHOW server_version")
                version = cursor.fetchone()[0].split()[0]
    finally:
        if cluster and not os.environ.get("KEEP_BENCH_DB"):
            cluster.stop()
    print_results(f"PostgreSQL {version} (fsync on)" if cluster else f"SQLite {sqlite3.sqlite_version} (WAL)", results)


def print_results(name, results):
    print(f"{name}, 2,000 merchants, ~20,000 outlets, 6 banks on 2 networks, one year; medians of 15 runs")
    print(f"{'reports':>12} {'30-day query':>13} {'bank scope':>11} {'page render':>12} {'rollup rows':>12} "
          f"{'rebuild':>9} {'rebuild RSS':>12} {'db size':>9} {'generated in':>13}")
    for r in results:
        print(f"{r['count']:>12,} {r['query_ms']:>10.1f} ms {r['bank_ms']:>8.1f} ms {r['page_ms']:>9.1f} ms "
              f"{r['rows']['merchantday']:>12,} {r['rebuild_s']:>7.0f} s {r['rebuild_mb']:>9.0f} MB {r['mb']:>6.0f} MB "
              f"{r['generate_s']:>11.0f} s")
        for query, ms in r["also_ms"].items():
            print(f"{'':>12} page ?{query}: {ms:.1f} ms")
    print("targets: page under 100 ms at 1M and under 250 ms at 10M")


if __name__ == "__main__":
    main()
