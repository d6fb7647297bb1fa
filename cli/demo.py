"""`lingtan demo`: the whole platform in one process on embedded defaults.

Simulated park (Modbus TCP) → gateway → embedded MQTT broker (amqtt, MQTT 3.1.1) → ingest →
SQLite → accounting → API and dashboard. No root, no system services; data in one folder.
"""

import asyncio
import logging
import sys
import threading
from pathlib import Path

import yaml

from lingtan.kernel.config import Config, parse_config

log = logging.getLogger(__name__)


def demo_config(data_dir: Path, port: int = 8000, speed: float = 1.0, mqtt_port: int | None = None,
                modbus_port: int | None = None) -> Config:
    from lingtan.cli.configfile import demo_config_text
    data = yaml.safe_load(demo_config_text())
    data["api"]["port"] = port
    if mqtt_port:
        data["mqtt"]["port"] = mqtt_port
    if modbus_port:
        for g in data["gateways"]:
            for b in g["buses"]:
                b["port"] = modbus_port
    data["simulator"]["speed"] = speed
    data["ingest"]["sink"]["path"] = str(data_dir / "lingtan-ts.db")
    data["store"]["url"] = f"sqlite:///{data_dir / 'lingtan.db'}"
    for g in data["gateways"]:
        g["spool"]["path"] = str(data_dir / f"{g['id']}-spool.db")
    return parse_config(data, "cli/demo.yaml (embedded)")


def broker_config(config: Config) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{config.mqtt.host}:{config.mqtt.port}"}},
        "sys_interval": 0,
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


def run_demo(data_dir: Path, port: int = 8000, speed: float = 1.0, mqtt_port: int | None = None,
             modbus_port: int | None = None) -> None:
    from amqtt.broker import Broker

    from lingtan.api.app import create_app
    from lingtan.store.db import make_engine
    from lingtan.accounting.service import Rollup
    from lingtan.cli.runner import api_server, run_until_signal, utc_now
    from lingtan.gateway.service import GatewayService
    from lingtan.ingest.service import make_ingest
    from lingtan.store.timeseries import open_sink
    from lingtan.simulator.clock import SimClock
    from lingtan.simulator.server import ParkServer

    data_dir.mkdir(parents=True, exist_ok=True)
    config = demo_config(data_dir, port, speed, mqtt_port, modbus_port)

    async def main() -> None:
        broker = Broker(broker_config(config))
        await broker.start()
        clock = SimClock(utc_now(), config.simulator.speed)
        sim = ParkServer(config, clock)
        await sim.start()
        gateways = [GatewayService(config, g.id, clock=clock.now) for g in config.gateways]
        ingest = make_ingest(config)
        engine = make_engine(config.store.url)
        rollup = Rollup(config, open_sink(config.ingest.sink), engine, clock=clock.now)
        server = api_server(config, create_app(config, engine, clock=clock.now))
        print(f"Lingtan demo: dashboard and API on http://{config.api.host}:{config.api.port}/ "
              f"(data in {data_dir}); Ctrl-C stops.", file=sys.stderr, flush=True)
        await run_until_signal(
            [server.serve(), *(g.run() for g in gateways)],
            [(threading.Thread(target=ingest.run, name="ingest", daemon=True), ingest.stop),
             (threading.Thread(target=rollup.run, name="accounting", daemon=True), rollup.stop)],
            servers=[server], cleanup=[sim.stop, broker.shutdown])

    asyncio.run(main())
