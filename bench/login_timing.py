#!/usr/bin/env python3
"""Admin login timing: does the answer's time tell whether an e-mail has an account?

Starts `run.py serve` (gunicorn, 2 workers) on a fresh SQLite file (or DATABASE_URL), makes
admins with run.py, then POSTs the login form RUNS times for each case, the cases taking
turns so that drift in the machine's speed hits them all alike: an unknown e-mail, a wrong
password, a locked account, a disabled account (all refused with the same message) and the
right password. Prints the time from request to answer, in ms, for each.
Usage: .venv/bin/python bench/login_timing.py [--runs 20]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from admin_browser import AdminBrowser  # noqa: E402
from support import DATA, run_py, served  # noqa: E402

PASSWORD = "bench password 1234"


def make_admin(env, email):
    run_py(env, "create-admin", "--email", email, "--password", PASSWORD, "--scope", "bank:BANK1")
    return email


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="offers-feedback-login-bench-"))
    env = {**os.environ, "OFFERS_FEEDBACK_DATA": str(tmp)}
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.db'}")
    try:
        run_py(env, "import-catalog", str(DATA / "catalog.json"))
        locked, disabled, right = (make_admin(env, f"{name}@bench.example") for name in ("locked", "disabled", "right"))
        # Four wrong guesses per account: never the fifth, which would lock it.
        wrong = [make_admin(env, f"wrong{n}@bench.example") for n in range((args.runs + 3) // 4)]
        run_py(env, "disable-admin", "--email", disabled)
        with served(env, tmp / "server.log") as base:
            for _ in range(5):
                AdminBrowser(base).log_in(locked, "a wrong password")
            cases = {
                "unknown e-mail": lambda n: (f"nobody{n}@bench.example", PASSWORD),
                "wrong password": lambda n: (wrong[n // 4], "a wrong password"),
                "locked account": lambda n: (locked, PASSWORD),
                "disabled account": lambda n: (disabled, PASSWORD),
                "right password": lambda n: (right, PASSWORD),
            }
            timings = {case: [] for case in cases}
            for n in range(args.runs):
                for case, credentials in cases.items():
                    browser = AdminBrowser(base)
                    token = browser.csrf_token()
                    email, password = credentials(n)
                    started = time.perf_counter()
                    status = browser.log_in(email, password, token).status
                    timings[case].append((time.perf_counter() - started) * 1000)
                    assert status == (302 if case == "right password" else 400), (case, status)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"POST /admin/login, {args.runs} tries each, {env['DATABASE_URL'].split(':')[0]}, server on this machine (ms)")
    print(f"{'case':18} {'median':>7} {'mean':>7} {'min':>7} {'max':>7}")
    for case, values in timings.items():
        print(f"{case:18} {statistics.median(values):7.1f} {statistics.mean(values):7.1f} {min(values):7.1f} "
              f"{max(values):7.1f}")


if __name__ == "__main__":
    main()
