"""The command line behind run.py: database, catalogue, credentials, demo and server."""
import json
import logging
import os
import secrets
import shlex
import subprocess
import sys

import click

from . import create_app
from .accounts import ROLES, admin_scope, create_admin, find_admin, new_password_link, parse_scope, set_disabled
from .alerts import EVENT_TYPES, check_url, create_webhook, shown
from .audit import record_audit
from .backups import back_up, restore
from .catalog import CatalogError, count_records, import_catalog, read_catalog
from .config import SettingsError, data_dir, private_file, private_folder
from .credentials import add_api_key, create_client, normalized_origin, revoke_api_key, set_widget_origins
from .db import database
from .feedback import Reporter, Rules
from .imports import ImportFileError, count_lines, import_reports
from .jobs import run_jobs, start_runner_process
from .lookups import Lookups
from .models import Bank, Client, Feedback, Network, Offer, create_tables, utcnow
from .privacy import KeyMismatch, apply_retention, check_customer_key, erase_customer
from .rollups import count_pending, rebuild_rollups


def demo_credentials_path():
    return data_dir() / "demo-credentials.json"


def ready_app(overrides=None, report=lambda line: click.echo(line, err=True)):
    """The configured app with its database connected and migrated (report(line) hears of each migration)."""
    try:
        app = create_app(overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    database.connect(reuse_if_open=True)
    create_tables(report)
    try:
        check_customer_key(app.config["CUSTOMER_KEY"])
    except KeyMismatch as exc:
        raise click.ClickException(str(exc)) from None
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


@cli.command()
def migrate():
    """Apply the schema migrations not applied yet (every command does this too), and say which."""
    lines = []
    ready_app(report=lines.append)
    click.echo("\n".join(lines) or "No migration to apply: the database is up to date.")


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
@click.option("--origin", "origins", multiple=True, help="A page origin allowed to embed the widget (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON.")
def create_client_command(name, bank_code, network_code, origins, as_json):
    """Create an API client; its secrets are printed once and never again."""
    if bool(bank_code) == bool(network_code):
        raise click.UsageError("Give exactly one of --bank and --network.")
    origins = _checked_origins(origins)
    ready_app()
    bank = network = None
    if bank_code and not (bank := Bank.get_or_none(Bank.code == bank_code)):
        raise click.ClickException(f"No bank with code {bank_code!r}; import the catalogue first.")
    if network_code and not (network := Network.get_or_none(Network.code == network_code)):
        raise click.ClickException(f"No network with code {network_code!r}; import the catalogue first.")
    issued = create_client(name, utcnow(), bank=bank, network=network, origins=origins)
    data = {"clientkey": issued.client.clientkey, "clientpass": issued.clientpass, "apikey": issued.apikey,
            "apikey_id": issued.apikey_id, "widget_key": issued.client.widget_key,
            "widget_secret": issued.widget_secret, "widget_origins": issued.client.allowed_origins(),
            "name": name, "bank": bank_code, "network": network_code}
    if as_json:
        echo_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key:14} {(' '.join(value) if isinstance(value, list) else value) or '-'}")
        click.echo("Store clientpass, apikey and widget_secret now: they cannot be shown again.")


def _checked_origins(origins):
    try:
        return [normalized_origin(origin) for origin in origins]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="the origin") from None


@cli.command("widget-origins")
@click.option("--clientkey", required=True)
@click.option("--add", "added", multiple=True, help="Allow one more page origin (repeatable); the others stay.")
@click.option("--remove", "removed", multiple=True, help="Stop allowing a page origin (repeatable).")
@click.option("--set", "origins", multiple=True, help="An allowed page origin (repeatable); replaces the whole list.")
@click.option("--clear", is_flag=True, help="Allow no origin: the widget is off.")
def widget_origins_command(clientkey, added, removed, origins, clear):
    """Show, add to, remove from or replace the page origins allowed to embed a client's widget."""
    if (origins or clear) and (added or removed):
        raise click.UsageError("--add and --remove change the list; --set and --clear replace it: use one kind")
    origins, added, removed = (_checked_origins(given) for given in (origins, added, removed))
    ready_app()
    client = _find_client(clientkey)
    try:
        if origins or clear:
            set_widget_origins(client, origins)
        elif added or removed:
            set_widget_origins(client, [o for o in client.allowed_origins() + added if o not in removed])
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(" ".join(client.allowed_origins()) or "(none: the widget is off)")


@cli.command("create-admin")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--scope", required=True, help="platform, bank:CODE or network:CODE")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True,
              help="viewer reads; analyst also works on cases; admin also manages keys, users and webhooks.")
def create_admin_command(email, password, scope, role):
    """Create a leaderboard admin (or reset one's password, scope and role, ending its sessions)."""
    ready_app()
    try:
        admin = create_admin(email, password, scope, utcnow(), role=role)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if admin.disabled_at:
        click.echo(f"Admin {admin.email} ({scope}) is disabled: `enable-admin` lets it log in again.")
    else:
        click.echo(f"Admin {admin.email} ({scope}) can log in at /admin/login; any earlier sessions have ended.")


EMAIL_OPTION = click.option("--email", required=True, help="The admin's e-mail (as for create-admin).")


@cli.command("disable-admin")
@EMAIL_OPTION
def disable_admin_command(email):
    """Stop an admin from logging in, and end its sessions at once."""
    _set_disabled(email, True)
    click.echo(f"Admin {email.lower()} is disabled and logged out everywhere.")


@cli.command("enable-admin")
@EMAIL_OPTION
def enable_admin_command(email):
    """Let a disabled admin log in again (with the password it had)."""
    _set_disabled(email, False)
    click.echo(f"Admin {email.lower()} can log in again.")


def _set_disabled(email, disabled):
    ready_app()
    if set_disabled(email, disabled, utcnow()) is None:
        raise click.ClickException(f"No admin with e-mail {email!r}.")


@cli.command("reset-link")
@EMAIL_OPTION
def reset_link_command(email):
    """Print a one-time link (valid for an hour) that sets an admin's password; older links end."""
    public_url = ready_app().config["PUBLIC_URL"]
    admin = find_admin(email)
    if admin is None:
        raise click.ClickException(f"No admin with e-mail {email!r}.")
    if admin.disabled_at:
        raise click.ClickException(f"Admin {admin.email} is disabled: `enable-admin` first.")
    now = utcnow()
    with database.atomic():
        token = new_password_link(admin, "reset", now)
        record_audit(None, "cli", admin_scope(admin), "admin.reset_link", admin.email, now)
    click.echo(f"{public_url or 'http://127.0.0.1:8000'}/admin/password?token={token}")
    if not public_url:
        click.echo("(PUBLIC_URL is not set: replace the host with the one the admin reaches us at)", err=True)


@cli.command("erase-customer")
@click.option("--bank", "bank_code", required=True, help="The bank's code in the catalogue.")
@click.option("--user-id", required=True, help="The bank's id of its customer (as its reports sent it).")
def erase_customer_command(bank_code, user_id):
    """Erase a customer: their comments, positions and id leave every report (counts stay)."""
    config = ready_app().config
    bank = Bank.get_or_none(Bank.code == bank_code)
    if bank is None:
        raise click.ClickException(f"No bank with code {bank_code!r}.")
    erased = erase_customer(config["CUSTOMER_KEY"], bank, user_id, record=lambda erased: record_audit(
        None, "cli", f"bank:{bank.id}", "customer.erased", f"{erased} reports", utcnow()))
    click.echo(json.dumps({"status": "success", "erased_reports": erased}))


@cli.command("apply-retention")
def apply_retention_command():
    """Remove positions older than KEEP_COORDINATES_DAYS and comments older than
    KEEP_COMMENTS_DAYS (the job runner does it daily; this is for cron without one)."""
    config = ready_app().config
    positions, comments = apply_retention(utcnow(), config["KEEP_COORDINATES_DAYS"], config["KEEP_COMMENTS_DAYS"])
    click.echo(f"Removed the positions of {positions} reports and the comments of {comments}.")


@cli.command("rebuild-rollups")
def rebuild_rollups_command():
    """Recompute the leaderboard counters from the stored reports."""
    ready_app()
    with click.progressbar(length=Feedback.select().count(), label="Recounting", file=sys.stderr) as bar:
        count = rebuild_rollups(on_progress=bar.update)
    click.echo(f"Rebuilt the counters from {count} reports.")


@cli.command("import-reports")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--client", "clientkey", required=True, help="The clientkey whose reports these are (its banks only).")
@click.option("--skip-bad", is_flag=True, help="Store the good rows and list the bad ones (default: store nothing if any is bad).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_reports_command(path, clientkey, skip_bad, as_json):
    """Record historic or queued reports from a CSV (header row) or JSON Lines file.

    Columns: the API's parameter names (your_bank_code, user_id, offer_code, outlet_code,
    feedback_type, user_latitude, user_longitude, user_accuracy, comment, device_id,
    client_ip) and reported_at (ISO 8601 with its UTC offset). Rows are recorded in file
    order, through the same checks as the API.
    """
    app = ready_app()
    client = _find_client(clientkey)
    now = utcnow()
    try:
        with click.progressbar(length=count_lines(path), label="Importing", file=sys.stderr) as bar:
            summary = import_reports(
                path, lookups=Lookups(catalog_seconds=3600, credential_seconds=0),
                reporter=Reporter(client.id, client.bank_id, client.network_id), rules=Rules.from_config(app.config),
                secret=app.config["SECRET_KEY"], now=now, skip_bad=skip_bad, on_progress=bar.update)
    except ImportFileError as exc:
        raise click.ClickException(f"{exc}. Nothing was imported.") from None
    count_pending()  # the leaderboard includes them from now on
    if as_json:
        echo_json({"rows": summary.rows, "stored": summary.stored, "duplicates": summary.duplicates,
                   "bad": summary.bad, "errors": summary.errors})
    else:
        for error in summary.errors:
            click.echo(f"line {error['line']}: {error['message']}", err=True)
        if summary.bad > len(summary.errors):
            click.echo(f"... and {summary.bad - len(summary.errors)} more bad rows", err=True)
        click.echo(f"{summary.rows} rows: {summary.stored} stored, {summary.duplicates} duplicates, {summary.bad} bad.")
    if summary.bad and not skip_bad:
        click.echo("Nothing was stored: fix the rows above, or pass --skip-bad to store the good ones.", err=True)
        sys.exit(1)


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
    issued = seed_demo(utcnow(), Rules.from_config(app.config), keep_coordinates_days=app.config["KEEP_COORDINATES_DAYS"],
                       keep_comments_days=app.config["KEEP_COMMENTS_DAYS"])
    credentials = {"clientkey": issued.client.clientkey, "clientpass": issued.clientpass, "apikey": issued.apikey,
                   "widget_key": issued.client.widget_key, "widget_secret": issued.widget_secret}
    for email, scope in (("admin@demo.example", "platform"), ("harbour@demo.example", "bank:HARBOUR")):
        password = secrets.token_urlsafe(12)
        create_admin(email, password, scope, utcnow())
        credentials[f"admin {scope}"] = f"{email} / {password}"
    # Kept so that every `make run` can print them; this is demo data on a laptop only.
    private_folder(demo_credentials_path().parent)
    private_file(demo_credentials_path()).write_text(json.dumps(credentials))
    return credentials


def _demo_credentials(app, if_empty):
    """Seed when the database is empty; else the credentials saved when it was seeded."""
    if Offer.select().exists():
        if not if_empty:
            raise click.ClickException("The database already has a catalogue; seed-demo fills an empty one.")
        saved = demo_credentials_path()
        if not saved.exists():
            return None
        credentials = json.loads(saved.read_text())
        if "widget_secret" not in credentials:  # saved before it was
            client = Client.get_or_none(Client.widget_key == credentials.get("widget_key"))
            credentials["widget_secret"] = client.widget_secret if client else None
        return credentials
    return _seed_demo(app)


# The shell variables docs/api.md's and docs/widget.md's examples use, by credential.
EXPORTED = {"CLIENTKEY": "clientkey", "CLIENTPASS": "clientpass", "APIKEY": "apikey", "WIDGET_KEY": "widget_key",
            "WIDGET_SECRET": "widget_secret"}


def export_line(credentials):
    """`export CLIENTKEY=... CLIENTPASS=... ...`: pasted into a shell, the docs' examples run as written."""
    return "export " + " ".join(f"{name}={shlex.quote(credentials[key])}" for name, key in EXPORTED.items()
                                if credentials.get(key))


@cli.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False))
def backup_command(destination):
    """Back the database up to a new file, while the server runs (SQLite's online backup;
    pg_dump's custom format on PostgreSQL)."""
    url = ready_app().config["DATABASE_URL"]
    database.close()
    try:
        size = back_up(url, destination)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    except subprocess.CalledProcessError as exc:
        raise click.ClickException(f"pg_dump failed: {exc.stderr.decode(errors='replace').strip()}") from None
    click.echo(f"Backed up to {destination} ({size:,} bytes).")


@cli.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
def restore_command(source):
    """Replace the database's contents with a back-up (stop the server first); the next
    start applies any migration the back-up predates."""
    try:
        url = create_app().config["DATABASE_URL"]
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    database.close()
    try:
        restore(url, source)
    except subprocess.CalledProcessError as exc:
        raise click.ClickException(f"pg_restore failed: {exc.stderr.decode(errors='replace').strip()}") from None
    click.echo(f"Restored from {source}.")


@cli.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing (but print the demo credentials) when data exists.")
def seed_demo_command(if_empty):
    """Fill an empty database with the demo catalogue, a demo client and historic reports."""
    credentials = _demo_credentials(ready_app(), if_empty)
    if credentials:
        click.echo("Demo client (UniPay network):")
        for key, value in credentials.items():
            click.echo(f"  {key:11} {value}")
        click.echo("For the examples in docs/api.md and docs/widget.md, paste into a shell:\n  " + export_line(credentials))


def _start_demo(app, host, port, base_url):
    """Seed on first start, serve the demo bank's pages from a second origin, print what to try."""
    from .demo import demo_bank_pages, demo_example, ensure_example, serve_demo_pages

    credentials = _demo_credentials(app, if_empty=True)
    click.echo(f"\nOffers Feedback demo at {base_url}/")
    click.echo(f"  Feedback types: {base_url}/api?action=feedback_types")
    if not credentials:
        return
    ensure_example(utcnow().date())
    click.echo("  Demo API client (UniPay network). For the examples in docs/api.md and docs/widget.md, paste into a shell:")
    click.echo("    " + export_line(credentials))
    click.echo("  Record a report:\n    " + demo_example(credentials, base_url))
    click.echo(f"  Leaderboard: {base_url}/admin/leaderboard")
    for key, login in credentials.items():
        if key.startswith("admin "):
            click.echo(f"    log in ({key.removeprefix('admin ')}): {login}")
    if credentials.get("widget_key"):
        pages = demo_bank_pages(base_url, credentials["widget_key"], credentials["widget_secret"] or "")
        page_port = serve_demo_pages(host, port + 1, pages)
        client = Client.get(Client.widget_key == credentials["widget_key"])
        # Added to the origins the user allowed (widget-origins --add), which stay.
        set_widget_origins(client, client.allowed_origins() + [f"http://127.0.0.1:{page_port}",
                                                                f"http://localhost:{page_port}"])
        click.echo(f"  Demo bank page with the widget (a second origin): http://localhost:{page_port}/")
        click.echo(f"  The same for a signed-in customer (data-user-sig made with WIDGET_SECRET): "
                   f"http://localhost:{page_port}/signed")
    click.echo("")


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
        _start_demo(app, host, port, base_url)
    # The workers are forked next: each opens its own connection on first request.
    database.close()
    runner = start_runner_process() if app.config["JOBS"] else None
    try:
        serve_with_gunicorn(app, host, port, workers)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if runner:
            runner.terminate()
            try:
                runner.wait(timeout=15)  # a delivery under way ends within WEBHOOK_TIMEOUT_SECONDS
            except subprocess.TimeoutExpired:
                runner.kill()


@cli.command()
def worker():
    """Run the job runner alone: flags, alerts and digests (`serve` starts one itself unless JOBS=0)."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per run: only what goes wrong
    app = ready_app()
    database.close()
    run_jobs(app)


@cli.command("create-webhook")
@click.option("--scope", required=True, help="platform, bank:CODE or network:CODE")
@click.option("--url", required=True, help="where the events are POSTed")
@click.option("--event", "events", multiple=True, type=click.Choice(EVENT_TYPES), help="an event to send [default: all]")
@click.option("--json", "as_json", is_flag=True, help="print {id, secret} as JSON")
def create_webhook_command(scope, url, events, as_json):
    """Send an audience's events to a URL, signed (Standard Webhooks); prints the secret once."""
    app = ready_app()
    try:
        bank, network = parse_scope(scope)
        audience = f"bank:{bank.id}" if bank else f"network:{network.id}" if network else "all"
        check_url(url, app.config["WEBHOOK_PRIVATE_NETWORKS"])
        webhook, secret = create_webhook(audience, url, events, utcnow())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    record_audit(None, "cli", audience, "webhook.created", f"webhook {webhook.id}: {shown(url)}", utcnow())
    if as_json:
        echo_json({"id": webhook.id, "secret": secret})
    else:
        click.echo(f"Webhook {webhook.id} created. Its secret (shown once): {secret}")
