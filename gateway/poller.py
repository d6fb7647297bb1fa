"""Polling: one task per bus, each meter on its own interval, health tracked per meter.

Requests on one bus are serialised (RS-485 is half duplex, and TCP-to-RS-485 converters behave
the same); buses poll concurrently. A meter that does not answer therefore costs its bus
`timeout_s × (retries + 1)` per attempt, during which the other meters of that bus wait; it
costs other buses nothing. To keep that cost small, a meter that keeps failing is polled less
often: after `BACKOFF_AFTER` consecutive failures its interval doubles with every further failure,
up to `BACKOFF_MAX_S` (or its own interval, if that is longer). The first answer puts it back on
its configured interval.

The bus's client is a Modbus `BusClient` or a DL/T 645 `Dlt645Client` (`gateway.dlt645`); both
raise `MeterUnavailable`, so scheduling, backoff and health are the same for either. A DL/T 645
bus with `time_sync` set also broadcasts the gateway's time once a day (docs/gateway.md).

Each meter's schedule keeps its cadence: the next poll is due one interval after the previous
*due* time, not after the poll finished, so a delay on the bus does not shift later readings; a
poll that is more than a whole interval late is skipped rather than made up in a burst.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from lingtan.gateway.dlt645 import Dlt645Client
from lingtan.gateway.modbus import BusClient, MeterUnavailable
from lingtan.kernel import profile as profiles
from lingtan.kernel.contract import utc_text
from lingtan.kernel.park import Meter, Role
from lingtan.kernel.quantities import CARRIER_QUANTITIES

log = logging.getLogger(__name__)

BACKOFF_AFTER = 3  # consecutive failures before a meter is polled less often
BACKOFF_MAX_S = 300.0  # longest interval between attempts at a failing meter
TIME_SYNC_EVERY_S = 86400.0  # DL/T 645 broadcast time sync: at most once a day
TIME_SYNC_QUIET_MIN = 5  # ... and never within 5 minutes of local midnight (the meters' day freeze)


@dataclass
class MeterHealth:
    meter: str
    state: str = "unknown"  # ok | failing | unknown
    last_success: datetime | None = None
    errors: int = 0  # consecutive failed polls; 0 once the meter answers again
    latency_ms: float | None = None
    error: str | None = None

    def as_contract(self) -> dict:
        return {
            "meter": self.meter, "state": self.state, "errors": self.errors,
            "last_success": utc_text(self.last_success) if self.last_success else None,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "error": self.error,
        }


def retry_interval_s(interval_s: float, failures: int, max_s: float = BACKOFF_MAX_S) -> float:
    """Seconds until the next attempt at a meter after `failures` consecutive failures."""
    if failures < BACKOFF_AFTER:
        return interval_s
    return min(interval_s * 2.0 ** (failures - BACKOFF_AFTER + 1), max(interval_s, max_s))


class BusPoller:
    """Polls the meters of one bus forever, handing each reading to `emit`."""

    def __init__(self, client: BusClient | Dlt645Client, meters: list[Meter], clock: Callable[[], datetime],
                 emit: Callable[[dict], Awaitable[None]], on_health: Callable[[MeterHealth], None],
                 backoff_max_s: float = BACKOFF_MAX_S, zone: tzinfo | None = None) -> None:
        self.client = client
        self.meters = meters
        self.clock = clock
        self.emit = emit
        self.on_health = on_health
        self.backoff_max_s = backoff_max_s
        self.zone = zone  # the park's time zone: DL/T 645 meters keep local time
        self.synced_at: float | None = None  # loop time of the last broadcast time sync
        self.health = {m.id: MeterHealth(m.id) for m in meters}
        self.attempts = {m.id: 0 for m in meters}  # polls tried, for tests and the benchmark
        self._plans = {}
        for m in meters:
            p = profiles.load(m.profile)
            wanted = CARRIER_QUANTITIES[m.carrier.value] | ({"soc_pct"} if m.role is Role.STORAGE else set())
            self._plans[m.id] = (p, profiles.plan(p) if isinstance(p, profiles.Profile) else [], wanted)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = {m.id: loop.time() for m in self.meters}
        by_id = {m.id: m for m in self.meters}
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():
                # On Python 3.11 asyncio.wait_for (inside pymodbus) can swallow a cancellation
                # that arrives together with the answer; without this check a busy bus would
                # poll on after its gateway was told to stop.
                raise asyncio.CancelledError
            await self._time_sync(loop.time())
            meter_id = min(due, key=due.get)
            delay = due[meter_id] - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            meter = by_id[meter_id]
            ok = await self.poll(meter)
            failures = self.health[meter_id].errors
            if ok or failures < BACKOFF_AFTER:
                # keep the cadence: next slot after now, never a burst of catch-up polls
                due[meter_id] += meter.poll_interval_s
                if due[meter_id] < loop.time():
                    due[meter_id] = loop.time() + meter.poll_interval_s
            else:
                due[meter_id] = loop.time() + retry_interval_s(meter.poll_interval_s, failures, self.backoff_max_s)

    async def _time_sync(self, now: float) -> None:
        """Broadcast the time on an opted-in DL/T 645 bus once a day, away from midnight."""
        bus = self.client.bus
        if bus.protocol != "dlt645" or not bus.time_sync:
            return
        if self.synced_at is not None and now - self.synced_at < TIME_SYNC_EVERY_S:
            return
        local = self.clock().astimezone(self.zone)
        minutes = local.hour * 60 + local.minute
        if minutes < TIME_SYNC_QUIET_MIN or minutes >= 24 * 60 - TIME_SYNC_QUIET_MIN:
            return
        try:
            await self.client.broadcast_time(local.replace(tzinfo=None))
        except MeterUnavailable as exc:
            log.warning("bus %s: broadcast time sync not sent: %s", bus.id, exc)
            return
        self.synced_at = now
        log.info("bus %s: broadcast time sync %s (local time)", bus.id, local.strftime("%Y-%m-%d %H:%M:%S"))

    def _where(self, meter: Meter) -> str:
        if isinstance(self.client, Dlt645Client):
            return f"bus {self.client.bus.id}, address {meter.modbus.address}"
        return f"bus {self.client.bus.id}, unit {meter.modbus.unit}"

    async def _read(self, meter: Meter) -> dict[str, float]:
        profile, blocks, _ = self._plans[meter.id]
        if isinstance(profile, profiles.Dlt645Profile):
            return await self.client.read_profile(meter.modbus.address, profile)
        registers = await self.client.read(meter.modbus.unit, blocks)
        return profiles.decode(profile, registers)

    async def poll(self, meter: Meter) -> bool:
        """Read one meter once; True when a reading was taken."""
        wanted = self._plans[meter.id][2]
        health = self.health[meter.id]
        self.attempts[meter.id] += 1
        started = time.perf_counter()
        try:
            read = await self._read(meter)
            taken = self.clock()
            values = {k: v for k, v in read.items() if k in wanted}
        except (MeterUnavailable, ValueError) as exc:
            health.errors += 1
            health.error = str(exc)
            if health.state != "failing":
                health.state = "failing"
                log.warning("meter %s (%s) failing: %s; after %d failures it is polled less "
                            "often, at most every %g s, until it answers", meter.id, self._where(meter),
                            exc, BACKOFF_AFTER, max(meter.poll_interval_s, self.backoff_max_s))
                self.on_health(health)
            return False
        health.latency_ms = (time.perf_counter() - started) * 1000
        health.last_success = taken
        health.error = None
        if health.state != "ok":
            if health.state == "failing":
                log.info("meter %s recovered after %d failed poll(s)", meter.id, health.errors)
            else:
                log.debug("meter %s answers (%s)", meter.id, self._where(meter))
            health.state = "ok"
            health.errors = 0
            self.on_health(health)
        if values:
            await self.emit({"meter": meter.id, "ts": utc_text(taken), "values": values})
        return True
