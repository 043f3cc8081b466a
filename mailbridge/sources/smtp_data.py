"""The SMTP DATA phase read in blocks: aiosmtpd's own reader costs more CPU than everything else the listener does.

aiosmtpd reads DATA one line at a time (an awaited `readuntil` per line, with its stream's
buffer capped near 2 KB), which for our mail (hundreds of lines, thousands with attachments)
was most of the listener's CPU, on the core it shares with processing. `BlockData.smtp_DATA`
replaces that one method and keeps what it answers:

- the data ends at a line holding a lone dot; dot-stuffing is undone (RFC 5321 4.5.2);
- a line longer than `line_length_limit` bytes with its CRLF gets `500 Line too long`, more
  data than `data_size_limit` gets `552`, both only once the data has been read to its end,
  and refused data is dropped as it comes rather than kept;
- whatever the client sent after the dot (pipelined commands) is handed back to the stream.

The content is handed to the handler as bytes (aiosmtpd's `decode_data=False`, which we use),
or, when the handler offers `open_data(envelope)`, written to the writer it returns as it
arrives (the listener's spool file), so that twenty slow 24 MB messages do not hold 480 MB.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiosmtpd.smtp import MISSING, syntax

log = logging.getLogger(__name__)

END = b"\r\n.\r\n"
# More than the stream can hold (its buffer stops growing near 2 * its 1001-byte limit plus one
# socket read of at most 256 KiB), so each read empties it and what we hand back stays in order.
READ_SIZE = 64 << 20
LINE_TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
TOO_MUCH = "552 Error: Too much mail data"


class DataReader:
    """The DATA of one message, fed block by block: `done` at the end mark, then `content` or `refusal`.

    With a `sink`, the content is handed to it as it arrives (dot-stuffing undone) instead of
    being kept: a connection then holds one block in memory, not the whole message. `content`
    stays None; on a refusal the caller discards what the sink got.
    """

    def __init__(self, size_limit: int | None, line_limit: int, sink: Callable[[bytes], None] | None = None) -> None:
        self.size_limit, self.line_limit = size_limit, line_limit
        # CRLF in front, so that the end mark is "\r\n.\r\n" even for an empty message.
        self._data = bytearray(b"\r\n")
        self._dropped = 0  # bytes removed from the front (passed on, or dropped once refused)
        self._line_start = 2  # where the first line not yet checked for length begins
        self._sink = sink
        self._kept = bytearray() if sink is None else None
        self._first = True
        self.size = 0  # content bytes passed on so far
        self.refusal: str | None = None
        self.content: bytes | None = None
        self.rest = b""
        self.done = False

    def feed(self, block: bytes) -> None:
        search_from = max(0, len(self._data) - (len(END) - 1))
        self._data += block
        end = self._data.find(END, search_from)
        if self.refusal is None:
            self._check_lines(len(self._data) if end < 0 else end + 2)
        if end < 0:
            self._check_size(len(self._data) - len(END))
            if self.refusal is not None:
                self._drop()
            else:
                self._pass_on()
            return
        self.done, self.rest = True, bytes(self._data[end + len(END):])
        self._check_size(end)
        if self.refusal is None:
            self._emit(self._data[:end + 2])
            if self._kept is not None:
                self.content = bytes(self._kept)
        self._data = bytearray()

    def _pass_on(self) -> None:
        """Hand on the content before the last line break that cannot be part of the end mark.

        Cut just before a CRLF, no "\r\n." (a dot to unstuff) can straddle the cut, and the
        kept tail (a CRLF and at least 3 more bytes) still holds any end mark that begins in it.
        """
        cut = self._data.rfind(b"\r\n", 0, len(self._data) - (len(END) - 1))
        if cut <= 0:
            return
        self._emit(self._data[:cut])
        del self._data[:cut]
        self._dropped += cut
        self._line_start -= cut

    def _emit(self, chunk: bytearray) -> None:
        # A dot starting a line was doubled by the client (transparency): drop one. Every line,
        # the first too (after our CRLF in front), follows a CRLF here.
        out = bytes(chunk).replace(b"\r\n.", b"\r\n")
        if self._first:
            out, self._first = out[2:], False
        self.size += len(out)
        if self._kept is not None:
            self._kept += out
        elif out:
            self._sink(out)

    def _check_lines(self, stop: int) -> None:
        """Refuse when a line between the last check and `stop` is too long (an unfinished one too)."""
        last = self._data.rfind(b"\r\n", self._line_start, stop)
        if last >= 0:
            if not self._surely_short(self._line_start, last + 2):
                lines = bytes(self._data[self._line_start:last]).split(b"\r\n")
                if max(map(len, lines)) + 2 > self.line_limit:
                    self.refusal = LINE_TOO_LONG
            self._line_start = last + 2
        if stop - self._line_start > self.line_limit:
            self.refusal = self.refusal or LINE_TOO_LONG

    def _surely_short(self, start: int, end: int) -> bool:
        """Whether no line of `_data[start:end]` (which ends in a CRLF) can be too long; False: look at each line.

        Splitting into lines made a bytes object per line, half the listener's time on DATA. If each
        window of `step` bytes holds the start of a CRLF, two line breaks are at most 2 * step - 1
        bytes apart, so every line has at most 2 * step - 3 bytes and fits the limit with its CRLF.
        """
        step = (self.line_limit + 1) // 2
        find = self._data.find
        for window in range(start, end, step):
            if find(b"\r\n", window, min(window + step + 1, end)) < 0:
                return False
        return True

    def _check_size(self, data_end: int) -> None:
        # Bytes of the message so far: all that came before `data_end`, less our CRLF in front.
        if self.refusal is None and self.size_limit and self._dropped + data_end > self.size_limit:
            self.refusal = TOO_MUCH

    def _drop(self) -> None:
        """Forget refused data, keeping only a tail where the end mark may have begun."""
        cut = len(self._data) - (len(END) - 1)
        if cut > 0:
            del self._data[:cut]
            self._dropped += cut


class BlockData:
    """A mixin for aiosmtpd's SMTP and LMTP classes: DATA read in blocks (see the module docstring)."""

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        # The handler may give a writer that takes the content as it arrives (the spool file),
        # so that a connection never holds a whole message in memory.
        opener = getattr(self.event_handler, "open_data", None)
        writer = opener(self.envelope) if opener is not None else None
        data = await self._read_data(writer)
        if data is None:
            return
        if data.refusal is not None:
            if writer is not None:
                writer.abort()
            self._set_post_data_state()
            await self.push(data.refusal)
            return
        self.envelope.content = self.envelope.original_content = data.content
        self.envelope.spool_writer = writer
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self, writer=None) -> DataReader | None:
        """The message read to its end mark, or None when the client went away first."""
        data = DataReader(self.data_size_limit, self.line_length_limit, writer.write if writer else None)
        try:
            while not data.done:
                block = await self._reader.read(READ_SIZE)
                if not block:
                    if writer is not None:
                        writer.abort()
                    return None
                data.feed(block)
        except asyncio.CancelledError:
            # The connection was reset during DATA (aiosmtpd cancels the session's task).
            log.info("connection lost during DATA")
            if writer is not None:
                writer.abort()
            self._writer.close()
            raise
        if data.rest and not self._reader.at_eof():
            # Pipelined commands after the dot: the stream is empty, so appending keeps the order.
            self._reader.feed_data(data.rest)
        return data
