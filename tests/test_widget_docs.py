"""docs/widget.md must list every attribute the loader reads."""
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
LOADER = (ROOT / "widget" / "loader.js").read_text()
DOC = (ROOT / "docs" / "widget.md").read_text()


def kebab(name):
    return "data-" + re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), name)


def test_every_attribute_the_loader_reads_is_documented():
    read = {kebab(name) for name in re.findall(r"\bdata\.([a-zA-Z]+)", LOADER)}
    documented = set(re.findall(r"^\| `(data-[a-z-]+)` \|", DOC, re.M))
    assert read == documented
