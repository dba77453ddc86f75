"""A realistic demo: two cities of merchants and outlets, offers, a client, 90 days of reports."""
import html
import math
import random
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .catalog import import_catalog
from .credentials import create_client, user_signature
from .db import database
from .feedback import record_feedback
from .privacy import apply_retention
from .geo import EARTH_RADIUS_M
from .models import Bank, FeedbackType, Network, Offer, Outlet
from .rollups import count_pending

NEIGHBOURHOODS = {
    "Mumbai": [("Bandra West", 19.0596, 72.8295), ("Andheri West", 19.1364, 72.8296), ("Lower Parel", 18.9953, 72.8300),
               ("Colaba", 18.9067, 72.8147), ("Powai", 19.1176, 72.9060)],
    "Bengaluru": [("Koramangala", 12.9352, 77.6245), ("Indiranagar", 12.9784, 77.6408), ("Jayanagar", 12.9250, 77.5938),
                  ("Whitefield", 12.9698, 77.7500), ("MG Road", 12.9756, 77.6050)],
}
MERCHANTS = [
    ("Cafe Aroma", "cafe"), ("Brew & Bean", "cafe"), ("Spice Route Kitchen", "restaurant"), ("Tandoor Tales", "restaurant"),
    ("Green Leaf Salads", "restaurant"), ("Curry Leaf", "restaurant"), ("Coastal Catch", "restaurant"),
    ("Pizza Piazza", "restaurant"), ("Noodle Bar 88", "restaurant"), ("Sweet Tooth Bakery", "bakery"),
    ("Urban Threads", "apparel"), ("Silk & Loom", "apparel"), ("StepUp Footwear", "apparel"), ("Denim Dock", "apparel"),
    ("Gadget Galaxy", "electronics"), ("PixelCare Electronics", "electronics"), ("SoundWave Audio", "electronics"),
    ("FreshCart Grocers", "grocery"), ("Daily Basket", "grocery"), ("Organic Orchard", "grocery"),
    ("Page Turner Books", "books"), ("FitZone Gym", "fitness"), ("Glow Salon", "beauty"), ("Vision Plus Opticals", "optical"),
    ("CarePlus Pharmacy", "pharmacy"), ("Little Wonders Toys", "toys"), ("HomeNest Decor", "home"),
    ("Petal & Stem Florists", "gifts"), ("Velocity Cycles", "sports"), ("Cinema Square", "entertainment"),
]
DISCOUNTS = ["10% off", "15% off", "20% off", "Flat Rs 150 off", "Buy one get one", "5% cashback"]
# What docs/api.md's and docs/widget.md's examples name, the same in every demo whatever the
# random draws (tests/test_docs_examples.py runs them): a Harbour Bank offer, active for a
# year after seeding, at Cafe Aroma's Bandra West outlet, 11 m from the examples' position.
EXAMPLE_BANK, EXAMPLE_OFFER, EXAMPLE_OUTLET = "HARBOUR", "CAFEAROMA01-HARBOUR", "CAFEAROMA01-MUM1"
EXAMPLE_OUTLET_POSITION = (19.0596, 72.8295)
# The customer the demo's signed page (/signed) vouches for.
EXAMPLE_CUSTOMER = "asha@harbour.example"


def demo_catalog(today, rng):
    """The demo catalogue in import shape (sections of raw text records)."""
    networks = [{"code": "UPN", "name": "UniPay Network"}]
    banks = [
        {"code": "HARBOUR", "name": "Harbour Bank", "network": "UPN"},
        {"code": "SUNRISE", "name": "Sunrise Bank", "network": "UPN"},
        {"code": "KAVERI", "name": "Kaveri Co-operative Bank"},
    ]
    merchants, outlets, offers = [], [], []
    for number, (name, category) in enumerate(MERCHANTS, 1):
        code = "".join(ch for ch in name.upper() if ch.isalnum())[:12] + f"{number:02d}"
        merchants.append({"code": code, "name": name, "category": category})
        cities = rng.sample(list(NEIGHBOURHOODS), k=rng.choice([1, 1, 2]))
        for city in cities:
            for index, (area, lat, lon) in enumerate(rng.sample(NEIGHBOURHOODS[city], k=rng.randint(1, 3)), 1):
                dlat, dlon = _offset(lat, rng.uniform(0, 1800), rng.uniform(0, 360))
                outlets.append({
                    "code": f"{code}-{city[:3].upper()}{index}", "merchant": code, "name": f"{name}, {area}",
                    "city": city, "address": f"{rng.randint(1, 220)} {area} Main Road, {city}",
                    "latitude": f"{lat + dlat:.6f}", "longitude": f"{lon + dlon:.6f}",
                })
        for sponsor in rng.sample(["HARBOUR", "SUNRISE", "KAVERI", "UPN"], k=rng.choice([1, 2])):
            start = today - timedelta(days=rng.randint(60, 200))
            end = today + timedelta(days=rng.randint(30, 120)) if rng.random() < 0.8 else today - timedelta(days=rng.randint(5, 40))
            offer = {"code": f"{code}-{sponsor}", "title": f"{rng.choice(DISCOUNTS)} at {name}", "merchant": code,
                     "valid_from": start.isoformat(), "valid_to": end.isoformat()}
            offer["network" if sponsor == "UPN" else "bank"] = sponsor
            offers.append(offer)
    _pin_example(outlets, offers, today)
    sections = {"networks": networks, "banks": banks, "merchants": merchants, "outlets": outlets, "offers": offers}
    return {name: [(f"demo: {name} record {i}", rec) for i, rec in enumerate(rows, 1)] for name, rows in sections.items()}


def _pin_example(outlets, offers, today):
    """Put the documented example's outlet and offer in the catalogue (in place of what the
    draws gave them, else after the merchant's own), so the docs' codes always exist."""
    merchant = EXAMPLE_OFFER.split("-")[0]
    outlet = {"code": EXAMPLE_OUTLET, "merchant": merchant, "name": "Cafe Aroma, Bandra West", "city": "Mumbai",
              "address": "12 Hill Road, Bandra West, Mumbai", "latitude": f"{EXAMPLE_OUTLET_POSITION[0]:.6f}",
              "longitude": f"{EXAMPLE_OUTLET_POSITION[1]:.6f}"}
    offer = {"code": EXAMPLE_OFFER, "title": "10% off at Cafe Aroma", "merchant": merchant, "bank": EXAMPLE_BANK,
             "valid_from": (today - timedelta(days=90)).isoformat(), "valid_to": (today + timedelta(days=365)).isoformat()}
    for records, record in ((outlets, outlet), (offers, offer)):
        same = [i for i, r in enumerate(records) if r["code"] == record["code"]]
        if same:
            records[same[0]] = record
        else:
            # Kept in the merchant's place: the demo's later offers keep their stories (_historic_reports).
            records.insert(max((i + 1 for i, r in enumerate(records) if r["merchant"] == merchant), default=0), record)


def _offset(lat, metres, bearing_deg):
    """Degrees of latitude and longitude for a move of metres along bearing_deg."""
    bearing = math.radians(bearing_deg)
    dlat = metres * math.cos(bearing) / EARTH_RADIUS_M
    dlon = metres * math.sin(bearing) / (EARTH_RADIUS_M * math.cos(math.radians(lat)))
    return math.degrees(dlat), math.degrees(dlon)


def _historic_reports(now, rng, count, rules):
    """Record count reports over the last 90 days, skewed towards a few merchants."""
    offers = list(Offer.select())
    outlets_by_merchant = {}
    for outlet in Outlet.select():
        outlets_by_merchant.setdefault(outlet.merchant_id, []).append(outlet)
    banks = list(Bank.select())
    types = list(FeedbackType.select().order_by(FeedbackType.id))
    type_weights = [40, 25, 20, 10, 5][: len(types)]
    # Zipf-like: a handful of merchants draw most complaints, as in real life.
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(offers))]
    rng.shuffle(weights)
    customers = [f"customer{n:04d}@{rng.choice(['harbour', 'sunrise', 'kaveri'])}.example" for n in range(900)]
    customers += [f"device-{rng.getrandbits(64):016x}" for _ in range(300)]
    comments = ["", "", "Cashier said the offer is not valid here.", "Manager refused the discount.",
                "They said the offer ended last week.", "Staff had never heard of it."]
    planned = []
    for _ in range(count):
        offer = rng.choices(offers, weights)[0]
        when = now - timedelta(days=90 * rng.random() ** 1.3, minutes=rng.randint(0, 600))
        planned.append((when, offer, rng.choices(types, type_weights)[0], rng.random()))
    # Two stories for the leaderboard's fraud watch: a merchant whose reports suddenly jump
    # this week, and one whose verified customers keep being told an active offer expired.
    active = [offer for offer in offers if offer.status_on(now.date()) == "active"]
    spiking, claiming = active[-1], active[-2]
    planned += [(now - timedelta(hours=rng.uniform(1, 140)), spiking, types[0], rng.random() * 0.7) for _ in range(40)]
    planned += [(now - timedelta(days=rng.uniform(0, 25)), claiming, types[1], rng.random() * 0.7) for _ in range(30)]
    planned.sort(key=lambda item: item[0])  # as they would have arrived
    for when, offer, feedback_type, roll in planned:
        outlet = rng.choice(outlets_by_merchant[offer.merchant_id])
        lat = lon = accuracy = None
        if roll < 0.7:  # at the till
            dlat, dlon = _offset(outlet.latitude, rng.uniform(0, 90), rng.uniform(0, 360))
            lat, lon, accuracy = outlet.latitude + dlat, outlet.longitude + dlon, rng.uniform(8, 45)
        elif roll < 0.8:  # reported later, from elsewhere
            dlat, dlon = _offset(outlet.latitude, rng.uniform(1500, 9000), rng.uniform(0, 360))
            lat, lon, accuracy = outlet.latitude + dlat, outlet.longitude + dlon, rng.uniform(10, 60)
        elif roll < 0.85:  # poor indoor fix
            lat, lon, accuracy = outlet.latitude, outlet.longitude, rng.uniform(400, 1500)
        record_feedback(
            bank=rng.choice([b for b in banks if offer.powered_for(b)]), offer=offer, outlet=outlet,
            feedback_type=feedback_type, user_id=rng.choice(customers), latitude=lat, longitude=lon,
            accuracy_m=accuracy, comment=rng.choice(comments), channel="import", now=when, received_at=now, rules=rules,
        )


def seed_demo(now, rules, reports=3000, seed=7, keep_coordinates_days=30, keep_comments_days=365):
    """Fill an empty database with the demo; returns the demo client's issued credentials.
    Its history is kept as retention would have left it (positions of the last days only)."""
    rng = random.Random(seed)
    with database.atomic():
        import_catalog(demo_catalog(now.date(), rng))
        _historic_reports(now, rng, reports, rules)
        count_pending()
        issued = create_client("Demo network client (UniPay)", now, network=Network.get(Network.code == "UPN"))
    apply_retention(now, keep_coordinates_days, keep_comments_days)
    return issued


def ensure_example(today):
    """Add the documented example's outlet and offer to a demo seeded before they existed."""
    if Offer.select().where(Offer.code == EXAMPLE_OFFER).exists():
        return
    outlets, offers = [], []
    _pin_example(outlets, offers, today)
    import_catalog({"networks": [], "banks": [], "merchants": [], "outlets": [("demo: example outlet", outlets[0])],
                    "offers": [("demo: example offer", offers[0])]})


def demo_example(credentials, base_url):
    """A ready-to-paste curl command that reports for the documented example offer."""
    outlet = Outlet.get(Outlet.code == EXAMPLE_OUTLET)
    query = (
        f"action=user_feedback&clientkey={credentials['clientkey']}&clientpass={credentials['clientpass']}"
        # Standing at the till, as a phone reports it: about 11 m from the outlet's recorded
        # point, 15 m accuracy (the exact point itself would look spoofed, docs/ranking.md).
        f"&apikey={credentials['apikey']}&user_id=demo@{EXAMPLE_BANK.lower()}.example"
        f"&user_latitude={outlet.latitude + 0.0001:.6f}&user_longitude={outlet.longitude:.6f}&user_accuracy=15"
        f"&feedback_type=1&comment=Cashier+refused+the+offer"
        f"&offer_code={EXAMPLE_OFFER}&your_bank_code={EXAMPLE_BANK}&outlet_code={EXAMPLE_OUTLET}"
    )
    return f"curl -s '{base_url}/api?{query}'"


def demo_bank_pages(widget_origin, widget_key, widget_secret):
    """The demo bank's pages by path: "/" for any visitor (an anonymous device), "/signed"
    for a signed-in customer, whose id this server, as the bank's would, signs with the
    widget secret (which never reaches the browser)."""
    signature = user_signature(widget_secret, EXAMPLE_CUSTOMER)
    return {"/": _bank_page(widget_origin, widget_key),
            "/signed": _bank_page(widget_origin, widget_key, EXAMPLE_CUSTOMER, signature)}


def _bank_page(widget_origin, widget_key, user_id=None, user_sig=None):
    """Harbour Bank's offer page embedding the widget for the documented example offer."""
    offer = Offer.get(Offer.code == EXAMPLE_OFFER)
    outlet = Outlet.get(Outlet.code == EXAMPLE_OUTLET)
    customer = ""
    signed = ""
    if user_id:
        customer = f"<p>Signed in as {html.escape(user_id)}: your reports are vouched for by the bank.</p>"
        signed = f' data-user-id="{html.escape(user_id)}" data-user-sig="{html.escape(user_sig)}"'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Harbour Bank: card offers</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f3f5f9;color:#1b1b1f}}
header{{background:#0a3d62;color:#fff;padding:12px 16px}}main{{max-width:34rem;margin:0 auto;padding:16px}}
.card{{background:#fff;border-radius:12px;padding:16px;margin-bottom:16px;box-shadow:0 1px 3px #0002}}</style></head>
<body><header><strong>Harbour Bank</strong> · Card offers</header><main>{customer}
<div class="card"><h1>{html.escape(offer.title)}</h1><p>At {html.escape(outlet.name)}, valid until {offer.valid_to:%d %b %Y}.</p></div>
<div class="card"><h2>Offer refused at the till?</h2>
<script src="{widget_origin}/widget.js" async data-key="{widget_key}" data-offer="{EXAMPLE_OFFER}" data-outlet="{EXAMPLE_OUTLET}" data-bank="{EXAMPLE_BANK}"{signed}></script>
</div></main></body></html>"""


def serve_demo_pages(host, port, pages):
    """Serve pages ({path: HTML}) on port (or, if taken, any free one) from a background thread; returns the port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            page = pages.get(self.path.split("?")[0])
            if page is None:
                self.send_error(404)
                return
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError:
        server = ThreadingHTTPServer((host, 0), Handler)
    threading.Thread(target=server.serve_forever, name="demo-bank-page", daemon=True).start()
    return server.server_address[1]
