"""JSON Lines output: one object per line for every reader, non-ASCII text kept readable."""

from __future__ import annotations

import json
from typing import Any

# Line separators JSON allows raw inside strings but some readers split lines on (Python's
# str.splitlines, JavaScript before ES2019): escaped, so that one object stays one line for all.
_LINE_SEPARATORS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def json_line(data: Any) -> str:
    """`data` as one line of JSON: UTF-8 text kept, U+2028, U+2029 and U+0085 escaped."""
    return json.dumps(data, ensure_ascii=False).translate(_LINE_SEPARATORS)
