"""A throwaway Dovecot IMAP server for tests: a temporary directory, a loopback port, one user per test.

The server runs in the foreground (`dovecot -F`) so that the test owns its process. As root,
Dovecot's own unprivileged users run the login and internal processes and mail belongs to
`nobody`; as an ordinary user, everything runs as that user.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tls import make_certificate

DOVECOT = Path("/usr/sbin/dovecot")
PASSWORD = "k9Wq2vT7zLm4Rp8x"

_CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = {ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
# No delay after a failed login. (Dovecot also delays further logins from an address that
# failed, for up to 15 s: tests of wrong passwords use a server of their own.)
auth_failure_delay = 0
stats_writer_socket_path =
default_login_user = {login_user}
default_internal_user = {internal_user}
{oauth2}passdb {{
  driver = static
  args = password={password}
  mechanisms = plain login
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={dir}/home/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dovecot:
    """One Dovecot master process; `add_user()` gives each test a mailbox of its own."""

    def __init__(self, *, tls: bool = False, introspection_url: str = "") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mb-dovecot-"))
        # The mail user must be able to reach its home below the temporary directory.
        self.dir.chmod(0o755)
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.tls = tls
        self.introspection_url = introspection_url
        self.process: subprocess.Popen | None = None
        (self.dir / "home").mkdir()
        self._write_config()

    def _write_config(self) -> None:
        root = os.geteuid() == 0
        me = getpass.getuser()
        values = dict(
            dir=self.dir, port=self.port, password=PASSWORD, tls_port=self.tls_port,
            ssl="no" if not self.tls else f"yes\nssl_cert = <{self.dir}/cert.pem\nssl_key = <{self.dir}/key.pem",
            login_user="dovenull" if root else me, internal_user="dovecot" if root else me,
            mail_uid="nobody" if root else os.getuid(), mail_gid="nogroup" if root else os.getgid(),
        )
        if root:
            shutil.chown(self.dir / "home", "nobody", "nogroup")
        if self.tls:
            make_certificate(self.dir)
        values["oauth2"] = self._oauth2_passdb()
        (self.dir / "dovecot.conf").write_text(_CONFIG.format(**values), encoding="utf-8")

    def _oauth2_passdb(self) -> str:
        """XOAUTH2 logins checked against a token introspection endpoint (RFC 7662), if one is given."""
        if not self.introspection_url:
            return ""
        (self.dir / "oauth2.conf.ext").write_text(
            f"introspection_url = {self.introspection_url}\nintrospection_mode = post\n"
            "username_attribute = username\nactive_attribute = active\nactive_value = true\n",
            encoding="utf-8")
        return ("auth_mechanisms = plain login xoauth2 oauthbearer\n"
                f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {self.dir}/oauth2.conf.ext\n}}\n")

    def start(self) -> Dovecot:
        # A session of its own, so that stopping it can stop its imap processes too: a master
        # alone may exit and leave them serving the connections it had.
        self.process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(self.dir / "dovecot.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        start_new_session=True)
        deadline = time.monotonic() + 10
        while not self._accepting():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not start: {self.log_tail()}")
            time.sleep(0.02)
        return self

    def _accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                return sock.recv(10).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def add_user(self) -> str:
        """A fresh login name: every name logs in with PASSWORD, its mailbox made empty on first use.

        (A passwd-file would need re-reading, which Dovecot does only when the file's size or
        modification second changes; a static password needs nothing.)
        """
        return f"support-{uuid.uuid4().hex[:10]}@example.com"

    def log_tail(self, lines: int = 20) -> str:
        log = self.dir / "dovecot.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class MailboxClient:
    """A test's own IMAP client for one user: put mail in, look at what the poller left."""

    def __init__(self, server: Dovecot, user: str, password: str = PASSWORD) -> None:
        from imapclient import IMAPClient

        self.client = IMAPClient("127.0.0.1", server.port, ssl=False, timeout=30)
        try:
            self.client.login(user, password)
        except Exception:
            self.client.shutdown()
            raise

    def append(self, raws: list[bytes], folder: str = "INBOX", flags: tuple[bytes, ...] = ()) -> None:
        """APPEND the messages, a few hundred per MULTIAPPEND command."""
        for start in range(0, len(raws), 200):
            chunk = raws[start:start + 200]
            self.client.multiappend(folder, [{"msg": raw, "flags": flags} for raw in chunk])

    def uids(self, folder: str = "INBOX", criteria: object = "ALL") -> list[int]:
        self.client.select_folder(folder, readonly=True)
        return self.client.search(criteria)

    def count(self, folder: str = "INBOX") -> int:
        """How many messages the folder holds (STATUS: no SELECT, no list of UIDs to parse)."""
        return self.client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"]

    def flags(self, folder: str = "INBOX") -> dict[int, set[bytes]]:
        self.client.select_folder(folder, readonly=True)
        uids = self.client.search("ALL")
        found = self.client.fetch(uids, ["FLAGS"]) if uids else {}
        return {uid: set(data[b"FLAGS"]) for uid, data in found.items()}

    def recreate(self, folder: str) -> None:
        """Delete the folder and create it again: a new UIDVALIDITY."""
        self.client.select_folder("INBOX", readonly=True)  # a folder cannot be deleted while selected
        self.client.delete_folder(folder)
        self.client.create_folder(folder)

    def uidvalidity(self, folder: str = "INBOX") -> int:
        return self.client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]

    def close(self) -> None:
        self.client.logout()


def imap_table(server: Dovecot, user: str, **keys: object) -> str:
    """An [[imap]] table for `user` on `server` (plain IMAP on loopback), with `keys` overriding."""
    values: dict[str, object] = {"name": "support", "host": "127.0.0.1", "port": server.port, "tls": "none",
                                 "user": user, "password": PASSWORD, "poll_interval": 5, "backlog": "all"}
    values.update(keys)
    lines = [f"{key} = {_toml(value)}" for key, value in values.items()]
    return "\n[[imap]]\n" + "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
