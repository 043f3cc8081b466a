"""`mailbridge parse`: show how mailbridge reads mail files (JSON Lines for tools)."""

import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from mailbridge.cli import MAIL_PANEL, app
from mailbridge.cli.jsonl import json_line
from mailbridge.errors import ParseError
from mailbridge.parse import parse_message
from mailbridge.parse.limits import PARSE_SECONDS, time_limit
from mailbridge.parse.model import ParsedMessage

HELP = """Show what mailbridge reads in mail files; stores nothing.

Use it when a message was filed oddly: it shows the sender and recipients, the subject, the
automatic-mail verdict (auto-reply, bounce, list mail), the attachments, every decoding defect
and the new text of the message with the quoted history cut off. It needs no config and no
database. Each FILE is one message as delivered (.eml); `-` reads one message from standard input.
An Outlook .msg file gets an error that says how to convert it to .eml.

With `--json`, each input gives one JSON object on its own line (JSON Lines), in input order,
with the fields `file`, `message_id`, `in_reply_to`, `references`, `from`, `to`, `cc`,
`reply_to`, `subject`, `date`, `text`, `html`, `reply_text`, `attachments`, `auto`, `bounce`,
`defects` and `language`. An input that cannot be read gives `{"file": ..., "error": ...}` and
the others still follow. This output is a contract that tests and other tools rely on.

Exits 0 when every input produced an object, 1 otherwise.

Examples:

    mailbridge parse message.eml
    mailbridge parse --json spool/*.eml | jq .subject
    mailbridge parse --json - < message.eml
"""


@app.command("parse", help=HELP, rich_help_panel=MAIL_PANEL)
def parse_command(
    files: Annotated[list[str], typer.Argument(help="Mail files to parse; `-` reads standard input.",
                                               metavar="FILE", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per input (JSON Lines).")] = False,
) -> None:
    out = _utf8_stdout()
    failures = 0
    for name in files:
        obj, message = parse_file(name)
        failures += "error" in obj
        if as_json:
            out.write(json_line(obj) + "\n")
        else:
            out.write(summary(name, obj, message) + "\n")
        out.flush()
    raise typer.Exit(1 if failures else 0)


def parse_file(name: str) -> tuple[dict, ParsedMessage | None]:
    """The JSON object for one input (with `error` when it cannot be read) and the message."""
    try:
        raw = _read(name)
    except OSError as error:
        return {"file": name, "error": f"cannot read: {error.strerror or error}"}, None
    try:
        with time_limit(PARSE_SECONDS):
            message = parse_message(raw)
    except ParseError as error:
        return {"file": name, "error": str(error)}, None
    except Exception as error:  # noqa: BLE001 - a parser bug must not stop the rest of the batch.
        return {"file": name, "error": f"internal error: {type(error).__name__}: {error}"}, None
    return message.to_json(file=name), message


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def _utf8_stdout() -> "_Utf8Writer":
    # Mail is full of non-ASCII text; the locale (often C/POSIX under systemd or in CI) must not
    # turn that into UnicodeEncodeError or mojibake, so bytes are written, always UTF-8.
    return _Utf8Writer(sys.stdout.buffer)


class _Utf8Writer:
    """A minimal text writer that always encodes UTF-8, whatever the locale says."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        self._stream.write(text.encode("utf-8", "surrogateescape"))

    def flush(self) -> None:
        self._stream.flush()


def summary(name: str, obj: dict, message: ParsedMessage | None) -> str:
    """A readable account of one parsed message for a person at a terminal."""
    if message is None:
        return f"== {name}\nerror: {obj['error']}\n"
    lines = [f"== {name}"]
    lines += _field_lines(obj)
    lines += _attachment_lines(obj["attachments"])
    lines += [f"defect: {d}" for d in obj["defects"]]
    lines += ["", obj["reply_text"].rstrip() or "(no new text)", ""]
    return "\n".join(lines)


def _field_lines(obj: dict) -> list[str]:
    auto = obj["auto"]
    bounce = obj["bounce"]
    rows = [
        ("From", _address(obj["from"])),
        ("To", ", ".join(_address(a) for a in obj["to"])),
        ("Cc", ", ".join(_address(a) for a in obj["cc"])),
        ("Subject", obj["subject"]),
        ("Date", obj["date"] or "(none)"),
        ("Message-ID", obj["message_id"] or "(none)"),
        ("Language", obj["language"] or "(unsure)"),
        ("Automatic", f"{auto['kind']} ({auto['reason']})" if auto else "no"),
    ]
    if bounce:
        failed = ", ".join(f"{r['address']} {r['status'] or ''}".strip() for r in bounce["recipients"])
        rows.append(("Bounce", f"{'permanent' if bounce['permanent'] else 'temporary'}: {failed}"))
    return [f"{label + ':':<12}{value}" for label, value in rows if value]


def _address(address: dict | None) -> str:
    if not address:
        return "(none)"
    return f"{address['name']} <{address['address']}>" if address["name"] else address["address"]


def _attachment_lines(attachments: list[dict]) -> list[str]:
    if not attachments:
        return []
    lines = [f"Attachments ({len(attachments)}):"]
    for item in attachments:
        flags = " inline" if item["inline"] else ""
        lines.append(f"  {item['size']:>10}  {item['content_type']:<28} {item['filename'] or '(no name)'}{flags}")
    return lines
