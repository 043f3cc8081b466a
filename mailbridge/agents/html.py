"""An agent's HTML answer without the quoted notification, sanitised for the customer (nh3).

Mail clients mark where the quoted mail starts: Gmail's `gmail_quote` block, Outlook's
`divRplyFwdMsg` / `appendonsend` and its bordered header block, Thunderbird's `moz-cite-prefix`,
a `<blockquote type="cite">` (Thunderbird, Apple Mail), or an "-----Original Message-----" line.
Everything from the first such mark is cut. When no mark is found, the agent's HTML is used
only if the plain-text answer lost nothing to quote stripping; otherwise the HTML is made from the
answer's text, so the customer never receives the quoted notice. Sanitising keeps formatting and
links, drops scripts, styles' behaviour and remote images (tracking), and keeps `cid:` images only
when their attachment is relayed too.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection

import nh3

_QUOTE_MARKS = re.compile(
    r"<div[^>]*\b(?:class|id)\s*=\s*[\"']?(?:gmail_quote|gmail_attr|divRplyFwdMsg|appendonsend|moz-cite-prefix"
    r"|moz-forward-container|OutlookMessageHeader|mail-editor-reference-message-container)"
    r"|<blockquote[^>]*\btype\s*=\s*[\"']?cite"
    r"|<div[^>]*style\s*=\s*[\"'][^\"'>]*border-top\s*:\s*solid\s+#(?:E1E1E1|B5C4DF)"
    r"|<hr[^>]*\bid\s*=\s*[\"']?(?:stopSpelling|replySplit)"
    r"|-{3,}\s*(?:Original Message|Mensaje original|Wiadomość oryginalna|Oryginalna wiadomość)\s*-{3,}",
    re.IGNORECASE,
)
_ALLOWED_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
_IMAGE_WITHOUT_SOURCE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)


def answer_html(agent_html: str | None, *, text: str, full_text: str, rewrite: bool,
                kept_cids: Collection[str]) -> str:
    """The HTML of the relayed answer: the agent's own, cut and sanitised, else made from `text`.

    `full_text` is the agent's whole plain text and `text` the answer cut from it; `rewrite`
    (commands were removed from the top) forces HTML made from `text`.
    """
    if agent_html and not rewrite:
        mark = _QUOTE_MARKS.search(agent_html)
        if mark is not None:
            return sanitise(agent_html[: mark.start()], kept_cids)
        if _same(text, full_text):
            return sanitise(agent_html, kept_cids)
    return text_html(text)


def sanitise(fragment: str, kept_cids: Collection[str]) -> str:
    """Safe HTML: no scripts or event handlers, links kept, only relayed `cid:` images."""
    cids = {cid.lower() for cid in kept_cids}

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            wanted = value[4:].lower() if value.lower().startswith("cid:") else None
            return value if wanted is not None and wanted in cids else None
        return value

    cleaned = nh3.clean(fragment, url_schemes=_ALLOWED_SCHEMES, attribute_filter=keep,
                        clean_content_tags={"script", "style", "title", "head"})
    # An image whose source was taken away (remote, or a logo not relayed) would show as a broken frame.
    return _IMAGE_WITHOUT_SOURCE.sub("", cleaned).strip()


def text_html(text: str) -> str:
    """Plain text as HTML paragraphs (lines kept), escaped."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "\n".join(f"<p>{'<br>'.join(html.escape(line) for line in p.splitlines())}</p>" for p in paragraphs)


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())
