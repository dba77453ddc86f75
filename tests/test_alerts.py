"""The action loop in one process, on both databases: flags evaluated into their history,
events with their deliveries (signed webhooks to a real local receiver, e-mail to a real
local SMTP server), cases that reopen on a regression or fall overdue, each audience apart."""
import json
import re
import socket
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import fn
from standardwebhooks.webhooks import Webhook as Verifier

from backend.accounts import create_admin
from backend.alerts import AlertError, check_url, create_webhook, deliver_due, record_event, send_digests
from backend.cases import audiences, audiences_since, case_label, effect, evaluate_flags, open_case, resolve, take_action
from backend.db import database
from backend.models import (Bank, Case, Delivery, EmailSubscription, Event, Feedback, FlagChange, Merchant, MerchantFlag,
                            Network)
from support import WebhookReceiver, make_report

NOW = datetime(2026, 6, 30, 12, 0)
CONFIG = {"WEBHOOK_TIMEOUT_SECONDS": 5, "WEBHOOK_RETRY_SECONDS": 30, "SMTP_URL": "", "MAIL_FROM": "alerts@test.example",
          "WEBHOOK_PRIVATE_NETWORKS": True}


def known(*users, bank="BANK1"):
    """Customers the bank has seen before (a report long ago), so that none is brand-new."""
    for user in users:
        make_report(when=NOW - timedelta(days=400), user=user, bank=bank, offer="S4-OFFER", outlet="S4-1")


def expired_claims(shop="S1", when=NOW, customers=5):
    """Known customers at the outlet told an active offer had expired: fraud_watch."""
    known(*(f"{shop}-c{n}" for n in range(customers)))
    for n in range(customers):
        make_report(when=when - timedelta(hours=n), user=f"{shop}-c{n}", offer=f"{shop}-OFFER", outlet=f"{shop}-1",
                    type_id=2)


def scope_of(code):
    return f"bank:{Bank.get(Bank.code == code).id}"


@pytest.fixture
def receivers():
    made = []

    def make(answers=()):
        made.append(WebhookReceiver(answers))
        return made[-1]

    yield make
    for receiver in made:
        receiver.stop()


def hook(scope, receiver, events=()):
    return create_webhook(scope, receiver.url, events, NOW)


def test_a_new_fraud_watch_is_recorded_told_to_its_audience_only_and_opens_a_case(shops, receivers):
    bank1, bank2 = scope_of("BANK1"), scope_of("BANK2")
    ours, theirs, platform = receivers(), receivers(), receivers()
    _, secret = hook(bank1, ours)
    hook(bank2, theirs)
    _, platform_secret = hook("all", platform, events=["merchant.flagged"])
    expired_claims()
    assert evaluate_flags(NOW, "https://feedback.example") > 0
    s1 = Merchant.get(Merchant.code == "S1")
    assert MerchantFlag.get(scope=bank1, merchant=s1).flag == "fraud_watch"
    change = FlagChange.get(FlagChange.scope == bank1, FlagChange.merchant == s1)
    assert (change.flag, change.previous_flag) == ("fraud_watch", "") and "expired while it was active" in change.reasons
    case = Case.get(Case.scope == bank1, Case.merchant == s1)
    assert (case.state, case.opened_by_id, case.due_at) == ("open", None, NOW + timedelta(days=15))

    assert deliver_due(NOW, CONFIG) == len(Delivery.select()) > 0
    requests = ours.wait_for(2, 5)
    assert sorted(json.loads(body)["type"] for _, body in requests) == ["case.opened", "merchant.flagged"]
    for headers, body in requests:
        Verifier(secret).verify(body, headers)  # raises unless signed with this webhook's secret
        message = json.loads(body)
        assert message["data"]["scope"] == bank1 and message["timestamp"] == "2026-06-30T12:00:00Z"
    flagged = next(json.loads(body)["data"] for _, body in requests if "merchant.flagged" in body)
    assert flagged == {"merchant_code": "S1", "merchant_name": "Shop 1", "flag": "fraud_watch", "previous_flag": "",
                       "scope": bank1, "scope_name": "First Bank", "reasons": flagged["reasons"],
                       "url": f"https://feedback.example/admin/merchants/{s1.id}"}
    assert theirs.received == []  # another bank's webhook hears nothing of it
    [(headers, body)] = platform.wait_for(1, 5)  # the platform's, only the event it asked for
    Verifier(platform_secret).verify(body, headers)
    assert json.loads(body)["data"]["scope"] == "all"

    # Evaluated again, nothing has changed: no new history, event or case.
    events = Event.select().count()
    evaluate_flags(NOW + timedelta(minutes=1))
    assert Event.select().count() == events and Case.select().count() == 3  # the platform's, the bank's, its network's


def test_a_failing_receiver_gets_the_same_event_until_it_answers_then_a_day_of_failures_is_given_up(shops, receivers):
    flaky = receivers(answers=[500, 500, 503])
    down = receivers(answers=[500] * 100)
    for receiver in (flaky, down):
        hook("all", receiver)
    with database.atomic():
        record_event("case.overdue", "all", {"merchant_code": "S1", "merchant_name": "Shop 1"}, NOW)
    now, delays = NOW, []
    for _ in range(4):
        deliver_due(now, CONFIG)
        pending = Delivery.select().where(Delivery.next_attempt_at.is_null(False), Delivery.webhook == 1)
        if pending.exists():
            delays.append((pending.get().next_attempt_at - now).total_seconds())
            now = pending.get().next_attempt_at
    received = flaky.wait_for(4, 5)
    assert len({headers["webhook-id"] for headers, _ in received}) == 1 and len(received) == 4
    assert delays == [30, 60, 120]  # exponential back-off
    delivered = Delivery.get(Delivery.webhook == 1)
    assert (delivered.attempts, delivered.delivered_at, delivered.last_result) == (4, now, "delivered")

    # The receiver that keeps failing is retried (an hour apart at most) for a day, then given up.
    failing = Delivery.get(Delivery.webhook == 2)
    while failing.next_attempt_at is not None:
        assert failing.next_attempt_at - now <= timedelta(hours=1)
        now = failing.next_attempt_at
        deliver_due(now, CONFIG)
        failing = Delivery.get_by_id(failing.id)
    assert failing.given_up_at - NOW >= timedelta(hours=24) and failing.last_result == "HTTP 500"
    assert 10 < failing.attempts < 40


def test_admins_get_their_audience_s_events_by_e_mail_at_once_or_in_a_daily_digest(shops, smtp):
    inbox, url = smtp
    config = {**CONFIG, "SMTP_URL": url}
    now_admin = create_admin("now@bank1.example", "a long password", "bank:BANK1", NOW)
    daily_admin = create_admin("daily@bank1.example", "a long password", "bank:BANK1", NOW)
    other = create_admin("other@bank2.example", "a long password", "bank:BANK2", NOW)
    EmailSubscription.create(admin=now_admin)
    EmailSubscription.create(admin=daily_admin, digest=True)
    EmailSubscription.create(admin=other)
    expired_claims()
    evaluate_flags(NOW, "https://feedback.example")
    deliver_due(NOW, config)
    assert {tuple(to) for to, _ in inbox.messages} == {("now@bank1.example",)}
    subjects = sorted(message["Subject"] for _, message in inbox.messages)
    assert subjects == ["[Offers Feedback] Case opened: Shop 1 (S1)", "[Offers Feedback] Shop 1 (S1) flagged fraud watch"]
    message = next(m for _, m in inbox.messages if "flagged" in m["Subject"])
    assert [part.get_content_type() for part in message.walk()] == ["multipart/alternative", "text/plain", "text/html"]
    plain, markup = (part.get_content() for part in message.walk() if not part.is_multipart())
    assert "now flagged fraud watch on the First Bank leaderboard" in plain and "https://feedback.example/admin" in plain
    assert "<p>" in markup

    assert send_digests(NOW + timedelta(hours=23), config) == 1
    to, digest = inbox.messages[-1]
    assert to == ["daily@bank1.example"] and digest["Subject"] == "[Offers Feedback] Daily digest: 2 events"
    assert send_digests(NOW + timedelta(days=2), config) == 0  # nothing new since


def test_a_resolved_case_reopens_when_the_level_rises_again_and_a_late_first_action_is_overdue(shops, receivers):
    bank1 = scope_of("BANK1")
    receiver = receivers()
    hook(bank1, receiver)
    admin = create_admin("ops@bank1.example", "a long password", "bank:BANK1", NOW)
    s1, s2 = Merchant.get(Merchant.code == "S1"), Merchant.get(Merchant.code == "S2")
    known(*(f"u{n}" for n in range(8)))
    for n in range(3):
        make_report(when=NOW - timedelta(days=20, hours=n), user=f"u{n}", offer="S1-OFFER", outlet="S1-1")
    case = open_case(bank1, s1, admin, NOW - timedelta(days=20))
    assert case.flag_level == 3.0  # 3 known customers verified at the outlet, that week
    take_action(case, "staff_training", admin, "Trained the evening shift", NOW - timedelta(days=19))
    assert case_label(case, NOW) == "in progress"
    resolve(case, admin, "Better since", NOW - timedelta(days=5))
    evaluate_flags(NOW)
    assert Case.get_by_id(case.id).state == "resolved"  # quiet since
    for n in range(3, 8):  # 5 customers this week: above the 3 that flagged it
        make_report(when=NOW - timedelta(hours=n), user=f"u{n}", offer="S1-OFFER", outlet="S1-1")
    evaluate_flags(NOW)
    case = Case.get_by_id(case.id)
    assert (case.state, case.reopened, case_label(case, NOW)) == ("open", True, "reopened")
    regressed = Event.get(Event.type == "case.regressed")
    assert "5.0 weighted customer-days in the last 7 days, above the 3.0 that flagged it" in regressed.data

    late = open_case(bank1, s2, admin, NOW - timedelta(days=16))
    assert case_label(late, NOW) == "open, overdue"
    evaluate_flags(NOW)
    evaluate_flags(NOW + timedelta(minutes=1))
    assert [json.loads(e.data)["case_id"] for e in Event.select().where(Event.type == "case.overdue")] == [late.id]
    deliver_due(NOW + timedelta(minutes=1), CONFIG)
    types = sorted(json.loads(body)["type"] for _, body in receiver.wait_for(4, 5))
    assert types == ["case.opened", "case.opened", "case.overdue", "case.regressed"]


def test_the_effect_of_an_action_is_the_level_before_against_after(shops):
    admin = create_admin("ops@bank1.example", "a long password", "bank:BANK1", NOW)
    known(*(f"u{n}" for n in range(40)))
    user = iter(range(40))
    for weeks_ago, customers in ((6, 6), (5, 6), (4, 6), (3, 6), (2, 2), (1, 2), (0, 2)):  # 6 a week before, 2 after
        for _ in range(customers):
            make_report(when=NOW - timedelta(weeks=weeks_ago, hours=1), user=f"u{next(user)}", offer="S1-OFFER",
                        outlet="S1-1")
    case = open_case(scope_of("BANK1"), Merchant.get(Merchant.code == "S1"), admin, NOW - timedelta(weeks=3, days=1))
    take_action(case, "merchant_contacted", admin, "", NOW - timedelta(weeks=2, days=3))
    found = effect(case, NOW)
    [finding] = found["findings"]
    assert (finding["before"], finding["after"], finding["weeks_after"]) == (6.0, 2.0, 2)
    assert "fell 67%, from 6.0 in the 4 weeks before to 2.0 after (2 weeks so far)" in finding["words"]
    assert list(found["marks"].values()) == [["Merchant contacted"]]


def test_webhook_urls_must_be_http_and_public_unless_allowed(app):
    for url in ("ftp://bank.example/hook", "http:///nohost", "javascript:alert(1)", "http://bank.example/\x00",
                "http://example.com:99999/", "http://h:abc/"):
        with pytest.raises(AlertError, match="http:// or https://"):
            check_url(url)
    with pytest.raises(AlertError, match="user name or password"):
        check_url("http://user:token@127.0.0.1/hook", private_networks=True)
    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://[::1]/hook", "http://169.254.169.254/",
                "http://2130706433/", "http://0x7f.1/", "http://[::ffff:10.0.0.1]/", "http://[64:ff9b::a9fe:a9fe]/",
                "http://[2002:7f00:1::]/", "http://[::127.0.0.1]/", "http://[fe80::1]/"):
        with pytest.raises(AlertError, match="private network"):
            check_url(url)
        assert check_url(url, private_networks=True) == url
    assert check_url("http://8.8.8.8/hook") == "http://8.8.8.8/hook"  # a public address: no name to resolve
    with pytest.raises(AlertError, match="unknown event"):
        create_webhook("all", "http://127.0.0.1/hook", ["merchant.deleted"], NOW)


def test_networks_evaluate_their_own_leaderboard(shops, catalog):
    network = f"network:{Network.get(Network.code == 'NET1').id}"
    expired_claims()
    evaluate_flags(NOW)
    scopes = {flag.scope for flag in MerchantFlag.select().where(MerchantFlag.flag == "fraud_watch")}
    assert scopes == {"all", scope_of("BANK1"), network}


def test_the_documented_signature_check_accepts_our_deliveries_and_nothing_else(shops, receivers):
    """docs/alerts.md's Python snippet, run as a bank would, on a real delivery."""
    doc = (Path(__file__).parent.parent / "docs" / "alerts.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    namespace = {}
    exec(snippet, namespace)  # noqa: S102  (our own documentation)
    receiver = receivers()
    _, secret = hook("all", receiver)
    with database.atomic():
        record_event("case.overdue", "all", {"merchant_code": "S1"}, NOW)
    deliver_due(NOW, CONFIG)
    [(headers, body)] = receiver.wait_for(1, 5)
    headers = {name.title(): value for name, value in headers.items()}  # as a framework hands them over
    assert namespace["verified_event"](secret, headers, body) == json.loads(body)
    assert namespace["verified_event"](secret, headers, body.replace("S1", "S2")) is None
    assert namespace["verified_event"](secret.replace(secret[8], "A" if secret[8] != "A" else "B"), headers, body) is None


def test_a_webhook_whose_host_now_points_inside_is_not_called(shops, receivers):
    receiver = receivers()
    hook("all", receiver)  # allowed when made (a private receiver on a server that allowed them then)
    with database.atomic():
        record_event("case.overdue", "all", {"merchant_code": "S1"}, NOW)
    deliver_due(NOW, {**CONFIG, "WEBHOOK_PRIVATE_NETWORKS": False})
    assert receiver.received == [] and "private network" in Delivery.get().last_result


def test_the_runner_evaluates_the_audiences_with_new_reports(shops, catalog):
    assert audiences_since(None)[0] == audiences()
    make_report(when=NOW, user="u1", offer="S1-OFFER", outlet="S1-1")  # a First Bank customer
    scopes, last = audiences_since(0)
    assert scopes == ["all", scope_of("BANK1"), f"network:{Network.get(Network.code == 'NET1').id}"]
    assert last == Feedback.select(fn.MAX(Feedback.id)).scalar()
    assert audiences_since(last) == ([], last)  # nothing new since: nothing to evaluate


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_timeout(shops):
    """A hostile receiver cannot hold the deliveries of every audience: the whole exchange has a deadline."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK" * 10:
                if stop.wait(0.2):
                    return
                connection.sendall(bytes([byte]))

    threading.Thread(target=trickle, daemon=True).start()
    create_webhook("all", f"http://127.0.0.1:{listener.getsockname()[1]}/hook", [], NOW)
    with database.atomic():
        record_event("case.overdue", "all", {"merchant_code": "S1"}, NOW)
    began = time.monotonic()
    deliver_due(NOW, {**CONFIG, "WEBHOOK_TIMEOUT_SECONDS": 1})
    took = time.monotonic() - began
    stop.set()
    listener.close()
    assert Delivery.get().last_result == "timed out" and took < 3


def test_a_digest_that_cannot_be_sent_does_not_stop_the_others(shops, smtp):
    inbox, url = smtp
    for email in ("first@bank1.example", "second@bank1.example"):
        EmailSubscription.create(admin=create_admin(email, "a long password", "bank:BANK1", NOW), digest=True)
    with database.atomic():
        record_event("case.overdue", scope_of("BANK1"), {"merchant_code": "S1", "merchant_name": "Shop 1",
                                                          "opened_at": "2026-06-01", "due_at": "2026-06-16"}, NOW)
    inbox.refuse = {"first@bank1.example"}
    assert send_digests(NOW + timedelta(hours=1), {**CONFIG, "SMTP_URL": url}) == 1
    assert [to for to, _ in inbox.messages] == [["second@bank1.example"]]


def test_an_admin_no_longer_of_the_audience_gets_no_more_of_its_e_mail(shops, smtp):
    inbox, url = smtp
    admin = create_admin("moved@bank1.example", "a long password", "bank:BANK1", NOW)
    EmailSubscription.create(admin=admin)
    with database.atomic():
        record_event("case.overdue", scope_of("BANK1"), {"merchant_code": "S1", "merchant_name": "Shop 1",
                                                          "opened_at": "2026-06-01", "due_at": "2026-06-16"}, NOW)
    create_admin("moved@bank1.example", "a long password", "bank:BANK2", NOW)  # moved to another bank
    deliver_due(NOW, {**CONFIG, "SMTP_URL": url})
    assert inbox.messages == [] and "no longer of this audience" in Delivery.get().last_result
