"""Fixtures: an app on a real SQLite file or a real throwaway PostgreSQL server, with a test catalogue."""
import os
from datetime import timedelta

import psycopg2
import pytest
from aiosmtpd.controller import Controller

from backend import create_app
from backend.catalog import import_catalog, read_catalog
from backend.credentials import create_client
from backend.db import database
from backend.models import Bank, Network, create_tables, utcnow
from support import DATA, PASSWORD, Inbox, PostgresCluster, free_port, make_report

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium for every browser test (Playwright cannot download its own here), else Playwright's."""
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]
    options = {**browser_type_launch_args, "args": args}
    if os.path.exists(CHROMIUM):
        options["executable_path"] = CHROMIUM
    return options


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster's URL, for the whole session."""
    cluster = PostgresCluster()
    yield cluster.url
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each test that uses the database runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = request.getfixturevalue("postgres_server")
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    return url


@pytest.fixture
def app(database_url):
    app = create_app({
        "TESTING": True,
        "DATABASE_URL": database_url,
        # Caches off so that each test sees its own changes at once; TTL is tested apart.
        "CREDENTIAL_CACHE_SECONDS": 0,
        "CATALOG_CACHE_SECONDS": 0,
    })
    database.connect(reuse_if_open=True)
    create_tables()
    yield app
    database.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def catalog(app):
    """The test catalogue of tests/data/catalog.json, imported."""
    return import_catalog(read_catalog(DATA / "catalog.json"))


@pytest.fixture
def bank_client(catalog):
    """API credentials of a client for BANK1 as a dict of request parameters."""
    issued = create_client("First Bank app", utcnow(), bank=Bank.get(Bank.code == "BANK1"))
    return {"clientkey": issued.client.clientkey, "clientpass": issued.clientpass, "apikey": issued.apikey,
            "apikey_id": issued.apikey_id, "client": issued.client}


@pytest.fixture
def network_client(catalog):
    issued = create_client("Network app", utcnow(), network=Network.get(Network.code == "NET1"))
    return {"clientkey": issued.client.clientkey, "clientpass": issued.clientpass, "apikey": issued.apikey}


@pytest.fixture
def report_params(bank_client):
    """The published URL's parameters for a valid report at outlet O1, standing at its door."""
    return {
        "action": "user_feedback",
        "clientkey": bank_client["clientkey"],
        "clientpass": bank_client["clientpass"],
        "apikey": bank_client["apikey"],
        "user_id": "asha@example.com",
        "user_latitude": "19.0597",
        "user_longitude": "72.8295",
        "feedback_type": "1",
        "comment": "Cashier refused the offer",
        "offer_code": "OF1",
        "your_bank_code": "BANK1",
        "outlet_code": "O1",
    }


@pytest.fixture
def shops(catalog):
    """Merchants S1..S5, one outlet each in Pune, with a First Bank offer (S5's has expired)."""
    sections = {
        "merchants": [{"code": f"S{n}", "name": f"Shop {n}"} for n in range(1, 6)],
        "outlets": [{"code": f"S{n}-1", "merchant": f"S{n}", "name": f"Shop {n} outlet", "city": "Pune",
                     "latitude": 18.5 + n / 100, "longitude": 73.8} for n in range(1, 6)],
        "offers": [{"code": f"S{n}-OFFER", "title": f"Offer {n}", "bank": "BANK1", "merchant": f"S{n}",
                    "valid_from": "2020-01-01", "valid_to": "2026-01-01" if n == 5 else "2099-12-31"} for n in range(1, 6)],
    }
    import_catalog({name: [(f"test {name} {i}", {k: str(v) for k, v in row.items()}) for i, row in enumerate(rows)]
                    for name, rows in sections.items()} | {"networks": [], "banks": []})


@pytest.fixture
def admins(catalog):
    """An admin of the platform, of First Bank, of Lone Bank and of the test network."""
    from backend.accounts import create_admin

    now = utcnow()
    for email, scope in (("ops@platform.example", "platform"), ("first@bank1.example", "bank:BANK1"),
                         ("lone@bank3.example", "bank:BANK3"), ("net@net1.example", "network:NET1")):
        create_admin(email, PASSWORD, scope, now)


@pytest.fixture
def reports(catalog):
    """Three First Bank customers at Cafe Aroma, three Lone Bank customers at Urban Threads."""
    now = utcnow()
    for n in range(3):
        for bank, offer, outlet in (("BANK1", "OF1", "O1"), ("BANK3", "OF4", "O3")):
            make_report(bank=bank, offer=offer, outlet=outlet, user=f"customer{n}@{bank.lower()}.example",
                        when=now - timedelta(hours=n), position=None, comment=f"<script>alert({n})</script> from {bank}")


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{controller.port}"
    controller.stop()
