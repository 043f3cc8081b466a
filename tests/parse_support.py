"""What the parse tests share: the stdlib message tree, part by part, to compare two parses of the same mail."""


def tree(msg) -> list:
    """Everything the compat32 parser builds, part by part: headers, defects, payload text."""
    shape = []
    for part in msg.walk():
        payload = None if part.is_multipart() else part.get_payload()
        shape.append((list(part.items()), [type(d).__name__ for d in part.defects],
                      part.preamble, part.epilogue, payload))
    return shape
