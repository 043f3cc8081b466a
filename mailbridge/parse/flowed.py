"""Undo RFC 3676 format=flowed: join the soft-broken lines of a plain-text body, per quote depth."""

from __future__ import annotations


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
