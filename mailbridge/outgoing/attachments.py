"""Which of a mail's attachments are worth passing on, as files to send and as a list to show (pure).

Images shown inside a mail (inline, or named by a Content-ID) below a size are signature logos
and tracking pixels: nobody asked to receive them. Everything else is a file someone attached.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from mailbridge.outgoing.compose import OutAttachment
from mailbridge.parse.model import Attachment


def is_decoration(attachment: Attachment, min_inline_image_bytes: int) -> bool:
    """A small image shown in the body (a logo, a pixel), not a file."""
    shown = attachment.inline or attachment.content_id is not None
    return shown and attachment.content_type.lower().startswith("image/") and attachment.size < min_inline_image_bytes


def files(attachments: Sequence[Attachment], *, min_inline_image_bytes: int,
          leave_out: Collection[str] = ()) -> list[Attachment]:
    """The attachments that are files, without decorations and without those whose sha256 is in `leave_out`."""
    return [a for a in attachments
            if not is_decoration(a, min_inline_image_bytes) and a.sha256 not in leave_out]


def to_send(attachments: Sequence[Attachment], *, max_bytes: int | None = None) -> list[OutAttachment]:
    """Files as parts of a mail we send, in order, while they fit in `max_bytes` together (None: all)."""
    chosen, total = [], 0
    for index, attachment in enumerate(attachments, start=1):
        if max_bytes is not None and total + attachment.size > max_bytes:
            continue
        total += attachment.size
        chosen.append(OutAttachment(name_of(attachment, index), attachment.content_type, attachment.payload,
                                    attachment.content_id, attachment.inline))
    return chosen


def listing(attachments: Sequence[Attachment]) -> list[dict]:
    """`{"name": ..., "size": "12 KB"}` per file, for templates."""
    return [{"name": name_of(a, index), "size": human_size(a.size)} for index, a in enumerate(attachments, start=1)]


def name_of(attachment: Attachment, index: int) -> str:
    return attachment.filename or f"attachment-{index}"


def human_size(size: int) -> str:
    """`512 B`, `12 KB`, `3.4 MB`: a size people read at a glance."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"
