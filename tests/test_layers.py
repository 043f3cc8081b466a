"""The layers written down in pyproject.toml hold, cover every top-level module, and really bite.

`lint-imports` (import-linter) checks the contracts; these tests run it on the checkout, check
that no top-level module escapes the layers contract, and plant forbidden imports in a copy of
the package to see the contracts fail with the import that broke them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _contracts() -> list[dict]:
    return tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The package and its pyproject.toml copied, so a test can break the copy's imports."""
    shutil.copytree(PROJECT / "mailbridge", tmp_path / "mailbridge", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_checkout_keeps_every_contract() -> None:
    result = _lint(PROJECT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_top_level_module_has_a_place_in_the_layers() -> None:
    (layers,) = [c["layers"] for c in _contracts() if c["type"] == "layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    top = {p.stem for p in (PROJECT / "mailbridge").iterdir()
           if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.stem not in ("__init__", "__main__")}
    missing = [name for name in sorted(top) if not any(
        entry == f"mailbridge.{name}" or entry.startswith(f"mailbridge.{name}.") for entry in placed)]
    assert not missing, f"not placed in the layers contract of pyproject.toml: {missing}"


@pytest.mark.parametrize(("module", "planted", "contract"), [
    ("parse/model.py", "from mailbridge.store import db", "Parsing and business-time arithmetic are pure"),
    ("sla/bizcal.py", "import sqlalchemy", "Parsing and business-time arithmetic are pure"),
    ("sources/smtp.py", "from mailbridge.outgoing import notify", "Sources only take mail in"),
    ("store/repo.py", "from mailbridge.service import worker", "Storage imports no source"),
    ("pipeline.py", "from mailbridge.cli import common", "Nothing imports the CLI"),
    ("route.py", "from mailbridge import thread", "Layers, top to bottom"),
])
def test_a_forbidden_import_breaks_its_contract(copy: Path, module: str, planted: str, contract: str) -> None:
    path = copy / "mailbridge" / module
    path.write_text(path.read_text() + f"\n{planted}  # planted by the test\n")
    result = _lint(copy)
    assert result.returncode == 1, result.stdout[-3000:]
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
    assert f"mailbridge.{module.removesuffix('.py').replace('/', '.')}" in broken
