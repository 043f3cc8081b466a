"""Recognise an Outlook .msg file (an OLE compound document), which is not mail mailbridge can read.

Outlook saves messages in its own binary format; nothing in it is MIME, so it must be converted
before it can be parsed. No well-kept, permissively licensed Python library converts it
faithfully (extract-msg is GPL-3.0 and loses the original MIME structure), so the user is told
what the file is and how to turn it into an .eml instead.
"""

from __future__ import annotations

# Every OLE2 compound document (.msg, .doc, .xls) starts with these eight bytes.
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

HOW_TO_CONVERT = (
    "this is an Outlook .msg file (an OLE compound document), not a MIME message; convert it "
    "to .eml first: `msgconvert FILE.msg` writes FILE.eml (Debian/Ubuntu package "
    "libemail-outlook-message-perl), or open it in Outlook on the web or Thunderbird and save "
    "or download the message as .eml"
)


def is_outlook_msg(raw: bytes) -> bool:
    """True for an OLE compound document, which is what Outlook's .msg files are."""
    return raw[:8] == OLE_MAGIC
