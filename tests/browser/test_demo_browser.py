"""The demo `make run` serves, in real Chromium: its bank page for a signed-in customer."""
import sqlite3

import pytest
from playwright.sync_api import expect

from backend.demo import EXAMPLE_CUSTOMER, EXAMPLE_OUTLET_POSITION
from support import send_two_clicks, served_demo, site_stored_id

AT_THE_TILL = {"latitude": EXAMPLE_OUTLET_POSITION[0] + 0.0001, "longitude": EXAMPLE_OUTLET_POSITION[1], "accuracy": 20}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with served_demo(tmp_path_factory.mktemp("demo-pages")) as site:
        yield site


def test_a_signed_in_customer_reports_from_the_demo_bank_page_as_that_customer(browser, demo):
    context = browser.new_context(viewport={"width": 390, "height": 800}, geolocation=AT_THE_TILL)
    context.grant_permissions(["geolocation"], origin=demo["pages"])
    try:
        page = context.new_page()
        page.goto(demo["pages"] + "/signed")
        expect(page.get_by_text(f"Signed in as {EXAMPLE_CUSTOMER}")).to_be_visible()
        send_two_clicks(page.frame_locator("iframe"))
    finally:
        context.close()
    with sqlite3.connect(demo["db"]) as conn:
        stored = conn.execute("SELECT user_id, anonymous, channel, verdict FROM feedback ORDER BY id DESC LIMIT 1").fetchone()
        (harbour,) = conn.execute("SELECT id FROM bank WHERE code = 'HARBOUR'").fetchone()
    # Vouched for by the bank, at the outlet; stored as the customer's pseudonym.
    assert stored == (site_stored_id(demo["env"], EXAMPLE_CUSTOMER, harbour), 0, "widget", "at_outlet")
