#!/usr/bin/env python3
"""Proxy benchmark: bench/ingest.py's two loads (/healthz, then reports) against the server
three ways: sync workers reached directly, sync workers behind deploy/'s nginx (the
production pairing), and gthread workers reached directly (the default without a proxy).
Prints req/s, p50 and p99 for each, medians of several runs.
Usage: .venv/bin/python bench/proxy.py [--duration 10] [--connections 32] [--runs 3]
"""
import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from ingest import LUA, run_py, wrk  # noqa: E402
from support import nginx_in_front, served  # noqa: E402


def ingest_script(tmp, env):
    """The ingest benchmark's wrk script for the demo catalogue seeded in env's database."""
    run_py(env, "seed-demo")
    credentials = json.loads((tmp / "demo-credentials.json").read_text())
    with sqlite3.connect(tmp / "bench.db") as conn:
        targets = conn.execute("""
            SELECT o.code, b.code, t.code, t.latitude, t.longitude
            FROM offer o JOIN outlet t ON t.merchant_id = o.merchant_id
            JOIN bank b ON b.network_id = (SELECT id FROM network WHERE code = 'UPN')
            WHERE (o.bank_id = b.id OR o.network_id = b.network_id) AND t.latitude IS NOT NULL
        """).fetchall()
    lua_targets = "{" + ",".join('{"%s","%s","%s",%.6f,%.6f}' % t for t in targets) + "}"
    secrets = "&".join(f"{k}={credentials[k]}" for k in ("clientkey", "clientpass", "apikey"))
    script = tmp / "ingest.lua"
    script.write_text(LUA.replace("{TARGETS}", lua_targets).replace("{CREDENTIALS}", secrets))
    return script


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: run `make setup`")
    tmp = Path(tempfile.mkdtemp(prefix="offers-feedback-proxy-bench-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "OFFERS_FEEDBACK_DATA": str(tmp)}
    script = ingest_script(tmp, env)
    results = {}
    labels = iter(range(1, 1000))

    def measure(name, base, run):
        label = next(labels)  # in the wrk script's user ids: each load reports new customers
        for load, url, lua in (("healthz", base + "/healthz", None), ("ingest", base + "/api", script)):
            figures = wrk(url, args.duration, args.connections, lua, label)
            results.setdefault((name, load), []).append(figures)

    sync_env = {**env, "WORKER_CLASS": "sync", "PROXIES": "1"}
    with served(sync_env, tmp / "sync.log") as app, nginx_in_front(app, tmp / "nginx") as proxied:
        for run in range(1, args.runs + 1):
            measure("sync, direct", app, run)
            measure("sync, behind nginx", proxied, run)
    with served({**env, "WORKER_CLASS": "gthread"}, tmp / "gthread.log") as app:
        for run in range(1, args.runs + 1):
            measure("gthread, direct", app, run)

    print(f"wrk -t2 -c{args.connections} -d{args.duration}s, {args.runs} runs (medians), SQLite WAL, 2 workers, "
          f"nginx worker_processes auto on {os.cpu_count()} cores")
    print(f"{'server':<22} {'load':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    for (name, load), runs in results.items():
        median = {key: statistics.median(run[key] for run in runs) for key in ("rps", "p50", "p99")}
        failed = sum(run["non2xx"] + run["socket_errors"] for run in runs)
        print(f"{name:<22} {load:<8} {median['rps']:>8.0f} {median['p50']:>8.1f} {median['p99']:>8.1f} {failed:>7}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
