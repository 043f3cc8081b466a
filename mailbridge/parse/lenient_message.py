"""The Message class the parser builds: Content-Type read as senders write it, not only as RFC 2045 says.

Three kinds of damage are read here as the sender meant them. Two make the stdlib read a whole multipart as one text part:
- a parameter without its ";" (`multipart/mixed` then a folded `boundary="b"`): the type is read
  as "multipart/mixed boundary=…" and no boundary is found; here the type ends at the first blank
  and a `boundary=` written after it still counts;
- a quoted boundary ending in blanks (RFC 2046 forbids it; mime4j and the senders it tests keep
  them): the stdlib strips them, so the closing delimiter, whose "--" follows the blanks, is never
  seen and a line with fewer blanks splits a part. `VerbatimBoundaryMessage` keeps them; the
  parser tries it only when the message declares such a boundary (see `declares_spaced_boundary`).
The third: a charset parameter holding 8-bit bytes, which made the stdlib's get_payload() raise.
"""

from __future__ import annotations

import re
from email import utils
from email.message import Message

_BLANK = re.compile(r"\s+")
_AROUND_SLASH = re.compile(r"\s*/\s*")
# `boundary=` after the type without the ";" that should separate them.
_BARE_BOUNDARY = re.compile(r'''\sboundary\s*=\s*(?:"([^"]+)"|([^\s;"]+))''', re.IGNORECASE)
_SPACED_BOUNDARY = re.compile(rb'boundary\s*=\s*"[^"\r\n]*[ \t]"', re.IGNORECASE)


class LenientMessage(Message):
    """A stdlib Message whose content type and boundary survive a missing ";", and whose charset
    parameter is never a name the stdlib would crash on."""

    def get_param(self, param, failobj=None, header="content-type", unquote=True):
        value = super().get_param(param, failobj, header, unquote)
        if param.lower() == "charset" and isinstance(value, str) and not value.isascii():
            # A header block mended from raw 8-bit lines can leave bytes in the parameter; the
            # stdlib's get_payload() passes it to bytes.decode, which raises UnicodeEncodeError.
            return failobj
        return value

    def get_content_type(self) -> str:
        value = self.get("content-type")
        ctype = str(value).split(";", 1)[0].strip() if value is not None else ""
        if not _BLANK.search(ctype):
            return super().get_content_type()
        # "multipart/mixed\n\tboundary=…": the type is the first word.
        first = _AROUND_SLASH.sub("/", ctype).split(None, 1)[0]
        return first.lower() if first.count("/") == 1 else super().get_content_type()

    def get_boundary(self, failobj=None):
        boundary = self._declared_boundary()
        return failobj if boundary is None else boundary.rstrip()

    def _declared_boundary(self) -> str | None:
        missing = object()
        boundary = self.get_param("boundary", missing)
        if boundary is not missing:
            return utils.collapse_rfc2231_value(boundary)
        value = str(self.get("content-type", ""))
        if not value.lower().startswith("multipart"):
            return None
        match = _BARE_BOUNDARY.search(value.split(";", 1)[0])
        return (match.group(1) or match.group(2)) if match else None


class VerbatimBoundaryMessage(LenientMessage):
    """As LenientMessage, with a boundary's trailing blanks kept as declared."""

    def get_boundary(self, failobj=None):
        boundary = self._declared_boundary()
        return failobj if boundary is None else boundary


def declares_spaced_boundary(raw: bytes) -> bool:
    """True when some part declares a quoted boundary that ends in a blank."""
    return _SPACED_BOUNDARY.search(raw) is not None
