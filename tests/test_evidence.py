"""What a report is worth: per-bank customers, report times, and each rule against fake
reports, on constructed data (domain and API, on both databases)."""
from datetime import date, datetime, timedelta

import pytest

from backend.credentials import create_client
from backend.models import Bank, CustomerDay, Feedback, MerchantDay, Outlet, utcnow
from backend.ranking import Filters, merchant_leaderboard
from backend.rollups import SCORE_UNITS, count_pending, rebuild_rollups
from support import counter_rows, make_report, raw_of

TODAY = date(2026, 6, 30)
NOON = datetime(2026, 6, 30, 12, 0)


def board(scope="all", days=30, today=TODAY, **filters):
    return merchant_leaderboard(Filters(scope, today - timedelta(days=days - 1), today, **filters), today)


def by_code(result):
    return {row.code: row for row in result.ranked}


def credentials(issued):
    return {"clientkey": issued.client.clientkey, "clientpass": issued.clientpass, "apikey": issued.apikey}


@pytest.fixture
def bank2_client(catalog):
    return credentials(create_client("Second Bank app", utcnow(), bank=Bank.get(Bank.code == "BANK2")))


@pytest.fixture
def net_client(catalog):
    from backend.models import Network

    return credentials(create_client("Network app", utcnow(), network=Network.get(Network.code == "NET1")))


def api_report(client, creds, **params):
    query = {"action": "user_feedback", **creds, "user_id": "same@example.com", "feedback_type": "1",
             "offer_code": "OF2", "your_bank_code": "BANK1", "outlet_code": "O1", "user_latitude": "19.0597",
             "user_longitude": "72.8295", "user_accuracy": "15", **params}
    return client.post("/api", data=query)


# Customer identity is per bank.

def test_the_same_user_id_at_two_banks_is_two_customers(client, net_client, bank2_client):
    first = api_report(client, net_client, your_bank_code="BANK1").get_json()
    second = api_report(client, bank2_client, your_bank_code="BANK2").get_json()
    assert first["duplicate"] is False and second["duplicate"] is False
    assert first["feedback_id"] != second["feedback_id"]
    assert Feedback.select().count() == 2
    again = api_report(client, bank2_client, your_bank_code="BANK2").get_json()
    assert again["duplicate"] is True and again["feedback_id"] == second["feedback_id"]


def test_one_bank_cannot_tell_from_its_counts_what_another_banks_customer_did(client, net_client, bank2_client):
    bank2 = Bank.get(Bank.code == "BANK2")
    api_report(client, bank2_client, your_bank_code="BANK2", user_id="other@example.com")
    count_pending()
    alone = list(MerchantDay.select().where(MerchantDay.scope == f"bank:{bank2.id}").tuples())
    # Now bank 1 reports the same user id, at the same merchant and day, first.
    for table in (MerchantDay, CustomerDay):
        table.delete().execute()
    Feedback.delete().execute()
    api_report(client, net_client, your_bank_code="BANK1", user_id="other@example.com")
    api_report(client, bank2_client, your_bank_code="BANK2", user_id="other@example.com")
    count_pending()
    assert list(MerchantDay.select().where(MerchantDay.scope == f"bank:{bank2.id}").tuples()) == alone
    assert CustomerDay.select().count() == 2


# Reports with their real time.

@pytest.mark.parametrize("offset, accepted", [
    (timedelta(days=-6, hours=-23), True), (timedelta(minutes=4), True),
    (timedelta(days=-7, hours=-1), False), (timedelta(minutes=10), False)])
def test_api_reported_at_within_the_last_7_days(client, bank_client, offset, accepted):
    creds = {k: bank_client[k] for k in ("clientkey", "clientpass", "apikey")}
    when = (datetime.now().astimezone() + offset).replace(microsecond=0)
    answer = api_report(client, creds, offer_code="OF1", reported_at=when.isoformat())
    if accepted:
        assert answer.status_code == 200
        assert Feedback.get().created_at == when.astimezone().replace(tzinfo=None) - when.utcoffset()
    else:
        assert answer.status_code == 400 and answer.get_json()["fields"] == ["reported_at"]
        assert not Feedback.select().exists()


@pytest.mark.parametrize("value", ["2026-06-30T12:00:00", "yesterday", "2026-13-01T00:00:00Z", "2026-06-30T12:00+0530",
                                   "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+05:00", "２０２６-06-30T12:00:00Z",
                                   "2026-06-30T12:00:00Z\x00"])
def test_api_reported_at_needs_an_iso_time_with_its_offset(client, bank_client, value):
    creds = {k: bank_client[k] for k in ("clientkey", "clientpass", "apikey")}
    answer = api_report(client, creds, offer_code="OF1", reported_at=value).get_json()
    assert (answer["error"], answer["fields"]) == ("invalid_value", ["reported_at"])


def test_counters_are_right_for_reports_that_arrive_out_of_order(catalog):
    times = [NOON - timedelta(days=d, hours=h) for d, h in ((0, 1), (3, 2), (0, 5), (6, 0), (3, 1), (1, 1))]
    for n, when in enumerate(times):
        make_report(when=when, user=f"u{n % 3}", type_id=1 + n % 5, received_at=NOON, position=("at", "away", None)[n % 3])
        count_pending()
    counted = counter_rows()
    rebuild_rollups()
    assert counter_rows() == counted
    row = by_code(board())["M1"]
    # u1 twice on one day; u0 and u2 again within 30 days: one customer-day each.
    assert (row.reports, row.customer_days, row.discounted_customer_days) == (6, 3, 2)


# Evidence and what it costs to fake.

def known(*users, bank="BANK1"):
    """Make these customers known to the bank: a report at the other merchant long ago."""
    for user in users:
        make_report(when=NOON - timedelta(days=400), user=user, bank=bank, offer="OF6" if bank == "BANK1" else "OF2",
                    outlet="O3" if bank == "BANK1" else "O2")


def test_an_exact_position_with_implausible_accuracy_does_not_verify(catalog):
    outlet = Outlet.get(Outlet.code == "O1")
    known("spoof", "precise", "real")
    make_report(when=NOON, user="spoof", position=(outlet.latitude, outlet.longitude), accuracy=12)
    make_report(when=NOON, user="precise", position=(outlet.latitude + 0.0002, outlet.longitude), accuracy=1)
    make_report(when=NOON, user="real", position="at", accuracy=12)
    make_report(when=NOON, user="fresh-spoof", position=(outlet.latitude, outlet.longitude), accuracy=1)
    assert {raw_of(user): suspicion for user, suspicion in Feedback.select(Feedback.user_id, Feedback.suspicion)
            .where(Feedback.outlet == outlet).tuples()} == {
        "spoof": "exact_position", "precise": "exact_position", "real": "", "fresh-spoof": "exact_position"}
    count_pending()
    day = MerchantDay.get(scope="all", feedback_type=0, city="", merchant=outlet.merchant, day=TODAY)
    # Known customers' spoofed-looking positions count as unverified; a fresh id's, not at all.
    assert (day.verified_customer_days, day.unverified_customer_days, day.discounted_customer_days, day.score) == (
        1, 2, 1, 2 * SCORE_UNITS)


def test_impossible_travel_between_outlets_is_unverified(catalog):
    # O1 is in Mumbai, O3 in Bengaluru (840 km): ten minutes apart, by customer and by device.
    make_report(when=NOON, user="flyer", offer="OF1", outlet="O1")
    make_report(when=NOON + timedelta(minutes=10), user="flyer", offer="OF6", outlet="O3")
    make_report(when=NOON + timedelta(hours=5), user="traveller", offer="OF1", outlet="O1")
    make_report(when=NOON + timedelta(days=1), user="traveller", offer="OF6", outlet="O3")  # a day later: fine
    make_report(when=NOON, user="a", offer="OF1", outlet="O1", device_hash="phone-1")
    make_report(when=NOON + timedelta(minutes=3), user="b", offer="OF6", outlet="O3", device_hash="phone-1")
    suspicion = {(raw_of(r.user_id), r.outlet.code): r.suspicion for r in Feedback.select()}
    assert suspicion == {("flyer", "O1"): "", ("flyer", "O3"): "impossible_travel", ("traveller", "O1"): "",
                         ("traveller", "O3"): "", ("a", "O1"): "", ("b", "O3"): "impossible_travel"}


def test_a_delayed_report_is_checked_against_the_reports_after_it(catalog):
    make_report(when=NOON, user="flyer", offer="OF6", outlet="O3")
    make_report(when=NOON - timedelta(minutes=20), user="flyer", offer="OF1", outlet="O1", received_at=NOON)
    assert Feedback.get(Feedback.outlet == Outlet.get(Outlet.code == "O1")).suspicion == "impossible_travel"


def test_one_ip_or_device_carries_one_customer_a_day_per_merchant(catalog):
    for n in range(4):
        make_report(when=NOON + timedelta(minutes=n), user=f"regular{n}", ip_hash="ip-1")
    make_report(when=NOON, user="other-bank", bank="BANK2", offer="OF2", ip_hash="ip-1")  # another bank's count
    count_pending()
    rows = {(c.bank.code, raw_of(c.user_id)): c.discounted for c in CustomerDay.select()}
    assert rows == {("BANK1", "regular0"): False, ("BANK1", "regular1"): True, ("BANK1", "regular2"): True,
                    ("BANK1", "regular3"): True, ("BANK2", "other-bank"): False}
    row = by_code(board(scope=f"bank:{Bank.get(Bank.code == 'BANK1').id}")).get("M1")
    assert row is None  # one verified customer and three discounted: not enough to rank


def test_brand_new_customers_beyond_three_a_day_at_a_merchant_are_discounted(catalog):
    make_report(when=NOON - timedelta(days=90), user="known", outlet="O1")
    for n in range(6):
        make_report(when=NOON + timedelta(minutes=n), user=f"fresh{n}")
    make_report(when=NOON + timedelta(minutes=9), user="known")
    count_pending()
    [row] = board().ranked
    assert (row.customer_days, row.discounted_customer_days, row.distinct_customers) == (4, 3, 4)


def test_a_customer_counts_at_a_merchant_once_while_they_keep_reporting_it(catalog):
    # Days 3 and 40 come within 30 days of a report there; 80 and 120 follow 3 days with reports.
    for day in (0, 3, 35, 40, 80, 120):
        make_report(when=NOON - timedelta(days=150 - day), user="regular", type_id=1 + day % 5)
    make_report(when=NOON - timedelta(days=149), user="regular", offer="OF6", outlet="O3")  # another merchant
    assert [r.repeat_visit for r in Feedback.select().order_by(Feedback.id)] == [False, True, False, True, True,
                                                                                True, False]
    count_pending()
    counted = [c.discounted for c in CustomerDay.select().where(CustomerDay.merchant == Outlet.get(code="O1").merchant)
               .order_by(CustomerDay.day)]
    assert counted == [False, True, False, True, True, True]


def test_a_pool_of_ids_cycling_through_a_target_counts_once(catalog):
    for day in reversed(range(14)):  # every day for two weeks, as they arrive
        for n in range(5):
            make_report(when=NOON - timedelta(days=day), user=f"pool{n}", received_at=NOON - timedelta(days=day))
    count_pending()
    [row] = board().ranked
    # Only the first day counts, and of its 5 brand-new ids only 3.
    assert (row.customer_days, row.discounted_customer_days) == (3, 67)


def test_anonymous_devices_alone_cannot_rank_or_flag_a_merchant(catalog):
    # The one-IP attack: 30 fresh device ids at the outlet, from the public widget key.
    for n in range(30):
        make_report(when=NOON - timedelta(minutes=n), user=f"device:1:d{n}", anonymous=True, ip_hash=f"ip-{n}",
                    channel="widget")
    result = board()
    assert result.ranked == [] and [row.anonymous_customers for row in result.low_volume] == [3]
    # With three bank-vouched customers it ranks, the devices adding a quarter each.
    for n in range(3):
        make_report(when=NOON, user=f"vouched{n}")
    [row] = board().ranked
    # Three brand-new customers at half weight; each device at a quarter of that.
    assert (row.distinct_customers, row.anonymous_customers, row.score) == (3, 3, 1.875)


def test_told_it_expired_when_it_had_does_not_count(catalog):
    for n in range(4):
        make_report(when=NOON, user=f"c{n}", offer="OF3", type_id=2)  # OF3 ended in 2020
    make_report(when=NOON, user="x", offer="OF3", type_id=1)  # refused outright: counts
    count_pending()
    row = MerchantDay.get(scope="all", feedback_type=0, city="", merchant=Outlet.get(Outlet.code == "O1").merchant)
    assert (row.reports, row.customer_days) == (1, 1)
    assert Feedback.select().count() == 5  # all kept, and shown on the merchant page


# Flags.

def weekly(user_prefix, weeks, per_week, outlet="O1", offer="OF1"):
    for week in weeks:
        for n in range(per_week):
            make_report(when=NOON - timedelta(weeks=week, days=n % 3, hours=n), user=f"{user_prefix}-{week}-{n}",
                        offer=offer, outlet=outlet)


def test_a_new_merchant_is_not_suspicious_for_being_new(catalog):
    weekly("new", [0], 12)  # M1: 12 this week, nothing before
    weekly("steady", range(12), 1, outlet="O3", offer="OF6")  # M2: one a week
    result = by_code(board(days=7))
    assert result["M1"].flag != "fraud_watch"


def test_a_steady_elevated_level_needs_training(shops):
    weekly("bad", range(4), 8, outlet="S1-1", offer="S1-OFFER")  # 8 a week for 4 weeks
    for shop in ("S2", "S3", "S4"):  # the usual: 1 or 2 a week
        weekly(shop, range(12), 1 + (shop == "S4"), outlet=f"{shop}-1", offer=f"{shop}-OFFER")
    weekly("S5", [0], 3, outlet="S5-1", offer="S5-OFFER")  # a new shop's first week
    rows = by_code(board())
    assert {code: row.flag for code, row in rows.items()} == {
        "S1": "needs_training", "S2": "", "S3": "", "S4": "", "S5": ""}
    assert rows["S1"].flag_reasons == [  # every customer is brand-new here, at half weight
        "3.7 weighted customer-days a week at its outlet in the period, 6.4 x the median merchant's (0.6); "
        "32 bank-vouched customers"]


def test_the_api_leaderboard_explains_itself(client, bank_client):
    creds = {k: bank_client[k] for k in ("clientkey", "clientpass", "apikey")}
    for n in range(3):
        api_report(client, creds, offer_code="OF1", user_id=f"c{n}")
    make_report(when=utcnow() - timedelta(days=60), user="far")  # a known customer, not a fourth new one today
    api_report(client, creds, offer_code="OF1", user_id="far", user_latitude="19.2")
    answer = client.get("/api", query_string={"action": "merchant_leaderboard", **creds}).get_json()
    [merchant] = answer["merchants"]
    assert merchant["customer_days"] == {"verified": 3, "unverified": 0, "away": 1, "discounted": 0}
    # Three brand-new customers verified at the outlet (half weight each), one known one away.
    assert (merchant["score"], merchant["outlets"], merchant["flag"], merchant["flag_reasons"]) == (1.6, 2, "", [])
    assert merchant["score_per_outlet"] == 0.8
    verified = client.get("/api", query_string={"action": "merchant_leaderboard", "verified_only": "1", **creds})
    assert verified.get_json()["verified_only"] is True and verified.get_json()["merchants"][0]["score"] == 1.5
    bad = client.get("/api", query_string={"action": "merchant_leaderboard", "verified_only": "maybe", **creds})
    assert bad.get_json()["fields"] == ["verified_only"]


# What an attacker's review found, each closed.

def test_a_week_sent_newest_first_is_still_one_customer(catalog):
    for day in range(7):  # today first, then each day before it
        make_report(when=NOON - timedelta(days=day), user="backdater", received_at=NOON, type_id=1 + day % 5)
    assert [(r.new_customer, r.repeat_visit) for r in Feedback.select().order_by(Feedback.id)] == (
        [(True, False)] + [(False, True)] * 6)
    count_pending()
    assert CustomerDay.select().where(CustomerDay.discounted == False).count() == 1  # noqa: E712


def test_expired_claims_from_fresh_ids_do_not_flag_fraud(catalog):
    for n in range(5):
        make_report(when=NOON - timedelta(days=n % 2, minutes=n), user=f"fresh{n}", type_id=2)
    count_pending()
    row = by_code(board()).get("M1")
    assert row is not None and (row.expired_claims, row.flag) == (0, "")


def test_anonymous_devices_count_three_a_day_at_a_merchant_new_or_not(catalog):
    for n in range(6):  # each device reported elsewhere first, so none is brand-new here
        make_report(when=NOON - timedelta(days=40), user=f"device:1:d{n}", anonymous=True, offer="OF6", outlet="O3")
        make_report(when=NOON, user=f"device:1:d{n}", anonymous=True, ip_hash=f"ip-{n}", channel="widget")
    count_pending()
    day = MerchantDay.get(scope="all", feedback_type=0, city="", merchant=Outlet.get(code="O1").merchant, day=TODAY)
    assert (day.customer_days, day.discounted_customer_days) == (3, 3)


def test_an_anonymous_device_does_not_take_a_shared_address_from_the_banks_customers(catalog):
    known("real")
    make_report(when=NOON, user="device:1:x", anonymous=True, ip_hash="shared", channel="widget")
    make_report(when=NOON + timedelta(minutes=5), user="real", ip_hash="shared")
    count_pending()
    assert {raw_of(c.user_id): c.discounted for c in CustomerDay.select().where(CustomerDay.day == TODAY)} == {
        "device:1:x": False, "real": False}


@pytest.mark.parametrize("address, same_as", [("2001:db8:77:1::9", "2001:db8:77:1:ffff::1"),
                                              ("::ffff:203.0.113.7", "203.0.113.7"), ("fe80::1%eth0", "fe80::2")])
def test_one_subscriber_is_one_address(address, same_as):
    from backend.feedback import network_of

    assert network_of(address) == network_of(same_as)
    assert network_of("2001:db8:77:1::9") != network_of("2001:db8:77:2::9")
