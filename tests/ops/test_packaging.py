"""What `pip install .` puts into site-packages: one import namespace, `camaudit`.

The repository keeps its folders (scanner/, db/, fingerprints/); pyproject.toml maps them to
`camaudit`, `camaudit.db` and `camaudit.fingerprint_data`. Generic top-level names such as
`db` or `fingerprints` belong to whoever else installs them.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDERS = {"scanner": "camaudit", "db": "camaudit.db", "fingerprints": "camaudit.fingerprint_data"}


def test_every_folder_with_shipped_files_is_a_listed_package() -> None:
    """A new sub-folder that is not listed would be left out of the wheel without a word."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    needed = set()
    for folder, name in FOLDERS.items():
        for path in (REPO / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                parts = path.relative_to(REPO / folder).parent.parts
                needed.add(".".join([name, *parts]))
    assert needed == listed


@pytest.mark.slow
def test_install_beside_unrelated_db_and_fingerprints_packages(tmp_path: Path) -> None:
    """Installed next to other projects' `db` and `fingerprints`, camaudit and both of them import."""
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                            "--target", str(target), str(REPO)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    # bin/ holds the `camaudit` console script, not an import name
    top = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info") and p.name != "bin"}
    assert top == {"camaudit"}, top
    for name in ("db", "fingerprints"):  # someone else's packages of those names
        (tmp_path / "other" / name).mkdir(parents=True)
        (tmp_path / "other" / name / "__init__.py").write_text(f"WHO = 'other {name}'\n")
    code = ("import db, fingerprints, camaudit.db.store, camaudit.fingerprints.loader as fp;"
            "assert db.WHO == 'other db' and fingerprints.WHO == 'other fingerprints';"
            "assert camaudit.db.store.__file__.startswith(%r);"
            "print(len(fp.load_fingerprints().fingerprints))" % str(target))
    # -I: no user site, no PYTHONPATH, no current directory; the venv's own packages stay
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path[:0] = {[str(target), str(tmp_path / 'other')]!r}; {code}"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) > 100
