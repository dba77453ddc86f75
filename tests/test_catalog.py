"""Catalogue import: JSON and CSV, upsert by code, all or nothing with a precise message."""
import json

import pytest

from backend.catalog import CatalogError, import_catalog, read_catalog
from backend.models import Bank, Merchant, Network, Offer, Outlet
from support import DATA, as_made_before_migrations


def write_catalog(tmp_path, **sections):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(sections))
    return path


def snapshot():
    return [list(model.select().dicts()) for model in (Network, Bank, Merchant, Outlet, Offer)]


def test_json_import(app):
    counts = import_catalog(read_catalog(DATA / "catalog.json"))
    assert counts == {"networks": 1, "banks": 3, "merchants": 2, "outlets": 3, "offers": 6}
    outlet = Outlet.get(Outlet.code == "O3")
    assert (outlet.merchant.code, outlet.city, outlet.radius_m, outlet.latitude) == ("M2", "Bengaluru", 300, 12.9352)
    assert Outlet.get(Outlet.code == "O2").latitude is None
    assert Bank.get(Bank.code == "BANK3").network is None
    offer = Offer.get(Offer.code == "OF2")
    assert (offer.network.code, offer.bank, str(offer.valid_to)) == ("NET1", None, "2099-12-31")


def test_csv_folder_import(app):
    counts = import_catalog(read_catalog(DATA / "catalog_csv"))
    assert counts == {"networks": 1, "banks": 2, "merchants": 1, "outlets": 2, "offers": 2}
    assert Outlet.get(Outlet.code == "O2").radius_m == 80
    assert Outlet.get(Outlet.code == "O1").name == "Cafe Aroma, Bandra"


def test_import_is_an_idempotent_upsert(app, tmp_path):
    import_catalog(read_catalog(DATA / "catalog.json"))
    before = snapshot()
    import_catalog(read_catalog(DATA / "catalog.json"))
    assert snapshot() == before
    changed = write_catalog(tmp_path, merchants=[{"code": "M1", "name": "Cafe Aroma Roasters"}],
                            outlets=[{"code": "O1", "merchant": "M1", "name": "Moved", "city": "Mumbai",
                                      "latitude": 19.0, "longitude": 72.0}])
    import_catalog(read_catalog(changed))
    assert Merchant.get(Merchant.code == "M1").name == "Cafe Aroma Roasters"
    assert (Outlet.get(Outlet.code == "O1").latitude, Outlet.select().count()) == (19.0, 3)


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"outlets": [{"code": "O9", "merchant": "M1", "name": "x", "city": "Pune", "latitude": 95, "longitude": 72}]},
         "catalog.json: outlets record 1 (code 'O9'): latitude: must be a number between -90 and 90"),
        ({"outlets": [{"code": "O9", "merchant": "M1", "name": "x", "city": "Pune", "latitude": 19}]},
         "catalog.json: outlets record 1 (code 'O9'): longitude: latitude and longitude must be given together"),
        ({"offers": [{"code": "X", "title": "t", "merchant": "M1", "valid_from": "2026-01-01", "valid_to": "2026-02-01"}]},
         "catalog.json: offers record 1 (code 'X'): network: give exactly one of bank and network"),
        ({"offers": [{"code": "X", "title": "t", "bank": "BANK1", "merchant": "M1", "valid_from": "2026-03-01",
                      "valid_to": "2026-02-01"}]},
         "catalog.json: offers record 1 (code 'X'): valid_to: must not be before valid_from"),
        ({"offers": [{"code": "X", "title": "t", "bank": "BANK1", "merchant": "M1", "valid_from": "1 March",
                      "valid_to": "2026-02-01"}]},
         "catalog.json: offers record 1 (code 'X'): valid_from: Not a valid date value."),
        ({"banks": [{"code": "B9", "name": "Nine", "network": "NOPE"}]},
         "catalog.json: banks record 1 (code 'B9'): network: unknown network code 'NOPE'"),
        ({"merchants": [{"code": "M9"}]}, "catalog.json: merchants record 1 (code 'M9'): name: missing value"),
        ({"merchants": [{"code": "M9", "name": "a"}, {"code": "M9", "name": "b"}]},
         "catalog.json: merchants record 2 (code 'M9'): code: appears twice in this catalogue"),
        ({"shops": []}, "catalog.json: unknown section 'shops'"),
    ],
)
def test_invalid_records_name_file_record_and_field(app, tmp_path, sections, message):
    import_catalog(read_catalog(DATA / "catalog.json"))
    with pytest.raises(CatalogError) as raised:
        import_catalog(read_catalog(write_catalog(tmp_path, **sections)))
    assert str(raised.value).startswith(message)


def test_one_bad_record_writes_nothing(app, tmp_path):
    good = [{"code": f"M{n}", "name": f"Merchant {n}"} for n in range(100, 700)]
    path = write_catalog(tmp_path, merchants=good, outlets=[{"code": "O9", "merchant": "M100", "name": "x", "city": ""}])
    with pytest.raises(CatalogError, match=r"outlets record 1 \(code 'O9'\): city: missing value"):
        import_catalog(read_catalog(path))
    assert Merchant.select().count() == 0


def test_csv_error_names_file_and_line(app, tmp_path):
    (tmp_path / "merchants.csv").write_text("code,name\nM1,Fine\nM2,\n")
    with pytest.raises(CatalogError, match=r"^merchants.csv: line 3 \(code 'M2'\): name: missing value"):
        import_catalog(read_catalog(tmp_path))


def test_unreadable_files(tmp_path):
    (tmp_path / "broken.json").write_text("{nope")
    with pytest.raises(CatalogError, match="broken.json: cannot read it as UTF-8 JSON"):
        read_catalog(tmp_path / "broken.json")
    with pytest.raises(CatalogError, match="no networks.csv"):
        read_catalog(tmp_path)


def test_progress_reports_every_record(app, tmp_path):
    path = write_catalog(tmp_path, merchants=[{"code": f"M{n}", "name": "m"} for n in range(1200)])
    seen = []
    import_catalog(read_catalog(path), on_progress=seen.append, batch_size=500)
    assert seen == [500, 500, 200]


def test_tables_made_by_an_older_version_gain_new_columns(app):
    from backend.db import database
    from backend.models import Client, create_tables

    database.execute_sql('ALTER TABLE "client" DROP COLUMN "widget_origins"')
    assert "widget_origins" not in {c.name for c in database.get_columns("client")}
    as_made_before_migrations()
    create_tables()
    assert "widget_origins" in {c.name for c in database.get_columns("client")}
    assert Client.select().count() == 0


def test_the_unique_index_of_older_versions_on_public_ids_is_dropped(app):
    from backend.db import database
    from backend.models import create_tables

    database.execute_sql('CREATE UNIQUE INDEX "feedback_public_id" ON "feedback" ("public_id")')
    as_made_before_migrations()
    create_tables()
    assert "feedback_public_id" not in {index.name for index in database.get_indexes("feedback")}


def test_reports_stored_before_the_uncounted_column_count_as_counted(client, report_params):
    """The version before it counted each report in its own transaction."""
    from backend.db import database
    from backend.models import Feedback, create_tables
    from backend.rollups import count_pending

    assert client.get("/api", query_string=report_params).status_code == 200
    database.execute_sql('DROP INDEX "feedback_uncounted"')
    database.execute_sql('ALTER TABLE "feedback" DROP COLUMN "uncounted"')
    as_made_before_migrations()
    create_tables()
    assert Feedback.get().uncounted is False
    assert count_pending() == 0
    assert client.get("/api", query_string={**report_params, "user_id": "new@example.com"}).status_code == 200
    assert count_pending() == 1  # the partial index is back and finds new reports


def test_counters_of_the_version_before_per_bank_customers_are_recounted(shops):
    """Its customer-days were keyed by user id alone, and its reports had no evidence columns."""
    from datetime import datetime

    from backend.db import database
    from backend.models import CustomerDay, Feedback, MerchantDay, create_tables
    from backend.rollups import count_pending
    from support import make_report

    when = datetime(2026, 6, 30, 12)
    for n in range(3):
        make_report(when=when, user=f"u{n}", offer="S1-OFFER", outlet="S1-1")
        make_report(when=when, user=f"u{n}", bank="BANK2", offer="OF2", outlet="O1", channel="widget")
    count_pending()
    kept = sorted(MerchantDay.select().tuples())
    Feedback.update(anonymous=False).execute()
    database.execute_sql('DROP TABLE "customerday"')
    database.execute_sql('CREATE TABLE "customerday" ("merchant_id" INTEGER NOT NULL, "day" DATE NOT NULL, '
                         '"user_id" VARCHAR(254) NOT NULL, "bank_id" INTEGER NOT NULL, "network_id" INTEGER, '
                         'PRIMARY KEY ("merchant_id", "day", "user_id"))')
    database.execute_sql('DELETE FROM "merchantday"')
    as_made_before_migrations()
    create_tables()
    assert sorted(MerchantDay.select().tuples()) == kept
    assert CustomerDay.select().count() == 6 and "discounted" in {c.name for c in database.get_columns("customerday")}
    assert "feedback_bank_id_user_id_created_at" in {index.name for index in database.get_indexes("feedback")}
