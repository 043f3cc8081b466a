"""The docs say what the code does: README's shell examples run, and docs snippets match the example config.

README's "Two commands" and "Send it a mail" examples are run as written, in a folder laid out
as a checkout (the example config, a `.venv` that is this test run's own): `serve` starts from
the example config (its port moved to a free one: tests never take a fixed port), the swaks and
Python examples send their mail, and the "look at what happened" commands find the ticket and
the acknowledgement. Installing into a fresh venv (`python3 -m venv .venv && pip install -e .`)
takes a minute and the network: set MAILBRIDGE_DOC_INSTALL=1 to run that part too. The test
command is checked to be the one CI runs. docs/postfix.md's Postfix snippets are checked
against the example config without Postfix (every served address in the transport table,
the listener's port and limits), and every TOML example in docs/ loads.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mailbridge.config import load_config
from tests.serve_support import wait_until
from tests.smtp_sink import free_port

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = ROOT / "config" / "mailbridge.example.toml"
VENV_BIN = Path(sys.executable).parent


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    following = text.find("\n## ", start + 1)
    return text[start:following if following != -1 else None]


def blocks(text: str, language: str = "sh") -> list[str]:
    return [b.strip("\n") for b in re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)]


def _checkout(tmp_path: Path, port: int, *, install: bool) -> Path:
    """A folder that looks like a checkout to README's commands: the example config and a .venv.

    With `install`, a copy of the whole checkout without a .venv: the commands make their own.
    """
    folder = tmp_path / "checkout"
    if install:
        shutil.copytree(ROOT, folder, ignore=shutil.ignore_patterns(".venv", "state", ".git", "__pycache__"))
    else:
        (folder / "config").mkdir(parents=True)
        (folder / ".venv").mkdir()
        (folder / ".venv" / "bin").symlink_to(VENV_BIN)
    text = EXAMPLE.read_text(encoding="utf-8")
    (folder / "config" / "mailbridge.example.toml").write_text(text.replace("port = 2525", f"port = {port}"),
                                                               encoding="utf-8")
    return folder


def _shell(command: str, folder: Path, port: int) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command.replace("2525", str(port))], cwd=folder, capture_output=True,
                          text=True, timeout=120, check=False)


def _without_install(command: str) -> str:
    """The command after its `python3 -m venv … && pip install …` part (this run's venv stands in)."""
    parts = [p.strip() for p in command.split("&&")]
    return " && ".join(p for p in parts if not p.startswith("python3 -m venv") and "/pip install" not in p)


def test_readme_two_commands_and_send_it_a_mail_run_as_written(tmp_path):
    serve_command, test_command = blocks(section(README, "Two commands"))
    port = free_port()
    install = bool(os.environ.get("MAILBRIDGE_DOC_INSTALL"))
    folder = _checkout(tmp_path, port, install=install)
    if not install:
        serve_command = _without_install(serve_command)
    log = open(tmp_path / "serve.log", "w+", encoding="utf-8")  # noqa: SIM115 - closed below
    serve = subprocess.Popen(["bash", "-c", serve_command], cwd=folder, stdout=log, stderr=log,
                             start_new_session=True)
    try:
        wait_until(lambda: "listening for SMTP" in (tmp_path / "serve.log").read_text(encoding="utf-8"),
                   timeout=900 if install else 120, what="serve listening", interval=0.2)
        send = section(README, "Send it a mail")
        swaks, look = blocks(send)
        if shutil.which("swaks"):
            assert _shell(swaks, folder, port).returncode == 0
        else:
            assert not os.environ.get("CI"), "swaks is missing"
        (python_example,) = blocks(send, "python")
        exec(compile(python_example.replace("2525", str(port)), "README.md", "exec"), {})  # noqa: S102
        first = "tickets list --config config/mailbridge.example.toml"
        wait_until(lambda: _shell(f".venv/bin/mailbridge {first}", folder, port).stdout.count("-0000") >= 2,
                   timeout=60, what="two tickets", interval=0.5)
        results = [_shell(line.split("#")[0], folder, port) for line in look.splitlines()]
        assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
        assert "DYN-000001" in results[0].stdout and "SOP-000001" in results[0].stdout
        assert "Błąd płatności" in results[1].stdout
        assert len(results[2].stdout.split()) >= 2  # acknowledgements and notices, one file each
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(60)
        log.close()
    # serve stops cleanly (with the install, the shell running the && chain is signalled too).
    assert "mailbridge.service.daemon: stopped" in (tmp_path / "serve.log").read_text(encoding="utf-8")
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8"), "CI must run README's test command"


# --- docs/postfix.md, without Postfix ----------------------------------------------------------------

POSTFIX = (ROOT / "docs" / "postfix.md").read_text(encoding="utf-8")


def _postfix_blocks() -> list[str]:
    return blocks(POSTFIX, "")


def test_the_transport_table_lists_every_address_the_example_config_serves():
    config = load_config(EXAMPLE, env={})
    served = sorted(a for q in config.queues for a in q.addresses())
    transport = _postfix_blocks()[0]
    listed = [line.split()[0].lower() for line in transport.splitlines()]
    assert sorted(listed) == served
    ports = {int(line.rsplit(":", 1)[1]) for line in transport.splitlines()}
    assert ports == {config.listener.port}


def test_postfix_limits_match_the_listener():
    config = load_config(EXAMPLE, env={})
    text = "\n".join(_postfix_blocks())
    assert f"message_size_limit = {config.listener.max_message_size}" in text
    assert "recipient_delimiter = +" in text
    limit = int(re.search(r"smtp_destination_recipient_limit=(\d+)", text).group(1))
    assert limit <= config.listener.max_recipients
    for port in re.findall(r"(?:inet:127\.0\.0\.1:|\[127\.0\.0\.1\]:|--server 127\.0\.0\.1:)(\d+)", POSTFIX):
        assert int(port) == config.listener.port


def test_the_relay_through_postfix_snippet_is_a_valid_outbox(tmp_path):
    (relay,) = [b for b in blocks(POSTFIX, "toml") if "[outbox]" in b]
    config_path = tmp_path / "mailbridge.toml"
    example = EXAMPLE.read_text(encoding="utf-8")
    outbox = example[example.index("[outbox]"):example.index("# One [[queues]] table")]
    config_path.write_text(example.replace(outbox, relay + "\n\n"), encoding="utf-8")
    config = load_config(config_path, env={})
    assert (config.outbox.relay_host, config.outbox.relay_port, config.outbox.relay_tls) == ("127.0.0.1", 25, "none")


@pytest.mark.parametrize("name", ["imap.md", "outgoing.md", "operations.md", "postfix.md"])
def test_every_toml_example_in_the_docs_parses_and_its_tables_load(tmp_path, name):
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    base = ('[mailbridge]\nstate_dir = "state"\n[[queues]]\nname = "soporte"\naddress = "soporte@example.com"\n'
            'code_prefix = "SOP"\n[[queues]]\nname = "dynamics"\naddress = "pomoc-dynamics@example.com"\n'
            'code_prefix = "DYN"\n')
    for block in blocks(text, "toml"):
        tomllib.loads(block)
        if not block.lstrip().startswith("["):
            continue  # a fragment (one key) shown inside a table
        path = tmp_path / "mailbridge.toml"
        oauth = ""
        if "oauth = " in block and "[[oauth]]" not in block:
            oauth = '\n[[oauth]]\nname = "gmail-soporte"\nprovider = "google"\nclient_id = "x"\n'
        # A CA file named as an example does not exist here; every other value must load as written.
        block = re.sub(r'ca_file = "[^"]+"', 'ca_file = ""', block)
        path.write_text(base + oauth + "\n" + block + "\n", encoding="utf-8")
        load_config(path, env={}, need_secrets=False)
