"""Where mailbridge keeps its state: the state directory, the default database and the secret."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mailbridge.errors import ConfigError


def resolve_state_dir(configured: str, env: Mapping[str, str], cwd: Path) -> Path:
    """The configured directory, else systemd's $STATE_DIRECTORY, else ./state (a checkout)."""
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else cwd / path
    # systemd's StateDirectory=mailbridge sets STATE_DIRECTORY=/var/lib/mailbridge; with several
    # directories it is a colon-separated list and the first one is ours.
    from_systemd = env.get("STATE_DIRECTORY", "").split(":")[0]
    if from_systemd:
        return Path(from_systemd)
    return cwd / "state"


def default_database_url(state_dir: Path) -> str:
    """The SQLite database file inside the state directory."""
    return f"sqlite:///{state_dir / 'mailbridge.sqlite3'}"


def secret_file_bytes(path: Path) -> bytes:
    """The secret kept in `path`, generated there (mode 0600) the first time it is needed."""
    try:
        if not path.exists():
            _create_secret_file(path)
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot use the secret key file: {_reason(exc)}"]) from exc
    if len(text) < 32:
        raise ConfigError([f"{path}: the secret key file is too short; delete it to make a new one"])
    return text.encode("ascii")


def _create_secret_file(path: Path) -> None:
    # Imported here: only the first start makes the key, and `secrets` (hmac, hashlib, random) is
    # 5 % of `mailbridge tickets list` (issue 17).
    import secrets

    # The key is written to a private temporary file and then hard-linked into place: linking
    # fails if the file already exists, so two processes starting at once cannot overwrite each
    # other's key, and no one can ever read a half-written file.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
