"""The vasa_bridge wire protocol (protocol/SPEC.md), with no server code: shared by the sidecar and its clients.

    messages  error codes, the field table (`MESSAGES`), request validation, ProtocolError
    codec     msgpack encode / decode (the protocol's subset), `peek_id` for undecodable requests
    framing   the ZeroMQ multipart layout of a message
    schema    the JSON form of messages and their JSON Schemas
    vectors   golden vectors (`python -m vasa_bridge.protocol.vectors --check`)
    version   the one protocol version, read from protocol/VERSION
    errors    what a client raises (ServerError, ConnectionLost)

The names below are the public surface; `from vasa_bridge import protocol as proto` gives them all.
"""

from vasa_bridge.protocol.codec import MAX_NESTING, decode, encode, peek_id
from vasa_bridge.protocol.errors import ConnectionLost, ServerError
from vasa_bridge.protocol.framing import from_zmq_frames, to_zmq_frames
from vasa_bridge.protocol.messages import (AUDIO_FORMATS, AUDIO_SAMPLE_BYTES, END_REASONS, ERROR_CODES,
                                           FRAME_DTYPE_BYTES, FRAME_DTYPES, IMAGE_FORMATS, MAX_ID, MESSAGES,
                                           OUTPUT_KINDS, REQUEST_TYPES, SESSION_ID_RE, ZMQ_PAYLOAD_FIELDS, Field,
                                           ProtocolError, check_message, validate_request)
from vasa_bridge.protocol.schema import from_json_obj, json_schema, to_json_obj
from vasa_bridge.protocol.version import parse_version, protocol_version

__all__ = ["AUDIO_FORMATS", "AUDIO_SAMPLE_BYTES", "END_REASONS", "ERROR_CODES", "FRAME_DTYPE_BYTES", "FRAME_DTYPES",
           "IMAGE_FORMATS", "MAX_ID", "MAX_NESTING", "MESSAGES", "OUTPUT_KINDS", "REQUEST_TYPES", "SESSION_ID_RE",
           "ZMQ_PAYLOAD_FIELDS", "ConnectionLost", "Field", "ProtocolError", "ServerError", "check_message",
           "decode", "encode", "from_json_obj", "from_zmq_frames", "json_schema", "parse_version", "peek_id",
           "protocol_version", "to_json_obj", "to_zmq_frames", "validate_request"]
