"""The docs' pictures: one list (scripts/screenshots.py's SHOTS) makes every one, and the docs show
no picture outside it."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "screenshots"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shots():
    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "scripts" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_picture_in_the_folder_is_made_by_the_script_and_exists():
    module = shots()
    made = {f"{s.name}.{'jpg' if s.jpeg else 'png'}" for s in module.SHOTS}
    assert len(made) == len(module.SHOTS)  # no two shots write one file
    present = {p.name for p in FOLDER.iterdir() if p.suffix in (".png", ".jpg")}
    assert present == made, (sorted(present - made), sorted(made - present))
    assert all(s.view in module.READY for s in module.SHOTS)  # each waits for its view's result


def test_every_picture_the_docs_show_is_in_the_folder():
    shown = set()
    for doc in DOCS:
        for path in re.findall(r"screenshots/([\w.-]+\.(?:png|jpg))", doc.read_text()):
            shown.add(path)
    assert shown, "the docs show no screenshot"
    missing = sorted(p for p in shown if not (FOLDER / p).exists())
    assert not missing, missing


def test_the_script_names_its_links_views_and_refuses_unknown_pictures():
    module = shots()
    views = {s.view for s in module.SHOTS}
    assert {"forward", "reverse", "generate", "2d", "memorisation", "readout"} <= views
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots.py"), "--only", "no-such-picture"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "no-such-picture" in done.stderr
