"""msgpack encoding of logical messages (SPEC.md §2): encode, a decode that enforces the protocol's subset of
msgpack, and `peek_id`, which reads a request's id from a message too large (or too broken) to decode, so that
even its error carries the id (SPEC §3: every request gets exactly one reply with its id)."""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from vasa_bridge.protocol.messages import MAX_ID, ProtocolError

MAX_NESTING = 32          # maps / arrays inside each other; deeper messages are bad_message (SPEC §2)
PEEK_MAX_ITEMS = 256      # values peek_id looks at before giving up: bounded work for any input


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension types are not used by this protocol (got ext {code})")


def encode(msg: dict) -> bytes:
    """One msgpack map: str keys, str as msgpack str, bytes as msgpack bin, floats as float64."""
    return msgpack.packb(msg, use_bin_type=True)


def decode(data: bytes, max_bytes: int) -> Any:
    """The decoded msgpack value, or ProtocolError(bad_message / too_large) carrying the id when it can be read."""
    if len(data) > max_bytes:
        raise ProtocolError("too_large", f"message of {len(data)} bytes exceeds the limit of {max_bytes}",
                            peek_id(data))
    try:
        # timestamp=0 keeps the -1 (timestamp) extension as a Timestamp object, refused by _check_structure;
        # every other extension reaches ext_hook.
        value = msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_no_ext, timestamp=0)
    except Exception as e:  # msgpack raises many types (ExtraData, FormatError, StackError, ValueError, ...)
        raise ProtocolError("bad_message", f"not a single msgpack value: {type(e).__name__}: {str(e)[:80]}",
                            peek_id(data)) from None
    problem = _check_structure(value)
    if problem:
        raise ProtocolError("bad_message", problem, peek_id(data))
    return value


def _check_structure(value: Any) -> str | None:
    """What breaks the protocol's msgpack subset (extension values, nesting deeper than MAX_NESTING), or None.
    Iterative, so a hostile nesting depth cannot exhaust the Python stack."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, msgpack.Timestamp):
            return "msgpack extension types are not used by this protocol (got a timestamp, ext -1)"
        if isinstance(item, (dict, list)):
            if depth >= MAX_NESTING:
                return f"maps and arrays nested deeper than {MAX_NESTING} levels"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


# ---- reading the id without decoding -------------------------------------------------------------------------
class _Unreadable(Exception):
    pass


_FIXED = {0xc0: 0, 0xc2: 0, 0xc3: 0, 0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2,
          0xd2: 4, 0xd3: 8, 0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}  # marker -> bytes after it
_LENGTH = {0xc4: (1, 0), 0xc5: (2, 0), 0xc6: (4, 0), 0xd9: (1, 0), 0xda: (2, 0), 0xdb: (4, 0),
           0xc7: (1, 1), 0xc8: (2, 1), 0xc9: (4, 1)}  # marker -> (length bytes, type bytes): bin, str, ext
_UINT = {1: ">B", 2: ">H", 4: ">I", 8: ">Q"}


class _Reader:
    """Walks msgpack headers: strings and binaries are skipped by their length, never read or copied."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.items = memoryview(data), 0, 0

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise _Unreadable
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def _uint(self, n: int) -> int:
        return struct.unpack(_UINT[n], self._take(n))[0]

    def container(self) -> tuple[str, int] | None:
        """("map" | "array", item count) when the next value is one (header consumed), else None."""
        b = self.data[self.pos] if self.pos < len(self.data) else None
        if b is None:
            raise _Unreadable
        if 0x80 <= b <= 0x8f or 0x90 <= b <= 0x9f:
            self.pos += 1
            return ("map" if b <= 0x8f else "array"), b & 0x0f
        if b in (0xdc, 0xdd, 0xde, 0xdf):
            self.pos += 1
            return ("array" if b in (0xdc, 0xdd) else "map"), self._uint(2 if b in (0xdc, 0xde) else 4)
        return None

    def scalar(self) -> Any:
        """The next value when it is an int or a short str; `...` for anything else, skipped (nested too)."""
        self.items += 1
        if self.items > PEEK_MAX_ITEMS:
            raise _Unreadable
        header = self.container()
        if header is not None:
            for _ in range(header[1] * (2 if header[0] == "map" else 1)):
                self.scalar()
            return ...
        b = self._take(1)[0]
        if b <= 0x7f:
            return b
        if b >= 0xe0:
            return b - 0x100
        if 0xa0 <= b <= 0xbf:
            return self._text(b & 0x1f)
        if b in (0xcc, 0xcd, 0xce, 0xcf):
            return self._uint(_FIXED[b])
        if b in _FIXED:
            self._take(_FIXED[b])
            return ...
        if b in _LENGTH:
            length_bytes, type_bytes = _LENGTH[b]
            n = self._uint(length_bytes) + type_bytes
            if b in (0xd9, 0xda, 0xdb):
                return self._text(n)
            self._take(n)
            return ...
        raise _Unreadable  # 0xc1 (never used) or a signed int: no valid id is negative

    def _text(self, n: int) -> Any:
        raw = self._take(n)
        return bytes(raw).decode("utf-8", "replace") if n <= 64 else ...


def peek_id(data: bytes) -> int | None:
    """The `id` of a msgpack map request, found by walking headers only (bounded work, any size, any garbage
    after it); None when the message is no map, has no valid id, or is unreadable before the id."""
    reader = _Reader(data)
    try:
        header = reader.container()
        if header is None or header[0] != "map":
            return None
        for _ in range(header[1]):
            key = reader.scalar()
            value = reader.scalar()
            if key == "id":
                ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID
                return value if ok else None
    except _Unreadable:
        return None
    return None
