#!/usr/bin/env python3
"""Widget benchmark in Chromium: loader size, bytes until the buttons show, and timings.

Starts `run.py serve --demo` (gunicorn, plus the demo bank page on the next port), then
loads the bank page RUNS times in fresh browser contexts and prints: the loader's gzipped
size, the bytes the frame transfers until its buttons are visible (as sent, gzipped where
the browser accepts it), and the median times from page start to buttons visible and from
click 2 to the thank-you view. Usage: .venv/bin/python bench/widget.py [--runs 15]
"""
import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support import free_port, wait_until_up  # noqa: E402

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="offers-feedback-widget-bench-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "OFFERS_FEEDBACK_DATA": str(tmp),
           "WIDGET_REPORTS_PER_IP_HOUR": "100000"}
    port = free_port()
    server = subprocess.Popen([sys.executable, "run.py", "serve", "--demo", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        # serve --demo prints the bank page's address (the next port, or another if taken).
        page_url = next(line.split(": ", 1)[1].strip() for line in server.stdout if "Demo bank page" in line)
        if not (wait_until_up(page_url, server) and wait_until_up(base + "/healthz", server)):
            sys.exit("the demo server did not start")
        loader = urllib.request.urlopen(urllib.request.Request(base + "/widget.js", headers={"Accept-Encoding": "gzip"})).read()
        frame_bytes, to_buttons, to_thanks = measure(base, page_url, args.runs)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    raw_loader = (ROOT / "widget" / "loader.js").read_bytes()
    print(f"Chromium, {args.runs} runs, demo bank page on a second origin, server on this machine")
    print(f"loader /widget.js: {len(raw_loader)} bytes, {len(loader)} gzipped as served "
          f"({len(gzip.compress(raw_loader, 9))} at gzip -9; budget 2048)")
    print(f"frame's first render (page, CSS, htmx, script): {frame_bytes} bytes transferred, headers included "
          "(target <= 30720)")
    print(f"page start -> buttons visible: median {statistics.median(to_buttons):.0f} ms "
          f"(min {min(to_buttons):.0f}, max {max(to_buttons):.0f})")
    print(f"click 2 -> thank-you visible:  median {statistics.median(to_thanks):.0f} ms "
          f"(min {min(to_thanks):.0f}, max {max(to_thanks):.0f})")


def measure(base, page_url, runs):
    """Fresh context per run (empty cache), like a customer's first visit."""
    to_buttons, to_thanks, frame_bytes = [], [], 0
    with sync_playwright() as playwright:
        executable = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
        browser = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        for run in range(runs):
            context = browser.new_context(viewport={"width": 390, "height": 800})
            page = context.new_page()
            finished = []
            page.on("requestfinished", lambda request, finished=finished: finished.append(request))
            start = time.perf_counter()
            page.goto(page_url, wait_until="commit")
            frame = page.frame_locator("iframe")
            frame.get_by_role("button").first.wait_for()
            to_buttons.append((time.perf_counter() - start) * 1000)
            if run == 0:
                # The frame's whole first render: its page, stylesheet, htmx and script.
                page.wait_for_load_state("load")
                ours = [r for r in finished if r.url.startswith(base) and r.url != base + "/widget.js"]
                frame_bytes = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in ours)
            frame.get_by_role("button").first.click()
            send = frame.get_by_role("button", name="Send report")
            send.wait_for()
            start = time.perf_counter()
            send.click()
            frame.get_by_role("heading", name="Thank you").wait_for()
            to_thanks.append((time.perf_counter() - start) * 1000)
            context.close()
        browser.close()
    return frame_bytes, to_buttons, to_thanks


if __name__ == "__main__":
    main()
