"""The one builder of the platform configs tests write: meters, parks, gateways and services."""

from __future__ import annotations

from pathlib import Path

import yaml

from lingtan.kernel.config import Config, parse_config

_DEFAULT_ROLE = {"electricity": "load", "natural_gas": "supply", "heat": "supply", "water": "supply"}
_BOUNDARY_ROLES = ("grid", "supply", "green_direct")


def meter(mid: str, bus: str, unit: int, carrier: str = "electricity", interval: float | None = 0.25,
          gateway: str = "gw-1", **extra) -> dict:
    """A meter on `gateway`'s bus at a Modbus unit; role and boundary follow the carrier unless given.

    `interval` is its poll interval in seconds; None leaves it out (the config's default).
    """
    role = extra.pop("role", _DEFAULT_ROLE[carrier])
    data = {"id": mid, "carrier": carrier, "role": role, "boundary": extra.pop("boundary", role in _BOUNDARY_ROLES),
            "gateway": gateway, "modbus": {"bus": bus, "unit": unit},
            "profile": extra.pop("profile", "generic_float32")}
    if interval is not None:
        data["poll_interval_s"] = interval
    return {**data, **extra}


def platform(meters: list[dict], buses: list[dict], mqtt_port: int | None = None, spool: Path | None = None, *,
             park: str = "gw-park", name: str | None = None, gateway: str = "gw-1", gateway_extra: dict | None = None,
             sink: dict | None = None, store: str | None = None, ingest: dict | None = None,
             park_extra: dict | None = None, **sections) -> dict:
    """One park with one gateway holding `buses` (plus `gateway_extra`: publish_batch, its mqtt
    credentials, ...); MQTT, ingest's sink and the platform store when given; any other top-level
    section (accounting, api, simulator, ...) as keywords."""
    gw = {"id": gateway, "park": park, "buses": buses}
    if spool is not None:
        gw["spool"] = {"path": str(spool)}
    gw.update(gateway_extra or {})
    data: dict = {"parks": [{"id": park, "name": name or f"Test park {park}", "meters": meters, **(park_extra or {})}],
                  "gateways": [gw]}
    if mqtt_port is not None:
        data["mqtt"] = {"host": "127.0.0.1", "port": mqtt_port}
    if sink is not None or ingest:
        data["ingest"] = {**({"sink": sink} if sink is not None else {}), **(ingest or {})}
    if store is not None:
        data["store"] = {"url": store}
    data.update(sections)
    return data


def sqlite_url(folder: Path, name: str = "platform.db") -> str:
    return f"sqlite:///{folder / name}"


def config_of(data: dict, source: str | Path = "test-config") -> Config:
    return parse_config(data, source)


def write_config(data: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
