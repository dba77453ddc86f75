"""The leaderboard's rules, each on constructed data, and counters that equal a recount."""
import fcntl
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import psycopg2
import pytest

from backend import ranking, rollups
from backend.db import database, large_reads, lock_id, sqlite_path, use_database
from backend.models import Bank, Feedback, Merchant, MerchantDay, Network, Outlet
from backend.ranking import Filters, merchant_leaderboard
from backend.rollups import COUNTING_LOCK, count_pending, rebuild_rollups
from support import counter_rows, make_report

TODAY = date(2026, 6, 30)
NOON = datetime(2026, 6, 30, 12, 0)


def report(shop, user, when=NOON, type_id=1, where="at", bank="BANK1", offer=None, outlet=None, **extra):
    """Record a report at a shop's outlet; where: at (verified), away, or None (not shared)."""
    return make_report(when=when, user=user, bank=bank, offer=offer or f"{shop}-OFFER", outlet=outlet or f"{shop}-1",
                       type_id=type_id, position=where, **extra)


def regulars(*users, bank="BANK1"):
    """Make these customers known to the bank (a report long ago), so none is brand-new."""
    for user in users:
        report("S4", user, when=NOON - timedelta(days=400), bank=bank)


def board(scope="all", days=30, **filters):
    return merchant_leaderboard(Filters(scope, TODAY - timedelta(days=days - 1), TODAY, **filters), TODAY)


def ranked_names(result):
    return [row.name for row in result.ranked]


def test_a_customer_counts_once_per_merchant_per_day(shops):
    for type_id in (1, 2, 3, 4):
        report("S1", "asha", type_id=type_id)
    report("S1", "asha", when=NOON - timedelta(days=1))
    for user in ("ravi", "meena"):
        report("S1", user)
    [row] = board().ranked
    # Asha's report of the day before is a repeat (within 30 days at the same merchant);
    # the three customers are brand-new, at half weight.
    assert (row.reports, row.customer_days, row.discounted_customer_days, row.distinct_customers, row.score) == (
        7, 3, 1, 3, 1.5)


def test_reports_from_people_who_were_not_there_cannot_carry_a_merchant(shops):
    for n in range(9):
        report("S1", f"away{n}", where="away")
    for n in range(3):
        report("S2", f"there{n}", where="at")
    report("S3", "a", where=None), report("S3", "b", where=None), report("S3", "c", where=None)
    # Scores 3, 1.5 and 0.3: the 9 brand-new customers away from S1 on one day count as 3.
    assert ranked_names(board()) == ["Shop 2", "Shop 3", "Shop 1"]


def test_one_person_cannot_put_a_merchant_on_the_board(shops):
    for day in range(10):
        report("S1", "angry", when=NOON - timedelta(days=day))
    report("S2", "x"), report("S2", "y")
    report("S3", "x"), report("S3", "y"), report("S3", "z")
    result = board()
    assert ranked_names(result) == ["Shop 3"]
    assert sorted(row.name for row in result.low_volume) == ["Shop 1", "Shop 2"]
    assert result.low_volume_count == 2 and all(row.flag == "low_volume" for row in result.low_volume)


def test_a_sudden_rise_is_put_on_fraud_watch(shops):
    regulars(*(f"now{n}" for n in range(9)))
    for week in range(1, 9):  # a steady 2 a week at both shops for 8 weeks...
        for n in range(2):
            for shop in ("S1", "S2"):
                report(shop, f"{shop}-w{week}-{n}", when=NOON - timedelta(weeks=week, days=1))
    for n in range(9):  # ...then 9 this week at S1 only
        report("S1", f"now{n}", when=NOON - timedelta(hours=n))
    for n in range(3):
        report("S2", f"now{n}", when=NOON - timedelta(hours=n))
    rows = {row.name: row for row in board(days=90).ranked}
    assert {name: row.flag for name, row in rows.items()} == {"Shop 1": "fraud_watch", "Shop 2": ""}
    # The baseline's customers were brand-new (half weight); this week's are known ones.
    assert rows["Shop 1"].flag_reasons == ["9.0 weighted customer-days in the last 7 days, 9.0 x the 8-week weekly mean (1.0)"]


def test_verified_expired_claims_on_an_active_offer_are_put_on_fraud_watch(shops):
    regulars(*(f"c{n}" for n in range(5)))
    for n in range(5):
        report("S1", f"c{n}", type_id=2)  # told it expired, at the outlet, offer active
        report("S5", f"c{n}", type_id=2)  # the same where the offer had in fact expired: not counted
        report("S2", f"c{n}", type_id=2, where="away")  # and from people who were elsewhere
    rows = {row.name: row for row in board().ranked}
    assert {name: row.flag for name, row in rows.items()} == {"Shop 1": "fraud_watch", "Shop 2": ""}
    assert rows["Shop 1"].flag_reasons == [
        "5 verified customers told the offer had expired while it was active (100% of verified customer-days)"]


def test_each_audience_sees_only_its_reports(shops, catalog):
    bank1, bank2, bank3 = (Bank.get(Bank.code == code) for code in ("BANK1", "BANK2", "BANK3"))
    network = Network.get(Network.code == "NET1")
    for n in range(3):
        report("S1", f"b1-{n}")  # First Bank customers
        report(None, f"b2-{n}", bank="BANK2", offer="OF2", outlet="O1")  # Second Bank, network offer at M1
        report(None, f"b3-{n}", bank="BANK3", offer="OF4", outlet="O3")  # Lone Bank (no network) at M2
    assert ranked_names(board(f"bank:{bank1.id}")) == ["Shop 1"]
    assert ranked_names(board(f"bank:{bank2.id}")) == ["Cafe Aroma"]
    assert ranked_names(board(f"bank:{bank3.id}")) == ["Urban Threads"]
    assert sorted(ranked_names(board(f"network:{network.id}"))) == ["Cafe Aroma", "Shop 1"]
    assert len(board("all").ranked) == 3


def test_filters_by_type_city_and_verified(shops):
    for n in range(3):
        report("S1", f"a{n}", type_id=1)
        report("S2", f"b{n}", type_id=2, where="away")
        report(None, f"c{n}", type_id=2, offer="OF1", outlet="O1")  # Cafe Aroma, Mumbai
    assert sorted(ranked_names(board(feedback_type=2))) == ["Cafe Aroma", "Shop 2"]
    assert sorted(ranked_names(board(city="Pune"))) == ["Shop 1", "Shop 2"]
    assert sorted(ranked_names(board(verified_only=True))) == ["Cafe Aroma", "Shop 1"]
    assert ranked_names(board(feedback_type=2, city="Mumbai", verified_only=True)) == ["Cafe Aroma"]


def test_details_of_a_row(shops):
    report("S1", "a", when=NOON - timedelta(days=35))  # the period before: 2 brand-new customers, 1.0
    report("S1", "b", when=NOON - timedelta(days=36))
    for n, type_id in enumerate((1, 1, 2)):
        report("S1", f"u{n}", type_id=type_id, where="at" if n else "away")
    [row] = board().ranked
    assert row.by_type == {1: 2, 2: 1}
    assert (row.outlets_affected, round(row.verified_share, 3), round(row.change, 3)) == (1, 0.667, 0.05)
    # Weighted customer-days: brand-new customers at half weight, 1 + 1 + 0.1 of them this week.
    assert row.trend[-1] == 1.05 and sum(row.trend) == 2.05 and len(row.trend) == 12


def test_a_change_against_next_to_nothing_is_new(shops):
    report("S1", "a", when=NOON - timedelta(days=35), where="away")  # the period before: 0.05
    for n in range(3):
        report("S1", f"u{n}")
    [row] = board().ranked
    assert row.change is None


def test_distinct_customers_of_a_period_to_today_are_those_whose_last_day_is_in_it(shops, catalog):
    """The leaderboard reads a period that runs to today from CustomersByLastDay: the same
    figures as counting the period's customer-days, for every audience and period."""
    bank1, bank2 = (Bank.get(Bank.code == code).id for code in ("BANK1", "BANK2"))
    network = Network.get(Network.code == "NET1").id
    regulars(*(f"u{n}" for n in range(8)))  # not brand-new: no day's allowance of new customers discounts them
    for n in range(8):
        for days_ago in range(0, 50, 4 + n):  # each customer on some days; repeat visits discounted
            when = NOON - timedelta(days=days_ago, hours=n)
            report("S1", f"u{n}", when=when)
            report(None, f"u{n}", when=when, bank="BANK2", offer="OF2", outlet="O1")  # the same id: other people
            report("S2", f"u{n}", when=when, device_hash=f"dev{n}", anonymous=n % 2 == 1)
        count_pending(batch_size=5)  # in batches, some customers' last days moving on
    merchants = [m for (m,) in Merchant.select(Merchant.id).tuples()]

    def both_ways(scope, start, end):
        filters = Filters(scope, start, end)
        fast = ranking._distinct_customers(filters, merchants, TODAY)
        assert fast == ranking._distinct_customers_counted(filters, merchants)
        return fast

    for scope in ("all", f"bank:{bank1}", f"bank:{bank2}", f"network:{network}"):
        for days in (1, 7, 30, 60):
            both_ways(scope, TODAY - timedelta(days=days - 1), TODAY)
        both_ways(scope, TODAY - timedelta(days=40), TODAY - timedelta(days=10))  # a period in the past
    s1, s2 = (Merchant.get(Merchant.code == code).id for code in ("S1", "S2"))
    month = both_ways("all", TODAY - timedelta(days=29), TODAY)
    assert month[s1] == (8, 0) and min(month[s2]) > 0  # anonymous devices apart
    # A report dated after today (a clock ahead of the server's) is no customer of the period.
    report("S1", "ahead", when=NOON + timedelta(days=2))
    count_pending()
    assert both_ways("all", TODAY - timedelta(days=29), TODAY)[s1] == month[s1]
    counted = counter_rows()
    rebuild_rollups()
    assert counter_rows() == counted


def test_counters_equal_a_recount_after_a_mixed_workload(shops, client, bank_client):
    for day in range(6):
        when = NOON - timedelta(days=day, hours=day)
        for n in range(4):
            # Backslashes and "\N" (NULL in PostgreSQL's COPY, which a rebuild stages with) in ids.
            report("S1", rf"u\N{n % 3}\x", when=when, type_id=1 + n % 5, where=("at", "away", None)[n % 3])
            report(None, f"u{n}", when=when, bank="BANK2", offer="OF2", outlet="O2")  # no outlet position
            report("S2", f"u{n}", when=when + timedelta(minutes=n))  # duplicates within the day
    api = {k: bank_client[k] for k in ("clientkey", "clientpass", "apikey")}
    for n in range(3):
        client.get("/api", query_string={"action": "user_feedback", **api, "user_id": f"api{n}", "feedback_type": "3",
                                         "offer_code": "OF1", "your_bank_code": "BANK1", "outlet_code": "O1"})

    pending = Feedback.select().where(Feedback.uncounted == True).count()  # noqa: E712
    assert count_pending(batch_size=7) == pending  # in batches that split customer-days
    assert not Feedback.select().where(Feedback.uncounted == True).exists()  # noqa: E712
    kept = counter_rows()
    assert all(kept)
    assert count_pending() == 0
    rebuild_rollups()
    assert counter_rows() == kept
    assert Merchant.select().count() >= 7


def test_a_worker_counts_what_is_pending_after_answering_at_most_once_a_while(client, report_params, monkeypatch):
    def send(n):
        response = client.get("/api", query_string={**report_params, "user_id": f"u{n}"}, buffered=True)  # closed, as a server does
        assert response.status_code == 200

    def pending():
        return Feedback.select().where(Feedback.uncounted == True).count()  # noqa: E712

    def counted():
        return MerchantDay.get(scope="all", feedback_type=0, city="", merchant=Merchant.get(code="M1")).reports

    monkeypatch.setattr(rollups._Backlog, "counted_at", time.monotonic() - rollups.COUNT_SECONDS)
    send(0)
    assert pending() == 0 and counted() == 1  # counted once its answer had gone out
    for n in range(1, 6):  # within COUNT_SECONDS of that count: left pending
        send(n)
    assert pending() == 5
    monkeypatch.setattr(rollups._Backlog, "counted_at", time.monotonic() - rollups.COUNT_SECONDS)  # time has passed
    send(6)
    assert pending() == 0 and counted() == 7  # the next answer counts everything pending, in one go


@pytest.mark.parametrize("city", ['Quote " and \\ backslash', "{braces}, commas", "NULL", " spaced ", "Zürich 東京", ""])
def test_counting_keeps_every_character_of_what_it_counts(shops, city):
    """Counting sends each column as one PostgreSQL array literal: a city (catalogue text)
    with the literal's own syntax in it is counted as itself, as a rebuild counts it."""
    Outlet.update(city=city).where(Outlet.code == "S1-1").execute()
    now = datetime(2026, 3, 2, 12)
    for n, user in enumerate(["a@example.com", 'b"\\@example.com', "c@example.com"]):
        make_report(when=now + timedelta(minutes=n), user=user, offer="S1-OFFER", outlet="S1-1", ip_hash=f"ip{n % 2}",
                    device_hash=None if n else "device-1")
    assert count_pending() == 3
    counted = counter_rows()
    assert {day.city for day in MerchantDay.select()} == {"", city}
    rebuild_rollups()
    assert counter_rows() == counted


def test_the_leaderboard_counts_what_is_pending_and_a_rebuild_keeps_later_reports_pending(shops):
    regulars("u3")
    for n in range(3):
        report("S1", f"u{n}")
    board = merchant_leaderboard(Filters("all", TODAY - timedelta(days=6), TODAY), TODAY)
    assert [(row.code, row.reports) for row in board.ranked] == [("S1", 3)]  # read counts what was pending first
    report("S1", "u3")
    rebuild_rollups()  # counts the pending report too
    assert count_pending() == 0
    board = merchant_leaderboard(Filters("all", TODAY - timedelta(days=6), TODAY), TODAY)
    assert [(row.code, row.reports, row.distinct_customers) for row in board.ranked] == [("S1", 4, 4)]


@contextmanager
def counting_lock_held_elsewhere(database_url):
    """Hold the counting lock as another process would (a rebuild, say)."""
    if database_url.startswith("sqlite:///"):
        with open(sqlite_path(database_url) + "-" + COUNTING_LOCK + ".lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield
        return
    conn = psycopg2.connect(database_url)
    try:
        conn.cursor().execute("SELECT pg_advisory_xact_lock(%s)", (lock_id(COUNTING_LOCK),))
        yield
    finally:
        conn.rollback()
        conn.close()


def test_a_reader_does_not_wait_long_for_whoever_is_counting(shops, app, monkeypatch):
    monkeypatch.setattr(rollups, "READ_WAIT_SECONDS", 0.3)
    for n in range(3):
        report("S1", f"u{n}")
    with counting_lock_held_elsewhere(app.config["DATABASE_URL"]):
        began = time.monotonic()
        assert board().ranked == []  # the counters as they are: nothing counted yet
        assert time.monotonic() - began >= 0.3  # it waited for the counting, then gave up
    assert [(row.code, row.reports) for row in board().ranked] == [("S1", 3)]


@pytest.mark.parametrize("work_mem", ["32MB", "0"])
def test_the_leaderboard_reads_with_room_to_aggregate_on_postgresql(database_url, shops, work_mem):
    """PG_READ_WORK_MEM (docs/operations.md): the leaderboard's transaction may use that much
    memory per aggregate, without JIT; 0 leaves the server's settings. The same board either way."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL setting")
    for n in range(3):
        report("S1", f"u{n}")
    server = [database.execute_sql(f"SHOW {name}").fetchone()[0] for name in ("work_mem", "jit")]
    use_database(database_url, read_work_mem=work_mem)
    with large_reads():
        inside = [database.execute_sql(f"SHOW {name}").fetchone()[0] for name in ("work_mem", "jit")]
        assert ranked_names(board()) == ["Shop 1"]
    assert inside == (["32MB", "off"] if work_mem != "0" else server)
    assert [database.execute_sql(f"SHOW {name}").fetchone()[0] for name in ("work_mem", "jit")] == server
