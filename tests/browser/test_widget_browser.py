"""The widget in real Chromium, embedded in bank pages served from another origin."""
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from support import axe_violations, send_two_clicks, site_stored_id

AT_O1 = {"latitude": 19.0597, "longitude": 72.8295, "accuracy": 20}


@pytest.fixture
def open_page(browser, widget_site):
    """Open a bank page (pages/NAME.html) with the given widget attributes in a fresh context."""
    contexts = []

    def open_(name="plain", location=None, viewport=None, **attributes):
        options = {"viewport": viewport or {"width": 390, "height": 800}}
        if location:
            options["geolocation"] = location
        context = browser.new_context(**options)
        if location:
            context.grant_permissions(["geolocation"], origin=widget_site["host"])
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{widget_site['host']}/{name}?{urlencode(attributes)}")
        return page

    yield open_
    for context in contexts:
        context.close()


def widget(page):
    return page.frame_locator("iframe")


def frame_of(page, widget_site):
    return next(frame for frame in page.frames if frame.url.startswith(widget_site["widget"]))


def test_two_clicks_store_one_report_at_the_outlet(open_page, reports):
    page = open_page(location=AT_O1, outlet="O1")
    send_two_clicks(widget(page))
    [report] = reports()
    assert (report["channel"], report["verdict"], report["feedback_type_id"]) == ("widget", "at_outlet", 1)
    assert (report["latitude"], report["longitude"], report["accuracy_m"]) == (19.0597, 72.8295, 20)
    assert report["anonymous"] == 1 and "device" not in report["user_id"]  # a pseudonym of the device id


def test_denied_location_still_counts(open_page, reports):
    page = open_page(outlet="O1")  # geolocation not granted: Chromium denies it
    frame = widget(page)
    frame.get_by_role("button", name="Told the offer has expired").click()
    expect(frame.get_by_text("your report still counts")).to_be_visible()
    frame.get_by_role("button", name="Send report").click()
    expect(frame.get_by_role("heading", name="Thank you")).to_be_visible()
    [report] = reports()
    assert (report["verdict"], report["latitude"], report["feedback_type_id"]) == ("not_shared", None, 2)


def test_back_returns_to_the_choice(open_page, reports):
    frame = widget(open_page(outlet="O1"))
    frame.get_by_role("button", name="Staff did not know about the offer").click()
    frame.get_by_role("button", name="Back").click()
    expect(frame.get_by_role("button", name="Merchant declined the offer")).to_be_visible()
    assert reports() == []


def console_warnings(page):
    """The page's console warnings so far (Playwright keeps the page's recent messages)."""
    return [message.text for message in page.console_messages() if message.type == "warning"]


def test_origin_not_allowed_cannot_show_the_widget_and_the_console_says_why(open_page, widget_site, reports):
    page = open_page(key="other", outlet="O1")
    expect(page.locator("iframe")).to_have_count(1)
    frame = page.frames[1]
    frame.wait_for_load_state()
    # The browser refuses to render a frame whose frame-ancestors exclude the page.
    assert frame.locator("button").count() == 0
    # Customers see nothing broken; the bank's developer reads what to do.
    expect(page.locator("iframe")).to_be_hidden(timeout=10000)
    warnings = console_warnings(page)
    assert any("the frame did not open" in text and f"widget-origins --add {widget_site['host']}" in text
               for text in warnings), warnings
    assert reports() == []


def test_stolen_token_posted_from_elsewhere_is_refused(open_page, widget_site, reports):
    page = open_page(outlet="O1")
    expect(widget(page).get_by_role("button").first).to_be_visible()
    token = frame_of(page, widget_site).locator('input[name="token"]').input_value()
    statuses = page.evaluate("""async ([url, token]) => {
        const body = new URLSearchParams({token, feedback_type: "1"});
        const answer = await fetch(url, {method: "POST", body, mode: "no-cors"});
        return answer.type;
    }""", [widget_site["widget"] + "/widget/report", token])
    assert statuses == "opaque"
    assert reports() == []


def test_signed_customer(open_page, widget_site, reports):
    frame = widget(open_page(outlet="O1", uid="asha@example.com"))
    frame.get_by_role("button", name="Discount not applied to the bill").click()
    frame.get_by_role("button", name="Send report").click()
    expect(frame.get_by_role("heading", name="Thank you")).to_be_visible()
    assert [(r["user_id"], r["anonymous"]) for r in reports()] == [(site_stored_id(widget_site["env"], "asha@example.com"), 0)]


@pytest.mark.parametrize("sig", ["0" * 64, "none"], ids=["forged", "missing"])
def test_forged_or_missing_signature_is_refused_and_the_console_says_why(open_page, widget_site, reports, sig):
    page = open_page(outlet="O1", uid="asha@example.com", sig=sig)
    frame = frame_of(page, widget_site)
    frame.get_by_text("not set up correctly").wait_for(state="attached")
    assert frame.locator("button").count() == 0
    expect(page.locator("iframe")).to_be_hidden()  # nothing broken shown to the customer
    warnings = console_warnings(page)
    assert any("data-user-sig does not match data-user-id" in text for text in warnings), warnings
    assert reports() == []


def test_loader_included_twice_gives_one_widget(open_page):
    page = open_page(outlet="O1", copies=2)
    expect(widget(page).get_by_role("button").first).to_be_visible()
    expect(page.locator("iframe")).to_have_count(1)
    assert page.evaluate("Object.keys(window).filter(k => /offers/i.test(k))") == ["OffersFeedback"]


def test_hostile_page_with_strict_csp_does_not_break_it(open_page, reports):
    page = open_page("hostile", location=AT_O1, outlet="O1")
    frame = widget(page)
    frame.get_by_role("button", name="Merchant declined the offer").click()
    frame.get_by_role("button", name="Send report").click()
    expect(frame.get_by_role("heading", name="Thank you")).to_be_visible()
    box = page.locator("iframe").bounding_box()
    assert box["width"] >= 300 and box["height"] >= 100 and box["x"] >= 0
    assert len(reports()) == 1


def test_keyboard_only(open_page, widget_site, reports):
    page = open_page(outlet="O1")
    frame = frame_of(page, widget_site)
    frame.get_by_role("button").first.wait_for()
    page.keyboard.press("Tab")
    focused = frame.evaluate("document.activeElement.textContent")
    assert focused == "Merchant declined the offer"
    outline = frame.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # the focus is visible
    page.keyboard.press("Enter")
    expect(frame.get_by_role("heading", name="Send this report?")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.type("They said no.")
    page.keyboard.press("Tab")
    assert frame.evaluate("document.activeElement.textContent") == "Send report"
    page.keyboard.press("Enter")
    expect(frame.get_by_role("heading", name="Thank you")).to_be_visible()
    assert [r["comment"] for r in reports()] == ["They said no."]


def test_usable_at_320_pixels(open_page, widget_site):
    page = open_page(outlet="O1", viewport={"width": 320, "height": 640})
    frame = frame_of(page, widget_site)
    frame.get_by_role("button").first.wait_for()
    assert frame.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    sizes = frame.evaluate("[...document.querySelectorAll('button')].map(b => b.getBoundingClientRect())"
                           ".map(r => [r.width, r.height])")
    assert len(sizes) == 5 and all(width >= 44 and height >= 44 for width, height in sizes)
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")


def test_hindi_labels(open_page):
    frame = widget(open_page(outlet="O1", lang="hi"))
    expect(frame.get_by_role("button", name="दुकानदार ने ऑफ़र देने से मना किया")).to_be_visible()
    expect(frame.get_by_role("heading", name="क्या यह ऑफ़र अस्वीकार किया गया?")).to_be_visible()


@pytest.mark.parametrize("theme, phone, background", [
    ("dark", "light", "rgb(27, 27, 31)"), (None, "dark", "rgb(255, 255, 255)"),  # light unless the bank asks
    ("auto", "dark", "rgb(27, 27, 31)"), ("auto", "light", "rgb(255, 255, 255)"), ("light", "dark", "rgb(255, 255, 255)")])
def test_the_bank_chooses_the_theme(open_page, widget_site, theme, phone, background):
    page = open_page(outlet="O1", **({"theme": theme} if theme else {}))
    page.emulate_media(color_scheme=phone)
    frame = frame_of(page, widget_site)
    frame.get_by_role("button").first.wait_for()
    assert frame.evaluate("getComputedStyle(document.body).backgroundColor") == background


def test_accessibility_of_every_view(open_page, widget_site):
    page = open_page(location=AT_O1, outlet="O1")
    frame = frame_of(page, widget_site)
    frame.get_by_role("button").first.wait_for()
    assert axe_violations(frame) == []
    frame.get_by_role("button", name="Merchant declined the offer").click()
    frame.get_by_role("heading", name="Send this report?").wait_for()
    assert axe_violations(frame) == []
    frame.get_by_role("button", name="Send report").click()
    frame.get_by_role("heading", name="Thank you").wait_for()
    assert axe_violations(frame) == []
    problem_page = open_page(outlet="O1", uid="x@example.com", sig="none")
    problem = frame_of(problem_page, widget_site)
    problem.get_by_text("not set up correctly").wait_for(state="attached")
    expect(problem_page.locator("iframe")).to_be_hidden()  # the loader hid it: shown again to check it
    problem_page.evaluate("document.querySelector('iframe').style.setProperty('display', 'block', 'important')")
    problem.get_by_text("not set up correctly").wait_for()
    assert axe_violations(problem) == []


def test_first_render_loads_nothing_from_outside_our_origin(browser, widget_site):
    context = browser.new_context()
    requested = []
    context.on("request", lambda request: requested.append((request.frame.parent_frame is not None, request.url)))
    page = context.new_page()
    page.goto(f"{widget_site['host']}/plain?{urlencode({'outlet': 'O1'})}")
    widget(page).get_by_role("button").first.wait_for()
    in_frame = [url for inside, url in requested if inside]
    assert in_frame and all(url.startswith(widget_site["widget"] + "/") for url in in_frame)
    assert {url.split("?")[0].removeprefix(widget_site["widget"]) for url in in_frame} >= {
        "/widget/frame", "/widget/assets/frame.css", "/widget/assets/htmx.min.js", "/widget/assets/frame.js"}
    context.close()


def test_loading_shifts_the_host_page_little(open_page):
    page = open_page(outlet="O1")
    page.evaluate("""() => { window.shift = 0; new PerformanceObserver(list => {
        for (const entry of list.getEntries()) window.shift += entry.value; }).observe({type: "layout-shift", buffered: true}); }""")
    expect(widget(page).get_by_role("button").first).to_be_visible()
    # The loader reserves 440 px; the frame then reports its real height.
    page.wait_for_function("() => document.querySelector('iframe').style.height !== '440px'")
    assert page.evaluate("window.shift") < 0.1  # "good" cumulative layout shift


def test_the_send_button_comes_into_sight_after_the_first_tap_on_a_small_phone(open_page):
    # 400 px of page left under the browser's bars and the bank's heading: the button starts below it.
    page = open_page(location=AT_O1, outlet="O1", viewport={"width": 375, "height": 400})
    frame = widget(page)
    frame.get_by_role("button", name="Merchant declined the offer").click()
    expect(frame.get_by_role("heading", name="Send this report?")).to_be_visible()
    send = frame.get_by_role("button", name="Send report")

    def bottom_in_sight():  # the button's bottom, in the bank page's viewport
        frame_top = page.evaluate("document.querySelector('iframe').getBoundingClientRect().top")
        return frame_top + send.evaluate("button => button.getBoundingClientRect().bottom") <= page.evaluate("innerHeight")

    page.wait_for_function("scrollY > 0")  # the bank's page scrolls to it
    page.wait_for_timeout(600)  # a smooth scroll's time
    assert bottom_in_sight()
