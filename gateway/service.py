"""The gateway process: pollers per bus feeding the spool, a publisher draining it.

Readings from all buses go to the spool through one writer task that commits whatever has
arrived in the last `COMMIT_WINDOW_S` in a single transaction (group commit): at most 20 fsyncs
a second however many meters there are, instead of one per reading. An fsync blocks the event
loop (SQLite is synchronous), and on the SD cards and eMMC of switch-room boxes it takes
milliseconds. A reading is on disk within 50 ms of being taken; a crash (kill -9, power cut)
can lose only the readings of the last 50 ms, as it would have had it struck a moment earlier.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from lingtan.gateway.dlt645 import Dlt645Client
from lingtan.gateway.modbus import BusClient
from lingtan.gateway.poller import BusPoller, MeterHealth
from lingtan.gateway.publisher import Publisher
from lingtan.gateway.spool import Spool, SpoolFull
from lingtan.kernel.config import Config

log = logging.getLogger(__name__)

COMMIT_WINDOW_S = 0.05
MAX_IN_MEMORY = 50_000  # readings held while the spool's disk refuses writes


class GatewayService:
    def __init__(self, config: Config, gateway_id: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), spool_path: str | None = None) -> None:
        self.gateway = config.gateway(gateway_id)
        park = config.park(self.gateway.park)
        self.spool = Spool(spool_path or self.gateway.spool.path, self.gateway.spool.max_mb,
                           self.gateway.spool.max_age_days)
        self.publisher = Publisher(self.gateway, config.mqtt, self.spool, clock,
                                   max_payload_bytes=config.ingest.max_payload_bytes)
        self.pollers: list[BusPoller] = []
        self._pending: list[dict] = []
        self._arrived = asyncio.Event()
        for bus in self.gateway.buses:
            meters = [m for m in park.meters if m.gateway == gateway_id and m.modbus.bus == bus.id]
            if meters:
                client = Dlt645Client(bus) if bus.protocol == "dlt645" else BusClient(bus)
                self.pollers.append(BusPoller(client, meters, clock, self._emit, self._health, zone=park.zone))

    async def _emit(self, reading: dict) -> None:
        self._pending.append(reading)
        self._arrived.set()

    def _flush(self) -> None:
        """Commit what arrived to the spool; on a disk that refuses it, keep it for the next commit
        (at most MAX_IN_MEMORY readings: beyond, the oldest are dropped and counted)."""
        if not self._pending:
            return
        try:
            self.spool.append(self._pending)
        except SpoolFull:
            excess = len(self._pending) - MAX_IN_MEMORY
            if excess > 0:
                del self._pending[:excess]
                self.spool.count_lost(excess, f"the disk is full and {MAX_IN_MEMORY} readings wait in memory")
            self.publisher.wakeup.set()  # the status says so
            return
        self._pending = []
        self.publisher.wakeup.set()

    async def _write_spool(self) -> None:
        try:
            while True:
                await self._arrived.wait()
                await asyncio.sleep(COMMIT_WINDOW_S)  # let the other buses' readings join this commit
                self._arrived.clear()
                self._flush()
        finally:
            self._flush()  # on a clean stop, nothing taken is left in memory

    def _health(self, health: MeterHealth) -> None:
        self.publisher.report_health(health.as_contract())

    async def run(self) -> None:
        meters = sum(len(p.meters) for p in self.pollers)
        log.info("gateway %s: %d meter(s) on %d bus(es); %d reading(s) waiting in spool %s (%d dropped so far)",
                 self.gateway.id, meters, len(self.pollers), len(self.spool), self.spool.path, self.spool.dropped)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._write_spool())
                tg.create_task(self.publisher.run())
                for p in self.pollers:
                    tg.create_task(p.run())
        finally:
            for p in self.pollers:
                p.client.close()
            self.spool.close()
