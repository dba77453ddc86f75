"""Helpers shared by the test suites: free ports, run.py, a served app, a PostgreSQL cluster."""
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, process, seconds=30):
    """Poll url until it answers; False if the process died or time ran out first."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except OSError:
            time.sleep(0.1)
    return False


def site_env(folder):
    """Environment for run.py with a SQLite database (and data folder) in folder."""
    return {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'site.db'}", "OFFERS_FEEDBACK_DATA": str(folder)}


def run_py(env, *args):
    """Run `python run.py ARGS` as an operator would; returns its standard output."""
    result = subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextmanager
def served(env, log_path, workers=2):
    """`run.py serve` (gunicorn) on a free port until the block ends; yields its base URL."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "run.py", "serve", "--port", str(port), "--workers", str(workers)],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    assert wait_until_up(base + "/healthz", process), log_path.read_text()
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def make_report(*, when, user="asha@example.com", bank="BANK1", offer="OF1", outlet="O1", type_id=1, position="at",
                accuracy=10, **extra):
    """Record a report through the domain function, as an entrance would; position: "at"
    (the outlet's door), "away" (5 km off), None (not shared), or (latitude, longitude)."""
    from backend.feedback import Rules, record_feedback
    from backend.models import Bank, FeedbackType, Offer, Outlet

    found_outlet = Outlet.get(Outlet.code == outlet) if outlet else None
    lat, lon = (found_outlet.latitude, found_outlet.longitude) if found_outlet and found_outlet.latitude else (19.0, 72.8)
    if position == "at":
        position = (lat + 0.0001, lon)  # 11 m off the outlet's point, as a phone at the till would be
    elif position == "away":
        position = (lat + 0.05, lon)
    latitude, longitude = position or (None, None)
    return record_feedback(bank=Bank.get(Bank.code == bank), offer=Offer.get(Offer.code == offer), outlet=found_outlet,
                           feedback_type=FeedbackType.get_by_id(type_id), user_id=user, now=when,
                           rules=Rules(150, timedelta(hours=24)), latitude=latitude, longitude=longitude,
                           accuracy_m=accuracy if position else None, **extra)


def _pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found: run `make setup` (installs Debian's postgresql).")
    return found[-1]


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temp dir on a free local port (stop() removes it).

    The tests' clusters skip fsync (nothing in them must survive a crash); durable=True keeps
    PostgreSQL's defaults, as a bank would run it, for benchmarks. settings: more `-c` options.
    """

    def __init__(self, durable=False, settings=()):
        self.durable, self.settings = durable, list(settings)
        self.root = Path(tempfile.mkdtemp(prefix="offers-feedback-pg-"))
        self.datadir = self.root / "data"
        # PostgreSQL refuses to run as root; CI is root, so run it as the postgres user there.
        self.as_owner = []
        if os.geteuid() == 0:
            self.as_owner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
            self.root.chmod(0o700)
        self.port = free_port()
        subprocess.run(self.as_owner + [_pg_bin("initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres",
                                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        self.pg_ctl("start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, action, *args):
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        options += "".join(f" -c {setting}" for setting in self.settings)
        subprocess.run(self.as_owner + [_pg_bin("pg_ctl"), "-D", str(self.datadir), "-o", options,
                                        "-l", str(self.root / "log"), "-w", action, *args], check=True, capture_output=True)

    def stop(self):
        self.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)
