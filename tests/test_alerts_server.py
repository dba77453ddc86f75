"""The action loop through the real server and its job runner, on both databases: reports
that turn a merchant fraud_watch reach a bank's webhook signed, within 60 seconds, and its
admin by e-mail; a failing receiver gets the same event until it answers; an event whose
delivery was under way when the server was killed (-9) is delivered after the restart."""
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook as Verifier

from backend.db import database, use_database
from backend.models import AdminUser, Delivery, EmailSubscription, Event
from support import DATA, ROOT, Inbox, WebhookReceiver, free_port, report_params, run_py, wait_until_up


@pytest.fixture
def site(database_url, tmp_path):
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = {**os.environ, "DATABASE_URL": database_url, "OFFERS_FEEDBACK_DATA": str(tmp_path), "JOBS": "1",
           "FLAG_EVALUATION_SECONDS": "2", "DELIVERY_POLL_SECONDS": "1", "WEBHOOK_RETRY_SECONDS": "1",
           "WEBHOOK_PRIVATE_NETWORKS": "1", "SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
           "PUBLIC_URL": "https://feedback.example"}
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    credentials = json.loads(run_py(env, "create-client", "--name", "First Bank", "--bank", "BANK1", "--json"))
    run_py(env, "create-admin", "--email", "ops@bank1.example", "--scope", "bank:BANK1", "--password",
           "a long enough password")
    use_database(database_url)
    EmailSubscription.create(admin=AdminUser.get(AdminUser.email == "ops@bank1.example"))
    database.close()
    yield {"env": env, "credentials": credentials, "inbox": inbox, "tmp": tmp_path}
    smtp.stop()


class Server:
    """`run.py serve` with its job runner, killable with -9."""

    def __init__(self, env, log_path):
        self.port, self.log_path = free_port(), log_path
        with log_path.open("a") as log:
            self.process = subprocess.Popen([sys.executable, "run.py", "serve", "--port", str(self.port), "--workers", "2"],
                                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        assert wait_until_up(self.base + "/healthz", self.process), log_path.read_text()

    def report(self, credentials, **params):
        query = urllib.parse.urlencode(report_params(credentials, **params))
        try:
            with urllib.request.urlopen(f"{self.base}/api?{query}", timeout=10) as answer:
                assert json.loads(answer.read())["status"] == "success"
        except urllib.error.HTTPError as error:
            pytest.fail(f"{params}: {error.read().decode()}")

    def stop(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)
        self.process.wait(timeout=20)


def claims(server, credentials, customers, offer, outlet, position, history):
    """Customers the bank knows (a report elsewhere days ago) tell, at the outlet, that its
    active offer has expired: fraud_watch."""
    days_ago = (datetime.now(timezone.utc) - timedelta(days=6)).isoformat(timespec="seconds")
    for user in customers:
        server.report(credentials, user_id=user, offer_code=history[0], outlet_code=history[1], user_latitude=None,
                      user_longitude=None, feedback_type="1", reported_at=days_ago)
    for user in customers:
        server.report(credentials, user_id=user, offer_code=offer, outlet_code=outlet, user_latitude=position[0],
                      user_longitude=position[1], user_accuracy="15", feedback_type="2")


def runner_processes(folder):
    """Job runners started for this test's data folder that are still alive."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if b"run.py\x00worker" in (entry / "cmdline").read_bytes() and \
                    f"OFFERS_FEEDBACK_DATA={folder}".encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def test_a_new_fraud_watch_reaches_the_bank_signed_within_a_minute_retried_and_after_a_kill(site, database_url):
    env, credentials = site["env"], site["credentials"]
    flaky = WebhookReceiver(answers=[500, 500, 500])
    webhook = json.loads(run_py(env, "create-webhook", "--scope", "bank:BANK1", "--url", flaky.url, "--json"))
    assert webhook["secret"].startswith("whsec_")
    later_port = free_port()  # a receiver that is not up yet
    run_py(env, "create-webhook", "--scope", "bank:BANK1", "--url", f"http://127.0.0.1:{later_port}/hooks",
           "--event", "merchant.flagged")
    log = site["tmp"] / "server.log"
    server = Server(env, log)
    try:
        claims(server, credentials, [f"c{n}" for n in range(5)], "OF1", "O1", ("19.0597", "72.8295"), ("OF6", "O3"))
        sent = time.monotonic()
        received = flaky.wait_for(8, 60)  # merchant.flagged and case.opened: 3 failures and the success each
        took = time.monotonic() - sent
        flagged = [(headers, body) for headers, body in received if json.loads(body)["type"] == "merchant.flagged"]
        assert len(flagged) == 4 and len({headers["webhook-id"] for headers, _ in flagged}) == 1, log.read_text()
        assert took < 60
        for headers, body in flagged:
            Verifier(webhook["secret"]).verify(body, headers)
        data = json.loads(flagged[-1][1])["data"]
        assert (data["merchant_code"], data["flag"], data["previous_flag"]) == ("M1", "fraud_watch", "")
        assert data["url"].startswith("https://feedback.example/admin/merchants/")
        assert wait_for(lambda: len(site["inbox"].messages) >= 2, 30)
        assert {m["Subject"] for _, m in site["inbox"].messages} >= {
            "[Offers Feedback] Cafe Aroma (M1) flagged fraud watch", "[Offers Feedback] Case opened: Cafe Aroma (M1)"}

        # Another merchant turns fraud_watch while the second receiver is down; the server is killed.
        claims(server, credentials, [f"d{n}" for n in range(5)], "OF6", "O3", ("12.9353", "77.6245"), ("OF1", "O1"))
        use_database(database_url)

        def failed_once():
            event = Event.get_or_none(Event.type == "merchant.flagged", Event.data.contains('"M2"'),
                                      Event.scope != "all", ~Event.scope.startswith("network"))
            return event and Delivery.select().where(Delivery.event == event, Delivery.attempts > 0,
                                                     Delivery.delivered_at.is_null(), Delivery.webhook == 2).exists()

        assert wait_for(failed_once, 60), log.read_text()
        database.close()
    finally:
        server.stop(signal.SIGKILL)
    assert wait_for(lambda: not runner_processes(site["tmp"]), 10)  # the runner ended with the server
    late = WebhookReceiver(port=later_port)
    server = Server(env, log)
    try:
        [(headers, body)] = late.wait_for(1, 30)
        assert json.loads(body)["data"]["merchant_code"] == "M2"
    finally:
        server.stop()
        flaky.stop()
        late.stop()
