"""The Message class the parser builds: Content-Type read as senders write it, not only as RFC 2045 says.

Three kinds of damage are read here as the sender meant them:
- parameters without their ";" (`multipart/mixed` then a folded `boundary="b"`, `text/plain
  charset=iso-8859-2`, `attachment filename=x.pdf`): the stdlib reads the type as
  "multipart/mixed boundary" and finds no parameter, so a multipart became one text part and a
  charset was guessed; here the type or disposition ends at its first blank and the `name=value`
  pairs written after it count as parameters;
- a quoted boundary ending in blanks (RFC 2046 forbids it; mime4j and the senders it tests keep
  them): the stdlib strips them, so the closing delimiter, whose "--" follows the blanks, is never
  seen and a line with fewer blanks splits a part. `VerbatimBoundaryMessage` keeps them; the
  parser tries it only when the message declares such a boundary (see `declares_spaced_boundary`);
- a charset parameter holding 8-bit bytes, which made the stdlib's get_payload() raise.
"""

from __future__ import annotations

import re
from email import utils
from itertools import islice
from email.message import Message

from mailbridge.parse.lazy_re import lazy_compile

_AROUND_SLASH = lazy_compile(r"\s*/\s*")
# A parameter written after the type without the ";" that should separate them. It may start
# only where a word starts and its name is matched possessively, so a long word without "="
# is looked at once, not once per character (linear, not quadratic).
_BARE_PARAM = lazy_compile(r'''(?<![\w.*-])([A-Za-z][\w.*-]*+)\s*+=\s*+("[^"]*"|[^\s"]++)''')
# Senders who drop the ";" write a parameter or two; hostile input writes a million.
_MAX_BARE_PARAMS = 8
# Matched against the lowered bytes: a case-blind pattern has no literal to skip ahead by and
# costs twelve times more on a typical message (lowering bytes folds ASCII letters only, as
# IGNORECASE does for a bytes pattern, and nothing else in the pattern is a letter).
_SPACED_BOUNDARY = re.compile(rb'boundary\s*=\s*"[^"\r\n]*[ \t]"')
# Parameter lists already read, by header value (see _get_params_preserve).
_PARAMETERS: dict[str, tuple] = {}
_CACHED_VALUES = 512
_CACHED_VALUE_LENGTH = 1000
# Parameters already looked up, by (header value, lower-case parameter name, unquote); a
# parameter the value does not have is _ABSENT.
_ANSWERS: dict[tuple[str, str, bool], object] = {}
_CACHED_ANSWERS = 2048
_ABSENT = object()
_UNKNOWN = object()


class LenientMessage(Message):
    """A stdlib Message whose type and parameters survive a missing ";", and whose charset
    parameter is never a name the stdlib would crash on."""

    # The headers the lookups below were last read from (a copy) and, by lower-case name, the
    # first (name, value) pair of each; see _by_name.
    _known_headers: tuple[list, dict] | None = None
    # The index, default type and content type of the last get_content_type (see there).
    _known_type: tuple[dict, str, str] | None = None

    def _by_name(self) -> dict[str, tuple[str, str]]:
        # get, `in` and get_param are asked some eighty times a message (by the feed parser,
        # the MIME walk, the bounce and automatic-mail checks), and the stdlib answers each by
        # walking the header list lowering every name (a missing header walks all of them).
        # The first pair of each name is kept with a copy of the list it was read from, whose
        # comparison (by identity, element by element, in C) costs a fraction of one walk. A
        # header added, replaced or removed since (even in place) makes the lists differ, and
        # the index is made again.
        known = self._known_headers
        if known is not None and known[0] == self._headers:
            return known[1]
        index = {}
        for pair in reversed(self._headers):
            index[pair[0].lower()] = pair
        self._known_headers = (list(self._headers), index)
        return index

    def get(self, name, failobj=None):
        pair = self._by_name().get(name.lower())
        if pair is None:
            return failobj
        return self.policy.header_fetch_parse(*pair)

    def __contains__(self, name):
        return name.lower() in self._by_name()

    def get_param(self, param, failobj=None, header="content-type", unquote=True):
        # The answer depends on the header's value alone (None when the header is missing),
        # and the same values recur from part to part and message to message: a part's
        # Content-Type is read for its charset, format, name and boundary. Long values are
        # not kept.
        value = self.get(header)
        if value is None and header not in self:
            return failobj
        if type(value) is not str or len(value) > _CACHED_VALUE_LENGTH:
            answer = self._read_param(param, header, unquote)
        else:
            key = (value, param.lower(), unquote)
            answer = _ANSWERS.get(key, _UNKNOWN)
            if answer is _UNKNOWN:
                answer = self._read_param(param, header, unquote)
                if len(_ANSWERS) >= _CACHED_ANSWERS:
                    _ANSWERS.clear()
                _ANSWERS[key] = answer
        return failobj if answer is _ABSENT else answer

    def _read_param(self, param, header, unquote):
        value = super().get_param(param, _ABSENT, header, unquote)
        if param.lower() == "charset" and isinstance(value, str) and not value.isascii():
            # A header block mended from raw 8-bit lines can leave bytes in the parameter; the
            # stdlib's get_payload() passes it to bytes.decode, which raises UnicodeEncodeError.
            return _ABSENT
        return value

    def get_content_type(self) -> str:
        # Asked some forty times a message: the answer is kept with the header index it was
        # read from (a new index whenever the headers change; see _by_name).
        index = self._by_name()
        known = self._known_type
        if known is not None and known[0] is index and known[1] == self._default_type:
            return known[2]
        ctype = self._read_content_type()
        self._known_type = (index, self._default_type, ctype)
        return ctype

    def _read_content_type(self) -> str:
        # The stdlib's own steps, then the slow path only for a type with blanks in it.
        value = self.get("content-type")
        if value is None:
            return self.get_default_type()
        ctype = str(value).partition(";")[0].strip().lower()
        if " " not in ctype and "\t" not in ctype and "\n" not in ctype and "\r" not in ctype:
            return ctype if ctype.count("/") == 1 else "text/plain"
        # "multipart/mixed\n\tboundary=…": the type is the first word (and names are short:
        # RFC 6838 allows 127 characters a side, so only the head is looked at).
        first = _AROUND_SLASH.sub("/", ctype[:300]).split(None, 1)[0]
        return first if first.count("/") == 1 else "text/plain"

    def _get_params_preserve(self, failobj, header):
        # The list depends on the header's value alone, and reading it is costly (about 25 us
        # in the stdlib): a part's Content-Type is read for its charset, format, name and
        # boundary, and the same values recur from message to message. Long values are not kept.
        value = self.get(header)
        key = value if type(value) is str and len(value) <= _CACHED_VALUE_LENGTH else None
        if key is not None and (cached := _PARAMETERS.get(key)) is not None:
            return list(cached)
        params = self._read_params(failobj, header)
        if key is not None and params is not failobj:
            if len(_PARAMETERS) >= _CACHED_VALUES:
                _PARAMETERS.clear()
            _PARAMETERS[key] = tuple(params)
        return params

    def _read_params(self, failobj, header):
        # The stdlib's parameter list, whose first entry is the type ("multipart/mixed", "");
        # without a ";" it is ("multipart/mixed\n\tboundary", '"b"'): split it again.
        params = super()._get_params_preserve(failobj, header)
        if params is failobj or not params or not isinstance(params[0][0], str):
            return params
        name, value = params[0]
        words = name.split(None, 1)
        if len(words) < 2:
            return params
        rest = words[1] + (f"={value}" if value else "")
        bare = [match.groups() for match in islice(_BARE_PARAM.finditer(rest), _MAX_BARE_PARAMS)]
        return [(words[0], ""), *bare, *params[1:]]


class VerbatimBoundaryMessage(LenientMessage):
    """As LenientMessage, with a boundary's trailing blanks kept as declared."""

    def get_boundary(self, failobj=None):
        missing = object()
        boundary = self.get_param("boundary", missing)
        return failobj if boundary is missing else utils.collapse_rfc2231_value(boundary)


def declares_spaced_boundary(raw: bytes) -> bool:
    """True when some part declares a quoted boundary that ends in a blank."""
    lowered = raw.lower()
    # Every match starts at a "boundary": the pattern is tried there only, not at every byte
    # of a long body (where the pattern's search crawls, bytes.find jumps).
    start = lowered.find(b"boundary")
    while start >= 0:
        if _SPACED_BOUNDARY.match(lowered, start) is not None:
            return True
        start = lowered.find(b"boundary", start + 1)
    return False
