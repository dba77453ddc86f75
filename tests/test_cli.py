"""run.py commands, run through click's runner against a real database."""
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from backend.cli import cli
from backend.credentials import digest
from backend.db import database
from backend.models import ApiKey, Client, Feedback, Merchant, Offer, Outlet, utcnow
from support import DATA


@pytest.fixture
def run(database_url, tmp_path):
    """Run a command as `python run.py ...` would, with this test's database."""
    runner = CliRunner()
    env = {"DATABASE_URL": database_url, "OFFERS_FEEDBACK_DATA": str(tmp_path / "data")}

    def invoke(*args):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    yield invoke
    database.close()


def test_import_catalog_command(run):
    result = run("import-catalog", str(DATA / "catalog.json"))
    assert result.exit_code == 0, result.output
    assert "Imported 1 networks, 3 banks, 2 merchants, 3 outlets, 6 offers." in result.output
    assert Outlet.select().count() == 3


def test_import_catalog_command_refuses_bad_file(run, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"merchants": [{"code": "M1", "name": "ok"}, {"code": "", "name": "x"}]}))
    result = run("import-catalog", str(bad))
    assert result.exit_code == 1
    assert "bad.json: merchants record 2 (code ''): code: missing value. Nothing was imported." in result.output
    assert Merchant.select().count() == 0


def test_create_client_prints_secrets_once_and_stores_digests(run):
    run("import-catalog", str(DATA / "catalog.json"))
    result = run("create-client", "--name", "First Bank app", "--bank", "BANK1", "--json")
    assert result.exit_code == 0, result.output
    issued = json.loads(result.output)
    assert {"clientkey", "clientpass", "apikey", "apikey_id"} <= set(issued)
    assert len(issued["clientpass"]) >= 40 and len(issued["apikey"]) >= 40
    client = Client.get(Client.clientkey == issued["clientkey"])
    assert client.pass_digest == digest(issued["clientpass"])
    stored = [str(value) for row in Client.select().tuples() for value in row]
    stored += [str(value) for row in ApiKey.select().tuples() for value in row]
    assert issued["clientpass"] not in stored and issued["apikey"] not in stored


@pytest.mark.parametrize(
    "args, message",
    [
        (["--name", "x"], "Give exactly one of --bank and --network."),
        (["--name", "x", "--bank", "BANK1", "--network", "NET1"], "Give exactly one of --bank and --network."),
        (["--name", "x", "--bank", "NOPE"], "No bank with code 'NOPE'"),
    ],
)
def test_create_client_usage_errors(run, args, message):
    run("import-catalog", str(DATA / "catalog.json"))
    result = run("create-client", *args)
    assert result.exit_code != 0 and message in result.output


def test_rotate_api_keys(run):
    run("import-catalog", str(DATA / "catalog.json"))
    issued = json.loads(run("create-client", "--name", "n", "--network", "NET1", "--json").output)
    added = json.loads(run("add-apikey", "--clientkey", issued["clientkey"]).output)
    assert added["apikey"] != issued["apikey"]
    result = run("revoke-apikey", "--clientkey", issued["clientkey"], "--apikey-id", issued["apikey_id"])
    assert result.exit_code == 0 and f"Revoked {issued['apikey_id']}." in result.output
    active = ApiKey.select().where(ApiKey.revoked_at.is_null())
    assert [key.key_id for key in active] == [added["apikey_id"]]
    again = run("revoke-apikey", "--clientkey", issued["clientkey"], "--apikey-id", issued["apikey_id"])
    assert again.exit_code == 1 and "no active API key" in again.output


def test_seed_demo_fills_an_empty_database_once(run):
    result = run("seed-demo")
    assert result.exit_code == 0, result.output
    assert "clientpass" in result.output
    reports = Feedback.select()
    assert 2500 <= reports.count() <= 3100
    oldest = min(report.created_at for report in reports)
    assert utcnow() - oldest <= timedelta(days=91)
    assert {outlet.city for outlet in Outlet.select()} == {"Mumbai", "Bengaluru"}
    assert Merchant.select().count() >= 24 and Offer.select().count() >= 30
    assert {r.verdict for r in reports} >= {"at_outlet", "away_from_outlet", "inconclusive", "not_shared"}
    again = run("seed-demo")
    assert again.exit_code == 1 and "already has a catalogue" in again.output
    quiet = run("seed-demo", "--if-empty")
    clientkey = next(line.split()[1] for line in result.output.splitlines() if "clientkey" in line)
    assert quiet.exit_code == 0 and clientkey in quiet.output
    assert Feedback.select().count() == reports.count()
