"""The docs run as written: every curl example of docs/api.md and the README, with real curl,
against the demo `make run` serves (gunicorn, the demo bank pages on a second origin), and
docs/widget.md's snippet and signing code against that demo's widget.

Only what the docs tell the reader to set is filled in: the `export` line the demo prints
(pasted before each example, as a reader would) and the host, when it is not 127.0.0.1:8000.
"""
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest

from backend.api import ACTIONS
from backend.demo import EXAMPLE_CUSTOMER
from support import ROOT, served_demo

DOC_HOST = "http://127.0.0.1:8000"  # where `make run` serves, as the docs write it
FENCED = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def fenced_blocks(name):
    """(language, text, line) of each fenced block of a document, in order."""
    text = (ROOT / name).read_text()
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCED.finditer(text)]


def curl_examples():
    """Each sh block that runs curl, with the error it is meant to show: the JSON block right
    after it, when that is an error answer (else it must succeed)."""
    examples = []
    for name in ("docs/api.md", "README.md"):
        blocks = fenced_blocks(name)
        for (language, text, line), after in zip(blocks, blocks[1:] + [("", "", 0)]):
            if language == "sh" and re.search(r"^curl ", text, re.M):
                expected = json.loads(after[1]) if after[0] == "json" and '"status": "error"' in after[1] else None
                examples.append(pytest.param(text, expected, id=f"{name}:{line}"))
    return examples


EXAMPLES = curl_examples()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    with served_demo(tmp_path_factory.mktemp("demo")) as site:
        yield site


def test_every_action_has_a_curl_example():
    examples = "\n".join(param.values[0] for param in EXAMPLES)
    shown = set(re.findall(r"action=(\w+)|\"action\": \"(\w+)\"", examples))
    assert {name for pair in shown for name in pair if name} == set(ACTIONS) - {"feedback"}  # user_feedback's twin


@pytest.mark.parametrize("script, expected", EXAMPLES)
def test_the_curl_example_runs_as_written_against_the_demo(demo, script, expected):
    # -u: an example using a variable the demo does not print fails here, not with a blank value.
    result = subprocess.run(["bash", "-euc", demo["export"] + "\n" + script.replace(DOC_HOST, demo["base"])],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    if expected:
        assert answer == expected
    else:
        assert answer["status"] == "success", answer


class ScriptTag(HTMLParser):
    """The attributes of a page's first <script> tag."""

    def __init__(self, markup):
        super().__init__()
        self.attributes = None
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        if tag == "script" and self.attributes is None:
            self.attributes = dict(attrs)


def frame_status(widget_origin, attributes, page_origin, **changed):
    """The status and text of the widget's frame as the loader opens it for these attributes
    (a device id when no customer is signed), embedded in a page of page_origin."""
    data = {name.removeprefix("data-"): value for name, value in attributes.items() if name.startswith("data-")}
    data.update(changed)
    query = {"key": data.get("key", ""), "offer": data.get("offer", ""), "outlet": data.get("outlet", ""),
             "bank": data.get("bank", ""), "lang": "en", "theme": "", "uid": data.get("user-id", ""),
             "sig": data.get("user-sig", ""), "device": "" if data.get("user-id") else "docs-test-device"}
    request = urllib.request.Request(f"{widget_origin}/widget/frame?{urlencode(query)}",
                                     headers={"Referer": page_origin + "/"})  # the loader's referrerPolicy: origin
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def page(url):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


def test_the_signed_demo_pages_widget_takes_its_signature_and_refuses_another(demo):
    signed = page(demo["pages"] + "/signed")
    attributes = ScriptTag(signed).attributes
    assert attributes["data-user-id"] == EXAMPLE_CUSTOMER and len(attributes["data-user-sig"]) == 64
    assert demo["variables"]["WIDGET_SECRET"] not in signed  # signed on the server, never sent to the browser
    status, frame = frame_status(demo["base"], attributes, demo["pages"])
    assert status == 200 and "10% off at Cafe Aroma" in frame
    forged = attributes["data-user-sig"][:-1] + ("0" if attributes["data-user-sig"][-1] != "0" else "1")
    assert frame_status(demo["base"], attributes, demo["pages"], **{"user-sig": forged})[0] == 403
    assert frame_status(demo["base"], attributes, demo["pages"], **{"user-id": "someone@else.example"})[0] == 403


def test_the_widget_docs_snippet_works_on_the_demo(demo):
    [snippet] = [text for language, text, _ in fenced_blocks("docs/widget.md") if language == "html"]
    # What the docs tell the reader to put in: the demo's widget key (and our host, here another port).
    written = snippet.replace("wk_...", demo["variables"]["WIDGET_KEY"]).replace(DOC_HOST, demo["base"])
    attributes = ScriptTag(written).attributes
    assert attributes == ScriptTag(page(demo["pages"] + "/")).attributes  # "the demo bank page embeds exactly this"
    status, frame = frame_status(demo["base"], attributes, demo["pages"])
    assert status == 200 and "10% off at Cafe Aroma" in frame
    without_bank = {name: value for name, value in attributes.items() if name != "data-bank"}
    assert frame_status(demo["base"], without_bank, demo["pages"])[0] == 400  # a network's key needs data-bank


def test_the_widget_docs_signing_code_gives_the_signed_pages_signature(demo):
    expected = ScriptTag(page(demo["pages"] + "/signed")).attributes["data-user-sig"]
    secret = demo["variables"]["WIDGET_SECRET"]
    blocks = {language: text for language, text, _ in fenced_blocks("docs/widget.md") if language in ("python", "js")}
    python = {"WIDGET_SECRET": secret, "user_id": EXAMPLE_CUSTOMER}
    exec(blocks["python"], python)
    assert python["signature"] == expected
    if shutil.which("node"):
        script = "const WIDGET_SECRET = process.argv[1], userId = process.argv[2];\n" + blocks["js"] + "console.log(signature);"
        node = subprocess.run(["node", "-e", script, secret, EXAMPLE_CUSTOMER], capture_output=True, text=True, timeout=30)
        assert node.stdout.strip() == expected, node.stderr
