"""Render an HTML body to readable plain text, keeping blockquotes visible as "> " quoting.

Quoted history in HTML mail lives in <blockquote> elements; rendered flat it would look like new
text, so each line inside a blockquote is prefixed with "> " once per nesting level, which lets the
quote stripper treat HTML-only replies like plain ones.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from inscriptis import get_annotated_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], annotation_rules={"blockquote": ["quote"]})
_TAG = re.compile(r"<[^>]*>")
_BLANK_RUNS = re.compile(r"\n{3,}")


def html_to_text(html: str) -> tuple[str, str | None]:
    """The readable text of `html` and a defect string when the renderer failed on it."""
    if not html.strip():
        return "", None
    try:
        rendered = get_annotated_text(html, _CONFIG)
    except Exception as error:  # noqa: BLE001 - lxml raises many types on hostile markup.
        # A crude tag strip still keeps every word; the defect says the rendering is rough.
        return _TAG.sub(" ", html).strip(), f"html: rendering failed ({type(error).__name__}), tags stripped"
    text = _quote_lines(rendered["text"], rendered["label"])
    return _BLANK_RUNS.sub("\n\n", text).strip("\n") + "\n", None


def _quote_lines(text: str, spans: list[tuple[int, int, str]]) -> str:
    if not spans:
        return text
    # The depth at an offset is the number of spans opened minus those closed before it; sorted
    # bounds make that a bisection per line instead of a scan of every span.
    starts = sorted(start for start, _, _ in spans)
    ends = sorted(end for _, end, _ in spans)
    out = []
    offset = 0
    for line in text.split("\n"):
        depth = bisect_right(starts, offset) - bisect_right(ends, offset)
        out.append("> " * depth + line if depth > 0 and line.strip() else line)
        offset += len(line) + 1
    return "\n".join(out)
