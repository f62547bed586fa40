"""A pickle reader that builds plain values only and never runs anything.

Flight Recorder dumps (spec/telemetry.md section 6) are pickles, and a pickle
is a program: ``pickle.load`` on a hostile file can import any class and call
it. This module does not use :mod:`pickle`'s unpickler at all. It walks the
opcodes with :func:`pickletools.genops` (which only parses) and interprets a
whitelist of them itself: the opcodes that build ``dict``, ``list``,
``tuple``, ``str``, ``bytes``, ``int``, ``float``, ``bool`` and ``None``.
Anything else (a global, a reduce, a build, a persistent id, a set, an
extension code, an out-of-band buffer) is refused, with the opcode's name.

Bounds keep a small file from becoming a big problem: the file size is capped
before a byte is parsed (so a declared size can never allocate more than the
file holds), the stack and nesting depth are capped, and a container may not
be changed once it sits inside another (which rules out self-references).
"""

from __future__ import annotations

import io
import pickletools
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brownout.errors import ParseError

_SCALARS = frozenset({
    "NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1",
    "LONG4", "FLOAT", "BINFLOAT", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE",
    "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8"})
_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})
_EMPTY = {"EMPTY_DICT": dict, "EMPTY_LIST": list, "EMPTY_TUPLE": tuple}
_TUPLE_N = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}


@dataclass(frozen=True)
class Limits:
    """Bounds of one read.

    Attributes:
        max_bytes: larger files are refused before parsing.
        max_depth: deepest nesting of containers.
        max_stack: most values on the unpickling stack at once.
    """

    max_bytes: int = 64 * 1024 * 1024
    max_depth: int = 32
    max_stack: int = 10_000


class Refused(Exception):  # noqa: N818 - internal signal, always turned into a ParseError
    """One reason a pickle is refused (internal; callers get a ParseError)."""


class _Mark:
    """The MARK sentinel on the stack."""


_MARK = _Mark()


class _Machine:
    """The stack machine for the whitelisted opcodes."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.depth: dict[int, int] = {}  # id(container) -> nesting depth
        self.sealed: set[int] = set()  # containers already inside another
        self.keep: list[Any] = []  # keeps every container alive, so ids stay unique

    def run(self, ops: Iterator[tuple[pickletools.OpcodeInfo, Any, int | None]]) -> Any:
        for op, arg, _ in ops:
            name = op.name
            if name == "STOP":
                if len(self.stack) != 1:
                    raise Refused("malformed: STOP with a bad stack")
                return self.stack.pop()
            self.step(name, arg)
            if len(self.stack) > self.limits.max_stack:
                raise Refused(f"stack deeper than {self.limits.max_stack}")
        raise Refused("truncated: no STOP opcode")

    def step(self, name: str, arg: Any) -> None:  # noqa: PLR0912 - one branch per opcode family
        if name in _SCALARS:
            self.stack.append(_scalar(name, arg))
        elif name in _EMPTY:
            self.stack.append(self.new(_EMPTY[name]()))
        elif name in ("PROTO", "FRAME"):
            return
        elif name == "MARK":
            self.stack.append(_MARK)
        elif name in _PUT or name == "MEMOIZE":
            self.memo[len(self.memo) if name == "MEMOIZE" else int(arg)] = self.top()
        elif name in _GET:
            if int(arg) not in self.memo:
                raise Refused(f"malformed: memo key {arg} unset")
            self.stack.append(self.memo[int(arg)])
        elif name in ("TUPLE", "LIST", "DICT"):
            self.collect(name, self.pop_mark())
        elif name in _TUPLE_N:
            n = _TUPLE_N[name]
            if len(self.stack) < n:
                raise Refused(f"malformed: {name} on a short stack")
            items = self.stack[-n:]
            del self.stack[-n:]
            self.collect("TUPLE", items)
        elif name in ("APPEND", "APPENDS"):
            items = [self.pop()] if name == "APPEND" else self.pop_mark()
            self.fill(self.top(), items)
        elif name in ("SETITEM", "SETITEMS"):
            items = [self.pop(), self.pop()][::-1] if name == "SETITEM" else self.pop_mark()
            self.fill(self.top(), items)
        elif name in ("POP", "POP_MARK", "DUP"):
            self.stack_op(name)
        else:
            raise Refused(f"opcode {name} is not allowed (only plain values may be built)")

    def new(self, obj: Any) -> Any:
        self.depth[id(obj)] = 1
        self.keep.append(obj)
        return obj

    def top(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise Refused("malformed: empty stack")
        return self.stack[-1]

    def pop(self) -> Any:
        value = self.top()
        self.stack.pop()
        return value

    def pop_mark(self) -> list[Any]:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] is _MARK:
                items = self.stack[i + 1:]
                del self.stack[i:]
                return items
        raise Refused("malformed: no MARK")

    def stack_op(self, name: str) -> None:
        if name == "POP":
            if not self.stack:
                raise Refused("malformed: POP on an empty stack")
            self.stack.pop()
        elif name == "POP_MARK":
            self.pop_mark()
        else:
            self.stack.append(self.top())

    def _item_depth(self, items: list[Any]) -> int:
        deepest = 0
        for v in items:
            if id(v) in self.depth:
                self.sealed.add(id(v))
                deepest = max(deepest, self.depth[id(v)])
        if deepest + 1 > self.limits.max_depth:
            raise Refused(f"nested deeper than {self.limits.max_depth}")
        return deepest + 1

    def collect(self, name: str, items: list[Any]) -> None:
        depth = self._item_depth(items)
        if name == "DICT":
            obj: Any = self.new({})
            _set_pairs(obj, items)
        else:
            obj = self.new(tuple(items) if name == "TUPLE" else list(items))
        self.depth[id(obj)] = depth
        self.stack.append(obj)

    def fill(self, target: Any, items: list[Any]) -> None:
        if id(target) in self.sealed or any(v is target for v in items):
            raise Refused("a container is changed after use (recursive structure)")
        depth = self._item_depth(items)
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, dict):
            _set_pairs(target, items)
        else:
            raise Refused(f"malformed: cannot add items to {type(target).__name__}")
        self.depth[id(target)] = max(self.depth.get(id(target), 1), depth)


def _set_pairs(target: dict[Any, Any], items: list[Any]) -> None:
    if len(items) % 2:
        raise Refused("malformed: odd number of dict items")
    for k, v in zip(items[::2], items[1::2], strict=True):
        if isinstance(k, list | dict):
            raise Refused("malformed: unhashable dict key")
        try:
            target[k] = v
        except TypeError as exc:  # a tuple key holding a list
            raise Refused("malformed: unhashable dict key") from exc


def _scalar(name: str, arg: Any) -> Any:
    if name == "NONE":
        return None
    if name in ("NEWTRUE", "NEWFALSE"):
        return name == "NEWTRUE"
    if name == "INT" and isinstance(arg, bool):  # protocol 0 spells booleans as INT 01/00
        return arg
    if not isinstance(arg, int | float | str | bytes):
        raise Refused(f"malformed: bad argument to {name}")
    return arg


def loads_plain(data: bytes, where: str, limits: Limits | None = None) -> Any:
    """Build the plain value a pickle describes, or refuse it.

    Args:
        data: the pickle.
        where: the file name, for the error message.
        limits: bounds of the read.

    Raises:
        ParseError: one line naming ``where`` and why the pickle was refused.
    """
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise ParseError(where, 0, f"refused: {len(data)} bytes, more than the "
                                   f"{limits.max_bytes} allowed for a dump")
    try:
        # genops decodes a refused opcode's argument before we see the opcode, and
        # escape-decoding a hostile STRING warns: a warning is malformed input too
        # (found by the deep fuzz run). catch_warnings touches the process-wide
        # filters only for the length of one parse.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return _Machine(limits).run(pickletools.genops(io.BytesIO(data)))
    except Refused as exc:
        raise ParseError(where, 0, f"refused pickle: {exc}") from None
    except (ValueError, EOFError, struct.error, OverflowError, KeyError, IndexError,
            TypeError, RecursionError, Warning) as exc:  # genops on garbage or truncated input
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise ParseError(where, 0, f"refused pickle: malformed ({reason})") from None


def read_capped(path: str | Path, limits: Limits) -> bytes:
    """The bytes of a file, refused when longer than ``limits.max_bytes``.

    Read in chunks: ``read(max_bytes)`` would allocate the whole cap up front.

    Raises:
        ParseError: the file cannot be read or is too large.
    """
    where = str(path)
    chunks: list[bytes] = []
    size = 0
    try:
        with Path(path).open("rb") as fh:
            while size <= limits.max_bytes and (chunk := fh.read(1 << 20)):
                chunks.append(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ParseError(where, 0, f"cannot be read ({exc.strerror or exc})") from exc
    if size > limits.max_bytes:
        raise ParseError(where, 0, f"refused: more than the {limits.max_bytes} bytes allowed "
                                   "for a dump")
    return b"".join(chunks)


def read_plain(path: str | Path, limits: Limits | None = None) -> Any:
    """:func:`loads_plain` of a file, whose size is checked before it is parsed."""
    limits = limits or Limits()
    return loads_plain(read_capped(path, limits), str(path), limits)


__all__ = ["Limits", "loads_plain", "read_capped", "read_plain"]
