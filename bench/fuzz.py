#!/usr/bin/env python3
"""Long fuzz of /api on the real server (`make fuzz`): mutated valid requests, raw HTTP.

Starts `run.py serve` (gunicorn, --workers) on a throwaway SQLite site with the test
catalogue and one BANK1 client, then sends --requests requests from --clients processes:
each a valid report, leaderboard or type list with 0-3 mutations (values, names spelt with
percent escapes, duplicates, methods, paths, query/form/multipart/JSON/chunked bodies, bad
bytes, deep JSON). Prints a status histogram, the 5xx count, and the server log's leaks of
the client's clientpass and apikey (raw or percent-encoded, which must never be there);
exits 1 on any 5xx, request without an answer, or leak. A failing request is written out
(secrets replaced) to fuzz-failures.txt in the site folder, kept when the run fails.
Usage: .venv/bin/python bench/fuzz.py [--requests 100000] [--clients 4] [--workers 4] [--seed 1]
"""
import argparse
import collections
import json
import multiprocessing
import random
import re
import shutil
import socket
import sys
import tempfile
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support import DATA, run_py, served, site_env  # noqa: E402

CODES = [("BANK1", "OF1", "O1"), ("BANK1", "OF1", "O2"), ("BANK1", "OF2", "O2"), ("BANK1", "OF6", "O3"),
         ("BANK2", "OF2", "O1"), ("BANK1", "OF4", "O3"), ("BANK9", "OF1", "O1"), ("BANK1", "NOPE", "O1")]
ODD_VALUES = [
    "", " ", "0", "-0", "1", "01", "007", "1.5", "-1", "1e3", "1e999", "-1e999", "NaN", "nan", "inf", "-Infinity",
    "1_0", "\uff11\uff19", "\u0661\u0669", "\u0967", "0x1A", "1,5", "١٢", "+", ".", "-.5", "5.", "e5", "9" * 400,
    "\x00", "a\x00b", "\x1b[31m", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\ufffd", "\ufeff", "\u202eabc",
    "é", "日本語", "👍🏽", "a" * 64, "a" * 65, "a" * 254, "a" * 255, "x" * 1000, "x" * 1001, "y" * 5000,
    "' OR '1'='1", "'; DROP TABLE feedback; --", "<script>alert(1)</script>", "{{7*7}}", "${jndi:x}", "%s%n",
    "../../etc/passwd", "true", "false", "null", "[]", "{}", "merchant_declined", "staff_unaware", "other",
    "2026-02-30", "9999-12-31", "0001-01-01", "2026-13-01", "2026-01-01T00:00:00", "2026-01-01T00:00:00Z",
    "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00", "2026-01-01T25:61:00Z", "::1", "256.1.1.1",
    "2001:db8::1", "192.168.0.1", "fe80::1%eth0", "7", "30", "90", "365", "200", "201", "TRUE", "yes",
]
RAW_ESCAPES = ["%", "%zz", "%E9", "%C3", "%ED%A0%80", "%FF%FE", "%00", "%0D%0A", "%C0%AF", "%F4%90%80%80", "+",
               "%2B", "%26", "%3D", "%EF%BF%BD"]
ACTIONS = ["user_feedback", "feedback", "feedback_types", "merchant_leaderboard", "", "USER_FEEDBACK", "drop",
           "user_feedback ", "feedback\x00", "%75ser_feedback"]
METHODS = ["GET"] * 45 + ["POST"] * 45 + ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "get", "post", "FOO"]
PATHS = ["/api"] * 95 + ["/api/", "/api/openapi.json", "/api/x", "/api//", "/API", "/api/%00", "/api/..%2f",
                         "/api?", "/api/openapi.json/x"]


def now_iso(rng):
    when = datetime.now(timezone.utc) - timedelta(minutes=rng.randrange(-10, 8 * 24 * 60))
    return when.isoformat().replace("+00:00", rng.choice(["Z", "+00:00", "+05:30"]) if rng.random() < 0.9 else "")


def valid_params(rng, credentials):
    """A valid report (most often), leaderboard or type-list request, as (name, value) pairs."""
    secrets = [(k, credentials[k]) for k in ("clientkey", "clientpass", "apikey")]
    kind = rng.random()
    if kind < 0.75:
        bank, offer, outlet = rng.choice(CODES[:4]) if rng.random() < 0.9 else rng.choice(CODES)
        pairs = [("action", rng.choice(["user_feedback", "feedback"])), *secrets,
                 ("user_id", f"fuzz{rng.randrange(10**6)}@example.com"), ("feedback_type", rng.choice("12345")),
                 ("offer_code", offer), ("your_bank_code", bank), ("outlet_code", outlet)]
        if rng.random() < 0.7:
            pairs += [("user_latitude", f"{18.9 + rng.random() * 0.3:.5f}"),
                      ("user_longitude", f"{72.7 + rng.random() * 0.2:.5f}")]
        optional = [("user_accuracy", str(rng.randrange(0, 300))), ("comment", "Refused at the till"),
                    ("reported_at", now_iso(rng)), ("device_id", f"dev-{rng.randrange(1000)}"),
                    ("client_ip", rng.choice(["203.0.113.7", "2001:db8::7"]))]
        pairs += [pair for pair in optional if rng.random() < 0.3]
    elif kind < 0.93:
        pairs = [("action", "merchant_leaderboard"), *secrets]
        if rng.random() < 0.5:
            pairs.append(("period", rng.choice(["7", "30", "90"])))
        elif rng.random() < 0.5:
            pairs += [("from", "2026-01-01"), ("to", rng.choice(["2026-02-01", "2026-12-31", "2027-06-01"]))]
        for name, choices in (("limit", ["1", "25", "200"]), ("feedback_type", ["1", "staff_unaware"]),
                              ("verified_only", ["0", "1", "true"])):
            if rng.random() < 0.3:
                pairs.append((name, rng.choice(choices)))
    else:
        pairs = [("action", "feedback_types")]
    return pairs


def odd_text(rng):
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(ODD_VALUES)
    if roll < 0.8:
        return "".join(chr(rng.choice([rng.randrange(0, 0x80), rng.randrange(0x80, 0x800), rng.randrange(0x800, 0xD800),
                                       rng.randrange(0xE000, 0x110000)])) for _ in range(rng.randrange(1, 40)))
    return rng.choice(ODD_VALUES) + rng.choice(ODD_VALUES)


def mutate(rng, pairs):
    """0-3 mutations of the pairs; names and values may become raw (already encoded) bytes."""
    pairs = [(name, value) for name, value in pairs]
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        roll = rng.random()
        i = rng.randrange(len(pairs))
        name, value = pairs[i]
        if roll < 0.35:
            pairs[i] = (name, odd_text(rng))
        elif roll < 0.45:
            del pairs[i]
            if not pairs:
                pairs = [("action", "feedback_types")]
        elif roll < 0.55 and not isinstance(name, RawText):  # spelt with escapes: must still be redacted
            spelt = "".join(f"%{ord(c):02X}" if rng.random() < 0.5 else c for c in name)
            pairs[i] = (RawText(spelt), value)
        elif roll < 0.62:
            pairs[i] = (name, RawText(rng.choice(RAW_ESCAPES) + urllib.parse.quote(str(value))))
        elif roll < 0.7:
            pairs.insert(rng.randrange(len(pairs) + 1), (name, odd_text(rng)))
        elif roll < 0.78:
            pairs[i] = (name, value if isinstance(value, RawText) else f"  {value}\t")
        elif roll < 0.85:
            pairs.append((rng.choice(["x", "", "action[]", "clientpass", "APIKEY", "a" * 300, "é"]), odd_text(rng)))
        elif roll < 0.9:
            pairs[i] = (name.upper() if isinstance(name, str) and not isinstance(name, RawText) else name, value)
        else:
            pairs[0] = ("action", rng.choice(ACTIONS))
    return pairs


class RawText(str):
    """Already percent-encoded: sent as it is."""


def encode_pairs(pairs):
    def enc(text):
        return text if isinstance(text, RawText) else urllib.parse.quote_plus(text, safe="")

    return "&".join(f"{enc(name)}={enc(value)}" if value is not None else enc(name) for name, value in pairs)


def json_value(rng, value):
    roll = rng.random()
    if roll < 0.75 or isinstance(value, RawText):
        return urllib.parse.unquote(value) if isinstance(value, RawText) else value
    if roll < 0.85 and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value or "x"):
        return float(value) if "." in value else int(value)
    return rng.choice([None, True, False, 0, -1, 1e308, 2**70, [], {}, [value], {"v": value}, "\ud800", "x\udfff"])


def build_request(rng, credentials):
    """(method, path, headers, body) bytes-ready pieces of one mutated request."""
    pairs = mutate(rng, valid_params(rng, credentials))
    method = rng.choice(METHODS)
    path = rng.choice(PATHS)
    headers = {"Host": "127.0.0.1", "Connection": "close", "User-Agent": "offers-feedback-fuzz"}
    body = b""
    query = ""
    how = rng.random() if method.upper() == "POST" else 0
    if how < 0.3:
        query = encode_pairs(pairs)
    elif how < 0.6:
        body = encode_pairs(pairs).encode("utf-8", "surrogatepass")
        headers["Content-Type"] = rng.choice(["application/x-www-form-urlencoded"] * 5 + [
            "application/x-www-form-urlencoded; charset=latin-1", "text/plain", ""])
        if rng.random() < 0.2:
            query = encode_pairs(mutate(rng, [("action", "user_feedback")]))
    elif how < 0.85:
        obj = {}
        for name, value in pairs:
            obj[urllib.parse.unquote(name) if isinstance(name, RawText) else name] = json_value(rng, value)
        roll = rng.random()
        text = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
        if roll < 0.05:
            text = "[" * rng.choice([100, 1000, 4000, 20000]) + "]" * rng.choice([0, 100])
        elif roll < 0.1:
            text = rng.choice(["", "null", "[]", '"x"', "{", '{"action": NaN}', '{"action": Infinity}',
                               json.dumps([obj]), text[: len(text) // 2], '{"a":' * 2000 + "1" + "}" * 2000])
        body = text.encode("utf-8", "surrogatepass")
        headers["Content-Type"] = rng.choice(["application/json"] * 6 + ["application/json; charset=utf-8",
                                                                            "application/vnd.api+json", "text/json"])
    else:
        boundary = "fuzzBoundary7MA4YWxk"
        parts = []
        for name, value in pairs:
            name = urllib.parse.unquote(name) if isinstance(name, RawText) else name
            value = urllib.parse.unquote(value) if isinstance(value, RawText) else value
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n')
        body = ("".join(parts) + f"--{boundary}--\r\n").encode("utf-8", "surrogatepass")
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    if rng.random() < 0.01:  # over the 16 KB limit, in the query or the body
        if body:
            body += b"&pad=" + b"x" * 20_000
        else:
            query += "&pad=" + "x" * 20_000
    target = path + ("?" + query if query else "")
    chunked = body and rng.random() < 0.1
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        step = rng.choice([1, 7, 100, 4096])
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                        for i in range(0, len(body), step)) + b"0\r\n\r\n"
    elif body or method.upper() in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = str(len(body))
    return method, target, headers, body


def send(port, method, target, headers, body, timeout=30):
    """Send one raw HTTP/1.1 request; (the answer's status, 0 when none came; the request)."""
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    data = head.encode("utf-8", "surrogatepass") + body
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            pass  # answered before reading it all (413): the answer may still be there
        try:
            while chunk := sock.recv(65536):  # to the end: the server closes after each answer
                answer += chunk[: max(0, 64 - len(answer))]
        except ConnectionResetError:
            pass
        except socket.timeout:
            return 0, data
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return (int(match.group(1)) if match else 0), data


def run_client(args):
    """One client process: count statuses of its share of the requests; keep a few failures."""
    port, credentials, seed, count = args
    rng = random.Random(seed)
    statuses = collections.Counter()
    failures = []
    for _ in range(count):
        request = build_request(rng, credentials)
        try:
            status, data = send(port, *request)
        except OSError as exc:
            status, data = 0, repr(exc).encode()
        statuses[status] += 1
        if (status >= 500 or status == 0) and len(failures) < 20:
            failures.append(data[:3000])
    return statuses, failures


def leaks(log_text, credentials):
    """The log lines holding a secret value, raw or percent-encoded, with the secrets replaced."""
    found = []
    for line in log_text.splitlines():
        decoded = urllib.parse.unquote_plus(line, errors="replace")
        if any(credentials[name] in line or credentials[name] in decoded for name in ("clientpass", "apikey")):
            for name in ("clientpass", "apikey"):
                decoded = decoded.replace(credentials[name], f"[{name} in clear]")
            found.append(decoded)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="offers-feedback-fuzz-"))
    env = site_env(folder)
    run_py(env, "import-catalog", str(DATA / "catalog.json"))
    credentials = json.loads(run_py(env, "create-client", "--name", "Fuzz app", "--bank", "BANK1", "--json"))
    log_path = folder / "server.log"
    print(f"Fuzzing /api with {args.requests:,} requests from {args.clients} clients, {args.workers} workers "
          f"(site and log in {folder})", flush=True)
    with served(env, log_path, workers=args.workers) as base:
        port = int(base.rsplit(":", 1)[1])
        share = [args.requests // args.clients + (i < args.requests % args.clients) for i in range(args.clients)]
        started = time.monotonic()
        with multiprocessing.Pool(args.clients) as pool:
            results = pool.map(run_client, [(port, credentials, args.seed * 1000 + i, n) for i, n in enumerate(share)])
        seconds = time.monotonic() - started
    statuses = sum((r[0] for r in results), collections.Counter())
    failures = [f for r in results for f in r[1]]
    log_text = log_path.read_text(errors="replace")
    leaked = leaks(log_text, credentials)
    tracebacks = log_text.count("Traceback")

    print(f"\n{sum(statuses.values()):,} requests in {seconds:.0f} s ({sum(statuses.values()) / seconds:,.0f}/s)")
    print("status  requests")
    for status, n in sorted(statuses.items()):
        print(f"{status or 'none':>6}  {n:>8,}")
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    print(f"5xx: {server_errors}   no answer: {statuses[0]}   tracebacks in the server log: {tracebacks}   "
          f"log lines with a secret: {len(leaked)}")
    for line in leaked[:5]:
        print("  leaked (decoded, secret replaced):", line[:500])
    if failures:
        text = b"\n\n".join(failures).decode("utf-8", "replace")
        for name in ("clientpass", "apikey"):
            text = text.replace(credentials[name], f"[{name}]")
        (folder / "fuzz-failures.txt").write_text(text)
        print(f"failing requests (secrets replaced): {folder / 'fuzz-failures.txt'}")
    ok = not server_errors and not statuses[0] and not leaked and not tracebacks
    print("OK" if ok else f"FAILED (site and server log kept in {folder})")
    if ok:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
