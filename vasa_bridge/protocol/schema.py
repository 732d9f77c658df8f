"""The JSON form of logical messages (golden vectors) and their JSON Schemas, rendered from the field table."""

from __future__ import annotations

from typing import Any

from vasa_bridge.protocol.messages import MAX_ID, MESSAGES, SESSION_ID_RE, Field
from vasa_bridge.protocol.version import protocol_version

def to_json_obj(value: Any) -> Any:
    """JSON-able form of a logical message: bytes become {"$bin": "<lowercase hex>"}."""
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if isinstance(value, dict):
        return {k: to_json_obj(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json_obj(v) for v in value]
    return value


def from_json_obj(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        return {k: from_json_obj(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json_obj(v) for v in value]
    return value


_JSON_KIND: dict[str, dict] = {
    "str": {"type": "string"},
    "uint": {"type": "integer", "minimum": 0},
    "count": {"type": "integer", "minimum": 1},
    "id": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "nullable_id": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_ID},
    "float": {"type": "number"},
    "nullable_float": {"type": ["number", "null"]},
    "bool": {"type": "boolean"},
    "bin": {"$ref": "#/$defs/bin"},
    "bin_list": {"type": "array", "items": {"$ref": "#/$defs/bin"}},
    "str_list": {"type": "array", "items": {"type": "string"}},
    "uint_list": {"type": "array", "items": {"type": "integer", "minimum": 0}},
    "session": {"type": "string", "pattern": SESSION_ID_RE.pattern},
}


def _field_schema(field: Field) -> dict:
    if field.kind == "enum":
        schema: dict = {"type": "string", "enum": list(field.choices)}
    elif field.kind == "enum_list":
        schema = {"type": "array", "items": {"type": "string", "enum": list(field.choices)}}
    elif field.kind == "map":
        schema = _object_schema(field.sub)
    else:
        schema = dict(_JSON_KIND[field.kind])
    if field.doc:
        schema["description"] = field.doc
    return schema


def _object_schema(fields: tuple[Field, ...]) -> dict:
    return {
        "type": "object",
        "properties": {f.name: _field_schema(f) for f in fields},
        "required": [f.name for f in fields if f.required],
        "additionalProperties": True,  # receivers MUST ignore unknown fields (SPEC §3)
    }


def json_schema(mtype: str) -> dict:
    """JSON Schema (2020-12) of one message type in its JSON form (binary as {"$bin": hex})."""
    role, fields = MESSAGES[mtype]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://vasa-bridge.invalid/protocol/{protocol_version()}/{mtype}.schema.json",
        "title": f"{mtype} ({role})",
        **_object_schema(fields),
        "$defs": {"bin": {"type": "object", "properties": {"$bin": {"type": "string",
                                                                    "pattern": "^([0-9a-f]{2})*$"}},
                          "required": ["$bin"], "additionalProperties": False,
                          "description": "binary data (msgpack bin); lowercase hex in the JSON form"}},
    }
    schema["properties"]["type"] = {"const": mtype}
    return schema
