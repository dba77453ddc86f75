"""The command line behind run.py: database, catalogue, credentials, demo and server."""
import json
import os
import sys

import click

from . import create_app
from .catalog import CatalogError, count_records, import_catalog, read_catalog
from .config import data_dir
from .credentials import add_api_key, create_client, revoke_api_key
from .db import database
from .models import Bank, Client, Network, Offer, create_tables, utcnow

def demo_credentials_path():
    return data_dir() / "demo-credentials.json"


def ready_app(overrides=None):
    """The configured app with its database connected and its tables in place."""
    app = create_app(overrides)
    database.connect(reuse_if_open=True)
    create_tables()
    return app


def echo_json(data):
    click.echo(json.dumps(data, indent=2))


@click.group()
def cli():
    """Offers Feedback: run `python run.py COMMAND --help` for each command."""


@cli.command("init-db")
def init_db():
    """Create the tables and default feedback types (safe to repeat)."""
    ready_app()
    click.echo("Database ready.")


@cli.command("import-catalog")
@click.argument("path", type=click.Path(exists=True))
def import_catalog_command(path):
    """Upsert networks, banks, merchants, outlets and offers from a JSON file or CSV folder."""
    ready_app()
    try:
        records = read_catalog(path)
        with click.progressbar(length=count_records(records), label="Importing", file=sys.stderr) as bar:
            counts = import_catalog(records, on_progress=bar.update)
    except CatalogError as exc:
        raise click.ClickException(f"{exc}. Nothing was imported.") from None
    click.echo("Imported " + ", ".join(f"{n} {section}" for section, n in counts.items()) + ".")


def _find_client(clientkey):
    client = Client.get_or_none(Client.clientkey == clientkey)
    if client is None:
        raise click.ClickException(f"No client with clientkey {clientkey!r}.")
    return client


@cli.command("create-client")
@click.option("--name", required=True, help="Who the client is, e.g. 'Harbour Bank app'.")
@click.option("--bank", "bank_code", help="Bank code: the client reports for this bank only.")
@click.option("--network", "network_code", help="Network code: the client reports for its banks.")
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON.")
def create_client_command(name, bank_code, network_code, as_json):
    """Create an API client; its secrets are printed once and never again."""
    if bool(bank_code) == bool(network_code):
        raise click.UsageError("Give exactly one of --bank and --network.")
    ready_app()
    bank = network = None
    if bank_code and not (bank := Bank.get_or_none(Bank.code == bank_code)):
        raise click.ClickException(f"No bank with code {bank_code!r}; import the catalogue first.")
    if network_code and not (network := Network.get_or_none(Network.code == network_code)):
        raise click.ClickException(f"No network with code {network_code!r}; import the catalogue first.")
    issued = create_client(name, utcnow(), bank=bank, network=network)
    data = {"clientkey": issued.client.clientkey, "clientpass": issued.clientpass, "apikey": issued.apikey,
            "apikey_id": issued.apikey_id, "name": name, "bank": bank_code, "network": network_code}
    if as_json:
        echo_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key:11} {value or '-'}")
        click.echo("Store clientpass and apikey now: they cannot be shown again.")


@cli.command("add-apikey")
@click.option("--clientkey", required=True)
def add_apikey_command(clientkey):
    """Issue another API key for a client (rotate: add, deploy, then revoke the old one)."""
    ready_app()
    apikey, apikey_id = add_api_key(_find_client(clientkey), utcnow())
    echo_json({"clientkey": clientkey, "apikey": apikey, "apikey_id": apikey_id})


@cli.command("revoke-apikey")
@click.option("--clientkey", required=True)
@click.option("--apikey-id", required=True, help="The apikey_id printed when the key was issued.")
def revoke_apikey_command(clientkey, apikey_id):
    """Revoke one API key; every worker refuses it within seconds."""
    ready_app()
    if not revoke_api_key(_find_client(clientkey), apikey_id, utcnow()):
        raise click.ClickException(f"Client {clientkey!r} has no active API key {apikey_id!r}.")
    click.echo(f"Revoked {apikey_id}.")


def _seed_demo(app):
    from .demo import seed_demo

    click.echo("Seeding the demo catalogue and 90 days of reports ...")
    issued = seed_demo(utcnow(), app.config["LOCATION_RADIUS_M"])
    credentials = {"clientkey": issued.client.clientkey, "clientpass": issued.clientpass, "apikey": issued.apikey}
    # Kept so that every `make run` can print them; this is demo data on a laptop only.
    saved = demo_credentials_path()
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.touch(mode=0o600)
    saved.write_text(json.dumps(credentials))
    return credentials


def _demo_credentials(app, if_empty):
    """Seed when the database is empty; else the credentials saved when it was seeded."""
    if Offer.select().exists():
        if not if_empty:
            raise click.ClickException("The database already has a catalogue; seed-demo fills an empty one.")
        saved = demo_credentials_path()
        return json.loads(saved.read_text()) if saved.exists() else None
    return _seed_demo(app)


@cli.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing (but print the demo credentials) when data exists.")
def seed_demo_command(if_empty):
    """Fill an empty database with the demo catalogue, a demo client and historic reports."""
    credentials = _demo_credentials(ready_app(), if_empty)
    if credentials:
        click.echo("Demo client (UniPay network):")
        for key, value in credentials.items():
            click.echo(f"  {key:11} {value}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", 8000)), show_default="$PORT or 8000")
@click.option("--workers", type=int, help="gunicorn workers [default: $WEB_CONCURRENCY or one per core]")
@click.option("--demo", is_flag=True, help="Seed the demo on first start and print what to try.")
def serve(host, port, workers, demo):
    """Serve the app with gunicorn (the production WSGI server)."""
    from .server import serve as serve_with_gunicorn

    # Workers leave SQLite's WAL checkpoints to a background thread (server.py).
    app = ready_app({"SQLITE_WAL_AUTOCHECKPOINT": 0})
    base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    if demo:
        from .demo import demo_example

        credentials = _demo_credentials(app, if_empty=True)
        click.echo(f"\nOffers Feedback demo at {base_url}/")
        click.echo(f"  Feedback types: {base_url}/api?action=feedback_types")
        if credentials:
            click.echo("  Demo client: " + ", ".join(f"{k}={v}" for k, v in credentials.items()))
            click.echo("  Record a report:\n    " + demo_example(credentials, base_url, utcnow().date()))
        click.echo("")
    # The workers are forked next: each opens its own connection on first request.
    database.close()
    serve_with_gunicorn(app, host, port, workers)
