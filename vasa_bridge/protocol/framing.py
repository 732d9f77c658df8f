"""ZeroMQ framing (SPEC.md §8.3, §8.4): a logical message as [msgpack map without its payload, *payload frames]."""

from __future__ import annotations

from typing import Any

from vasa_bridge.protocol.codec import decode, encode, peek_id
from vasa_bridge.protocol.messages import MAX_ID, ZMQ_PAYLOAD_FIELDS, ProtocolError


def to_zmq_frames(msg: dict) -> list[bytes]:
    """ZeroMQ binding: [msgpack map without payload fields, *payload frames] (SPEC.md §8.3)."""
    payload_field = ZMQ_PAYLOAD_FIELDS.get(msg.get("type", ""))
    if payload_field is None or payload_field not in msg:
        return [encode(msg)]
    header = {k: v for k, v in msg.items() if k != payload_field}
    payload = msg[payload_field]
    return [encode(header), *(payload if isinstance(payload, list) else [payload])]


def from_zmq_frames(frames: list[bytes], max_bytes: int) -> Any:
    """Inverse of to_zmq_frames; ProtocolError(bad_message / too_large) when the frames do not fit."""
    if not frames:
        raise ProtocolError("bad_message", "empty multipart message")
    total = sum(len(f) for f in frames)
    if total > max_bytes:  # the id sits in frame 0, ahead of the payload frames that made the message large
        raise ProtocolError("too_large", f"message of {total} bytes exceeds the limit of {max_bytes}",
                            peek_id(frames[0]))
    msg = decode(frames[0], max_bytes)
    if not isinstance(msg, dict):
        raise ProtocolError("bad_message", f"frame 0 must be a msgpack map, got {type(msg).__name__}")
    payload_field = ZMQ_PAYLOAD_FIELDS.get(msg.get("type")) if isinstance(msg.get("type"), str) else None
    trailing = [bytes(f) for f in frames[1:]]
    if payload_field is None:
        if trailing:
            raise ProtocolError("bad_message", f"message type {msg.get('type')!r} takes no trailing frames, got "
                                f"{len(trailing)}", _maybe_id(msg))
        return msg
    if payload_field in msg:
        raise ProtocolError("bad_message", f"on ZeroMQ, {payload_field!r} travels as trailing frames, not in the "
                            "map", _maybe_id(msg))
    if msg["type"] == "audio":
        if len(trailing) != 1:
            raise ProtocolError("bad_message", f"audio takes exactly 1 trailing frame, got {len(trailing)}",
                                _maybe_id(msg))
        return {**msg, "audio": trailing[0]}
    if msg["type"] == "open":    # the portrait is optional: 0 or 1 trailing frames
        if len(trailing) > 1:
            raise ProtocolError("bad_message", f"open takes at most 1 trailing frame (the portrait), got "
                                f"{len(trailing)}", _maybe_id(msg))
        return {**msg, "portrait": trailing[0]} if trailing else msg
    return {**msg, payload_field: trailing}


def _maybe_id(msg: dict) -> int | None:
    v = msg.get("id")
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_ID else None
