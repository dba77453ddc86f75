"""The admin pages in real Chromium, on the demo data `make run` shows."""
import os
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from support import ROOT, axe_violations, browser_log_in

SAVE_SCREENSHOTS = os.environ.get("SAVE_SCREENSHOTS") == "1"  # refresh docs/*.png


def test_admin_journey(page, demo_site, tmp_path):
    page.set_viewport_size({"width": 1280, "height": 900})
    browser_log_in(page, demo_site, "platform")
    rows = page.locator("table.board tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 10
    expect(page.get_by_text("fraud watch").first).to_be_visible()
    if SAVE_SCREENSHOTS:
        page.screenshot(path=ROOT / "docs" / "leaderboard.png")
    first_before = rows.first.inner_text()
    page.evaluate("window.sameDocument = true")  # survives only if no full page load happens
    page.get_by_label("Problem").select_option(label="Told the offer has expired")
    expect(page).to_have_url(re.compile(r"feedback_type=2"))
    expect(rows.first).not_to_have_text(first_before)
    assert page.evaluate("window.sameDocument") is True
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"feedback_type=2"))
    expect(page.get_by_label("Problem")).to_have_value("0")
    expect(rows.first).to_have_text(first_before)
    merchant = rows.first.get_by_role("link").inner_text()
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(merchant)
    expect(page.locator("svg.chart")).to_be_visible()
    if SAVE_SCREENSHOTS:
        page.screenshot(path=ROOT / "docs" / "merchant.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download reports (CSV)").click()
    saved = tmp_path / "reports.csv"
    download.value.save_as(saved)
    assert saved.read_text(encoding="utf-8-sig").startswith("feedback_id,created_at_utc,outlet_code,feedback_type")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.goto(demo_site["base"] + "/admin/leaderboard")
    expect(page).to_have_url(re.compile(r"/admin/login"))


def test_leaderboard_csv_download(page, demo_site, tmp_path):
    browser_log_in(page, demo_site, "platform")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    saved = tmp_path / "board.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("rank,merchant_code,merchant_name") and len(lines) > 10


def test_bank_admin_sees_only_its_bank(page, demo_site):
    browser_log_in(page, demo_site, "bank:HARBOUR")
    expect(page.locator("header .who")).to_contain_text("Harbour Bank")
    options = page.get_by_label("Bank").locator("option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_text("Harbour Bank")
    harbour_total = sum(int(cell) for cell in page.locator("table.board tbody tr td:nth-child(4)").all_inner_texts())
    page.get_by_role("button", name="Log out").click()
    browser_log_in(page, demo_site, "platform")
    platform_total = sum(int(cell) for cell in page.locator("table.board tbody tr td:nth-child(4)").all_inner_texts())
    assert 0 < harbour_total < platform_total


def test_a_case_from_the_leaderboard_to_the_effect_of_its_action(page, demo_site):
    browser_log_in(page, demo_site, "platform")
    row = page.locator("table.board tbody tr").filter(has=page.get_by_role("button", name="Open case")).first
    merchant = row.get_by_role("link").first.inner_text()
    row.get_by_role("button", name="Open case").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(merchant)
    expect(page.get_by_text("No action taken yet")).to_be_visible()
    page.locator("select[name=kind]").select_option(label="Staff training")
    page.get_by_role("textbox", name="Note").fill("Trained the evening shift at the till")
    page.get_by_role("button", name="Record").click()
    expect(page.locator(".summary .state")).to_have_text("in progress")
    expect(page.locator("ul.effect li")).to_contain_text(re.compile(r"Staff training on .*: too early to tell"))
    expect(page.locator("svg.chart line.mark")).to_have_count(1)
    expect(page.get_by_text("Trained the evening shift at the till")).to_be_visible()
    case_url = page.url
    page.get_by_role("link", name="Leaderboard").click()
    expect(page.locator("table.board tbody tr").filter(has_text=merchant).get_by_role("link", name="in progress")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    # A bank's admin cannot open the platform's case, nor find it among its own.
    browser_log_in(page, demo_site, "bank:HARBOUR")
    assert page.goto(case_url).status == 404
    page.goto(demo_site["base"] + "/admin/cases")
    expect(page.get_by_text(merchant)).to_have_count(0)


def page_scrolls_sideways(page):
    return page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")


@pytest.mark.parametrize("width", [360, 1280])
def test_the_leaderboard_and_merchant_page_fit_a_phone_and_a_wide_screen(page, demo_site, width):
    page.set_viewport_size({"width": width, "height": 800})
    browser_log_in(page, demo_site, "platform")
    expect(page.locator("dl.strip")).to_be_visible()
    assert not page_scrolls_sideways(page)
    if SAVE_SCREENSHOTS:
        page.screenshot(path=ROOT / "docs" / f"leaderboard-{width}.png")
    page.locator("table.board tbody tr").first.get_by_role("link").first.click()
    expect(page.locator("svg.chart").first).to_be_visible()
    assert not page_scrolls_sideways(page)
    if SAVE_SCREENSHOTS:
        page.screenshot(path=ROOT / "docs" / f"merchant-{width}.png", full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_admin_view_passes_axe(page, demo_site, scheme):
    page.emulate_media(color_scheme=scheme)
    base = demo_site["base"]
    page.goto(base + "/admin/login")
    assert axe_violations(page) == [], "login"
    page.goto(base + "/admin/forgot")
    assert axe_violations(page) == [], "forgot"
    browser_log_in(page, demo_site, "platform")
    views = {"leaderboard": "/admin/leaderboard", "cases": "/admin/cases", "alerts": "/admin/alerts",
             "webhooks": "/admin/webhooks", "audit": "/admin/audit", "clients": "/admin/clients", "users": "/admin/users",
             "account": "/admin/account", "customers": "/admin/customers", "not found": "/admin/merchants/999999"}
    merchant = page.locator("table.board tbody tr").first.get_by_role("link").first.get_attribute("href")
    views["merchant"] = merchant
    page.goto(base + "/admin/clients")
    views["client"] = page.locator("table a").first.get_attribute("href")
    for name, path in views.items():
        page.goto(base + path)
        assert axe_violations(page) == [], name
    page.goto(base + "/admin/leaderboard")
    page.locator("table.board tbody tr").filter(has=page.get_by_role("button", name="Open case")).first.get_by_role(
        "button", name="Open case").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Case")
    assert axe_violations(page) == [], "case"


def test_one_date_range_control(page, demo_site):
    """The dates show the period chosen; changing one makes the period "From … to …", and the table follows."""
    browser_log_in(page, demo_site, "platform")
    page.locator("select#period").select_option("7")
    expect(page).to_have_url(re.compile(r"period=7"))
    end = date.fromisoformat(page.locator("input#end").input_value())
    expect(page.locator("input#start")).to_have_value(str(end - timedelta(days=6)))
    week_summary = page.locator("p.summary").inner_text()
    page.locator("input#start").fill(str(end - timedelta(days=59)))
    page.locator("input#start").dispatch_event("change")
    expect(page).to_have_url(re.compile(r"period=custom"))
    expect(page.locator("select#period")).to_have_value("custom")
    expect(page.locator("p.summary")).not_to_have_text(week_summary)
    expect(page.locator("p.summary")).to_contain_text("against the 60 days before")
    expect(page.locator(".error")).to_have_count(0)
