"""The gateway process: pollers per bus feeding the spool, a publisher draining it."""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from accounting.config import Config
from gateway.modbus import BusClient
from gateway.poller import BusPoller, MeterHealth
from gateway.publisher import Publisher
from gateway.spool import Spool

log = logging.getLogger(__name__)


class GatewayService:
    def __init__(self, config: Config, gateway_id: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), spool_path: str | None = None) -> None:
        self.gateway = config.gateway(gateway_id)
        park = config.park(self.gateway.park)
        self.spool = Spool(spool_path or self.gateway.spool.path, self.gateway.spool.max_mb,
                           self.gateway.spool.max_age_days)
        self.publisher = Publisher(self.gateway, config.mqtt, self.spool, clock)
        self.pollers = []
        for bus in self.gateway.buses:
            meters = [m for m in park.meters if m.gateway == gateway_id and m.modbus.bus == bus.id]
            if meters:
                self.pollers.append(BusPoller(BusClient(bus), meters, clock, self._emit, self._health))

    async def _emit(self, reading: dict) -> None:
        self.spool.append([reading])
        self.publisher.wakeup.set()

    def _health(self, health: MeterHealth) -> None:
        self.publisher.report_health(health.as_contract())

    async def run(self) -> None:
        log.info("gateway %s: %d bus(es), %d reading(s) waiting in spool %s", self.gateway.id,
                 len(self.pollers), len(self.spool), self.spool.path)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.publisher.run())
                for p in self.pollers:
                    tg.create_task(p.run())
        finally:
            for p in self.pollers:
                p.client.close()
            self.spool.close()
