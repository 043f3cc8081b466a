"""Turn the address forms of bounce reports (X.400, Exchange `SMTP:`/`smtp=`/IMCEA, `rfc822;`) into RFC 822.

Gateways and Exchange write failed recipients the way their own directory knows them; a ticket
can only be linked when the address is the one the message was sent to, `user@domain`.
"""

from __future__ import annotations

import re

from mailbridge.parse.lazy_re import lazy_compile

# `rfc822; user@x`, `RFC822;<user@x>`, `x400; /S=…/`: the address type of RFC 3464 fields.
_ADDRESS_TYPE_RE = lazy_compile(r"^\s*[A-Za-z][\w.-]{0,20}\s*;\s*")
# Exchange's proxy-address prefixes: `SMTP:user@x` (primary), `smtp:user@x`, `smtp=user@x`.
_EXCHANGE_PREFIX_RE = lazy_compile(r"^\s*smtp\s*[:=]\s*", re.IGNORECASE)
# One X.400 O/R address: "/" separated KEY=value attributes, at least two of them.
X400_RE = lazy_compile(r"/(?:[A-Za-z][A-Za-z0-9.-]{0,15}=[^/\n<>]{0,64}/){1,16}")
_X400_ATTRIBUTE_RE = lazy_compile(r"([A-Za-z][A-Za-z0-9.-]{0,15})=([^/]*)")
# RFC 2156 4.3.2: the printable-string escapes of an RFC 822 address carried inside X.400.
_RFC2156_ESCAPES = {"a": "@", "p": "%", "b": "!", "q": '"', "u": "_", "l": "(", "r": ")"}
_ESCAPE_RE = lazy_compile(r"\(([apbqulr])\)", re.IGNORECASE)
# IMCEA encapsulation escapes every character outside [A-Za-z0-9] as "+" and two hex digits.
_IMCEA_ESCAPE_RE = lazy_compile(r"\+([0-9A-Fa-f]{2})")
# Domain parts of an X.400 address, most specific first (RFC 2156 4.3.4 orders them this way).
_DOMAIN_KEYS = ("ou4", "ou3", "ou2", "ou1", "ou", "o", "prmd", "admd", "c")
_X400_KEYS = frozenset(_DOMAIN_KEYS + ("a", "p", "s", "g", "i", "q", "cn", "rfc822", "ddarfc822",
                                      "ddasmtp", "dda", "ddatype", "x121", "t", "n"))


def normal_address(value: str) -> str:
    """`value` as a plain address: types and prefixes dropped, X.400 converted, brackets gone."""
    text = _ADDRESS_TYPE_RE.sub("", value.strip())
    text = _EXCHANGE_PREFIX_RE.sub("", text)
    if text.startswith("/") and (x400 := X400_RE.match(text)):
        return x400_to_rfc822(x400.group(0)) or ""
    text = text.strip().strip("<>\"' ").strip()
    text = _EXCHANGE_PREFIX_RE.sub("", text)
    address = text.split()[0].strip("<>") if text else ""
    return imcea_address(address) if address[:5].upper() == "IMCEA" else address


def imcea_address(address: str) -> str:
    """Exchange's encapsulated address (`IMCEASMTP-user+40example+2Ecom@exchange.local`) as the
    address it wraps; '' for an X.500 directory name (`IMCEAEX-_O=…`), which names no mailbox."""
    kind, _, rest = address[5:].partition("-")
    payload = _IMCEA_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), rest.rpartition("@")[0])
    if kind.upper() == "SMTP" and "@" in payload:
        return payload
    if kind.upper() == "X400":
        return x400_to_rfc822(payload) or ""
    return ""


def x400_to_rfc822(x400: str) -> str | None:
    """An X.400 O/R address as `user@domain`, or None when it holds neither a name nor a domain.

    `/RFC-822=user(a)example.com/` is the address itself (RFC 2156 escapes undone); otherwise
    the personal name (G., I., S.) is the local part and OU…C the domain, as gateways map them.
    """
    attributes: dict[str, str] = {}
    for key, value in _X400_ATTRIBUTE_RE.findall(x400):
        key = key.lower().replace("-", "")
        if key.split(".")[0] not in _X400_KEYS:
            return None  # A path or a query string that only looks like X.400.
        if key == "ou" and "ou" in attributes:
            key = f"ou{sum(k.startswith('ou') for k in attributes) + 1}"
        attributes.setdefault(key, value.strip())
    embedded = attributes.get("rfc822") or attributes.get("ddarfc822") or attributes.get("ddasmtp")
    if embedded:
        return _ESCAPE_RE.sub(lambda m: _RFC2156_ESCAPES[m.group(1).lower()], embedded)
    local = ".".join(attributes[k] for k in ("g", "i", "s") if attributes.get(k))
    domain = ".".join(attributes[k] for k in _DOMAIN_KEYS if attributes.get(k))
    if not local or "." not in domain:
        return None
    local = re.sub(r"\s+", ".", local)
    return f"{local}@{re.sub(r'[^A-Za-z0-9.-]+', '-', domain)}".lower()
