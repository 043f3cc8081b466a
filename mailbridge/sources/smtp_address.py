"""The path of MAIL FROM and RCPT TO read without the email package when it is a plain `<local@domain>`.

aiosmtpd parses every envelope address with `email._header_value_parser` (dozens of token
objects per address) and defines a typing Protocol class on each call; for the listener that
was about a sixth of its Python time per message. What MTAs send is nearly always a bracketed
dot-atom address, for which that parser returns the text between the brackets unchanged: such
a path is taken as it is, and anything else (quoted local parts, domain literals, comments,
spaces, non-ASCII, the null path `<>`) still goes through aiosmtpd's parser.
"""

from __future__ import annotations

import re

# RFC 5322 atext, ASCII only: the characters a dot-atom is made of.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_PLAIN_PATH = re.compile(rf"<({_DOT_ATOM})@({_DOT_ATOM})>")


class QuickAddress:
    """A mixin for aiosmtpd's SMTP and LMTP classes: `_getaddr` without the email parser for plain paths."""

    def _getaddr(self, arg: str):
        match = _PLAIN_PATH.match(arg) if arg else None
        rest = arg[match.end():] if match else ""
        # The parser drops white space and comments after the ">" (RFC 5322 CFWS); comments are its to read.
        if rest[:1] in (" ", "\t"):
            rest = rest.lstrip()
        if match is None or rest[:1] == "(":
            return super()._getaddr(arg)
        # The same length check aiosmtpd makes on the parsed address.
        if self.local_part_limit and len(match.group(1)) > self.local_part_limit:
            return None, None
        return arg[1:match.end() - 1], rest
