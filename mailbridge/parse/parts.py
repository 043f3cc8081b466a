"""Walk the MIME tree once: pick the text and HTML bodies, turn every other part into an Attachment.

Which parts form the body follows the algorithm of RFC 8621 (JMAP) section 4.1.4, which is what
modern clients display: in multipart/alternative the plain part feeds `text` and the HTML part
`html`; in multipart/mixed every inline text part is body; in multipart/related only the first part
is. Every leaf that does not end up as body text is an attachment, with its decoded bytes.
"""

from __future__ import annotations

from collections.abc import Iterable

import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message

from mailbridge.parse.charset import decode_text
from mailbridge.parse.flowed import unflow
from mailbridge.parse.headers import decode_header, get_param
from mailbridge.parse.htmltext import html_to_text
from mailbridge.parse.lazy_re import lazy_compile
from mailbridge.parse.model import Attachment
from mailbridge.parse.raw_spans import RawSpans
from mailbridge.parse.transfer import payload_bytes
from mailbridge.parse.uuencode import uuencoded_attachments

# Parts nested deeper than this are kept whole as one attachment instead of being walked: real
# mail nests a few levels, hostile mail thousands, and the walk must not blow the stack.
MAX_DEPTH = 60
_MESSAGE_LEAVES = frozenset({"rfc822", "global", "partial", "external-body", "delivery-status",
                             "disposition-notification", "feedback-report", "global-delivery-status",
                             "global-disposition-notification", "global-headers", "rfc822-headers"})
_CID_REF = lazy_compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)
_META_CHARSET = lazy_compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Body:
    """What the MIME walk yields: the text and HTML bodies and the attachments."""

    text: str
    html: str | None
    attachments: tuple[Attachment, ...]


@dataclass(slots=True)
class _Leaf:
    part: Message
    content_type: str
    disposition: str
    filename: str | None


@dataclass(slots=True)
class _Walk:
    """Accumulators of the JMAP algorithm: the two body lists and every leaf in order."""

    text: list[_Leaf] = field(default_factory=list)
    html: list[_Leaf] = field(default_factory=list)
    leaves: list[_Leaf] = field(default_factory=list)


def extract_body(msg: Message, defects: list[str], hints: Iterable[str] = (),
                 spans: RawSpans | None = None) -> Body:
    """The bodies and attachments of a parsed message; problems are appended to `defects`.

    `hints` are the charsets the message declares, tried for a part that declares none;
    `spans` locates nested messages in the raw bytes, so they are attached as sent.
    """
    walk = _Walk()
    if _is_leaf(msg, 0):
        root = _leaf(msg, defects)
        walk.leaves.append(root)
        _place(root, 0, "mixed", False, walk.text, walk.html)
    else:
        subtype = msg.get_content_subtype()
        _walk(walk, msg, subtype, subtype == "alternative", walk.text, walk.html, 1, defects)
    text_leaves = [leaf for leaf in walk.text if leaf.content_type == "text/plain"]
    html_leaves = [leaf for leaf in walk.html if leaf.content_type == "text/html"]
    html = _join([_decode_html(leaf, defects, hints) for leaf in html_leaves]) if html_leaves else None
    text, uuencoded = _plain_text(text_leaves, defects, hints)
    if not text.strip() and html is not None:
        # An empty plain part beside the HTML is as good as none: the HTML is the message.
        text = _rendered(walk, html, defects)
    if not text.strip() and _broken_structure(msg):
        text = _stray_text(msg, defects) or text
    used = {id(leaf) for leaf in text_leaves + html_leaves}
    cids = _cid_refs(html)
    attachments = [_attachment(leaf, cids, defects, spans) for leaf in walk.leaves if id(leaf) not in used]
    return Body(text=text, html=html, attachments=tuple(attachments + uuencoded))


# --- the walk ---------------------------------------------------------------------------------

def _is_leaf(part: Message, depth: int) -> bool:
    if depth >= MAX_DEPTH or not part.is_multipart():
        return True
    return part.get_content_maintype() == "message" and part.get_content_subtype() in _MESSAGE_LEAVES


def _walk(walk: _Walk, container: Message, kind: str, in_alternative: bool,
          text: list[_Leaf] | None, html: list[_Leaf] | None, depth: int, defects: list[str]) -> None:
    """RFC 8621 parseStructure over the children of one multipart.

    `text` and `html` are the body lists as this call sees them: dropping one (None) inside a
    nested multipart only stops this call and its children from adding to it, as in the RFC.
    """
    text_before = len(text) if text is not None else -1
    html_before = len(html) if html is not None else -1
    for index, child in enumerate(container.get_payload()):
        if not isinstance(child, Message):
            continue
        if not _is_leaf(child, depth):
            subtype = child.get_content_subtype()
            _walk(walk, child, subtype, in_alternative or subtype == "alternative", text, html,
                  depth + 1, defects)
            continue
        if depth >= MAX_DEPTH and child.is_multipart():
            defects.append(f"mime: nesting deeper than {MAX_DEPTH} levels kept as one attachment")
        leaf = _leaf(child, defects)
        walk.leaves.append(leaf)
        text, html = _place(leaf, index, kind, in_alternative, text, html)
    if kind == "alternative" and text is not None and html is not None:
        _fill_missing_alternative(text, html, text_before, html_before)


def _place(leaf: _Leaf, index: int, kind: str, in_alternative: bool,
           text: list[_Leaf] | None, html: list[_Leaf] | None):
    """Add one leaf to the body lists it belongs to; return the lists as the caller now sees them."""
    if not _is_inline(leaf, index, kind):
        return text, html
    if kind == "alternative":
        if leaf.content_type == "text/plain" and text is not None:
            text.append(leaf)
        elif leaf.content_type == "text/html" and html is not None:
            html.append(leaf)
        return text, html
    if in_alternative:
        if leaf.content_type == "text/plain":
            html = None
        if leaf.content_type == "text/html":
            text = None
    for body in (text, html):
        if body is not None:
            body.append(leaf)
    return text, html


def _is_inline(leaf: _Leaf, index: int, kind: str) -> bool:
    if leaf.disposition == "attachment":
        return False
    media = _is_inline_media(leaf.content_type)
    if leaf.content_type not in ("text/plain", "text/html") and not media:
        return False
    # In multipart/related only the root is body; a named text part after the first is an attachment.
    return index == 0 or (kind != "related" and (media or not leaf.filename))


def _is_inline_media(content_type: str) -> bool:
    return content_type.startswith(("image/", "audio/", "video/"))


def _fill_missing_alternative(text: list[_Leaf], html: list[_Leaf], text_before: int,
                              html_before: int) -> None:
    # An alternative that offered only one of the two kinds lends it to the other list.
    if len(text) == text_before and len(html) != html_before:
        text.extend(html[html_before:])
    if len(html) == html_before and len(text) != text_before:
        html.extend(text[text_before:])


def _leaf(part: Message, defects: list[str]) -> _Leaf:
    content_type = part.get_content_type()
    if not content_type.isascii():
        # Raw 8-bit bytes in a media type (kept as surrogates) name no type: store none of them.
        defects.append("mime: a Content-Type with 8-bit bytes read as application/octet-stream")
        content_type = "application/octet-stream"
    if part.get_content_maintype() == "multipart" and not part.is_multipart():
        # A multipart without a usable boundary: its body is all we have, so read it as text.
        defects.append("mime: multipart without its boundary read as text/plain")
        content_type = "text/plain"
    # The first word: "attachment filename=x.pdf" lost its ";" but is still an attachment.
    disposition = next(iter((part.get("Content-Disposition") or "").split(";", 1)[0].lower().split()), "")
    filename = get_param(part, "filename", "content-disposition", defects) or get_param(
        part, "name", "content-type", defects)
    return _Leaf(part, content_type, disposition, filename)


# --- body text --------------------------------------------------------------------------------

def _decode_plain(leaf: _Leaf, defects: list[str], hints: Iterable[str] = ()) -> str:
    text, defect = decode_text(payload_bytes(leaf.part, defects), leaf.part.get_content_charset(), hints)
    if defect:
        defects.append(f"body: {defect}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if (leaf.part.get_param("format") or "").lower() == "flowed":
        text = unflow(text, delsp=(leaf.part.get_param("delsp") or "").lower() == "yes")
    return text


def _decode_html(leaf: _Leaf, defects: list[str], hints: Iterable[str] = ()) -> str:
    data = payload_bytes(leaf.part, defects)
    charset = leaf.part.get_content_charset() or _sniff_html_charset(data)
    text, defect = decode_text(data, charset, hints)
    if defect:
        defects.append(f"html: {defect}")
    return text


def _sniff_html_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data, 0, 4096)
    return match.group(1).decode("ascii") if match else None


def _plain_text(leaves: list[_Leaf], defects: list[str],
                hints: Iterable[str] = ()) -> tuple[str, list[Attachment]]:
    texts: list[str] = []
    found: list[Attachment] = []
    for leaf in leaves:
        text, uuencoded = uuencoded_attachments(_decode_plain(leaf, defects, hints))
        found.extend(uuencoded)
        texts.append(text)
    return _join(texts), found


def _rendered(walk: _Walk, html: str, defects: list[str]) -> str:
    # Only HTML parts that the text view would show are rendered; an HTML-only message has them.
    shown = [leaf for leaf in walk.text if leaf.content_type == "text/html"]
    source = _join([_decode_html(leaf, []) for leaf in shown]) if shown else html
    text, defect = html_to_text(source)
    if defect:
        defects.append(defect)
    return text


_BOUNDARY_DEFECTS = frozenset({"StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect",
                               "NoBoundaryInMultipartDefect", "MultipartInvariantViolationDefect"})


def _broken_structure(msg: Message) -> bool:
    return any(type(d).__name__ in _BOUNDARY_DEFECTS for part in msg.walk() for d in part.defects)


_BOILERPLATE = ("this is a multi-part message", "this is a multipart message", "this is a mime",
                "this message is in mime format")


def _stray_text(msg: Message, defects: list[str]) -> str:
    """Text a broken message left outside every part (in a preamble or epilogue), if any."""
    found = []
    for part in msg.walk():
        for stray in (part.preamble, part.epilogue):
            if stray and stray.strip() and not stray.strip().lower().startswith(_BOILERPLATE):
                found.append(decode_text(stray.encode("ascii", "surrogateescape"), None)[0])
    if found:
        defects.append("mime: no readable body part; text recovered from outside the MIME parts")
    return _join(found)


def _join(texts: list[str]) -> str:
    if len(texts) == 1:
        return texts[0]
    return "".join(t if t.endswith("\n") else t + "\n" for t in texts if t)


# --- attachments ------------------------------------------------------------------------------

def _attachment(leaf: _Leaf, cids: frozenset[str], defects: list[str],
                spans: RawSpans | None = None) -> Attachment:
    data = payload_bytes(leaf.part, defects, spans)
    content_id = _content_id(leaf.part, defects)
    inline = leaf.disposition == "inline" or (content_id is not None and content_id.lower() in cids)
    return Attachment(filename=leaf.filename, content_type=leaf.content_type, size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), inline=inline,
                      content_id=content_id, payload=data)


def _content_id(part: Message, defects: list[str]) -> str | None:
    value = decode_header(part.get("Content-ID"), defects, "content-id")
    value = value.strip().strip("<>").strip()
    return value or None


def _cid_refs(html: str | None) -> frozenset[str]:
    if not html or "cid:" not in html.lower():
        return frozenset()
    return frozenset(ref.lower() for ref in _CID_REF.findall(html))
