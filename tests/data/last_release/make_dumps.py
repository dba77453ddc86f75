"""Make this folder's databases as the last release (6ede8a1, before migrations) left them.

Run from the repository root: `.venv/bin/python tests/data/last_release/make_dumps.py`.
It unpacks the release's code with `git archive` into a temp folder, fills a SQLite file
and a throwaway PostgreSQL database through that code's own run.py (catalogue, a client,
an admin, reports with their counters), and writes sqlite.sql, postgresql.sql and the
secrets the test needs (credentials.json). tests/test_migrations.py loads the dumps.
"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent.parent
RELEASE = "6ede8a1"
ADMIN = {"email": "ops@example.com", "password": "release-password-1", "scope": "platform"}
# Three customers at two merchants over three days, one 5 km from the outlet: fractional
# scores in the counters.
REPORTS = """\
reported_at,your_bank_code,user_id,offer_code,outlet_code,feedback_type,user_latitude,user_longitude,comment
2026-11-01T10:00:00+00:00,BANK1,asha@example.com,OF1,O1,1,19.059712345,72.829512345,refused
2026-11-01T11:00:00+00:00,BANK1,ravi@example.com,OF1,O1,2,19.0597,72.8295,told expired
2026-11-02T09:30:00+00:00,BANK1,asha@example.com,OF6,O3,1,12.93531234,77.62451234,
2026-11-02T12:00:00+00:00,BANK1,device:abc123,OF1,O1,4,19.1097,72.8295,far away
2026-11-03T18:45:00+00:00,BANK1,ravi@example.com,OF6,O3,3,12.9353,77.6245,no discount
"""


def run_old(folder, env, *args):
    """The release's run.py; its standard output."""
    result = subprocess.run([sys.executable, "run.py", *args], cwd=folder, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr)
    return result.stdout


def fill(folder, url, data):
    """Catalogue, client, admin and reports through the release's commands; the client's secrets."""
    env = {**os.environ, "DATABASE_URL": url, "OFFERS_FEEDBACK_DATA": str(data), "PYTHONPATH": str(folder)}
    run_old(folder, env, "import-catalog", "tests/data/catalog.json")
    client = json.loads(run_old(folder, env, "create-client", "--name", "First Bank app", "--bank", "BANK1", "--json"))
    run_old(folder, env, "create-admin", *(f"--{key}={value}" for key, value in ADMIN.items()))
    reports = data / "reports.csv"
    reports.write_text(REPORTS)
    run_old(folder, env, "import-reports", str(reports), "--client", client["clientkey"])
    return {key: client[key] for key in ("clientkey", "clientpass", "apikey")}


def main():
    sys.path.insert(0, str(ROOT / "tests"))
    from support import PostgresCluster, _pg_bin

    with tempfile.TemporaryDirectory() as temp:
        folder, data = Path(temp) / "release", Path(temp) / "data"
        folder.mkdir()
        archive = subprocess.run(["git", "archive", RELEASE], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)

        sqlite_file = data / "release.db"
        credentials = {"sqlite": fill(folder, f"sqlite:///{sqlite_file}", data)}
        with sqlite3.connect(sqlite_file) as connection:
            (HERE / "sqlite.sql").write_text("\n".join(connection.iterdump()) + "\n")

        cluster = PostgresCluster()
        try:
            credentials["postgresql"] = fill(folder, cluster.url, data)
            dump = subprocess.run(cluster.as_owner + [_pg_bin("pg_dump"), "--no-owner", "--no-privileges", "--inserts",
                                                      cluster.url],
                                  capture_output=True, text=True, check=True).stdout
        finally:
            cluster.stop()
        # psql's own commands (\restrict) are not SQL: the test runs the dump through psycopg2.
        (HERE / "postgresql.sql").write_text("".join(line for line in dump.splitlines(keepends=True)
                                                     if not line.startswith("\\")))
    (HERE / "credentials.json").write_text(json.dumps({"admin": ADMIN, **credentials}, indent=2) + "\n")


if __name__ == "__main__":
    main()
