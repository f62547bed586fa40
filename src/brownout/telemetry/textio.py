"""Open plain or gzip text files (gzip recognised by its magic bytes)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from brownout.errors import ParseError

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 8 << 20


def open_binary(path: str | Path) -> BinaryIO:
    """Open a file for reading bytes, transparently gunzipping it."""
    try:
        fh: BinaryIO = Path(path).open("rb")  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        raise ParseError(str(path), 0, f"cannot be read ({exc.strerror or exc})") from exc
    if fh.read(2) == GZIP_MAGIC:
        fh.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    fh.seek(0)
    return fh


def iter_chunks(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Whole lines of a file, ``chunk_bytes`` at a time (the last line may lack ``\\n``).

    Raises:
        ParseError: for an unreadable file or a truncated or corrupt gzip stream.
    """
    where = str(path)
    with open_binary(path) as fh:
        rest = b""
        while True:
            try:
                block = fh.read(chunk_bytes)
            except (EOFError, OSError, zlib.error) as exc:
                raise ParseError(where, 0, f"truncated or corrupt gzip data ({exc})") from exc
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                rest = block
                continue
            rest = block[cut:]
            yield block[:cut]
        if rest:
            yield rest


def iter_buffers(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[memoryview]:
    """Like :func:`iter_chunks`, without copies: views into one reused buffer.

    Each view is valid only until the next one is requested.
    """
    where = str(path)
    buf = bytearray(chunk_bytes)
    view = memoryview(buf)
    filled = 0
    with open_binary(path) as fh:
        while True:
            if filled == len(buf):  # one line longer than the buffer: grow it
                view.release()
                buf.extend(bytes(len(buf)))
                view = memoryview(buf)
            try:
                n = fh.readinto(view[filled:])  # type: ignore[attr-defined]
            except (EOFError, OSError, zlib.error) as exc:
                raise ParseError(where, 0, f"truncated or corrupt gzip data ({exc})") from exc
            if not n:
                break
            filled += n
            cut = buf.rfind(b"\n", 0, filled) + 1
            if cut:
                yield view[:cut]
                buf[:filled - cut] = buf[cut:filled]
                filled -= cut
        if filled:
            yield view[:filled]


def open_text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line) pairs of a text file."""
    lineno = 0
    for chunk in iter_chunks(path):
        text = chunk.decode("utf-8", errors="replace")
        if text.endswith("\n"):
            text = text[:-1]
        for line in text.split("\n"):  # only \n ends a line (JSON Lines), not \v or \f
            lineno += 1
            yield lineno, line.removesuffix("\r")
