"""The API tokens: generated on first start, stored 0600, compared in constant time.

Mutating endpoints (approve, reject) need ``Authorization: Bearer <token>``.
A second token, the ingest token, may only push step records
(``POST /api/steps``); it is made and kept with the same care.
The token lives in one file created with mode 0600 (``O_CREAT | O_EXCL``, so
it is never world-readable, not even for an instant). It is never logged: the
server's access log is off and error messages never echo it.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from brownout.errors import InputError

TOKEN_BYTES = 32


def load_or_create_token(path: str | Path, what: str = "API token") -> str:
    """The token stored at ``path``; a new one is created there if absent.

    Args:
        path: the token file.
        what: what the token is called in error messages.

    Raises:
        InputError: the file exists but is readable by others, or cannot be read.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(p, what)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        os.write(fd, (token + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return token


def _read(p: Path, what: str) -> str:
    try:
        mode = p.stat().st_mode
        text = p.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read the {what} ({exc})") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f"{p}: the {what} file must not be readable by others"
                         f" (chmod 600 {p})")
    if len(text) < 16:
        raise InputError(f"{p}: the {what} is too short (delete the file to make a new one)")
    return text


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison of a presented token with the real one."""
    return hmac.compare_digest(presented.encode("utf-8", "replace"),
                               expected.encode("utf-8"))
