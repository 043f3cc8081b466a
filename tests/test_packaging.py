"""A regular wheel carries everything mailbridge reads at run time: templates, migrations, every module.

The wheel is built from a copy of the checkout and unpacked into a temporary folder; its code
then runs from there with this virtualenv's interpreter (for the dependencies), in a working
directory outside the checkout, so nothing can be found through the repository by accident.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]

CONFIG = """
[mailbridge]
state_dir = "{state}"
secret = "packaging-tests-secret-0123456789"

[outbox]
templates_dir = "{own}"

[[queues]]
name = "dynamics"
address = "pomoc-dynamics@example.com"
code_prefix = "DYN"
language = "pl"
languages = ["es", "en"]
"""

# Runs inside the unpacked wheel: where the code and templates come from, and what they render.
RENDER = """
import sys
from pathlib import Path

import mailbridge
from mailbridge.config import load_config
from mailbridge.outgoing.templates import bundled_dir, check_templates, sample_context, templates_for

site = Path(sys.argv[1])
config = load_config(Path(sys.argv[2]))
print("module", Path(mailbridge.__file__).is_relative_to(site))
print("bundled", bundled_dir().is_relative_to(site))
print("problems", check_templates(config))
queue = config.queues[0]
for language in ("pl", "es", "en"):
    rendered = templates_for(config).render("ack", queue.name, language, sample_context(queue, config))
    code = "code" if "DYN-000123" in rendered.subject + rendered.text else "no code"
    print(language, rendered.subject, "|", code, "|", "html" if rendered.html else "no html")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built by pip from a copy of the checkout (so no build/ lands in the repository)."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, source / name)
    for folder in ("mailbridge", "templates"):
        shutil.copytree(PROJECT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(source),
                            "-w", str(root / "dist")], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = (root / "dist").glob("mailbridge-*.whl")
    return path


@pytest.fixture(scope="module")
def site(wheel: Path) -> Path:
    """The wheel unpacked, as pip would lay it out in site-packages."""
    target = wheel.parent.parent / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """This interpreter on the unpacked wheel's code, from a folder outside the checkout."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("MAILBRIDGE_CONFIG", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def test_the_wheel_holds_every_module_template_and_migration(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(PROJECT)) for p in (PROJECT / "mailbridge").rglob("*.py")
               if "__pycache__" not in p.parts}
    templates = {f"mailbridge/bundled_templates/{p.name}" for p in (PROJECT / "templates").iterdir()
                 if p.suffix in (".txt", ".html", ".md")}
    assert modules - names == set(), "add the missing package to [tool.setuptools] packages"
    assert templates - names == set()
    assert "mailbridge/store/migrations/script.py.mako" in names
    # Nothing outside the mailbridge package: a top-level `templates/` would clash with other projects.
    assert {name.split("/", 1)[0] for name in names} == {"mailbridge", wheel.name.split("-py3")[0] + ".dist-info"}


def test_installed_templates_render_and_a_queue_override_wins(site, tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "ack.dynamics.es.txt").write_text("Recibido {{ ticket.code }}\n\nGracias.\n", encoding="utf-8")
    config = tmp_path / "mailbridge.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state", own=own), encoding="utf-8")
    script = tmp_path / "render.py"
    script.write_text(RENDER, encoding="utf-8")
    result = run_installed(site, tmp_path, str(script), str(site), str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[:3] == ["module True", "bundled True", "problems []"]
    assert lines[3].startswith("pl Otrzymaliśmy") and lines[3].endswith("| code | html")
    assert lines[4] == "es Recibido DYN-000123 | code | no html"
    assert lines[5].startswith("en ") and lines[5].endswith("| code | html")


def test_installed_db_upgrade_creates_the_schema(site, tmp_path):
    config = tmp_path / "mailbridge.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state", own=tmp_path), encoding="utf-8")
    result = run_installed(site, tmp_path, "-m", "mailbridge", "db", "upgrade", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(tmp_path / "state" / "mailbridge.sqlite3") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"ticket", "message", "outbox", "alembic_version"} <= tables
    assert revision is not None
