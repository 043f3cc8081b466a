"""`lazy_compile`: a pattern compiled on first use answers as `re.compile`'s does, and loading the parser compiles few."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from mailbridge.parse.lazy_re import LazyPattern, lazy_compile

PROJECT = Path(__file__).resolve().parents[1]


def test_a_lazy_pattern_answers_as_the_compiled_one():
    text = "Re: AW: Ticket DYN-000123 and dyn-000124, twice DYN-000123"
    for flags in (0, re.IGNORECASE):
        lazy, eager = lazy_compile(r"(dyn)-(\d+)", flags), re.compile(r"(dyn)-(\d+)", flags)
        assert lazy.pattern == eager.pattern
        assert repr(lazy.search(text)) == repr(eager.search(text))
        assert repr(lazy.match(text)) == repr(eager.match(text))
        assert lazy.findall(text) == eager.findall(text)
        assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in eager.finditer(text)]
        assert lazy.sub(r"\2", text) == eager.sub(r"\2", text) and lazy.subn("x", text) == eager.subn("x", text)
        assert lazy.split(text) == eager.split(text) and lazy.groups == eager.groups
        assert lazy.fullmatch("DYN-1") is not None if flags else lazy.fullmatch("DYN-1") is None
    assert lazy_compile(rb"=\?([\w-]+)\?").search(b"=?utf-8?Q?x?=").group(1) == b"utf-8"


def test_it_compiles_on_first_use():
    pattern = lazy_compile(r"a+")
    assert not _compiled(pattern) and pattern.pattern == "a+"
    assert pattern.search("baa").group() == "aa"
    assert _compiled(pattern) and pattern.compiled is re.compile(r"a+")


def test_loading_the_parser_compiles_only_the_patterns_every_message_meets():
    script = ("import gc, mailbridge.parse; from mailbridge.parse.lazy_re import LazyPattern; "
              "lazy = [o for o in gc.get_objects() if isinstance(o, LazyPattern)]; "
              "print(len(lazy), sum(1 for o in lazy if hasattr(o, 'compiled')))")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    waiting, compiled = map(int, result.stdout.split())
    assert waiting >= 50 and compiled == 0


def _compiled(pattern: LazyPattern) -> bool:
    try:
        object.__getattribute__(pattern, "compiled")
    except AttributeError:
        return False
    return True
