"""Wire contract v1: MQTT topics and JSON payloads between gateways and the platform.

The JSON Schemas below are the contract (docs/contract.md explains them; docs/contract.schema.json
is generated from them and checked in CI). `validate_readings` and `validate_status` run the
schema itself, compiled once, so code and document cannot drift apart. One rule on top: JSON
Schema counts 1.0 as an "integer" (and Python counts true as 1), the wire does not; every integer
field (seq, v, counts) must be a JSON integer literal.
"""

from datetime import UTC, datetime
from typing import Any

import fastjsonschema

from lingtan.kernel.quantities import COUNTERS, QUANTITIES

VERSION = 1

IDENT = r"^[a-z0-9][a-z0-9_-]{0,63}$"
UTC_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$"


def utc_text(t: datetime) -> str:
    """RFC 3339 UTC text with millisecond precision, as the contract writes times."""
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_utc(text: str) -> datetime:
    """Inverse of utc_text for any contract time (validated against UTC_TIME first)."""
    return datetime.fromisoformat(text)


def readings_topic(prefix: str, park: str, gateway: str) -> str:
    return f"{prefix}/v{VERSION}/{park}/{gateway}/readings"


def status_topic(prefix: str, park: str, gateway: str) -> str:
    return f"{prefix}/v{VERSION}/{park}/{gateway}/status"


def health_topic(prefix: str, park: str, gateway: str) -> str:
    return f"{prefix}/v{VERSION}/{park}/{gateway}/health"


def readings_subscription(prefix: str) -> str:
    return f"{prefix}/v{VERSION}/+/+/readings"


def _quantity_schema(name: str) -> dict[str, Any]:
    q = QUANTITIES[name]
    schema: dict[str, Any] = {"type": "number", "description": f"{q.description or name} [{q.unit}]"}
    if q.minimum is not None:
        schema["minimum"] = q.minimum
    if q.maximum is not None:
        schema["maximum"] = q.maximum
    return schema


READING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["meter", "ts", "seq", "values"],
    "additionalProperties": False,
    "properties": {
        "meter": {"type": "string", "pattern": IDENT},
        "ts": {"type": "string", "pattern": UTC_TIME, "description": "measurement time, UTC"},
        "seq": {"type": "integer", "minimum": 0,
                "description": "per-gateway sequence number, a JSON integer (1, not 1.0)"},
        "values": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": {name: _quantity_schema(name) for name in QUANTITIES},
        },
    },
}

READINGS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://lingtan.example/contract/v1/readings.json",
    "title": "Lingtan readings message v1",
    "type": "object",
    "required": ["v", "park", "gateway", "readings"],
    "additionalProperties": False,
    "properties": {
        "v": {"const": VERSION},
        "park": {"type": "string", "pattern": IDENT},
        "gateway": {"type": "string", "pattern": IDENT},
        "sent_at": {"type": "string", "pattern": UTC_TIME},
        "readings": {"type": "array", "minItems": 1, "maxItems": 10000, "items": READING_SCHEMA},
    },
}

STATUS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://lingtan.example/contract/v1/status.json",
    "title": "Lingtan gateway status message v1 (retained; also the last will)",
    "type": "object",
    "required": ["v", "park", "gateway", "state", "ts"],
    "additionalProperties": False,
    "properties": {
        "v": {"const": VERSION},
        "park": {"type": "string", "pattern": IDENT},
        "gateway": {"type": "string", "pattern": IDENT},
        "state": {"enum": ["online", "offline"]},
        "ts": {"type": "string", "pattern": UTC_TIME},
        "spooled": {"type": "integer", "minimum": 0},
        "dropped": {"type": "integer", "minimum": 0},
        "spool_error": {"type": "string", "maxLength": 200,
                        "description": "present while the spool's disk refuses writes (disk full, I/O error); "
                                       "readings then wait in the gateway's memory"},
    },
}

HEALTH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://lingtan.example/contract/v1/health.json",
    "title": "Lingtan per-meter health message v1 (retained, on change)",
    "type": "object",
    "required": ["v", "park", "gateway", "ts", "meters"],
    "additionalProperties": False,
    "properties": {
        "v": {"const": VERSION},
        "park": {"type": "string", "pattern": IDENT},
        "gateway": {"type": "string", "pattern": IDENT},
        "ts": {"type": "string", "pattern": UTC_TIME},
        "meters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["meter", "state"],
                "additionalProperties": False,
                "properties": {
                    "meter": {"type": "string", "pattern": IDENT},
                    "state": {"enum": ["ok", "failing", "unknown"]},
                    "last_success": {"type": ["string", "null"], "pattern": UTC_TIME},
                    "errors": {"type": "integer", "minimum": 0},
                    "latency_ms": {"type": ["number", "null"], "minimum": 0},
                    "error": {"type": ["string", "null"]},
                },
            },
        },
    },
}

SCHEMAS = {"readings": READINGS_SCHEMA, "status": STATUS_SCHEMA, "health": HEALTH_SCHEMA}


class ContractError(ValueError):
    """A payload that does not follow the contract; the message names the field and value."""


def _integers(schema: dict[str, Any]):
    """A checker that every value the schema calls an integer (or an integer const) is a JSON
    integer: 1.0 and true pass JSON Schema's "integer" and `== 1`, yet InfluxDB's `seq=1.0i`
    is a syntax error. None if the schema has no integer; subtrees without one are skipped."""
    if schema.get("type") == "integer" or type(schema.get("const")) is int:
        def check(value, path):
            if type(value) is not int:
                raise ContractError(f"{path or '(message)'} = {value!r}: it must be an integer (1, not 1.0 or true)")
        return check
    fields = {name: c for name, sub in schema.get("properties", {}).items() if (c := _integers(sub)) is not None}
    item = _integers(schema["items"]) if isinstance(schema.get("items"), dict) else None
    if not fields and item is None:
        return None

    def walk(value, path):
        if type(value) is dict:
            for name, c in fields.items():
                if name in value:
                    c(value[name], f"{path}.{name}" if path else name)
        elif type(value) is list and item is not None:
            for i, v in enumerate(value):
                item(v, f"{path}[{i}]")
    return walk


def _compiled(schema: dict[str, Any]):
    check = fastjsonschema.compile(schema)
    integers = _integers(schema)

    def validate(payload: Any) -> Any:
        try:
            payload = check(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            path = exc.name.replace("data", "", 1) or "(message)"
            value = exc.value
            shown = f"<{type(value).__name__}>" if isinstance(value, (dict, list)) else repr(value)
            raise ContractError(f"{path.lstrip('.')} = {shown}: {exc.message.replace(exc.name, 'it')}") from exc
        if integers is not None:
            integers(payload, "")
        return payload

    return validate


validate_readings = _compiled(READINGS_SCHEMA)
validate_status = _compiled(STATUS_SCHEMA)
validate_health = _compiled(HEALTH_SCHEMA)

__all__ = [
    "COUNTERS", "ContractError", "parse_utc", "utc_text", "SCHEMAS", "VERSION", "health_topic", "readings_subscription",
    "readings_topic", "status_topic", "validate_health", "validate_readings", "validate_status",
]
