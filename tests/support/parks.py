"""The accounting core's test parks: a park model built from meter dicts, for the pure tests of
the balance and the enterprises (no config file, no gateway behind the meters)."""

from lingtan.kernel.park import Park

ENTERPRISES = ({"id": "acme", "name": "Acme"}, {"id": "beta", "name": "Beta"})


def park_meter(mid: str, carrier: str, role: str, boundary: bool, **extra) -> dict:
    """A meter of a test park: its carrier, role and whether it is on the park boundary, plus
    `extra` (enterprise, parent, non_fossil, ...); the bus and profile only satisfy the model."""
    return {"id": mid, "carrier": carrier, "role": role, "boundary": boundary, "gateway": "gw",
            "modbus": {"bus": "b", "unit": 1}, "profile": "generic_float32", **extra}


def demo_park(meters: list[dict], enterprises=ENTERPRISES) -> Park:
    """Park `demo` with the enterprises acme and beta and `meters` (park_meter dicts)."""
    return Park.model_validate({"id": "demo", "name": "Demo", "enterprises": list(enterprises), "meters": meters})
