"""The refresh token of one [[oauth]] table, kept in STATE_DIR/oauth/NAME.json with mode 0600.

Written to a private temporary file and renamed, so a reader never sees half of it and a crash
never loses the previous token. The access token is kept beside it so that the CLI and the
daemon reuse one until it expires instead of asking the provider each time.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoredTokens:
    refresh_token: str
    access_token: str = ""
    expires_at: float = 0.0
    scope: str = ""


def read(path: Path) -> StoredTokens | None:
    """The stored tokens, or None when there is no file yet; ValueError when it is not ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("refresh_token"), str):
        raise ValueError(f"{path} holds no refresh token")
    return StoredTokens(**{key: data[key] for key in StoredTokens.__dataclass_fields__ if key in data})


def write(path: Path, tokens: StoredTokens) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(asdict(tokens), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
