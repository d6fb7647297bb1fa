"""A synthetic park of any size, for scale tests and benchmarks: N meters behind RS-485-to-TCP
gateways, `per_bus` meters (distinct unit ids) per TCP server.

The mix resembles a large park: one grid connection, PV inverters (~2 %), batteries, electric
sub-meters of 50 enterprises with vendor profiles in rotation, and gas, steam and water supply
meters with their sub-meters. Returns a config mapping for `accounting.config.parse_config`.
"""

from typing import Any

_ELECTRIC_PROFILES = ("eastron_sdm630", "chint_dtsu666", "acrel_adl400", "generic_float32")


def fleet_config(meters: int = 1000, per_bus: int = 100, base_port: int = 16000,
                 host: str = "127.0.0.1", park_id: str = "fleet", buses_per_gateway: int = 4,
                 ports: list[int] | None = None) -> dict[str, Any]:
    """Config mapping of one park with `meters` meters; bus b listens on base_port + b (or ports[b])."""
    if not 1 <= per_bus <= 247:
        raise ValueError(f"per_bus {per_bus}: Modbus unit ids run 1…247")
    enterprises = [{"id": f"ent-{e:02d}", "name": f"Enterprise {e}"} for e in range(50)]
    rows: list[dict[str, Any]] = []

    def add(mid: str, carrier: str, role: str, profile: str, **extra: Any) -> None:
        rows.append({"id": mid, "carrier": carrier, "role": role, "profile": profile,
                     "boundary": role in ("grid", "supply"), **extra})

    add("grid-main", "electricity", "grid", "generic_float32")
    add("gas-gate", "natural_gas", "supply", "generic_float32")
    add("steam-in", "heat", "supply", "generic_float32")
    add("water-main", "water", "supply", "generic_float32")
    for i in range(max(1, meters // 250)):
        add(f"bess-{i}", "electricity", "storage", "generic_float32")
    i = 0
    while len(rows) < meters:
        slot = i % 100
        ent = enterprises[i % 50]["id"]
        if slot < 2:
            add(f"pv-{i}", "electricity", "pv", "sunspec_inverter")
        elif slot < 80:
            add(f"el-{i}", "electricity", "enterprise", _ELECTRIC_PROFILES[i % 4], enterprise=ent)
        elif slot < 88:
            add(f"gas-{i}", "natural_gas", "enterprise", "generic_float32", enterprise=ent, parent="gas-gate")
        elif slot < 92:
            add(f"steam-{i}", "heat", "enterprise", "generic_float32", enterprise=ent, parent="steam-in")
        else:
            add(f"water-{i}", "water", "enterprise", "generic_float32", enterprise=ent, parent="water-main")
        i += 1
    gateways: list[dict[str, Any]] = []
    for n, row in enumerate(rows):
        bus = n // per_bus
        gw = bus // buses_per_gateway
        if gw == len(gateways):
            gateways.append({"id": f"gw-{gw}", "park": park_id, "buses": []})
        if bus == len(gateways[gw]["buses"]) + gw * buses_per_gateway:
            port = ports[bus] if ports else base_port + bus
            gateways[gw]["buses"].append({"id": f"bus-{bus}", "host": host, "port": port})
        row.update(gateway=f"gw-{gw}", modbus={"bus": f"bus-{bus}", "unit": n % per_bus + 1})
    return {"parks": [{"id": park_id, "name": f"Synthetic park ({meters} meters)",
                       "enterprises": enterprises, "meters": rows}],
            "gateways": gateways}
