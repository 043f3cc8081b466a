"""Walk the MIME tree once: pick the text and HTML bodies, turn every other part into an Attachment.

Which parts form the body follows the algorithm of RFC 8621 (JMAP) section 4.1.4, which is what
modern clients display: in multipart/alternative the plain part feeds `text` and the HTML part
`html`; in multipart/mixed every inline text part is body; in multipart/related only the first part
is. Every leaf that does not end up as body text is an attachment, with its decoded bytes.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import Message
from io import BytesIO

from mailbridge.parse.charset import decode_text
from mailbridge.parse.headers import decode_header, get_param
from mailbridge.parse.htmltext import html_to_text
from mailbridge.parse.model import Attachment

# Parts nested deeper than this are kept whole as one attachment instead of being walked: real
# mail nests a few levels, hostile mail thousands, and the walk must not blow the stack.
MAX_DEPTH = 60
_MESSAGE_LEAVES = frozenset({"rfc822", "global", "partial", "external-body", "delivery-status",
                             "disposition-notification", "feedback-report", "global-delivery-status",
                             "global-disposition-notification", "global-headers", "rfc822-headers"})
_CID_REF = re.compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


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


def extract_body(msg: Message, defects: list[str]) -> Body:
    """The bodies and attachments of a parsed message; problems are appended to `defects`."""
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
    html = _join([_decode_html(leaf, defects) for leaf in html_leaves]) if html_leaves else None
    text, uuencoded = _plain_text(text_leaves, defects)
    if not text.strip() and html is not None:
        # An empty plain part beside the HTML is as good as none: the HTML is the message.
        text = _rendered(walk, html, defects)
    if not text.strip() and _broken_structure(msg):
        text = _stray_text(msg, defects) or text
    used = {id(leaf) for leaf in text_leaves + html_leaves}
    cids = _cid_refs(html)
    attachments = [_attachment(leaf, cids, defects) for leaf in walk.leaves if id(leaf) not in used]
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
    if part.get_content_maintype() == "multipart" and not part.is_multipart():
        # A multipart without a usable boundary: its body is all we have, so read it as text.
        defects.append("mime: multipart without its boundary read as text/plain")
        content_type = "text/plain"
    disposition = (part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
    filename = get_param(part, "filename", "content-disposition", defects) or get_param(
        part, "name", "content-type", defects)
    return _Leaf(part, content_type, disposition, filename)


# --- decoding ---------------------------------------------------------------------------------

def payload_bytes(part: Message, defects: list[str]) -> bytes:
    """The decoded bytes of one leaf part (a nested message: its bytes as sent)."""
    if part.is_multipart():
        return _serialised_payload(part, defects)
    declared = str(part.get("Content-Transfer-Encoding", ""))
    cte = declared.strip().lower()
    if cte == "base64":
        return decode_base64(str(part.get_payload()).encode("ascii", "ignore"), defects)
    if cte != declared.lower() and cte == "quoted-printable":
        # The stdlib compares the raw value, so "quoted-printable " (trailing blanks) would go
        # undecoded; for a value it does not know it returns the bytes as sent, decoded here.
        return _decode_cte(part.get_payload(decode=True) or b"", cte, defects)
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, UnicodeError) as error:
        defects.append(f"mime: undecodable payload ({type(error).__name__}), kept as sent")
        data = str(part.get_payload()).encode("ascii", "surrogateescape")
    return data or b""


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(_BASE64_ALPHABET)))
_WHITESPACE = b" \t\r\n\f\v"
_PADDING = re.compile(rb"=+")


def decode_base64(data: bytes, defects: list[str]) -> bytes:
    """Lenient base64: junk skipped, chunks glued after padding decoded, a dangling character
    dropped. The stdlib returns the encoded text unchanged when the length is 4n+1."""
    first_pad = data.find(b"=")
    if first_pad == -1 or not data[first_pad:].strip(b"=\r\n \t"):
        # The common case, well-formed: binascii skips line breaks itself, at C speed.
        try:
            return binascii.a2b_base64(data)
        except binascii.Error:
            pass
    clean = data.translate(None, _NOT_BASE64)
    if len(clean) != len(data.translate(None, _WHITESPACE)):
        defects.append("mime: characters outside base64 skipped")
    out = bytearray()
    for chunk in _PADDING.split(clean):
        if len(chunk) % 4 == 1:
            defects.append("mime: base64 of impossible length, last character dropped")
            chunk = chunk[:-1]
        out += binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4))
    return bytes(out)


def _serialised_payload(part: Message, defects: list[str]) -> bytes:
    chunks = []
    for inner in part.get_payload():
        buffer = BytesIO()
        BytesGenerator(buffer, mangle_from_=False, maxheaderlen=0).flatten(inner)
        chunks.append(buffer.getvalue())
    data = b"\n".join(chunks)
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte in ("base64", "quoted-printable"):
        # The parser read the encoded text as a headerless message; decode what it held.
        data = _decode_cte(data.lstrip(b"\r\n"), cte, defects)
    return data


def _decode_cte(data: bytes, cte: str, defects: list[str]) -> bytes:
    if cte == "base64":
        return decode_base64(data, defects)
    helper = Message()
    helper["Content-Transfer-Encoding"] = cte
    helper.set_payload(data.decode("ascii", "surrogateescape"))
    decoded = helper.get_payload(decode=True)
    defects.extend(f"mime: {type(d).__name__}" for d in helper.defects)
    return decoded or b""


def _decode_plain(leaf: _Leaf, defects: list[str]) -> str:
    text, defect = decode_text(payload_bytes(leaf.part, defects), leaf.part.get_content_charset())
    if defect:
        defects.append(f"body: {defect}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if (leaf.part.get_param("format") or "").lower() == "flowed":
        text = unflow(text, delsp=(leaf.part.get_param("delsp") or "").lower() == "yes")
    return text


def _decode_html(leaf: _Leaf, defects: list[str]) -> str:
    data = payload_bytes(leaf.part, defects)
    charset = leaf.part.get_content_charset() or _sniff_html_charset(data)
    text, defect = decode_text(data, charset)
    if defect:
        defects.append(f"html: {defect}")
    return text


def _sniff_html_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data, 0, 4096)
    return match.group(1).decode("ascii") if match else None


def _plain_text(leaves: list[_Leaf], defects: list[str]) -> tuple[str, list[Attachment]]:
    texts: list[str] = []
    found: list[Attachment] = []
    for leaf in leaves:
        text = _decode_plain(leaf, defects)
        if "begin " in text:
            text, blocks = extract_uuencoded(text)
            found.extend(_uu_attachment(name, data) for name, data in blocks)
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


# --- format=flowed ----------------------------------------------------------------------------

def unflow(text: str, delsp: bool = False) -> str:
    """Join the soft-broken lines of RFC 3676 format=flowed text."""
    out: list[str] = []
    paragraph: list[str] = []
    paragraph_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        flowed = content.endswith(" ") and content != "-- "
        if paragraph and depth != paragraph_depth:
            out.append(_quoted(paragraph_depth, "".join(paragraph)))
            paragraph = []
        paragraph_depth = depth
        paragraph.append(content[:-1] if flowed and delsp else content)
        if not flowed:
            out.append(_quoted(depth, "".join(paragraph)))
            paragraph = []
    if paragraph:
        out.append(_quoted(paragraph_depth, "".join(paragraph)))
    return "\n".join(out)


def _quoted(depth: int, content: str) -> str:
    return ">" * depth + " " + content if depth else content


# --- attachments ------------------------------------------------------------------------------

def _attachment(leaf: _Leaf, cids: frozenset[str], defects: list[str]) -> Attachment:
    data = payload_bytes(leaf.part, defects)
    content_id = _content_id(leaf.part, defects)
    inline = leaf.disposition == "inline" or (content_id is not None and content_id.lower() in cids)
    return Attachment(filename=leaf.filename, content_type=leaf.content_type, size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), inline=inline,
                      content_id=content_id, payload=data)


def _uu_attachment(name: str, data: bytes) -> Attachment:
    return Attachment(filename=name, content_type="application/octet-stream", size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), inline=False, content_id=None,
                      payload=data)


def _content_id(part: Message, defects: list[str]) -> str | None:
    value = decode_header(part.get("Content-ID"), defects, "content-id")
    value = value.strip().strip("<>").strip()
    return value or None


def _cid_refs(html: str | None) -> frozenset[str]:
    if not html or "cid:" not in html.lower():
        return frozenset()
    return frozenset(ref.lower() for ref in _CID_REF.findall(html))


# --- uuencode ---------------------------------------------------------------------------------

_UU_BEGIN = re.compile(r"^begin [0-7]{3,4} ([^\n]+)\n", re.MULTILINE)
_UU_END = re.compile(r"^end[ \t]*$", re.MULTILINE)


def extract_uuencoded(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Cut `begin 644 name` ... `end` blocks out of a text body; return the text and the files."""
    blocks: list[tuple[str, bytes]] = []
    kept: list[str] = []
    position = 0
    for begin in _UU_BEGIN.finditer(text):
        if begin.start() < position:
            continue
        end = _UU_END.search(text, begin.end())
        if end is None:
            break
        kept.append(text[position:begin.start()])
        blocks.append((begin.group(1).strip(), _uu_decode(text[begin.end():end.start()])))
        position = end.end() + 1
    if not blocks:
        return text, []
    kept.append(text[position:])
    return "".join(kept), blocks


def _uu_decode(block: str) -> bytes:
    out = bytearray()
    for line in block.split("\n"):
        if not line.strip() or line.strip() == "`":
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # Encoders that strip trailing spaces leave lines short; decode what the length byte says.
            length = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:length])
            except binascii.Error:
                continue
    return bytes(out)


# --- file names safe to write -----------------------------------------------------------------

_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                       *(f"lpt{i}" for i in range(10))})
_UNSAFE_CHARS = re.compile(r'[<>:"|?*\\/]')
MAX_FILENAME_BYTES = 200


def safe_filename(name: str | None, fallback: str) -> str:
    """A file name that is safe to create in a directory, for stages that write attachments.

    The name reported in the message stays as sent; this is only for the disk: no directory
    parts, no control or bidi characters, no hidden or reserved (CON, NUL…) names, bounded length.
    """
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = _UNSAFE_CHARS.sub("_", name).strip(" .")
    if not name:
        return fallback
    if name.split(".", 1)[0].lower() in _RESERVED:
        name = "_" + name
    return _truncate(name)


def _truncate(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        stem, extension = name, ""
    budget = MAX_FILENAME_BYTES - len(extension.encode("utf-8")) - len(dot)
    shortened = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return shortened + (dot + extension if extension else "")
