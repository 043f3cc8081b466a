"""Regular expressions compiled when first used, so that loading the parser does not compile them all.

The parser has some eighty module-level patterns, most of them for bounces, auto-replies and
quote markers that a given message never reaches; compiling all of them at import was a
noticeable part of `mailbridge parse`'s start-up (issue 17). The patterns every message meets
(headers, auto-reply subjects, quote markers of plain text) stay `re.compile`d at import: they
are compiled by the first message anyway, and a call on a lazy pattern costs some 20 ns more.
"""

from __future__ import annotations

import re
from typing import Any

# The methods of `re.Pattern` the parser calls; bound once the pattern is compiled.
_METHODS = ("search", "match", "fullmatch", "sub", "subn", "finditer", "findall", "split")


class LazyPattern:
    """A `re.Pattern` compiled on the first use of a method (or of any attribute but `pattern`).

    The compiled pattern's bound methods are then kept in slots, so a later call costs about
    what a call on the compiled pattern does: no `__getattr__`, no check, no instance dict.
    """

    __slots__ = ("pattern", "_flags", "compiled", *_METHODS)

    def __init__(self, pattern: str | bytes, flags: int = 0) -> None:
        self.pattern = pattern
        self._flags = flags

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe for dunders: no compiling for those
            raise AttributeError(name)
        compiled = re.compile(self.pattern, self._flags)
        for method in _METHODS:
            setattr(self, method, getattr(compiled, method))
        self.compiled = compiled
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy_compile({self.pattern!r}, {self._flags!r})"


def lazy_compile(pattern: str | bytes, flags: int = 0) -> LazyPattern:
    """`re.compile(pattern, flags)`, done the first time the pattern is used."""
    return LazyPattern(pattern, flags)
