"""Render an HTML body to readable plain text, keeping quoted history visible as such.

Quoted history in HTML mail lives in <blockquote> elements and in the quote containers of
webmails (Gmail's `gmail_quote` and its elided parts, Yahoo's `yahoo_quoted`, mail.ru's
`mail-quote-collapse`); rendered flat it would look like new text, so each line inside one is
prefixed with "> " once per nesting level. Outlook does not quote: its reply header sits in
`divRplyFwdMsg` (or `appendonsend`), where an "-----Original Message-----" line is written, and
an <hr> becomes the rule line plain-text clients draw. The quote stripper then treats HTML-only
replies like plain ones.
"""

from __future__ import annotations

import html as entities
import re
from bisect import bisect_right
from functools import cache

from mailbridge.parse.lazy_re import lazy_compile

_QUOTE_CONTAINERS = ("gmail_quote", "gmail_quote_container", "yahoo_quoted", "mail-quote-collapse",
                     "mailru-blockquote", "HOEnZb", "adL", "moz-cite-prefix", "OutlookMessageHeader")
_HISTORY_IDS = ("divRplyFwdMsg", "x_divRplyFwdMsg", "appendonsend", "x_appendonsend",
                "OLK_SRC_BODY_SECTION", "x_OLK_SRC_BODY_SECTION")
_RULES = {"blockquote": ["quote"], "#data-o-mail-quote": ["quote"],
          **{f"#class={name}": ["quote"] for name in _QUOTE_CONTAINERS},
          **{f"#id={name}": ["history"] for name in _HISTORY_IDS}}
_TAG = lazy_compile(r"<[^>]*>")
_BLANK_RUNS = lazy_compile(r"\n{3,}")
_HR = lazy_compile(r"<hr\b[^>]{0,500}>", re.IGNORECASE)
# What plain-text clients write where HTML ones draw a rule or open Outlook's reply header.
RULE_LINE = "_" * 32
HISTORY_LINE = "-----Original Message-----"
# The renderer's cost grows with rows × columns of a table (a 0.9 MB table took 69 s): larger
# HTML, or HTML with more table cells than this, gets the cheap rendering below, with a defect.
MAX_RENDERED = 256 * 1024
MAX_CELLS = 5_000
_CELL = lazy_compile(r"<t[dh][\s>]", re.IGNORECASE)
_LINE_ENDS = lazy_compile(r"<br\s*/?>|</(?:p|div|tr|li|h[1-6]|table|blockquote)\s*>", re.IGNORECASE)
_SCRIPTS = lazy_compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACE_RUNS = lazy_compile(r"[ \t\r\f\v]+")


def html_to_text(html: str) -> tuple[str, str | None]:
    """The readable text of `html` and a defect string when the renderer failed on it or was spared it."""
    if not html.strip():
        return "", None
    if "<hr" in html or "<HR" in html:
        html = _HR.sub(f"<div>{RULE_LINE}</div>", html)
    cells = len(_CELL.findall(html, 0, MAX_RENDERED * 4))
    if len(html) > MAX_RENDERED or cells > MAX_CELLS:
        return cheap_text(html), (f"html: too large to render ({len(html)} characters, {cells} table cells); "
                                  "tags stripped line by line")
    render = _renderer()  # outside the `try`: a missing inscriptis is no rendering failure of this mail
    try:
        rendered = render(html)
    except Exception as error:  # noqa: BLE001 - lxml raises many types on hostile markup.
        # A crude tag strip still keeps every word; the defect says the rendering is rough.
        return _TAG.sub(" ", html).strip(), f"html: rendering failed ({type(error).__name__}), tags stripped"
    text = _quote_lines(rendered["text"], rendered["label"])
    return _BLANK_RUNS.sub("\n\n", text).strip("\n") + "\n", None


@cache
def _renderer():
    """inscriptis' rendering with our rules, imported for the first HTML body.

    inscriptis and lxml are a sixth of `mailbridge parse`'s start-up (issue 17), and plain-text
    mail never needs them.
    """
    from inscriptis import get_annotated_text
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.model.config import ParserConfig

    config = ParserConfig(css=CSS_PROFILES["strict"], annotation_rules=_RULES)
    return lambda html: get_annotated_text(html, config)


def _quote_lines(text: str, spans: list[tuple[int, int, str]]) -> str:
    if not spans:
        return text
    quotes = [(start, end) for start, end, label in spans if label == "quote"]
    history = min((start for start, _, label in spans if label == "history"), default=None)
    # The depth at an offset is the number of spans opened minus those closed before it; sorted
    # bounds make that a bisection per line instead of a scan of every span.
    starts = sorted(start for start, _ in quotes)
    ends = sorted(end for _, end in quotes)
    out = []
    offset = 0
    for line in text.split("\n"):
        if history is not None and offset + len(line) > history:
            out.append(HISTORY_LINE)
            history = None
        depth = bisect_right(starts, offset) - bisect_right(ends, offset)
        out.append("> " * depth + line if depth > 0 and line.strip() else line)
        offset += len(line) + 1
    return "\n".join(out)


def cheap_text(html: str) -> str:
    """Linear-time text of HTML: line ends kept at block ends, tags dropped, entities decoded."""
    text = _LINE_ENDS.sub("\n", _SCRIPTS.sub(" ", html))
    text = entities.unescape(_TAG.sub(" ", text))
    lines = (_SPACE_RUNS.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"
