"""The naive anchor of issue 11, for bench/ingest.py --anchor: what ingest costs with nothing
but the database work a report needs. A bare Flask app under gunicorn (sync workers), a kept
psycopg2 connection per worker, one duplicate SELECT and one INSERT a report, in one
transaction. It checks no credentials, validates nothing, judges no evidence, keeps no
pseudonyms and counts nothing into the leaderboard: the product does all of that.

Its rows go into the product's feedback table with channel "anchor" (never counted).
"""
import os
import secrets
from datetime import datetime, timedelta, timezone

import psycopg2
from flask import Flask, jsonify, request

app = Flask(__name__)
_connection = None
_ids = {}  # catalogue codes -> ids, read once per worker


def connection():
    global _connection
    if _connection is None:
        _connection = psycopg2.connect(os.environ["DATABASE_URL"])
        with _connection, _connection.cursor() as cursor:
            for table in ("bank", "offer", "outlet"):
                cursor.execute(f'SELECT "code", "id" FROM "{table}"')
                _ids[table] = dict(cursor.fetchall())
            cursor.execute('SELECT "id", "merchant_id" FROM "offer"')
            _ids["merchant"] = dict(cursor.fetchall())
    return _connection


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/api")
def report():
    args = request.args
    conn = connection()
    bank, offer = _ids["bank"][args["your_bank_code"]], _ids["offer"][args["offer_code"]]
    feedback_type, user_id = int(args["feedback_type"]), args["user_id"]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with conn, conn.cursor() as cursor:
        cursor.execute('SELECT "public_id" FROM "feedback" WHERE "bank_id" = %s AND "user_id" = %s AND "created_at" > %s '
                       'AND "offer_id" = %s AND "feedback_type_id" = %s LIMIT 1',
                       (bank, user_id, now - timedelta(days=1), offer, feedback_type))
        row = cursor.fetchone()
        if row:
            return jsonify(status="success", feedback_id=row[0], duplicate=True)
        public_id = "fb_" + secrets.token_hex(8)
        cursor.execute(
            'INSERT INTO "feedback" ("public_id", "channel", "bank_id", "offer_id", "merchant_id", "outlet_id", '
            '"feedback_type_id", "user_id", "latitude", "longitude", "comment", "created_at", "verdict", "radius_m", '
            '"offer_status", "outlet_inferred", "anonymous", "new_customer", "repeat_visit", "suspicion", "uncounted") '
            "VALUES (%s, 'anchor', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'unverified', 150, 'active', "
            "false, false, false, false, '', false)",
            (public_id, bank, offer, _ids["merchant"][offer], _ids["outlet"][args["outlet_code"]], feedback_type, user_id,
             float(args["user_latitude"]), float(args["user_longitude"]), args["comment"], now))
    return jsonify(status="success", feedback_id=public_id, duplicate=False)
