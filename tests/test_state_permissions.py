"""State written with a permissive umask (outside systemd): the database, secret, spool and outbox stay private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from serve_support import message, write_config


def run(*args: str) -> subprocess.CompletedProcess:
    # umask 022, as a login shell has it: files would be 0644 and folders 0755 by default.
    return subprocess.run([sys.executable, "-m", "mailbridge", *args], capture_output=True, timeout=120,
                          preexec_fn=lambda: os.umask(0o022))


def test_everything_under_state_dir_is_0600_or_0700_whatever_the_umask(tmp_path):
    path = write_config(tmp_path, database_url="")
    # No secret in the file: the generated key file is part of the state.
    text = path.read_text(encoding="utf-8")
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("secret")), encoding="utf-8")
    config = str(path)
    mail = tmp_path / "mail.eml"
    mail.write_bytes(message("Prywatne dane"))
    for command in (["db", "upgrade"], ["ingest", str(mail)], ["outbox", "send"]):
        result = run(*command, "--config", config)
        assert result.returncode == 0, (command, result.stderr.decode())
    state = tmp_path / "state"
    seen = {path.name for path in state.rglob("*")}
    assert {"mailbridge.sqlite3", "outbox-maildir"} <= seen and any("secret" in name for name in seen)
    wrong = []
    for path in [state, *state.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode != (0o700 if path.is_dir() else 0o600):
            wrong.append(f"{path.relative_to(tmp_path)} {mode:o}")
    assert wrong == []
