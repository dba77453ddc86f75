#!/usr/bin/env python3
"""Signal benchmark: does the merchant leaderboard still point at the truly bad merchants
when a share of the reports is fake?

Builds a seeded synthetic world: a few hundred merchants of skewed sizes with outlets in
Mumbai, Bengaluru and Delhi, three banks on one network, a year of complaints from
recurring genuine customers; truly bad merchants of two kinds (steady "needs training"
ones, and fraud-like ones: a burst of verified complaints started 2-6 days ago, or staff
telling customers an active offer has expired); a few innocent merchants whose offer
really expired. Then noise: spam actors with few ids, rotating id pools, GPS spoofers with
impossible travel, a focused fresh-id attack on three innocent merchants, resends, wrong
outlets and one-IP widget floods. The history older than 7 days goes in through
`run.py import-reports`, the last 7 days through the real server (gunicorn: /api and the
widget), and the 30-day leaderboard is compared with the truth: precision@10, innocent
targets in the top 10, precision and recall of each flag, innocent merchants flagged.

One fresh world per noise level (genuine traffic is the same in each); the targets are
judged at 20 % noise; the exit status is 1 if one is missed.
Usage: .venv/bin/python bench/signals.py [--seed 1] [--merchants 300] [--noise 0 20 40]
       [--database-url sqlite:///PATH (one noise level only)] [--keep]
"""
import argparse
import bisect
import csv
import itertools
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
sys.path.insert(0, str(ROOT / "tests"))
from support import free_port, wait_until_up  # noqa: E402

IST = timezone(timedelta(hours=5, minutes=30))
NETWORK = "NET1"
# code, name, share of customers, whether its server passes device_id and client_ip
BANKS = [("BANK1", "First Bank", 0.45, True), ("BANK2", "Second Bank", 0.40, True),
         ("BANK3", "Third Bank", 0.15, False)]
NEIGHBOURHOODS = {
    "Mumbai": [("Bandra", 19.0596, 72.8295), ("Andheri", 19.1136, 72.8697), ("Powai", 19.1176, 72.9060),
               ("Lower Parel", 18.9986, 72.8258), ("Colaba", 18.9067, 72.8147), ("Dadar", 19.0178, 72.8478),
               ("Malad", 19.1874, 72.8484), ("Chembur", 19.0522, 72.9005)],
    "Bengaluru": [("Koramangala", 12.9352, 77.6245), ("Indiranagar", 12.9784, 77.6408),
                  ("Whitefield", 12.9698, 77.7500), ("Jayanagar", 12.9250, 77.5938), ("MG Road", 12.9756, 77.6050),
                  ("HSR Layout", 12.9116, 77.6474), ("Malleshwaram", 13.0035, 77.5647),
                  ("Electronic City", 12.8452, 77.6602)],
    "Delhi": [("Connaught Place", 28.6315, 77.2167), ("Saket", 28.5245, 77.2066), ("Karol Bagh", 28.6519, 77.1909),
              ("Lajpat Nagar", 28.5677, 77.2433), ("Hauz Khas", 28.5494, 77.2001), ("Rajouri Garden", 28.6415, 77.1209),
              ("Dwarka", 28.5921, 77.0460), ("Vasant Kunj", 28.5293, 77.1519)],
}
CITY_WEIGHTS = {"Mumbai": 0.4, "Bengaluru": 0.35, "Delhi": 0.25}
CATEGORIES = {
    "restaurant": (["Spice", "Tandoor", "Coastal", "Royal", "Green Leaf", "Urban", "Saffron", "Masala"],
                   ["Kitchen", "Dhaba", "Bistro", "House"]),
    "cafe": (["Brew", "Bean", "Chai", "Morning", "Corner", "Filter"], ["Cafe", "Roasters", "Point"]),
    "apparel": (["Urban", "Threads", "Silk", "Denim", "Style", "Ethnic"], ["Studio", "Wardrobe", "Fashions", "Closet"]),
    "electronics": (["Gadget", "Digital", "Circuit", "Pixel", "Volt"], ["Galaxy", "World", "Hub", "Store"]),
    "grocery": (["Fresh", "Daily", "Green", "Harvest", "Nature's"], ["Mart", "Basket", "Bazaar", "Store"]),
    "pharmacy": (["Care", "Well", "Health", "Apollo Lane", "Life"], ["Pharmacy", "Chemists", "Medicals"]),
    "salon": (["Glow", "Mirror", "Style", "Lush"], ["Salon", "Studio", "Lounge"]),
}
CARRIERS = ["49.36", "106.210", "223.185", "157.32", "27.97"]  # mobile networks' address blocks
BROADBAND = ["122.161", "182.70", "117.214"]
DATACENTRES = ["103.21", "139.59", "165.22"]
# Feedback type ids: 1 merchant declined, 2 told the offer expired, 3 discount not applied,
# 4 staff unaware, 5 other. Weights by kind of report.
TYPE_WEIGHTS = {
    "usual": (35, 12, 30, 15, 8),
    "steady": (35, 8, 22, 30, 5),
    "burst": (30, 45, 15, 5, 5),
    "told_expired": (20, 70, 10, 0, 0),
    "really_expired": (0, 100, 0, 0, 0),
    "spam": (40, 5, 10, 10, 35),
    "attack": (50, 0, 25, 25, 0),
}
# Where a genuine customer was when reporting: at the outlet, location not shared, later
# from home (1-10 km away), or a fix too coarse to tell.
WHERE_WEIGHTS = {
    "usual": (55, 22, 15, 8),
    "burst": (85, 10, 5, 0),
    "told_expired": (85, 10, 5, 0),
    "really_expired": (70, 20, 10, 0),
}
WHERES = ("at", "none", "away", "coarse")
SCORE_WEIGHTS = {"at": 1.0, "none": 0.5, "coarse": 0.5, "away": 0.1}  # docs/ranking.md
NEW_CUSTOMER_WEIGHT = 0.5
COMMENTS = {
    1: ["Cashier refused the card offer", "Said the offer is not valid on weekends",
        "Refused, asked me to pay full price"],
    2: ["Staff said the offer ended last month", "Told me the offer has expired", "Manager said the offer is over"],
    3: ["Discount was not applied on the bill", "Paid full amount, no cashback", "POS did not apply the discount"],
    4: ["Nobody at the store knew about this offer", "Staff had never heard of the offer", "Had to show the bank page"],
    5: ["Long argument at the counter", "They wanted a minimum bill not in the terms"],
}
SPAM_COMMENTS = ["Worst merchant ever!!! never honours offers", "SCAM. avoid avoid avoid", "Fake offer, don't trust",
                 "pathetic staff refused", ""]
BASE_RATE = 0.25  # complaints a day at an innocent merchant of median size
REPORTS_PER_CUSTOMER = 2.5  # a year's genuine complaints per customer, on average
DAYS = 365
# Noise kinds spread over the year, as fractions of the noise share of the genuine reports;
# the fresh-id attack is a quarter of the noise share of the last 30 days' genuine reports
# (5 % at 20 % noise), and each 20 % of noise brings one one-IP widget flood.
NOISE_MIX = {"spam": 0.175, "rotating": 0.175, "spoof": 0.175, "duplicate": 0.15, "wrong_outlet": 0.075}
FRESH_SHARE = 0.25
FLOOD_DEVICES = 30
NOISE_NAMES = {"spam": "spam", "rotating": "rotating pool", "spoof": "GPS spoof", "fresh": "fresh-id",
               "duplicate": "resend", "wrong_outlet": "wrong outlet", "flood": "widget flood"}
TARGET_MIN_REPORTS, TARGET_SHARE = 3, 0.25  # noise that makes an innocent merchant a target
COLUMNS = ["reported_at", "your_bank_code", "user_id", "offer_code", "outlet_code", "feedback_type", "user_latitude",
           "user_longitude", "user_accuracy", "comment", "device_id", "client_ip"]
ROW_FIELDS = ["rank", "merchant_code", "score", "reports", "distinct_customers", "customer_days", "flag",
              "flag_reasons"]  # what this benchmark reads of each leaderboard row


@dataclass
class Outlet:
    code: str
    merchant: str
    name: str
    city: str
    lat: float
    lon: float
    weight: float


@dataclass
class Offer:
    code: str
    merchant: str
    sponsor: str  # a bank code, or NETWORK
    valid_from: date
    valid_to: date

    def usable(self, bank, day):
        """Whether a customer of bank could use this offer on day."""
        return self.sponsor in (bank, NETWORK) and self.valid_from <= day <= self.valid_to


@dataclass
class Merchant:
    code: str
    name: str
    category: str
    size: float  # complaint volume relative to the median merchant
    city: str
    outlets: list
    offers: list
    role: str = "innocent"  # steady, burst, told_expired, really_expired (innocent) or innocent
    factor: float = 1.0  # steady: complaints per size; burst: the burst's rate per size
    since: int = 0  # burst: days ago it started; really_expired: days ago the offer ended


@dataclass
class Customer:
    user_id: str
    devices: list
    carrier: str


@dataclass
class Report:
    t: datetime  # aware, UTC
    kind: str  # genuine or a noise kind
    merchant: str  # the merchant whose offer it names
    params: dict  # the API's parameters, credentials apart
    where: str  # at, none, away, coarse (genuine reports only: for the reference ranking)
    expect: str = "new"  # new (or a duplicate of the sender's own earlier report), duplicate or unknown_code


@dataclass
class World:
    now: datetime
    merchants: list
    pools: dict  # (city, bank) -> (customers, cumulative weights)
    numbers: set = field(default_factory=set)
    targets: dict = field(default_factory=dict)  # fresh / rotating / flood -> [Merchant]

    @property
    def today(self):
        """Today in India, where the merchants are."""
        return self.now.astimezone(IST).date()

    @property
    def history_end(self):
        """Reports before this go through import-reports, later ones through the server."""
        return self.now - timedelta(days=7)

    def customer_id(self, rng, bank):
        """A customer id of the bank, in the one format every id has, never handed out before."""
        while (number := rng.randint(100_000, 9_999_999)) in self.numbers:
            pass
        self.numbers.add(number)
        return f"c{number}@{bank.lower()}.example"


def shifted(lat, lon, metres, rng):
    """A point `metres` away from (lat, lon) in a random direction."""
    bearing = rng.uniform(0, 2 * math.pi)
    return (lat + metres * math.cos(bearing) / 111_320,
            lon + metres * math.sin(bearing) / (111_320 * math.cos(math.radians(lat))))


def poisson(rng, mean):
    """A Poisson-distributed count (Knuth's method; the means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def store_time(rng, day):
    """A moment on day (IST) in shop hours, lunch and evening busiest, as an aware UTC time."""
    start, end = rng.choices([(11, 14), (14, 18), (18, 22.5)], (35, 25, 40))[0]
    hours = rng.uniform(start, end)
    return (datetime.combine(day, datetime.min.time(), IST) + timedelta(hours=hours)).astimezone(timezone.utc)


def moment(rng, start, end):
    """A moment between two times, in shop hours (10:00-23:00 IST)."""
    while True:
        t = start + (end - start) * rng.random()
        if 10 <= t.astimezone(IST).hour < 23:
            return t


def weighted_bank(rng):
    """A bank code, drawn by the banks' shares of customers."""
    return rng.choices([b[0] for b in BANKS], [b[2] for b in BANKS])[0]


def mobile_ip(rng, prefixes=CARRIERS):
    """An IPv4 address in one of the given /16 blocks."""
    return f"{rng.choice(prefixes)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def device(rng):
    """A random device id, as a phone app makes one."""
    return f"{rng.getrandbits(64):016x}"


def sends_device(bank):
    """Whether the bank's server passes its customers' device_id and client_ip."""
    return next(b[3] for b in BANKS if b[0] == bank)


def coordinates(lat, lon, accuracy):
    """The API's location parameters."""
    return {"user_latitude": f"{lat:.6f}", "user_longitude": f"{lon:.6f}", "user_accuracy": str(accuracy)}


# ---------------------------------------------------------------- the world


def build_world(seed, count, now):
    """Merchants with outlets and offers, roles, attack targets and the genuine customer pools."""
    rng = random.Random(f"{seed}:world")
    world = World(now=now, merchants=[], pools={})
    sizes = [rng.lognormvariate(0, 0.95) for _ in range(count)]
    median = statistics.median(sizes)
    today = world.today
    for number, size in enumerate(sizes, 1):
        world.merchants.append(new_merchant(rng, f"M{number:03d}", size / median, today))
    assign_roles(rng, world)
    build_customers(random.Random(f"{seed}:customers"), world)
    return world


def new_merchant(rng, code, size, today):
    """One merchant: bigger ones run more outlets, mostly in their home city; one to three offers."""
    category = rng.choice(list(CATEGORIES))
    first, second = CATEGORIES[category]
    name = f"{rng.choice(first)} {rng.choice(second)}"
    city = rng.choices(list(CITY_WEIGHTS), list(CITY_WEIGHTS.values()))[0]
    outlets = []
    for n in range(min(4, max(1, round(1 + math.log2(size) + rng.gauss(0, 0.7))))):
        where = city if n == 0 or rng.random() < 0.8 else rng.choice(list(NEIGHBOURHOODS))
        area, lat, lon = rng.choice(NEIGHBOURHOODS[where])
        lat, lon = shifted(lat, lon, rng.uniform(0, 1500), rng)
        outlets.append(Outlet(f"{code}-{n + 1}", code, f"{name}, {area}", where, lat, lon,
                              1.0 if n == 0 else rng.uniform(0.3, 1.0)))
    start, end = today - timedelta(days=400), today + timedelta(days=180)
    if rng.random() < 0.7:
        offers = [Offer(f"{code}-NET", code, NETWORK, start, end)]
        if rng.random() < 0.3:
            offers.append(Offer(f"{code}-B", code, weighted_bank(rng), start, end))
    else:
        offers = [Offer(f"{code}-{bank}", code, bank, start, end)
                  for bank in sorted({weighted_bank(rng) for _ in range(rng.randint(1, 2))})]
    return Merchant(code, name, category, size, city, outlets, offers)


def assign_roles(rng, world):
    """Truly bad merchants drawn from all sizes; then innocents with a lapsed offer, then attack targets."""
    merchants = list(world.merchants)
    rng.shuffle(merchants)
    steady_count = max(3, round(len(merchants) / 30))
    for merchant in merchants[:steady_count]:
        merchant.role, merchant.factor = "steady", rng.uniform(5, 10)
    for merchant in merchants[steady_count:steady_count + 3]:
        merchant.role, merchant.factor, merchant.since = "burst", rng.uniform(4, 8), rng.randint(2, 6)
    merchants[steady_count + 3].role = "told_expired"
    innocent = merchants[steady_count + 4:]
    for merchant in innocent[:4]:
        merchant.role, merchant.since = "really_expired", rng.randint(7, 25)
        merchant.offers.append(Offer(f"{merchant.code}-OLD", merchant.code, NETWORK,
                                     world.today - timedelta(days=300), world.today - timedelta(days=merchant.since)))
    # Attackers pick merchants every bank's customers can report on (a network offer).
    open_to_all = [m for m in innocent[4:] if any(o.sponsor == NETWORK for o in m.offers)]
    world.targets["fresh"] = open_to_all[:3]
    pools = [[m for m in open_to_all[3:] if m.city == city][:3] for city in ("Mumbai", "Bengaluru")]
    world.targets["rotating"] = pools
    world.targets["flood"] = [m for m in open_to_all[3:] if m not in pools[0] + pools[1]][:2]


def base_rate(merchant, day, back):
    """Expected complaints a day from the merchant's size, the programme's growth and the weekday."""
    growth = 0.8 + 0.4 * (1 - back / DAYS)
    return BASE_RATE * merchant.size * growth * (1.3 if day.weekday() >= 5 else 0.88)


def daily_moods(merchant, day, back):
    """(expected complaints, kind of complaint) a merchant gets on a day, by its role."""
    base = base_rate(merchant, day, back)
    if merchant.role == "steady":
        return [(base * merchant.factor, "steady")]
    moods = [(base, "usual")]
    if merchant.role == "burst" and back <= merchant.since:
        moods.append((base * (merchant.factor - 1), "burst"))
    elif merchant.role == "told_expired" and back < 42:
        moods.append((base * 2, "told_expired"))
    elif merchant.role == "really_expired" and 0 < merchant.since - back <= 14:
        moods.append((base * 1.5 * (1 - (merchant.since - back) / 15), "really_expired"))
    return moods


def build_customers(rng, world):
    """Customer pools per city and bank, sized to the complaints expected there; an engaged
    minority (heavy-tailed weights) reports again and again."""
    expected = Counter()
    for merchant in world.merchants:
        yearly = BASE_RATE * merchant.size * DAYS * (merchant.factor if merchant.role == "steady" else 1)
        total = sum(o.weight for o in merchant.outlets)
        for outlet in merchant.outlets:
            expected[outlet.city] += yearly * outlet.weight / total
    for city, reports in expected.items():
        for bank, _, share, _ in BANKS:
            customers, weights = [], []
            for _ in range(max(50, round(reports * share / REPORTS_PER_CUSTOMER))):
                customers.append(Customer(world.customer_id(rng, bank),
                                          [device(rng) for _ in range(1 if rng.random() < 0.8 else 2)],
                                          rng.choice(CARRIERS)))
                weights.append(min(40.0, rng.paretovariate(1.6)))
            world.pools[city, bank] = (customers, list(itertools.accumulate(weights)))


def pick_customer(rng, world, city, bank):
    """A customer of the bank living in the city, the engaged ones more often."""
    customers, cumulative = world.pools[city, bank]
    return customers[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def genuine_reports(world, rng):
    """A year of complaints by genuine customers, in time order."""
    reports = []
    for back in range(DAYS):
        day = world.today - timedelta(days=back)
        for merchant in world.merchants:
            for rate, mood in daily_moods(merchant, day, back):
                for _ in range(poisson(rng, rate)):
                    report = genuine_report(world, rng, merchant, day, mood)
                    if report.t < world.now:
                        reports.append(report)
    reports.sort(key=lambda r: r.t)
    return reports


def genuine_report(world, rng, merchant, day, mood):
    """One customer's complaint at an outlet of the merchant."""
    if mood == "really_expired":
        offer = next(o for o in merchant.offers if o.code.endswith("-OLD"))
        bank = weighted_bank(rng)
    else:
        offer = rng.choice([o for o in merchant.offers if o.valid_from <= day <= o.valid_to])
        bank = weighted_bank(rng) if offer.sponsor == NETWORK else offer.sponsor
    outlet = rng.choices(merchant.outlets, [o.weight for o in merchant.outlets])[0]
    customer = pick_customer(rng, world, outlet.city, bank)
    type_id = rng.choices(range(1, 6), TYPE_WEIGHTS[mood])[0]
    where = rng.choices(WHERES, WHERE_WEIGHTS.get(mood, WHERE_WEIGHTS["usual"]))[0]
    params = {"your_bank_code": bank, "user_id": customer.user_id, "offer_code": offer.code, "outlet_code": outlet.code,
              "feedback_type": str(type_id)}
    if where == "at":
        params |= coordinates(*shifted(outlet.lat, outlet.lon, rng.uniform(5, 80), rng), rng.randint(8, 50))
    elif where == "away":
        params |= coordinates(*shifted(outlet.lat, outlet.lon, rng.uniform(1000, 10_000), rng), rng.randint(8, 40))
    elif where == "coarse":
        params |= coordinates(*shifted(outlet.lat, outlet.lon, rng.uniform(0, 300), rng), rng.randint(200, 1500))
    if rng.random() < 0.3:
        params["comment"] = rng.choice(COMMENTS[type_id])
    if sends_device(bank):
        params |= {"device_id": rng.choice(customer.devices), "client_ip": mobile_ip(rng, [customer.carrier])}
    return Report(store_time(rng, day), "genuine", merchant.code, params, where)


# ---------------------------------------------------------------- the noise


def usable_offer(rng, merchant, bank, day):
    """One of the merchant's offers a customer of the bank could use on day, or None."""
    offers = [o for o in merchant.offers if o.usable(bank, day)]
    return rng.choice(offers) if offers else None


def attacker_report(t, kind, merchant, offer, bank, outlet, user_id, type_id, extra):
    """A noise report: the API's parameters for one fake complaint."""
    params = {"your_bank_code": bank, "user_id": user_id, "offer_code": offer.code, "outlet_code": outlet.code,
              "feedback_type": str(type_id)}
    return Report(t, kind, merchant.code, params | {k: v for k, v in extra.items() if sends_device(bank) or
                                                     k not in ("device_id", "client_ip")}, "none")


def spam_reports(world, rng, budget):
    """Five actors, a handful of ids each, filing many low-effort complaints at many merchants of their city."""
    year_start = world.now - timedelta(days=DAYS)
    actors = []
    for _ in range(5):
        city, bank = rng.choice(list(NEIGHBOURHOODS)), weighted_bank(rng)
        ids = [world.customer_id(rng, bank) for _ in range(rng.randint(2, 4))]
        favourites = [m for m in world.merchants if any(o.city == city for o in m.outlets)
                      and any(o.sponsor in (bank, NETWORK) for o in m.offers)]
        _, lat, lon = rng.choice(NEIGHBOURHOODS[city])
        actors.append((city, bank, ids, rng.sample(favourites, min(len(favourites), rng.randint(15, 40))),
                       device(rng), mobile_ip(rng, BROADBAND), shifted(lat, lon, rng.uniform(0, 3000), rng)))
    reports = []
    while len(reports) < budget:
        city, bank, ids, favourites, handset, ip, home = rng.choice(actors)
        merchant, t = rng.choice(favourites), moment(rng, year_start, world.now)
        offer = usable_offer(rng, merchant, bank, t.astimezone(IST).date())
        if offer is None:
            continue
        outlet = rng.choice([o for o in merchant.outlets if o.city == city])
        extra = {"device_id": handset, "client_ip": ip, "comment": rng.choice(SPAM_COMMENTS)}
        if rng.random() < 0.3:
            extra |= coordinates(*home, 15)
        reports.append(attacker_report(t, "spam", merchant, offer, bank, outlet, rng.choice(ids),
                                       rng.choices(range(1, 6), TYPE_WEIGHTS["spam"])[0], extra))
    return reports


def rotating_reports(world, rng, budget):
    """Two pools of 50 ids, used round-robin against three merchants each over a 180-day campaign,
    half the time with a plausible position at the outlet; from a few datacentre addresses."""
    reports = []
    for number, targets in enumerate(world.targets["rotating"]):
        banks = [weighted_bank(rng) for _ in range(50)]
        members = [(bank, world.customer_id(rng, bank), device(rng)) for bank in banks]
        ips = [mobile_ip(rng, DATACENTRES) for _ in range(3)]
        count = budget // 2 + (budget % 2 if number == 0 else 0)
        times = sorted(moment(rng, world.now - timedelta(days=180), world.now) for _ in range(count))
        for k, t in enumerate(times):
            bank, user_id, handset = members[k % len(members)]
            merchant = targets[k % len(targets)]
            outlet = rng.choice(merchant.outlets)
            extra = {"device_id": handset, "client_ip": rng.choice(ips)}
            if rng.random() < 0.6:
                extra |= coordinates(*shifted(outlet.lat, outlet.lon, rng.uniform(10, 60), rng), rng.randint(10, 40))
            offer = usable_offer(rng, merchant, bank, t.astimezone(IST).date())
            reports.append(attacker_report(t, "rotating", merchant, offer, bank, outlet, user_id,
                                           rng.choices(range(1, 6), TYPE_WEIGHTS["attack"])[0], extra))
    return reports


def spoof_reports(world, rng, budget):
    """Twelve ids each touring 15-40 outlets of a city in minutes, at the exact outlet points, 1 m accuracy."""
    year_start = world.now - timedelta(days=DAYS)
    spoofers = []
    for _ in range(12):
        bank = weighted_bank(rng)
        spoofers.append((rng.choice(list(NEIGHBOURHOODS)), bank, world.customer_id(rng, bank), device(rng)))
    reports = []
    while len(reports) < budget:
        city, bank, user_id, handset = rng.choice(spoofers)
        t = moment(rng, year_start, world.now)
        day = t.astimezone(IST).date()
        stops = [(m, rng.choice([o for o in m.outlets if o.city == city])) for m in world.merchants
                 if any(o.city == city for o in m.outlets) and usable_offer(rng, m, bank, day)]
        for merchant, outlet in rng.sample(stops, min(len(stops), rng.randint(15, 40), budget - len(reports))):
            t += timedelta(seconds=rng.uniform(5, 90))
            if t >= world.now:
                break
            extra = {"device_id": handset, "client_ip": mobile_ip(rng)} | coordinates(outlet.lat, outlet.lon, 1)
            reports.append(attacker_report(t, "spoof", merchant, usable_offer(rng, merchant, bank, day), bank, outlet,
                                           user_id, rng.choices(range(1, 6), TYPE_WEIGHTS["attack"])[0], extra))
    return reports


def fresh_reports(world, rng, count):
    """Ids never seen before, each used once, at the exact points of three innocent merchants'
    outlets with 1 m accuracy, over the last 30 days: half older than 7 days, half newer."""
    proxies = [mobile_ip(rng) for _ in range(40)]
    reports = []
    for k in range(count):
        merchant = world.targets["fresh"][k % len(world.targets["fresh"])]
        if k % 2:
            t = moment(rng, world.history_end, world.now)
        else:
            t = moment(rng, world.now - timedelta(days=30), world.history_end)
        bank, outlet = weighted_bank(rng), rng.choice(merchant.outlets)
        extra = {"device_id": device(rng), "client_ip": rng.choice(proxies)} | coordinates(outlet.lat, outlet.lon, 1)
        offer = usable_offer(rng, merchant, bank, t.astimezone(IST).date())
        reports.append(attacker_report(t, "fresh", merchant, offer, bank, outlet, world.customer_id(rng, bank),
                                       rng.choices(range(1, 6), TYPE_WEIGHTS["attack"])[0], extra))
    return reports


def resent_reports(world, rng, genuine, budget):
    """Genuine reports sent again: a retried delivery (same time) or a second tap minutes later."""
    reports = []
    for original in rng.sample(genuine, min(budget, len(genuine))):
        t = original.t if rng.random() < 0.5 else original.t + timedelta(minutes=rng.uniform(1, 30))
        if t >= world.now or (t < world.history_end) != (original.t < world.history_end):
            t = original.t
        reports.append(Report(t, "duplicate", original.merchant, dict(original.params), original.where,
                              expect="duplicate"))
    return reports


def wrong_outlet_reports(world, rng, genuine, budget):
    """A customer's report naming another merchant's outlet of the same city (the app's store picker
    got it wrong); the server must refuse every one."""
    outlets_by_city = defaultdict(list)
    for merchant in world.merchants:
        for outlet in merchant.outlets:
            outlets_by_city[outlet.city].append(outlet)
    by_code = {o.code: o for m in world.merchants for o in m.outlets}
    year_start = world.now - timedelta(days=DAYS)
    reports = []
    for template in rng.sample(genuine, min(budget, len(genuine))):
        city = by_code[template.params["outlet_code"]].city
        wrong = rng.choice([o for o in outlets_by_city[city] if o.merchant != template.merchant])
        params = {k: v for k, v in template.params.items()
                  if k not in ("user_latitude", "user_longitude", "user_accuracy")}
        params |= {"outlet_code": wrong.code} | coordinates(*shifted(wrong.lat, wrong.lon, rng.uniform(5, 60), rng),
                                                            rng.randint(10, 30))
        reports.append(Report(moment(rng, year_start, world.now), "wrong_outlet", template.merchant, params, "at",
                              expect="unknown_code"))
    return reports


def noise_reports(world, rng, share, genuine):
    """All noise of a world at a noise share, and the widget floods (merchant, outlet, offer, bank) to send live."""
    if not share:
        return [], []
    window_start = world.now - timedelta(days=30)
    recent = sum(r.t >= window_start for r in genuine)
    budgets = {kind: round(len(genuine) * share * mix) for kind, mix in NOISE_MIX.items()}
    reports = (spam_reports(world, rng, budgets["spam"]) + rotating_reports(world, rng, budgets["rotating"])
               + spoof_reports(world, rng, budgets["spoof"])
               + fresh_reports(world, rng, round(FRESH_SHARE * share * recent))
               + resent_reports(world, rng, genuine, budgets["duplicate"])
               + wrong_outlet_reports(world, rng, genuine, budgets["wrong_outlet"]))
    floods = []
    for merchant in world.targets["flood"][:max(1, round(share / 0.2))]:
        offer = next(o for o in merchant.offers if o.sponsor == NETWORK)
        floods.append((merchant, merchant.outlets[0], offer, weighted_bank(rng)))
    return reports, floods


# ---------------------------------------------------------------- running it


def run_py(env, *args, check=True):
    """`python run.py ARGS`, finished; when check, a failure ends the benchmark with its output."""
    result = subprocess.run([PYTHON, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"run.py {args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def catalogue(world):
    """The world's catalogue in import-catalog's JSON shape."""
    return {
        "networks": [{"code": NETWORK, "name": "National Payments Network"}],
        "banks": [{"code": code, "name": name, "network": NETWORK} for code, name, _, _ in BANKS],
        "merchants": [{"code": m.code, "name": m.name, "category": m.category} for m in world.merchants],
        "outlets": [{"code": o.code, "merchant": o.merchant, "name": o.name, "city": o.city,
                     "latitude": round(o.lat, 6), "longitude": round(o.lon, 6)}
                    for m in world.merchants for o in m.outlets],
        "offers": [{"code": o.code, "title": f"Card offer at {m.name}", "merchant": m.code,
                    "valid_from": o.valid_from.isoformat(), "valid_to": o.valid_to.isoformat(),
                    ("network" if o.sponsor == NETWORK else "bank"): o.sponsor}
                   for m in world.merchants for o in m.offers],
    }


def write_rows(path, reports):
    """A CSV of reports for import-reports, in the order given."""
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        for report in reports:
            writer.writerow({"reported_at": report.t.astimezone(IST).isoformat(timespec="seconds"), **report.params})


def import_history(env, folder, clientkey, reports, name, skip_bad=False):
    """import-reports on a file of reports; (its JSON summary, seconds taken)."""
    path = folder / f"{name}.csv"
    write_rows(path, reports)
    began = time.perf_counter()
    result = run_py(env, "import-reports", str(path), "--client", clientkey, "--json",
                    *(["--skip-bad"] if skip_bad else []), check=False)
    seconds = time.perf_counter() - began
    try:
        return json.loads(result.stdout), seconds
    except ValueError:
        sys.exit(f"import-reports printed no JSON summary ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def request(url, data=None, headers=None):
    """(HTTP status, body text) of a GET, or of a form POST when data is given."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers or {}), timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def outcome(status, text):
    """new, duplicate, or the error code of an API answer."""
    try:
        answer = json.loads(text)
    except ValueError:
        return f"HTTP {status} (not JSON)"
    if answer.get("status") == "success":
        return "duplicate" if answer.get("duplicate") else "new"
    return answer.get("error", f"HTTP {status}")


def send_live(base, credentials, reports, workers=8):
    """POST every report to /api, several at a time; (outcomes, first surprise per kind, seconds)."""
    def send(report):
        # Never older than the API's 7 days by the time it is sent (the import took a while).
        t = max(report.t, datetime.now(timezone.utc) - timedelta(days=7) + timedelta(minutes=5))
        fields = {"action": "user_feedback", **credentials, **report.params,
                  "reported_at": t.astimezone(IST).isoformat(timespec="seconds")}
        return request(base + "/api", fields)

    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        answers = list(pool.map(send, reports))
    seconds = time.perf_counter() - began
    outcomes, surprises = Counter(), {}
    for report, (status, text) in zip(reports, answers):
        result = outcome(status, text)
        outcomes[report.kind, result] += 1
        allowed = ("new", "duplicate") if report.expect == "new" else (report.expect,)
        if result not in allowed and (report.kind, result) not in surprises:
            surprises[report.kind, result] = (report.params, status, text[:400])
    return outcomes, surprises, seconds


def send_floods(base, widget_key, page_origin, floods):
    """Fresh devices, one IP (ours), FLOOD_DEVICES widget reports per flood at the outlet's exact point.
    Returns (Counter of thanked / rate_limited / HTTP status, thanked per merchant code, first surprise)."""
    results, thanked, surprise = Counter(), Counter(), None
    rng = random.Random("flood")
    for merchant, outlet, offer, bank in floods:
        for _ in range(FLOOD_DEVICES):
            query = urllib.parse.urlencode({"key": widget_key, "offer": offer.code, "outlet": outlet.code,
                                            "bank": bank, "device": device(rng)})
            status, page = request(f"{base}/widget/frame?{query}", headers={"Referer": page_origin + "/offers"})
            token = re.search(r'name="token" value="([^"]+)"', page)
            if status != 200 or not token:
                results[f"frame HTTP {status}"] += 1
                surprise = surprise or (f"GET /widget/frame?{query}", status, page[:400])
                continue
            form = {"token": token.group(1), "feedback_type": "1", "location_status": "granted", "comment": "",
                    **coordinates(outlet.lat, outlet.lon, 1)}
            status, page = request(base + "/widget/report", form, {"Origin": base})
            if status == 200:
                results["thanked"] += 1
                thanked[merchant.code] += 1
            elif status == 429:
                results["rate_limited"] += 1
            else:
                results[f"report HTTP {status}"] += 1
                surprise = surprise or ("POST /widget/report", status, page[:400])
    return results, thanked, surprise


def leaderboard(base, credentials, verified_only=False):
    """The 30-day leaderboard (200 rows) as the network client sees it; (answer, seconds)."""
    query = {"action": "merchant_leaderboard", **credentials, "period": "30", "limit": "200"}
    if verified_only:
        query["verified_only"] = "1"
    began = time.perf_counter()
    status, text = request(f"{base}/api?{urllib.parse.urlencode(query)}")
    seconds = time.perf_counter() - began
    answer = json.loads(text)
    if answer.get("status") != "success":
        sys.exit(f"merchant_leaderboard failed: HTTP {status} {text[:400]}")
    return answer, seconds


# ---------------------------------------------------------------- judging


def in_window(report, first, last):
    """Whether a report falls on the leaderboard's days (UTC dates, as the server counts them)."""
    return first <= report.t.date() <= last


def reference_top(genuine, first, last, size=10):
    """The top merchants by the documented score over genuine reports only (a perfect noise
    filter without any notion of merchant size): customer-days weighted by location."""
    seen, score, customers = set(), Counter(), defaultdict(set)
    for report in genuine:
        if in_window(report, first, last):
            key = (report.merchant, report.t.date(), report.params["user_id"])
            customers[report.merchant].add(report.params["user_id"])
            if key not in seen:
                seen.add(key)
                score[report.merchant] += SCORE_WEIGHTS[report.where]
    ranked = sorted((m for m in score if len(customers[m]) >= 3), key=lambda m: -score[m])
    return ranked[:size]


def targets_of(world, genuine, noise, thanked, first, last):
    """Innocent merchants whose noise of some kind in the window is at least TARGET_SHARE of their
    genuine reports there (and TARGET_MIN_REPORTS): merchant code -> set of kinds."""
    innocent = {m.code for m in world.merchants if m.role in ("innocent", "really_expired")}
    real = Counter(r.merchant for r in genuine if in_window(r, first, last))
    fake = Counter((r.merchant, r.kind) for r in noise if r.expect == "new" and in_window(r, first, last))
    fake.update({(code, "flood"): count for code, count in thanked.items()})
    targets = defaultdict(set)
    for (code, kind), count in fake.items():
        if code in innocent and count >= TARGET_MIN_REPORTS and count >= TARGET_SHARE * real[code]:
            targets[code].add(kind)
    return targets


def weekly_strength(genuine, code, today):
    """A merchant's genuine weighted customer-days in the 7 days to today, and their weekly mean
    over the 8 weeks before (a customer's first report at their bank at half weight)."""
    known, seen, weeks = set(), set(), Counter()
    for report in sorted(genuine, key=lambda r: r.t):
        customer = (report.params["your_bank_code"], report.params["user_id"])
        weight = SCORE_WEIGHTS[report.where] * (1.0 if customer in known else NEW_CUSTOMER_WEIGHT)
        known.add(customer)
        week = (today - report.t.date()).days // 7
        key = (report.t.date(), report.params["user_id"])
        if report.merchant == code and week < 9 and key not in seen:
            seen.add(key)
            weeks[week] += weight
    return weeks[0], sum(weeks[n] for n in range(1, 9)) / 8


def burst_visible(week, before):
    """Whether a burst shows in genuine reports by the documented rule: at least 8 weighted
    customer-days in the last 7 days and 3 times the 8-week weekly mean (at least 1)."""
    return week >= 8 and week >= 3 * max(before, 1)


def ratio(part, whole):
    """part / whole, or None when whole is 0."""
    return part / whole if whole else None


def judge(world, board, verified_board, genuine, noise, thanked):
    """The figures of one world, from its leaderboard answers and the truth."""
    first, last = (date.fromisoformat(board["period"][k]) for k in ("from", "to"))
    rows = sorted(board["merchants"], key=lambda r: r["rank"])
    roles = {m.code: m.role for m in world.merchants}
    steady = {c for c, r in roles.items() if r == "steady"}
    fraud = {c for c, r in roles.items() if r in ("burst", "told_expired")}
    bad = steady | fraud
    targets = targets_of(world, genuine, noise, thanked, first, last)
    top = [r["merchant_code"] for r in rows[:10]]
    flagged = defaultdict(set)
    for row in rows:
        flagged[row["flag"]].add(row["merchant_code"])
    innocent_ranked = [r for r in rows if r["merchant_code"] not in bad]
    return {
        "rows": rows, "targets": targets, "window": (first, last),
        "precision": sum(code in bad for code in top) / 10,
        "precision_verified": sum(r["merchant_code"] in bad for r in sorted(
            verified_board["merchants"], key=lambda r: r["rank"])[:10]) / 10,
        "reference": sum(code in bad for code in reference_top(genuine, first, last)) / 10,
        "targets_top": [(code, sorted(targets[code])) for code in top if code in targets],
        "nt": (len(flagged["needs_training"] & steady), len(flagged["needs_training"]), len(steady)),
        "fw": (len(flagged["fraud_watch"] & fraud), len(flagged["fraud_watch"]), len(fraud)),
        # burst merchant -> (flagged fraud_watch, its burst shows in the genuine reports)
        "bursts": {c: (c in flagged["fraud_watch"], burst_visible(*weekly_strength(genuine, c, last)))
                   for c, r in roles.items() if r == "burst"},
        "innocent_flagged": (sum(bool(r["flag"]) for r in innocent_ranked), len(innocent_ranked)),
        "ranked": len(rows), "low_volume": board.get("low_volume_merchants"),
        "innocent_codes": {r["merchant_code"] for r in innocent_ranked}, "bad_codes": bad,
    }


def truth_label(world, code, targets, size_rank):
    """What a merchant really is, for the tables: bad and of which kind, or innocent (size rank, targeted by)."""
    merchant = next(m for m in world.merchants if m.code == code)
    if merchant.role in ("steady", "burst", "told_expired"):
        return f"BAD {merchant.role}"
    label = "innocent, offer really expired" if merchant.role == "really_expired" else "innocent"
    kinds = ", ".join(NOISE_NAMES[k] for k in sorted(targets.get(code, ())))
    return f"{label}, size #{size_rank[code]}" + (f", TARGET of {kinds}" if kinds else "")


# ---------------------------------------------------------------- reporting


def describe_world(world, genuine, size_rank):
    """What the world holds (the same at every noise level)."""
    sizes = sorted((m.size for m in world.merchants), reverse=True)
    outlets = sum(len(m.outlets) for m in world.merchants)
    per_customer = Counter(r.params["user_id"] for r in genuine)
    heavy = sorted(per_customer.values(), reverse=True)
    top_share = sum(heavy[:max(1, len(heavy) // 100)]) / len(genuine)
    print(f"world: {len(world.merchants)} merchants (size median 1.0, largest {sizes[0]:.1f}x, 90th percentile "
          f"{sizes[len(sizes) // 10]:.1f}x), {outlets} outlets in {', '.join(NEIGHBOURHOODS)}; "
          f"{len(BANKS)} banks on {NETWORK} (BANK3 sends no device_id/client_ip)")
    print(f"genuine: {len(genuine):,} reports in a year by {len(per_customer):,} customers "
          f"({sum(v == 1 for v in heavy) / len(heavy):.0%} report once; the busiest 1 % file {top_share:.0%})")
    for merchant in sorted(world.merchants, key=lambda m: m.code):
        if merchant.role == "innocent":
            continue
        week, before = weekly_strength(genuine, merchant.code, world.now.date())
        detail = {"steady": f"{merchant.factor:.1f}x its size-based rate all year",
                  "burst": f"burst {merchant.factor:.1f}x from {merchant.since} days ago",
                  "told_expired": "staff say the active offer expired, last 6 weeks",
                  "really_expired": f"offer {merchant.code}-OLD ended {merchant.since} days ago"}[merchant.role]
        print(f"  {merchant.code} {merchant.role:15} size {merchant.size:5.2f} (#{size_rank[merchant.code]:3}) "
              f"last 7 days {week:5.1f}, weekly mean of the 8 weeks before {before:5.1f}; {detail}")
    targets = [f"{kind} {' '.join(m.code for m in merchants)}" for kind, merchants in
               (("fresh-id", world.targets["fresh"]), ("rotating pools", sum(world.targets["rotating"], [])),
                ("widget floods", world.targets["flood"]))]
    print("  attack targets (innocent): " + "; ".join(targets))
    print("  (last 7 days and weekly means: weighted customer-days of the genuine reports, as docs/ranking.md counts)")


def print_world(share, counts, imported, wrong_imported, live, floods, figures, world, size_rank):
    """The figures of one noise level."""
    def label(code):
        """What the merchant really is."""
        return truth_label(world, code, figures["targets"], size_rank)

    print(f"\n=== noise {share:.0%} ===")
    print("reports: " + ", ".join(f"{NOISE_NAMES.get(k, k)} {n:,}" for k, n in counts.items() if n))
    ((summary, seconds), rows), resends = imported
    print(f"history import: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s; stored "
          f"{summary.get('stored')}, duplicates {summary.get('duplicates')} (resends written {resends}), "
          f"bad {summary.get('bad')}")
    for error in summary.get("errors", [])[:3]:
        print(f"  UNEXPECTED: import refused line {error['line']}: {error['message']}")
    if wrong_imported:
        wrong, _ = wrong_imported
        print(f"wrong-outlet import (--skip-bad): {wrong.get('rows')} rows, bad {wrong.get('bad')}, "
              f"stored {wrong.get('stored')}")
    outcomes, surprises, seconds = live
    sent = sum(outcomes.values())
    by_result = Counter()
    for (_, result), n in outcomes.items():
        by_result[result] += n
    print(f"live API: {sent:,} requests in {seconds:.1f} s = {sent / seconds:,.0f} req/s; "
          + ", ".join(f"{k} {v}" for k, v in by_result.most_common()))
    flood_results, _, flood_surprise = floods
    if flood_results:
        print("widget floods: " + ", ".join(f"{k} {v}" for k, v in flood_results.most_common()))
    for (kind, result), (params, status, text) in surprises.items():
        print(f"  UNEXPECTED: a {NOISE_NAMES.get(kind, kind)} report answered {result}: {json.dumps(params)} -> "
              f"HTTP {status} {text}")
    if flood_surprise:
        print(f"  UNEXPECTED widget answer: {flood_surprise[0]} -> HTTP {flood_surprise[1]} {flood_surprise[2]}")
    first, last = figures["window"]
    print(f"leaderboard {first} to {last}: {figures['ranked']} ranked rows returned (limit 200), "
          f"{figures['low_volume']} low volume")
    print(f"  {'rank':>4} {'merchant':8} {'score':>7} {'reports':>7} {'cust':>5} {'days v/u/a/d':>14} "
          f"{'flag':15} {'truth':45} reasons")
    for row in figures["rows"][:10]:
        days_text = "/".join(str(row["customer_days"][k]) for k in ("verified", "unverified", "away", "discounted"))
        reasons = "; ".join(row["flag_reasons"])
        print(f"  {row['rank']:>4} {row['merchant_code']:8} {row['score']:>7.1f} {row['reports']:>7} "
              f"{row['distinct_customers']:>5} {days_text:>14} {row['flag'] or '-':15} "
              f"{label(row['merchant_code']):45} {reasons}")
    print(f"precision@10: {figures['precision']:.2f} (verified_only=1: {figures['precision_verified']:.2f}; "
          f"genuine reports only, documented score, no size information: {figures['reference']:.2f})")
    top_targets = ", ".join(f"{code} ({', '.join(NOISE_NAMES[k] for k in kinds)})"
                            for code, kinds in figures["targets_top"])
    print(f"innocent targets in the top 10: {len(figures['targets_top'])}"
          + (f": {top_targets}" if top_targets else ""))
    ranks = {row["merchant_code"]: row for row in figures["rows"]}
    by_kind = defaultdict(list)
    for code, kinds in sorted(figures["targets"].items()):
        for kind in kinds:
            row = ranks.get(code)
            by_kind[kind].append(f"{code} " + (f"#{row['rank']} ({row['customer_days']['discounted']} discounted)"
                                               if row else "unranked"))
    for kind, places in by_kind.items():
        print(f"  {NOISE_NAMES[kind]} targets: {', '.join(places)}")
    for name, key in (("needs_training", "nt"), ("fraud_watch", "fw")):
        hit, flagged, truth = figures[key]
        precision = ratio(hit, flagged)
        print(f"{name}: precision {'-' if precision is None else f'{precision:.2f}'} ({hit}/{flagged}), "
              f"recall {hit / truth:.2f} ({hit}/{truth})")
    print("bursts flagged fraud_watch: "
          + ", ".join(f"{c} {'yes' if flagged else 'NO'}{'' if visible else ' (burst not visible in its reports)'}"
                      for c, (flagged, visible) in figures["bursts"].items()))
    flagged, ranked = figures["innocent_flagged"]
    print(f"innocent merchants flagged: {flagged} of {ranked} ranked innocent ({ratio(flagged, ranked) or 0:.1%})")
    for flag in ("needs_training", "fraud_watch"):
        wrong = [row for row in figures["rows"]
                 if row["flag"] == flag and row["merchant_code"] in figures["innocent_codes"]]
        if wrong:
            print(f"  {flag} ({len(wrong)}): " + ", ".join(
                f"{row['merchant_code']} #{row['rank']} ({label(row['merchant_code']).removeprefix('innocent, ')})"
                + (f" [{'; '.join(row['flag_reasons'])}]" if flag == "fraud_watch" else "") for row in wrong))
    missed = [f"{row['merchant_code']} #{row['rank']} ({label(row['merchant_code'])})"
              for row in figures["rows"] if row["merchant_code"] in figures["bad_codes"] and not row["flag"]]
    if missed:
        print("truly bad merchants ranked without a flag: " + ", ".join(missed))


def targets_met(figures):
    """(description, met) for each target, on one world's figures."""
    nt_hit, _, nt_truth = figures["nt"]
    flagged, ranked = figures["innocent_flagged"]
    spam_spoof = [code for code, kinds in figures["targets_top"] if {"spam", "spoof"} & set(kinds)]
    return [
        (f"precision@10 >= 0.9 (is {figures['precision']:.2f})", figures["precision"] >= 0.9),
        (f"no spam or GPS-spoof target in the top 10 ({', '.join(spam_spoof) or 'none'})", not spam_spoof),
        (f"needs_training recall >= 0.9 on steady merchants (is {nt_hit / nt_truth:.2f})", nt_hit / nt_truth >= 0.9),
        ("fraud_watch on every burst merchant whose burst shows in its genuine reports ("
         + ", ".join(f"{c} {'yes' if flagged else 'no'}{'' if visible else ' (not judged: not visible)'}"
                     for c, (flagged, visible) in figures["bursts"].items()) + ")",
         all(flagged for flagged, visible in figures["bursts"].values() if visible)),
        (f"innocent merchants flagged <= 5 % of those ranked (is {ratio(flagged, ranked) or 0:.1%})",
         (ratio(flagged, ranked) or 0) <= 0.05),
    ]


def run_world(args, share, folder, describe):
    """Build, load and judge one world; prints its figures and returns them."""
    began = time.perf_counter()
    now = datetime.now(timezone.utc)
    world = build_world(args.seed, args.merchants, now)
    genuine = genuine_reports(world, random.Random(f"{args.seed}:genuine"))
    noise, floods = noise_reports(world, random.Random(f"{args.seed}:noise"), share / 100, genuine)
    size_rank = {m.code: n for n, m in enumerate(sorted(world.merchants, key=lambda m: -m.size), 1)}
    if describe:
        describe_world(world, genuine, size_rank)
    everything = sorted(genuine + noise, key=lambda r: r.t)
    history = [r for r in everything if r.t < world.history_end and r.kind != "wrong_outlet"]
    wrong_history = [r for r in everything if r.t < world.history_end and r.kind == "wrong_outlet"]
    # A resend arrives once its original was answered (sent together, either may come first).
    live = ([r for r in everything if r.t >= world.history_end and r.kind != "duplicate"]
            + [r for r in everything if r.t >= world.history_end and r.kind == "duplicate"])
    counts = Counter({"genuine": len(genuine)}) + Counter(r.kind for r in noise)
    counts["flood"] = len(floods) * FLOOD_DEVICES

    env = {**os.environ, "DATABASE_URL": args.database_url or f"sqlite:///{folder / 'site.db'}",
           "OFFERS_FEEDBACK_DATA": str(folder)}
    run_py(env, "init-db")
    (folder / "catalog.json").write_text(json.dumps(catalogue(world)))
    run_py(env, "import-catalog", str(folder / "catalog.json"))
    page_origin = f"http://127.0.0.1:{free_port()}"
    client = json.loads(run_py(env, "create-client", "--name", "Signal bench", "--network", NETWORK,
                               "--origin", page_origin, "--json").stdout)
    credentials = {k: client[k] for k in ("clientkey", "clientpass", "apikey")}
    imported = (import_history(env, folder, client["clientkey"], history, "history"), len(history))
    wrong_imported = (import_history(env, folder, client["clientkey"], wrong_history, "wrong-outlets", skip_bad=True)
                      if wrong_history else None)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (folder / "server.log").open("w") as log:
        server = subprocess.Popen([PYTHON, "run.py", "serve", "--port", str(port), "--workers", "2"], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_until_up(base + "/healthz", server):
            sys.exit("the server did not start:\n" + (folder / "server.log").read_text()[-2000:])
        sent = send_live(base, credentials, live)
        flood_answers = send_floods(base, client["widget_key"], page_origin, floods)
        board, board_seconds = leaderboard(base, credentials)
        verified_board, _ = leaderboard(base, credentials, verified_only=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    missing = sorted({name for row in board["merchants"] for name in ROW_FIELDS if name not in row})
    if missing:
        print(f"the leaderboard's rows lack: {', '.join(missing)} (needed by this benchmark)")
        sys.exit(1)
    figures = judge(world, board, verified_board, genuine, noise, flood_answers[1])
    resends = sum(r.kind == "duplicate" for r in history)
    print_world(share / 100, counts, (imported, resends), wrong_imported, sent, flood_answers, figures, world,
                size_rank)
    figures |= {"import_rate": imported[1] / imported[0][1], "live_rate": sum(sent[0].values()) / sent[2],
                "seconds": time.perf_counter() - began}
    print(f"leaderboard answered in {board_seconds:.2f} s; world run in {figures['seconds']:.0f} s")
    return figures


def main():
    """One world per noise level, a summary table, and the targets judged at 20 % noise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--merchants", type=int, default=300)
    parser.add_argument("--noise", type=int, nargs="+", default=[0, 20, 40],
                        help="noise levels, percent of genuine traffic (targets are judged at 20)")
    parser.add_argument("--database-url", help="the world's database (default: a fresh SQLite file per world); "
                                               "must be empty, so one noise level only")
    parser.add_argument("--keep", action="store_true",
                        help="keep each world's folder (database, CSV files, server log)")
    args = parser.parse_args()
    if args.database_url and len(args.noise) > 1:
        parser.error("--database-url holds one world: give one --noise level")
    results = {}
    began = time.perf_counter()
    for share in args.noise:
        folder = Path(tempfile.mkdtemp(prefix=f"offers-feedback-signal-{share}-"))
        try:
            results[share] = run_world(args, share, folder, describe=not results)
        finally:
            if args.keep:
                print(f"kept {folder}")
            else:
                shutil.rmtree(folder, ignore_errors=True)

    print(f"\nseed {args.seed}, {args.merchants} merchants; total {time.perf_counter() - began:.0f} s")
    print(f"{'noise':>5} {'P@10':>5} {'P@10 v':>6} {'ref':>5} {'targets@10':>10} {'NT prec':>7} {'NT rec':>6} "
          f"{'FW prec':>7} {'FW rec':>6} {'innocent flagged':>16} {'import rows/s':>13} {'live req/s':>10}")
    for share, f in results.items():
        nt_p, fw_p = ratio(*f["nt"][:2]), ratio(*f["fw"][:2])
        flagged, ranked = f["innocent_flagged"]
        print(f"{share:>4}% {f['precision']:>5.2f} {f['precision_verified']:>6.2f} {f['reference']:>5.2f} "
              f"{len(f['targets_top']):>10} {'-' if nt_p is None else f'{nt_p:.2f}':>7} "
              f"{f['nt'][0] / f['nt'][2]:>6.2f} "
              f"{'-' if fw_p is None else f'{fw_p:.2f}':>7} {f['fw'][0] / f['fw'][2]:>6.2f} "
              f"{f'{flagged}/{ranked} ({ratio(flagged, ranked) or 0:.1%})':>16} {f['import_rate']:>13,.0f} "
              f"{f['live_rate']:>10,.0f}")
    print("(P@10 v: with verified_only=1; ref: genuine reports only, documented score, no size information)")
    if 20 not in results:
        print("targets are judged at 20 % noise, which was not run")
        return
    checks = targets_met(results[20])
    for description, met in checks:
        print(f"{'PASS' if met else 'FAIL'} {description}")
    sys.exit(0 if all(met for _, met in checks) else 1)


if __name__ == "__main__":
    main()
