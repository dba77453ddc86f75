"""run.py backup while the server takes reports, and run.py restore, on SQLite and PostgreSQL."""
import json
import stat
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import psycopg2
import pytest

from support import DATA, ROOT, new_database, run_py, served, site_env, site_stored_id


def rows(url, sql):
    """Run sql on the site's database; its rows, if it returns any."""
    if url.startswith("sqlite:///"):
        import sqlite3
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql).fetchall()
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else []


STATE = ("SELECT (SELECT count(*) FROM feedback), (SELECT count(*) FROM feedback WHERE uncounted), "
         "(SELECT COALESCE(SUM(reports), 0) FROM merchantday WHERE scope = 'all' AND feedback_type = 0 AND city = '')")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_backup_taken_under_load_restores_a_consistent_database(request, tmp_path, kind):
    env = site_env(tmp_path)
    if kind == "postgresql":
        env["DATABASE_URL"] = new_database(request.getfixturevalue("postgres_server"), "backups")
    url = env["DATABASE_URL"]
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    client = json.loads(run_py(env, "create-client", "--name", "Backup", "--bank", "BANK1", "--json"))
    sent, stop = [], threading.Event()
    with served(env, tmp_path / "server.log") as base:
        def report(user_id):
            query = urllib.parse.urlencode({
                "action": "user_feedback", "user_id": user_id, "feedback_type": "1", "offer_code": "OF1",
                "your_bank_code": "BANK1", "outlet_code": "O1", "user_latitude": "19.0597", "user_longitude": "72.8295",
                **{key: client[key] for key in ("clientkey", "clientpass", "apikey")}})
            with urllib.request.urlopen(f"{base}/api?{query}", timeout=30) as answer:
                assert answer.status == 200
            sent.append(user_id)

        for n in range(20):
            report(f"before{n}")

        def keep_reporting():
            n = 0
            while not stop.is_set():
                report(f"during{n}")
                n += 1

        reporter = threading.Thread(target=keep_reporting)
        reporter.start()
        try:
            assert "Backed up to" in run_py(env, "backup", str(tmp_path / "site.backup"))
        finally:
            stop.set()
            reporter.join()
    assert stat.S_IMODE((tmp_path / "site.backup").stat().st_mode) == 0o600
    everything = {site_stored_id(env, user_id) for user_id in sent}
    rows(url, "DELETE FROM feedback")  # the loss a back-up is for
    run_py(env, "restore", str(tmp_path / "site.backup"))
    restored = {user_id for (user_id,) in rows(url, "SELECT user_id FROM feedback")}
    assert {site_stored_id(env, f"before{n}") for n in range(20)} <= restored <= everything
    stored, pending, counted = rows(url, STATE)[0]
    assert counted + pending == stored  # reports and counters from one moment
    assert "up to date" in run_py(env, "migrate")
    again = subprocess.run([sys.executable, "run.py", "backup", str(tmp_path / "site.backup")], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert again.returncode == 1 and "a back-up never overwrites a file" in again.stderr
