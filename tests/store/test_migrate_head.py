"""The shipped head read from script names is Alembic's head, so the no-Alembic fast path is sound."""

from __future__ import annotations

import re
import subprocess
import sys

from camaudit.db import migrate


def test_script_names_give_alembics_head() -> None:
    assert migrate.shipped_head() == migrate.head_revision()


def test_each_script_holds_its_numbered_revision_and_revises_the_one_before() -> None:
    scripts = sorted((migrate.MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    previous = None
    for path in scripts:
        text = path.read_text(encoding="utf-8")
        revision = re.search(r"^revision = ['\"](\w+)['\"]", text, re.M)
        down = re.search(r"^down_revision = (None|['\"](\w+)['\"])", text, re.M)
        assert revision and revision.group(1) == path.name[:4], path.name
        assert down and (down.group(2) if down.group(1) != "None" else None) == previous, path.name
        previous = revision.group(1)


def test_opening_an_up_to_date_inventory_imports_no_alembic(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'inv.sqlite'}"
    code = ("import sys\nfrom camaudit.db.store import Store\n"
            f"Store({url!r}).close()\nprint('ALEMBIC', 'alembic' in sys.modules)\n")
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "ALEMBIC True" in first   # a new file is migrated by Alembic
    assert "ALEMBIC False" in again, again
