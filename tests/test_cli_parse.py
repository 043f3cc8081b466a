"""`mailbridge parse`: JSON Lines in input order, stdin, errors per file, readable summaries."""

import json
import os
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from conftest import MAIL_FIXTURES
from mailbridge.cli.parse_cmd import parse_command

FIELDS = ["file", "message_id", "in_reply_to", "references", "from", "to", "cc", "reply_to", "subject",
          "date", "text", "html", "reply_text", "attachments", "auto", "bounce", "defects", "language"]


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    # A C locale proves the output is UTF-8 whatever the environment says.
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"}
    return subprocess.run([sys.executable, "-m", "mailbridge", "parse", *args], input=stdin,
                          capture_output=True, env=env, timeout=60)


def test_json_lines_in_input_order_with_stdin_and_an_unreadable_file(tmp_path):
    polish = str(MAIL_FIXTURES / "polish_raw_utf8_subject_and_name.eml")
    spanish = (MAIL_FIXTURES / "spanish_iso88591_solicitud.eml").read_bytes()
    missing = str(tmp_path / "missing.eml")
    garbage = str(MAIL_FIXTURES / "garbage_binary_no_headers.eml")
    result = run("--json", polish, "-", missing, garbage, stdin=spanish)
    lines = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert [line["file"] for line in lines] == [polish, "-", missing, garbage]
    assert list(lines[0]) == FIELDS
    assert lines[0]["subject"] == "Błąd płatności"
    assert lines[1]["subject"] == "Solicitud de información"
    assert set(lines[2]) == {"file", "error"} and set(lines[3]) == {"file", "error"}
    assert result.returncode == 1


def invoke(*args: str):
    """The command in-process (the subprocess test above covers the real entry point)."""
    app = typer.Typer()
    app.command()(parse_command)
    return CliRunner().invoke(app, list(args))


def test_exit_status_zero_when_every_file_parses():
    files = [str(MAIL_FIXTURES / name) for name in ("nested_rfc822_forward.eml", "utf7_body.eml")]
    result = invoke("--json", *files)
    assert result.exit_code == 0, result.output
    assert len(result.stdout_bytes.splitlines()) == 2


def test_summary_for_a_person():
    result = invoke(str(MAIL_FIXTURES / "inline_cid_image_html.eml"), str(MAIL_FIXTURES / "polish_q_encoded_names.eml"))
    out = result.stdout_bytes.decode("utf-8")
    assert result.exit_code == 0
    assert "Subject:    screenshot" in out
    assert "image/png" in out and "inline" in out
    assert "From:       Józef Ślęzak <jozef@example.pl>" in out
    assert "Kowalski, Jan <jan@example.pl>" in out


def test_a_parser_bug_on_one_file_does_not_stop_the_batch(monkeypatch):
    from mailbridge.cli import parse_cmd

    def explode(raw: bytes):
        if b"utf7" in raw:
            raise RuntimeError("boom")
        return real(raw)

    real = parse_cmd.parse_message
    monkeypatch.setattr(parse_cmd, "parse_message", explode)
    files = [str(MAIL_FIXTURES / name) for name in ("utf7_body.eml", "nested_rfc822_forward.eml")]
    result = invoke("--json", *files)
    lines = [json.loads(line) for line in result.stdout_bytes.splitlines()]
    assert lines[0] == {"file": files[0], "error": "internal error: RuntimeError: boom"}
    assert lines[1]["subject"] == "Fwd: original"
    assert result.exit_code == 1


def outlook_msg_file(tmp_path: Path) -> Path:
    """An OLE compound document header, as every Outlook .msg file starts."""
    path = tmp_path / "Zgłoszenie.msg"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(24) + b"\x3e\x00\x03\x00" + bytes(484))
    return path


def test_an_outlook_msg_file_gets_an_error_saying_how_to_convert_it(tmp_path):
    result = invoke("--json", str(outlook_msg_file(tmp_path)), str(MAIL_FIXTURES / "polish_q_encoded_names.eml"))
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert "Outlook .msg file" in first["error"] and "msgconvert" in first["error"]
    assert "error" not in second
