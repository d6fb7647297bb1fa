"""Polling: one task per bus, each meter on its own interval, health tracked per meter.

Requests on one bus are serialised (RS-485 is half duplex, and TCP-to-RS-485 converters behave
the same); buses poll concurrently, so a dead meter costs only its own timeout on its own bus.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from accounting.contract import utc_text
from accounting.park import Meter, Role
from accounting.quantities import CARRIER_QUANTITIES
from gateway import profile as profiles
from gateway.modbus import BusClient, MeterUnavailable

log = logging.getLogger(__name__)


@dataclass
class MeterHealth:
    meter: str
    state: str = "unknown"  # ok | failing | unknown
    last_success: datetime | None = None
    errors: int = 0
    latency_ms: float | None = None
    error: str | None = None

    def as_contract(self) -> dict:
        return {
            "meter": self.meter, "state": self.state, "errors": self.errors,
            "last_success": utc_text(self.last_success) if self.last_success else None,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "error": self.error,
        }


class BusPoller:
    """Polls the meters of one bus forever, handing each reading to `emit`."""

    def __init__(self, client: BusClient, meters: list[Meter], clock: Callable[[], datetime],
                 emit: Callable[[dict], Awaitable[None]], on_health: Callable[[MeterHealth], None]) -> None:
        self.client = client
        self.meters = meters
        self.clock = clock
        self.emit = emit
        self.on_health = on_health
        self.health = {m.id: MeterHealth(m.id) for m in meters}
        self._plans = {}
        for m in meters:
            p = profiles.load(m.profile)
            wanted = CARRIER_QUANTITIES[m.carrier.value] | ({"soc_pct"} if m.role is Role.STORAGE else set())
            self._plans[m.id] = (p, profiles.plan(p), wanted)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = {m.id: loop.time() for m in self.meters}
        by_id = {m.id: m for m in self.meters}
        while True:
            meter_id = min(due, key=due.get)
            delay = due[meter_id] - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            meter = by_id[meter_id]
            await self.poll(meter)
            # keep the cadence: next slot after now, never a burst of catch-up polls
            due[meter_id] += meter.poll_interval_s
            if due[meter_id] < loop.time():
                due[meter_id] = loop.time() + meter.poll_interval_s

    async def poll(self, meter: Meter) -> None:
        profile, blocks, wanted = self._plans[meter.id]
        health = self.health[meter.id]
        started = time.perf_counter()
        try:
            registers = await self.client.read(meter.modbus.unit, blocks)
            taken = self.clock()
            values = {k: v for k, v in profiles.decode(profile, registers).items() if k in wanted}
        except (MeterUnavailable, ValueError) as exc:
            health.errors += 1
            health.error = str(exc)
            if health.state != "failing":
                health.state = "failing"
                log.warning("meter %s failing: %s", meter.id, exc)
                self.on_health(health)
            return
        health.latency_ms = (time.perf_counter() - started) * 1000
        health.last_success = taken
        health.error = None
        if health.state != "ok":
            if health.state == "failing":
                log.info("meter %s recovered after %d error(s)", meter.id, health.errors)
            health.state = "ok"
            self.on_health(health)
        if values:
            await self.emit({"meter": meter.id, "ts": utc_text(taken), "values": values})
