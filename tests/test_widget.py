"""The widget's frame and form views through Flask's test client (real Chromium: tests/browser/)."""
import gzip
import re
from pathlib import Path

import pytest

from backend import create_app
from backend.credentials import create_client, user_signature
from backend.models import Bank, Feedback, Network, utcnow
from support import stored_id

HOST = "http://localhost:9000"
OWN = "http://localhost"  # the test client's own origin
LOADER = Path(__file__).parent.parent / "widget" / "loader.js"


@pytest.fixture
def widget(catalog):
    issued = create_client("First Bank web", utcnow(), bank=Bank.get(Bank.code == "BANK1"), origins=[HOST + "/offers"])
    return {"key": issued.client.widget_key, "secret": issued.widget_secret}


def open_frame(client, widget, referer=HOST + "/offers/page", **params):
    query = {"key": widget["key"], "offer": "OF1", "outlet": "O1", "device": "dev-1", **params}
    return client.get("/widget/frame", query_string={k: v for k, v in query.items() if v is not None},
                      headers={"Referer": referer} if referer else {})


def token_of(response):
    return re.search(r'name="token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def post(client, view, token, origin=OWN, **fields):
    data = {"token": token, "feedback_type": "1", **fields}
    return client.post(f"/widget/{view}", data=data, headers={"Origin": origin, "HX-Request": "true"})


def test_frame_shows_offer_and_one_button_per_type(client, widget):
    response = open_frame(client, widget)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].endswith(f"frame-ancestors {HOST}")
    assert "X-Frame-Options" not in response.headers
    assert "10% off at Cafe Aroma" in html and "Cafe Aroma, Bandra" in html
    assert re.findall(r'<button type="submit" name="feedback_type" value="(\d)">', html) == ["1", "2", "3", "4", "5"]
    assert ">Merchant declined the offer</button>" in html


def test_two_posts_record_one_report(client, widget):
    token = token_of(open_frame(client, widget))
    coordinates = {"user_latitude": "19.0597", "user_longitude": "72.8295", "user_accuracy": "15", "location_status": "granted"}
    confirm = post(client, "confirm", token, **coordinates)
    assert confirm.status_code == 200 and "Send this report?" in confirm.get_data(as_text=True)
    thanks = post(client, "report", token, comment="Refused <b>twice</b>", **coordinates)
    assert "Thank you" in thanks.get_data(as_text=True)
    report = Feedback.get()
    # A device id is scoped to the widget key that made it, and nobody vouches for it.
    assert (report.channel, report.user_id, report.verdict, report.outlet.code, report.anonymous) == (
        "widget", stored_id(f"device:{report.client_id}:dev-1"), "at_outlet", "O1", True)
    assert report.comment == "Refused <b>twice</b>" and report.ip_hash and report.outlet_inferred is False
    reference = re.search(r"<strong>([0-9A-F]{4}-[0-9A-F]{4})</strong>", thanks.get_data(as_text=True)).group(1)
    assert report.public_id.upper().startswith("FB_" + reference.replace("-", ""))


def test_without_location_report_still_counts(client, widget):
    token = token_of(open_frame(client, widget))
    confirm = post(client, "confirm", token, location_status="denied")
    assert "your report still counts" in confirm.get_data(as_text=True)
    post(client, "report", token, location_status="denied")
    assert Feedback.get().verdict == "not_shared"


def test_repeat_report_counts_once(client, widget):
    token = token_of(open_frame(client, widget))
    post(client, "report", token)
    again = post(client, "report", token)
    assert "already reported this today" in again.get_data(as_text=True)
    assert Feedback.select().count() == 1


def test_no_outlet_takes_the_nearest_within_its_geofence(client, widget):
    token = token_of(open_frame(client, widget, outlet=None))
    post(client, "report", token, user_latitude="19.0600", user_longitude="72.8297", location_status="granted")
    report = Feedback.get()
    assert (report.outlet.code, report.outlet_inferred, report.verdict) == ("O1", True, "at_outlet")


def test_no_outlet_and_no_location_is_kept_at_merchant_level(client, widget):
    token = token_of(open_frame(client, widget, outlet=None))
    post(client, "report", token, location_status="timeout")
    report = Feedback.get()
    assert (report.outlet, report.merchant.code, report.verdict) == (None, "M1", "not_shared")


def test_no_outlet_and_far_from_every_outlet_is_kept_at_merchant_level(client, widget):
    token = token_of(open_frame(client, widget, outlet=None))
    post(client, "report", token, user_latitude="19.2", user_longitude="72.9", location_status="granted")
    report = Feedback.get()
    assert (report.outlet, report.outlet_inferred, report.latitude) == (None, False, 19.2)


def test_signed_customer_is_recorded_as_that_customer(client, widget):
    signature = user_signature(widget["secret"], "asha@example.com")
    token = token_of(open_frame(client, widget, uid="asha@example.com", sig=signature))
    post(client, "report", token)
    assert Feedback.get().user_id == stored_id("asha@example.com")


@pytest.mark.parametrize("sig", ["0" * 64, "", None], ids=["forged", "empty", "missing"])
def test_bad_signature_shows_a_configuration_error(client, widget, sig):
    response = open_frame(client, widget, uid="asha@example.com", sig=sig)
    html = response.get_data(as_text=True)
    assert response.status_code == 403 and "not set up correctly" in html and "<button" not in html


@pytest.mark.parametrize("key", ["wk_unknown", ""])
def test_unknown_key_shows_nothing_and_may_not_be_framed(client, widget, key):
    response = open_frame(client, {**widget, "key": key})
    assert response.status_code == 404 and "<button" not in response.get_data(as_text=True)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_host_page_origin_not_allowed(client, widget):
    response = open_frame(client, widget, referer="https://evil.example/page")
    assert response.status_code == 403 and "<button" not in response.get_data(as_text=True)


def test_post_from_another_origin_is_refused(client, widget):
    token = token_of(open_frame(client, widget))
    for origin in (HOST, "https://evil.example", None):
        headers = {"HX-Request": "true"} | ({"Origin": origin} if origin else {})
        response = client.post("/widget/report", data={"token": token, "feedback_type": "1"}, headers=headers)
        assert response.status_code == 403
    assert Feedback.select().count() == 0


def test_forged_or_expired_token_is_refused(client, widget, app):
    token = token_of(open_frame(client, widget))
    assert post(client, "report", token[:-2] + "xx").status_code == 403
    app.config["WIDGET_TOKEN_SECONDS"] = -1
    response = post(client, "report", token)
    assert response.status_code == 403 and "expired" in response.get_data(as_text=True)
    assert Feedback.select().count() == 0


def test_origin_removed_after_load_is_refused_on_submit(client, widget):
    from backend.credentials import set_widget_origins
    from backend.models import Client

    token = token_of(open_frame(client, widget))
    set_widget_origins(Client.get(Client.widget_key == widget["key"]), ["https://other.example"])
    assert post(client, "report", token).status_code == 403


@pytest.mark.parametrize(
    "fields",
    [{"feedback_type": "99"}, {"feedback_type": "x"}, {"user_latitude": "95", "user_longitude": "72"},
     {"user_latitude": "19"}, {"comment": "c" * 1001}, {"comment": "bell\x07"}, {"location_status": "maybe"}],
)
def test_bad_input_gets_a_message_and_stores_nothing(client, widget, fields):
    token = token_of(open_frame(client, widget))
    response = post(client, "report", token, **fields)
    assert response.status_code == 400 and "could not be read" in response.get_data(as_text=True)
    assert Feedback.select().count() == 0


def test_oversized_form_gets_the_frames_message(client, widget):
    token = token_of(open_frame(client, widget))
    response = post(client, "report", token, comment="z" * 20_000)
    assert response.status_code == 413 and "could not be read" in response.get_data(as_text=True)
    assert Feedback.select().count() == 0


def test_hourly_limit_per_device(client, widget, app):
    app.config["WIDGET_REPORTS_PER_DEVICE_HOUR"] = 2
    token = token_of(open_frame(client, widget))
    for type_id in ("1", "2"):
        assert post(client, "report", token, feedback_type=type_id).status_code == 200
    limited = post(client, "report", token, feedback_type="3")
    assert limited.status_code == 429 and "many reports in the last hour" in limited.get_data(as_text=True)
    assert Feedback.select().count() == 2


def test_hourly_limit_per_ip(client, widget, app):
    app.config["WIDGET_REPORTS_PER_IP_HOUR"] = 1
    post(client, "report", token_of(open_frame(client, widget, device="a")))
    assert post(client, "report", token_of(open_frame(client, widget, device="b"))).status_code == 429


def test_behind_a_proxy_the_limit_per_ip_reads_the_forwarded_address(client, widget, app):
    settings = {key: app.config[key] for key in ("TESTING", "DATABASE_URL", "CREDENTIAL_CACHE_SECONDS",
                                                 "CATALOG_CACHE_SECONDS")}
    proxied = create_app({**settings, "PROXIES": 1, "WIDGET_REPORTS_PER_IP_HOUR": 1}).test_client()
    for address, status in (("203.0.113.7", 200), ("198.51.100.9", 200), ("203.0.113.7", 429)):
        proxied.environ_base["HTTP_X_FORWARDED_FOR"] = address
        assert post(proxied, "report", token_of(open_frame(proxied, widget, device=address))).status_code == status
    # Reached directly (the default), the header is anyone's to send: not trusted.
    app.config["WIDGET_REPORTS_PER_IP_HOUR"] = 1
    for address, status in (("192.0.2.1", 200), ("192.0.2.2", 429)):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = address
        assert post(client, "report", token_of(open_frame(client, widget, device=address))).status_code == status


def test_network_widget_needs_a_bank_on_its_network(client, catalog):
    issued = create_client("Network web", utcnow(), network=Network.get(Network.code == "NET1"), origins=[HOST])
    network_widget = {"key": issued.client.widget_key}
    assert "not set up correctly (bank)" in open_frame(client, network_widget).get_data(as_text=True)
    assert open_frame(client, network_widget, bank="BANK3").status_code == 400
    response = open_frame(client, network_widget, bank="BANK2", offer="OF2")
    assert response.status_code == 200
    post(client, "report", token_of(response))
    assert Feedback.get().bank.code == "BANK2"


def test_hindi(client, widget):
    html = open_frame(client, widget, lang="hi-IN").get_data(as_text=True)
    assert '<html lang="hi"' in html and "दुकानदार ने ऑफ़र देने से मना किया" in html


def test_without_javascript_the_forms_post_whole_pages(client, widget):
    token = token_of(open_frame(client, widget))
    response = client.post("/widget/confirm", data={"token": token, "feedback_type": "2"}, headers={"Origin": OWN})
    html = response.get_data(as_text=True)
    assert html.startswith("<!doctype html>") and "Told the offer has expired" in html


def test_loader_is_small_cacheable_javascript(client, catalog):
    response = client.get("/widget.js")
    assert response.mimetype == "text/javascript" and "max-age=3600" in response.headers["Cache-Control"]
    assert response.get_data() == LOADER.read_bytes()
    compressed = client.get("/widget.js", headers={"Accept-Encoding": "gzip, br"})
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed.get_data()) == LOADER.read_bytes()
    assert len(compressed.get_data()) <= 2048  # the loader's size budget


def test_frame_assets_are_served_from_our_origin(client, catalog):
    for name, mimetype in (("frame.css", "text/css"), ("frame.js", "text/javascript"), ("htmx.min.js", "text/javascript")):
        response = client.get(f"/widget/assets/{name}")
        assert response.status_code == 200 and response.mimetype == mimetype and len(response.get_data()) > 500
    assert client.get("/widget/assets/secret_key").status_code == 404


def test_one_ip_flooding_fresh_devices_cannot_rank_or_flag_a_merchant(client, widget, app):
    from backend.models import Outlet
    from backend.ranking import Filters, merchant_leaderboard

    outlet = Outlet.get(Outlet.code == "O1")
    at_the_door = {"user_latitude": str(outlet.latitude), "user_longitude": str(outlet.longitude),
                   "user_accuracy": "1", "location_status": "granted"}
    for n in range(30):  # the per-IP limit, each from a fresh device at the outlet's exact point
        token = token_of(open_frame(client, widget, device=f"fresh-{n}"))
        assert post(client, "report", token, feedback_type=str(1 + n % 2), **at_the_door).status_code == 200
    assert post(client, "report", token_of(open_frame(client, widget, device="one-more"))).status_code == 429
    today = utcnow().date()
    board = merchant_leaderboard(Filters("all", today, today), today)
    assert board.ranked == []
    [row] = board.low_volume
    # Fresh device ids claiming the outlet's exact point count for nothing (and one IP carries
    # one customer a day anyway).
    assert (row.flag, row.distinct_customers, row.score, row.discounted_customer_days) == ("low_volume", 0, 0.0, 30)


def test_the_confirm_view_says_when_the_offer_is_not_active_and_still_sends(client, widget):
    token = token_of(open_frame(client, widget, offer="OF3"))  # ended 31 Dec 2020
    confirm = post(client, "confirm", token, feedback_type="2", location_status="denied")
    assert "This offer ended on 31-12-2020. You can still send your report" in confirm.get_data(as_text=True)
    assert "Thank you" in post(client, "report", token, feedback_type="2").get_data(as_text=True)
    assert Feedback.get().offer_status == "expired"
    active = post(client, "confirm", token_of(open_frame(client, widget)), location_status="denied")
    assert "You can still send" not in active.get_data(as_text=True)


def test_a_malformed_referer_or_a_non_ascii_signature_is_a_problem_not_a_500(client, widget):
    assert open_frame(client, widget, referer="http://[").status_code == 200  # no origin to check: as without one
    signed = open_frame(client, widget, device=None, uid="asha@example.com", sig="é" * 64)
    assert signed.status_code == 403 and "customer signature" in signed.get_data(as_text=True)
    control = open_frame(client, widget, device="dev\x00\x1b")
    assert control.status_code == 400 and not Feedback.select().exists()


def test_the_confirm_view_claims_no_verified_location_before_it_is_checked():
    """Shown to a customer 1,000 km away too: it must not say they were at the store."""
    from backend.i18n import TEXT

    assert all("were at the store" not in text["location_shared"] and "दुकान पर थे" not in text["location_shared"]
               for text in TEXT.values())
