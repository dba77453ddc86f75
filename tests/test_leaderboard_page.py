"""The leaderboard page reads right (issue 13): a ranked count that matches the rows,
paging, sorting, the CSV with every merchant, the summary strip, the period's dates."""
import csv
import io
import re
from datetime import timedelta

import pytest

from backend.catalog import import_catalog
from backend.cases import open_case
from backend.models import Bank, Feedback, Merchant, MerchantFlag, utcnow
from backend.rollups import count_pending
from support import log_in, make_report

MERCHANTS = 31  # more than a page (25)


@pytest.fixture
def many(catalog):
    """31 merchants, merchant n with n+3 First Bank customers in the last day and a half
    (so ranked), and merchant 0 with many more reports from only 3 customers."""
    sections = {
        "merchants": [{"code": f"L{n}", "name": f"Shop {n:02d}"} for n in range(MERCHANTS)],
        "outlets": [{"code": f"L{n}-1", "merchant": f"L{n}", "name": f"Shop {n} outlet", "city": "Pune",
                     "latitude": 18.5 + n / 100, "longitude": 73.8} for n in range(MERCHANTS)],
        "offers": [{"code": f"L{n}-OFFER", "title": f"Offer {n}", "bank": "BANK1", "merchant": f"L{n}",
                    "valid_from": "2020-01-01", "valid_to": "2099-12-31"} for n in range(MERCHANTS)],
    }
    import_catalog({name: [(f"test {name} {i}", {k: str(v) for k, v in row.items()}) for i, row in enumerate(rows)]
                    for name, rows in sections.items()} | {"networks": [], "banks": []})
    now = utcnow()
    for n in range(MERCHANTS):
        for c in range(n + 3):
            # An hour between neighbouring shops (1 km apart): no impossible travel.
            make_report(when=now - timedelta(hours=MERCHANTS - n, minutes=c), user=f"c{c}@bank1.example",
                        offer=f"L{n}-OFFER", outlet=f"L{n}-1")
    for day in range(1, 20):  # the same 3 customers on many days: many reports, few customers
        for c in range(3):
            make_report(when=now - timedelta(days=day), user=f"c{c}@bank1.example", offer="L0-OFFER", outlet="L0-1")
    make_report(when=now - timedelta(days=40), user="old@bank1.example", offer="L1-OFFER", outlet="L1-1")
    count_pending()


def names(page):
    return re.findall(r'<td><a href="/admin/merchants/\d+\?[^"]*">(Shop \d\d)</a></td>', page)


def test_pages_of_25_whose_count_matches_the_rows_and_the_csv_holds_every_merchant(client, admins, many):
    log_in(client, "first@bank1.example")
    first = client.get("/admin/leaderboard").get_data(as_text=True)
    assert len(names(first)) == 25 and "ranks 1–25 of" in first and 'rel="next"' in first
    second = client.get("/admin/leaderboard?page=2").get_data(as_text=True)
    assert len(names(second)) == MERCHANTS - 25 and f"ranks 26–{MERCHANTS} of {MERCHANTS} ranked" in second
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert not set(names(first)) & set(names(second))
    assert "No ranked merchants on this page" in client.get("/admin/leaderboard?page=3").get_data(as_text=True)
    for bad in ("page=0", "page=x", "page=99999999999", "order=name;drop", "order=flag"):
        assert client.get(f"/admin/leaderboard?{bad}").status_code == 400
    rows = list(csv.reader(io.StringIO(client.get("/admin/leaderboard.csv?page=2").get_data(as_text=True).lstrip("\ufeff"))))
    assert len([row for row in rows[1:] if row[0]]) == MERCHANTS  # every ranked merchant, whatever page was shown


def columns(page):
    """(name, reports, customers) of each row shown."""
    return [(name, int(reports), int(customers)) for name, reports, customers in re.findall(
        r'">(Shop \d\d)</a></td>\s*<td>[^<]*(?:<small>[^<]*</small>)?</td>\s*<td>(\d+)</td>\s*<td>(\d+)', page)]


def test_any_count_column_sorts_every_ranked_merchant(client, admins, many):
    log_in(client, "first@bank1.example")
    by_reports = client.get("/admin/leaderboard?order=reports").get_data(as_text=True)
    rows = columns(by_reports)
    assert rows[0][0] == "Shop 00" and rows[0][1] > 50  # many reports from 3 customers: ranked low by score
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)
    assert re.search(r'aria-sort="descending">\s*<a href="\?[^"]*">Reports', by_reports)
    assert "ranks 1–25 of 31 ranked" in by_reports
    rows = columns(client.get("/admin/leaderboard?order=customers").get_data(as_text=True))
    assert len(rows) == 25 and [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)
    second = columns(client.get("/admin/leaderboard?order=customers&page=2").get_data(as_text=True))
    assert max(r[2] for r in second) <= min(r[2] for r in rows)  # across pages: every ranked merchant sorted
    # The order stays when a filter changes; the page does not.
    assert 'name="order" value="reports"' in by_reports
    assert 'href="?order=reports&amp;page=2"' in by_reports


def test_no_case_yet_leaves_out_merchants_with_a_case_and_keeps_ranks(client, admins, many):
    bank = Bank.get(Bank.code == "BANK1")
    open_case(f"bank:{bank.id}", Merchant.get(Merchant.code == "L30"), None, utcnow(), "")
    log_in(client, "first@bank1.example")
    page = client.get("/admin/leaderboard?no_case=y").get_data(as_text=True)
    assert "Shop 30" not in names(page) and len(names(page)) == 25
    assert f"of {MERCHANTS - 1} ranked" in page


def test_the_summary_strip_sets_the_period_against_the_one_before(client, admins, many):
    bank = Bank.get(Bank.code == "BANK1")
    MerchantFlag.create(scope=f"bank:{bank.id}", merchant=Merchant.get(Merchant.code == "L3"), flag="fraud_watch",
                        level=9, since=utcnow())
    log_in(client, "first@bank1.example")
    page = client.get("/admin/leaderboard?period=30").get_data(as_text=True)
    strip = re.search(r'<dl class="strip".*?</dl>', page, re.S).group(0)
    since = utcnow().date() - timedelta(days=29)
    reports = Feedback.select().where(Feedback.created_at >= since).count()
    assert reports > 600 and f"<dt>Reports</dt><dd>{reports:,} <small>was 1</small>" in strip  # not +60,000 %
    verified = re.search(r"<dt>Verified at the outlet</dt><dd>(\d+)% <small>([^<]*)</small>", strip).groups()
    assert verified == ("100", "+0 points"), verified
    assert re.search(r"Flagged merchants.*?<dd>1 <small>\+1 since", strip, re.S)
    week = client.get("/admin/leaderboard?period=7").get_data(as_text=True)
    assert "against the 7 days before" in week


def test_the_dates_show_the_period_and_a_custom_one_is_kept(client, admins, many):
    log_in(client, "first@bank1.example")
    today = utcnow().date()
    page = client.get(f"/admin/leaderboard?period=7&start={today - timedelta(days=29)}&end={today}").get_data(as_text=True)
    assert f'value="{today - timedelta(days=6)}"' in page and f'value="{today}"' in page  # the period's, not those sent
    custom = client.get(f"/admin/leaderboard?period=custom&start={today - timedelta(days=45)}&end={today}")
    assert custom.status_code == 200 and "against the 46 days before" in custom.get_data(as_text=True)
