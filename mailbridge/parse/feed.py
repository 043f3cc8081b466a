"""The stdlib's feed parser, less the regular expression it compiles for every multipart boundary.

`email.feedparser` compiles `(?P<sep>--BOUNDARY)(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>…)?$`
once per multipart it meets. Boundaries are unique per message, so `re`'s cache never helps,
and that compile cost more than half a million instructions: a fifth of the parse of an
ordinary two-part mail. Here the stdlib's own `_parsegen` runs unchanged, with one name
rebound in its globals: its `re.compile` of exactly that pattern returns a matcher that tests
the literal separator with `str.startswith` and the rest with one pattern compiled at import.
It gives the same answers (the separator is a literal, so the pattern matches exactly the
lines that start with it and whose rest matches the tail), and `_parsegen` reads no group but
`end` and `linesep`. Every other pattern goes to `re.compile`.
"""

from __future__ import annotations

import email.feedparser
import re
import types
from email.message import Message

_HEAD = "(?P<sep>"
_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_TAIL_RE = re.compile(_TAIL[1:])
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class _Delimiter:
    """What `re.compile` of the stdlib's boundary pattern gives, for the calls it makes."""

    __slots__ = ("_separator", "_length")

    def __init__(self, separator: str) -> None:
        self._separator = separator
        self._length = len(separator)

    def match(self, line: str) -> re.Match | None:
        return _TAIL_RE.match(line, self._length) if line.startswith(self._separator) else None


def _compile(pattern, flags=0):
    """`re.compile`, or a `_Delimiter` for the boundary pattern of `email.feedparser`."""
    if flags == 0 and isinstance(pattern, str) and pattern.startswith(_HEAD) and pattern.endswith(_TAIL):
        escaped = pattern[len(_HEAD):-len(_TAIL)]
        separator = _unescape(escaped)
        # Only a separator `re.escape` wrote comes back unchanged; anything else is compiled.
        if re.escape(separator) == escaped:
            return _Delimiter(separator)
    return re.compile(pattern, flags)


def _unescape(escaped: str) -> str:
    """`escaped` without the backslashes that escape a character (what `re.escape` added)."""
    if "\\\\" in escaped or escaped.endswith("\\"):
        return _ESCAPED.sub(r"\1", escaped)
    # With no escaped backslash and none left over at the end, every backslash escapes the
    # next character: dropping them is the substitution without its per-match template call.
    return escaped.replace("\\", "")


_RE = types.SimpleNamespace(**{name: getattr(re, name) for name in dir(re) if not name.startswith("__")})
_RE.compile = _compile
_CHUNK = 8192  # what email.parser.Parser.parse reads at a time
_STDLIB = email.feedparser.FeedParser._parsegen


class _FeedParser(email.feedparser.FeedParser):
    # The stdlib's generator, code and all, reading `re` from a copy of its module's globals.
    _parsegen = types.FunctionType(_STDLIB.__code__, {**vars(email.feedparser), "re": _RE},
                                   _STDLIB.__name__, _STDLIB.__defaults__, _STDLIB.__closure__)


class FeedBytesParser:
    """`email.parser.BytesParser(_class=factory, policy=policy)`, on the feed parser above."""

    def __init__(self, factory: type[Message], policy) -> None:
        self._factory = factory
        self._policy = policy

    def parsebytes(self, raw: bytes, headersonly: bool = False) -> Message:
        # As BytesParser and Parser.parse: bytes become text one code point per byte (8-bit
        # ones as surrogates), fed in the same chunks.
        text = raw.decode("ascii", "surrogateescape")
        parser = _FeedParser(self._factory, policy=self._policy)
        if headersonly:
            parser._set_headersonly()
        for start in range(0, len(text), _CHUNK):
            parser.feed(text[start:start + _CHUNK])
        return parser.close()
