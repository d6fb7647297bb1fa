"""The alarm service's gateway-status listener across a database outage, on real Mosquitto and
PostgreSQL. A status (a last will above all) that came while the database was away raised out of
paho's callback and ended its network thread for good: the status was lost, and so was every later
one, so `gateway_offline` went blind. Now it is kept, stored when the database is back, and the
listener goes on receiving."""

import json
import time

import paho.mqtt.client as mqtt
from sqlalchemy import select

from lingtan.alarms.status import StatusListener
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import GatewayStatus
from tests.support import wait_for
from tests.support.configs import config_of, meter, platform

PARK, GATEWAY = "gw-park", "gw-1"


def publish_status(port: int, state: str, ts: str) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        body = json.dumps({"v": 1, "park": PARK, "gateway": GATEWAY, "state": state, "ts": ts})
        c.publish(f"lingtan/v1/{PARK}/{GATEWAY}/status", body, qos=1, retain=True).wait_for_publish(5)
    finally:
        c.loop_stop()
        c.disconnect()


def stored(engine) -> tuple[str, str] | None:
    with sessions(engine)() as s:
        row = s.scalars(select(GatewayStatus).where(GatewayStatus.gateway == GATEWAY)).one_or_none()
        return None if row is None else (row.state, row.ts.isoformat()[:19])


def test_a_status_received_while_the_database_is_down_is_stored_when_it_is_back(mosquitto, postgres):
    config = config_of(platform([meter("m1", "bus-1", 1)], [{"id": "bus-1"}], mosquitto.port, store=postgres.url))
    engine = make_engine(postgres.url)
    listener = StatusListener(config, sessions(engine))
    listener.start()
    try:
        wait_for(listener.connected.is_set, 10, message="listener subscribed")
        publish_status(mosquitto.port, "online", "2026-06-15T02:00:00.000Z")
        wait_for(lambda: stored(engine) == ("online", "2026-06-15T02:00:00"), 10, message="first status stored")

        postgres.stop()
        received = listener.received
        publish_status(mosquitto.port, "offline", "2026-06-15T02:05:00.000Z")  # the last will, say
        wait_for(lambda: listener.received > received, 10, message="the offline status received")
        time.sleep(0.5)
        postgres.start()
        engine.dispose()

        listener.flush()  # the alarm service's next pass does this
        assert stored(engine) == ("offline", "2026-06-15T02:05:00")
        # and the listener still receives and stores
        publish_status(mosquitto.port, "online", "2026-06-15T02:10:00.000Z")
        wait_for(lambda: stored(engine) == ("online", "2026-06-15T02:10:00"), 10, message="later status stored")
    finally:
        listener.stop()
