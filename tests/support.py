"""Helpers shared by the test suites: free ports, run.py, and a served app."""
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_py(env, *args):
    """Run `python run.py ARGS` as an operator would; returns its standard output."""
    result = subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextmanager
def served(env, log_path, workers=2):
    """`run.py serve` (gunicorn) on a free port until the block ends; yields its base URL."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "run.py", "serve", "--port", str(port), "--workers", str(workers)],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
