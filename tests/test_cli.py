"""run.py commands, run through click's runner against a real database."""
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from backend.cli import cli
from backend.credentials import digest
from backend.db import database
from backend.models import ApiKey, Client, Feedback, Merchant, Offer, Outlet, utcnow
from support import DATA, site_stored_id


def cli_stored_id(tmp_path, user_id):
    """What the commands run by the run fixture store a BANK1 customer's id as (their data folder's key)."""
    return site_stored_id({"OFFERS_FEEDBACK_DATA": str(tmp_path / "data")}, user_id)


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


def test_seed_demo_prints_the_line_that_makes_the_docs_examples_run(run, tmp_path):
    """docs/api.md's examples use $CLIENTKEY, $CLIENTPASS and $APIKEY, docs/widget.md's the widget key and secret."""
    output = run("seed-demo").output
    printed = dict(line.split(None, 1) for line in output.splitlines()[1:] if line.startswith("  ") and "=" not in line)
    export = next(line.strip() for line in output.splitlines() if line.strip().startswith("export "))
    variables = dict(pair.split("=", 1) for pair in export.removeprefix("export ").split())
    assert variables == {"CLIENTKEY": printed["clientkey"], "CLIENTPASS": printed["clientpass"],
                         "APIKEY": printed["apikey"], "WIDGET_KEY": printed["widget_key"],
                         "WIDGET_SECRET": printed["widget_secret"]}
    client = Client.get(Client.clientkey == variables["CLIENTKEY"])
    assert (client.widget_key, client.widget_secret) == (variables["WIDGET_KEY"], variables["WIDGET_SECRET"])
    saved = json.loads((tmp_path / "data" / "demo-credentials.json").read_text())
    assert saved["widget_secret"] == variables["WIDGET_SECRET"]


def test_a_demo_seeded_before_the_documented_example_gets_it(run, tmp_path):
    """Demos seeded by an earlier release lack the docs' example offer and the saved widget secret."""
    from backend.demo import EXAMPLE_OFFER, EXAMPLE_OUTLET, ensure_example

    run("seed-demo")
    saved_path = tmp_path / "data" / "demo-credentials.json"
    saved = json.loads(saved_path.read_text())
    secret = saved.pop("widget_secret")
    saved_path.write_text(json.dumps(saved))
    Feedback.delete().where(Feedback.offer == Offer.get(Offer.code == EXAMPLE_OFFER)).execute()
    Offer.delete().where(Offer.code == EXAMPLE_OFFER).execute()
    ensure_example(utcnow().date())
    offer = Offer.get(Offer.code == EXAMPLE_OFFER)
    assert offer.status_on(utcnow().date()) == "active" and offer.bank.code == "HARBOUR"
    assert Outlet.get(Outlet.code == EXAMPLE_OUTLET).merchant_id == offer.merchant_id
    assert f"widget_secret {secret}" in run("seed-demo", "--if-empty").output


CSV_HEADER = "reported_at,your_bank_code,user_id,offer_code,outlet_code,feedback_type,user_latitude,user_longitude,user_accuracy,comment\n"


@pytest.fixture
def bank1_key(run):
    run("import-catalog", str(DATA / "catalog.json"))
    created = json.loads(run("create-client", "--name", "First Bank", "--bank", "BANK1", "--json").output)
    return created["clientkey"]


def test_import_reports_records_history_through_the_api_rules(run, bank1_key, tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(CSV_HEADER
                    + '2025-03-01T18:30:00+05:30,BANK1,asha@example.com,OF1,O1,1,19.0597,72.8295,15,"Refused, twice"\n'
                    + "2025-03-01T14:00:00Z,BANK1,asha@example.com,OF1,O1,merchant_declined,,,,\n"  # within 24 h: duplicate
                    + "2025-03-02T09:00:00+00:00,BANK1,ravi@example.com,OF3,O1,2,19.0597,72.8295,20,\n")
    result = run("import-reports", str(path), "--client", bank1_key, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"rows": 3, "stored": 2, "duplicates": 1, "bad": 0, "errors": []}
    first = Feedback.get(Feedback.user_id == cli_stored_id(tmp_path, "asha@example.com"))
    assert (first.created_at.isoformat(), first.channel, first.verdict, first.comment) == (
        "2025-03-01T13:00:00", "import", "at_outlet", "Refused, twice")
    assert Feedback.get(Feedback.user_id == cli_stored_id(tmp_path, "ravi@example.com")).offer_status == "expired"  # as on that day
    assert not Feedback.select().where(Feedback.uncounted == True).exists()  # noqa: E712  counted


def test_import_reports_stores_nothing_when_a_row_is_bad_unless_asked(run, bank1_key, tmp_path):
    path = tmp_path / "queued.jsonl"
    rows = [{"reported_at": "2025-03-01T10:00:00+05:30", "your_bank_code": "BANK1", "user_id": "a", "offer_code": "OF1",
             "outlet_code": "O1", "feedback_type": 1, "user_latitude": 19.0597, "user_longitude": 72.8295},
            {"reported_at": "2025-03-01T10:00:00", "your_bank_code": "BANK1", "user_id": "b", "offer_code": "OF1",
             "outlet_code": "O1", "feedback_type": 1},  # no UTC offset
            {"reported_at": "2025-03-01T11:00:00Z", "your_bank_code": "BANK2", "user_id": "c", "offer_code": "OF2",
             "outlet_code": "O1", "feedback_type": 1},  # not this client's bank
            {"reported_at": "2025-03-01T12:00:00Z", "your_bank_code": "BANK1", "user_id": "d", "offer_code": "OF1",
             "outlet_code": "O3", "feedback_type": 1}]  # another merchant's outlet
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + "\n[1, 2]\n")
    result = run("import-reports", str(path), "--client", bank1_key)
    assert result.exit_code == 1 and not Feedback.select().exists()
    assert "line 2: reported_at: must give its UTC offset" in result.output
    assert "line 3: This client may not report for that bank." in result.output
    assert "line 4: That outlet is not one of the offer's merchant's outlets." in result.output
    assert "line 6: is not a JSON object" in result.output
    skipped = run("import-reports", str(path), "--client", bank1_key, "--skip-bad", "--json")
    summary = json.loads(skipped.stdout)
    assert (skipped.exit_code, summary["stored"], summary["bad"]) == (0, 1, 4)
    assert [(e["line"], e["fields"]) for e in summary["errors"]] == [
        (2, ["reported_at"]), (3, ["your_bank_code"]), (4, ["outlet_code", "offer_code"]), (6, [])]
    assert [r.user_id for r in Feedback.select()] == [cli_stored_id(tmp_path, "a")]


def test_import_reports_refuses_unknown_columns_and_future_times(run, bank1_key, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("reported_at,user_id,secret_column\n2025-01-01T00:00:00Z,a,x\n")
    result = run("import-reports", str(path), "--client", bank1_key)
    assert result.exit_code == 1 and "Unknown column(s): secret_column" in result.output
    future = (utcnow() + timedelta(hours=1)).isoformat() + "Z"
    path.write_text(CSV_HEADER + f"{future},BANK1,a,OF1,O1,1,,,,\n")
    result = run("import-reports", str(path), "--client", bank1_key)
    assert result.exit_code == 1 and "line 2: reported_at: must not be in the future" in result.output


def test_import_reports_lists_unreadable_rows_instead_of_storing_part_of_them(run, bank1_key, tmp_path):
    good = "2025-03-01T10:00:00Z,BANK1,{user},OF1,O1,1,,,,{comment}\n"
    path = tmp_path / "odd.csv"
    path.write_text(CSV_HEADER + good.format(user="a", comment="fine")
                    + good.format(user="b", comment="refused, then shouted")  # an unquoted comma
                    + good.format(user="c", comment='"' + "x" * 140_000 + '"')  # over the csv module's limit
                    + good.format(user="d", comment="fine"))
    result = run("import-reports", str(path), "--client", bank1_key, "--skip-bad", "--json")
    summary = json.loads(result.stdout)
    assert (summary["stored"], summary["bad"]) == (2, 2)
    assert [e["line"] for e in summary["errors"]] == [3, 4]
    assert "more cells than the header" in summary["errors"][0]["message"]
    lines = tmp_path / "odd.jsonl"
    lines.write_text(json.dumps({"reported_at": "2025-03-01T10:00:00Z", "your_bank_code": "BANK1", "user_id": "e",
                                 "offer_code": "OF1", "outlet_code": "O1", "feedback_type": 1, "Comment": "x"}) + "\n")
    result = run("import-reports", str(lines), "--client", bank1_key, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["errors"][0]["message"] == "unknown field(s): Comment"
    assert sorted(r.user_id for r in Feedback.select()) == sorted([cli_stored_id(tmp_path, "a"), cli_stored_id(tmp_path, "d")])


def test_the_curl_command_make_run_prints_records_a_report_that_counts(app, client):
    from urllib.parse import urlsplit

    from backend.demo import demo_example, seed_demo
    from backend.feedback import Rules

    issued = seed_demo(utcnow(), Rules.from_config(app.config), reports=50)
    credentials = {"clientkey": issued.client.clientkey, "clientpass": issued.clientpass, "apikey": issued.apikey}
    command = demo_example(credentials, "http://127.0.0.1:8000")
    answer = client.get("/api?" + urlsplit(command.split("'")[1]).query).get_json()
    assert (answer["status"], answer["location"]["verdict"]) == ("success", "at_outlet")
    report = Feedback.get(Feedback.public_id == answer["feedback_id"])
    assert report.suspicion == ""  # a position a phone would send, not the outlet's exact point


def test_widget_origins_are_added_and_removed_one_at_a_time(run):
    run("import-catalog", str(DATA / "catalog.json"))
    issued = json.loads(run("create-client", "--name", "n", "--bank", "BANK1", "--origin", "https://www.bank.example",
                            "--json").output)
    key = issued["clientkey"]
    added = run("widget-origins", "--clientkey", key, "--add", "https://offers.bank.example/page", "--add",
                "http://localhost:8001")
    assert added.output.split() == ["https://www.bank.example", "https://offers.bank.example", "http://localhost:8001"]
    removed = run("widget-origins", "--clientkey", key, "--remove", "https://www.bank.example")
    assert removed.output.split() == ["https://offers.bank.example", "http://localhost:8001"]
    assert run("widget-origins", "--clientkey", key, "--add", "https://offers.bank.example").output.split() == [
        "https://offers.bank.example", "http://localhost:8001"]  # no duplicate
    bad = run("widget-origins", "--clientkey", key, "--add", "ftp://x")
    assert bad.exit_code != 0 and "is not an http(s) origin" in bad.output
    mixed = run("widget-origins", "--clientkey", key, "--add", "https://a.example", "--set", "https://b.example")
    assert mixed.exit_code != 0 and "use one kind" in mixed.output
    assert run("widget-origins", "--clientkey", key).output.split() == [
        "https://offers.bank.example", "http://localhost:8001"]
