"""The self-service console in real Chromium on the demo: a platform admin invites a bank
analyst who sets a password from the link and works in that role; a bank admin makes an
API client, adds an origin, tests a page and rotates a key; every console page passes axe."""
import re

from playwright.sync_api import expect

from support import axe_violations, browser_log_in


def test_an_invited_analyst_sets_a_password_and_works_in_that_role(page, browser, demo_site):
    browser_log_in(page, demo_site, "platform")
    page.get_by_role("link", name="Users").click()
    assert axe_violations(page) == []
    page.get_by_label("E-mail").fill("analyst@harbour.example")
    page.get_by_label("Role", exact=True).select_option("analyst")
    page.get_by_label("Organisation").select_option(label="Bank: Harbour Bank")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("status")).to_contain_text("analyst@harbour.example invited as analyst")
    link = page.get_by_label("Invitation link").input_value()
    assert axe_violations(page) == []

    newcomer = browser.new_context().new_page()
    newcomer.goto(link)
    assert axe_violations(newcomer) == []
    newcomer.get_by_label("New password").fill("harbour analyst 2026")
    newcomer.get_by_label("The same again").fill("harbour analyst 2026")
    newcomer.get_by_role("button", name="Set password").click()
    expect(newcomer.get_by_role("status")).to_contain_text("Your password is set")
    newcomer.get_by_role("link", name="Log in").click()
    newcomer.get_by_label("Email").fill("analyst@harbour.example")
    newcomer.get_by_label("Password").fill("harbour analyst 2026")
    newcomer.get_by_role("button", name="Log in").click()
    expect(newcomer.locator("header .who")).to_contain_text("Harbour Bank · analyst")
    expect(newcomer.get_by_role("link", name="Users")).to_have_count(0)
    expect(newcomer.get_by_role("button", name="Open case").first).to_be_visible()
    assert newcomer.goto(demo_site["base"] + "/admin/clients").status == 403
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Not for your role")
    newcomer.goto(demo_site["base"] + "/admin/account")
    assert axe_violations(newcomer) == []
    newcomer.context.close()


def test_a_bank_admin_makes_a_client_sets_its_widget_and_rotates_its_key(page, demo_site):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=demo_site["base"])
    browser_log_in(page, demo_site, "bank:HARBOUR")
    page.get_by_role("link", name="API clients").click()
    assert axe_violations(page) == []
    page.get_by_label("Name").fill("Harbour mobile site")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("Client Harbour mobile site created")
    clientpass = page.get_by_label("clientpass").input_value()
    assert len(clientpass) >= 40
    copy = page.locator("button[data-copy=clientpass]")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == clientpass
    assert axe_violations(page) == []

    page.get_by_role("link", name="Set up its widget").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour mobile site")
    page.get_by_label("Add an origin").fill("https://m.harbour.example")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("ul.origins")).to_contain_text("https://m.harbour.example")
    page.evaluate("window.sameDocument = true")
    page.get_by_label("Page address").fill("https://m.harbour.example/offers/42")
    page.get_by_role("button", name="Test").click()
    expect(page.locator("#origin-answer")).to_have_text(re.compile("^Allowed"))
    page.get_by_label("Page address").fill("https://www.harbour.example/")
    page.get_by_role("button", name="Test").click()
    expect(page.locator("#origin-answer")).to_have_text(re.compile("^Not allowed"))
    assert page.evaluate("window.sameDocument") is True  # htmx answered in place
    expect(page.locator("#snippet")).to_contain_text(re.compile(r'data-key="wk_\w+" data-offer="[\w-]+"></script>$'))

    old_key = page.locator("table code").first.inner_text()
    page.get_by_role("button", name="Add a key").click()
    expect(page.locator(".note[role=status]")).to_contain_text("added")
    page.locator("tr", has_text=old_key).get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text=old_key)).to_contain_text("revoked")
    assert axe_violations(page) == []
