"""Is a database's schema the one this code ships? Answered without importing alembic.

Every command that opens the database checks its schema revision first. With alembic that
check costs about 0.3 s of imports (alembic, mako, every dialect's DDL module) before a
`mailbridge tickets list` can print a line, though the schema is current nearly every time.
So the common case is read directly: the revision stamped in `alembic_version` and the head of
the migration scripts, read from their `revision` / `down_revision` lines. Whenever either is
not one plain answer (no stamp, several heads, a script written another way) the answer is
None and `mailbridge.store.db` asks alembic, which also names what is wrong.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from importlib import resources

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# SQLAlchemy is imported only inside `stamped`: `mailbridge.store.listing` reads the stamp
# through the database driver (with STAMP_QUERY) so that `tickets list` never loads it.
_VERSION_TABLE = "alembic_version"
STAMP_QUERY = f"SELECT version_num FROM {_VERSION_TABLE}"
# `revision = '0008_hardening'`, `down_revision: str | None = None`: one line each, as alembic's
# template writes them (a value that does not parse alone makes the answer None).
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def stamped(connection: Connection) -> str | None:
    """The one revision stamped in the database, or None (no stamp table, no row, several rows)."""
    from sqlalchemy import inspect, text

    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    return one_stamp(connection.execute(text(STAMP_QUERY)).scalars().all())


def one_stamp(versions: list[str]) -> str | None:
    """The revision when STAMP_QUERY found exactly one; None otherwise."""
    return versions[0] if len(versions) == 1 else None


@cache
def shipped_head() -> str | None:
    """The head revision of the shipped migration scripts, or None when it is not one plain answer."""
    links: dict[str, tuple[str, ...]] = {}
    versions = resources.files("mailbridge.store") / "migrations" / "versions"
    for script in versions.iterdir():
        if not script.name.endswith(".py") or script.name == "__init__.py":
            continue
        found = _revision_and_parents(script.read_text(encoding="utf-8"))
        if found is None:
            return None
        revision, parents = found
        links[revision] = parents
    heads = set(links) - {parent for parents in links.values() for parent in parents}
    return heads.pop() if len(heads) == 1 else None


def _revision_and_parents(source: str) -> tuple[str, tuple[str, ...]] | None:
    """`revision` and `down_revision` of one script, as alembic writes them; None otherwise."""
    values = {}
    for name, value in _ASSIGNMENT.findall(source):
        try:
            values[name] = ast.literal_eval(value)
        except (SyntaxError, ValueError, TypeError):
            return None
    if not isinstance(values.get("revision"), str) or "down_revision" not in values:
        return None
    revision, parents = values["revision"], values["down_revision"]
    if parents is None:
        return revision, ()
    if isinstance(parents, str):
        return revision, (parents,)
    if isinstance(parents, tuple) and all(isinstance(p, str) for p in parents):
        return revision, parents
    return None
