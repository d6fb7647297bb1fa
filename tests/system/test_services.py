"""Smoke tests: each service fixture starts a real server that really works."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import paho.mqtt.client as mqtt
import pytest
import serial
import sqlalchemy as sa
from paho.mqtt.reasoncodes import ReasonCode

from tests.support import (
    InfluxDBv1,
    Mosquitto,
    MosquittoFactory,
    Postgres,
    PtyPair,
    VictoriaMetrics,
    wait_for,
)

WAIT_S = 10.0


class _Session:
    """A connected paho MQTT v5 client that queues what it receives."""

    def __init__(self, client: mqtt.Client, connack: ReasonCode) -> None:
        self.client = client
        self.connack = connack
        self.received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.subscribed = threading.Event()
        client.on_message = lambda _c, _u, message: self.received.put(message)
        client.on_subscribe = lambda *_args: self.subscribed.set()

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(WAIT_S), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(WAIT_S)

    def next_message(self) -> mqtt.MQTTMessage:
        return self.received.get(timeout=WAIT_S)


@contextmanager
def _mqtt_session(
    broker: Mosquitto, username: str | None = None, password: str | None = None, check: bool = True
) -> Iterator[_Session]:
    """Connect with paho MQTT v5; with check=False a refused CONNACK is returned, not raised."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, reconnect_on_failure=False)
    if username is not None:
        client.username_pw_set(username, password)
    connacks: queue.Queue[ReasonCode] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, reason_code, _p: connacks.put(reason_code)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        session = _Session(client, connacks.get(timeout=WAIT_S))
        if check:
            assert not session.connack.is_failure, f"CONNACK {session.connack}"
        yield session
    finally:
        client.disconnect()
        client.loop_stop()


def _connack(broker: Mosquitto, username: str | None = None, password: str | None = None) -> ReasonCode:
    with _mqtt_session(broker, username, password, check=False) as session:
        return session.connack


def test_mosquitto_mqtt5_round_trip(mosquitto: Mosquitto) -> None:
    with _mqtt_session(mosquitto) as subscriber, _mqtt_session(mosquitto) as publisher:
        subscriber.subscribe("lingtan/site-1/meter-7/energy_kwh")
        publisher.publish("lingtan/site-1/meter-7/energy_kwh", b"1234.5")

        message = subscriber.next_message()

    assert (message.topic, message.payload) == ("lingtan/site-1/meter-7/energy_kwh", b"1234.5")


def test_mosquitto_password_file_and_acl_deny(mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory(
        users={"gateway": "gw-secret", "dashboard": "dash-secret"},
        acl_text=(
            "user gateway\n"
            "topic write lingtan/#\n"
            "\n"
            "user dashboard\n"
            "topic read lingtan/#\n"
            "topic deny lingtan/billing/#\n"
        ),
    )
    assert _connack(broker).is_failure, "anonymous client was let in"
    assert _connack(broker, "dashboard", "wrong").is_failure, "wrong password was accepted"

    with (
        _mqtt_session(broker, "dashboard", "dash-secret") as dashboard,
        _mqtt_session(broker, "gateway", "gw-secret") as gateway,
    ):
        dashboard.subscribe("lingtan/#")
        # Same publisher, same QoS: the broker handles these in order, so once the second
        # has arrived the first would have arrived too had the ACL let it through.
        gateway.publish("lingtan/billing/tariff", b"denied")
        gateway.publish("lingtan/site-1/power_kw", b"allowed")

        message = dashboard.next_message()
        assert message.topic == "lingtan/site-1/power_kw"
        assert dashboard.received.empty()


def test_mosquitto_restart_keeps_retained_message(mosquitto: Mosquitto) -> None:
    with _mqtt_session(mosquitto) as publisher:
        publisher.publish("lingtan/site-1/status", b"online", retain=True)

    mosquitto.stop()
    mosquitto.start()

    with _mqtt_session(mosquitto) as subscriber:
        subscriber.subscribe("lingtan/site-1/status")
        message = subscriber.next_message()
    assert (message.payload, message.retain) == (b"online", True)


def test_influxdb_v1_write_and_query(influxdb_v1: InfluxDBv1) -> None:
    influxdb_v1.query("CREATE DATABASE lingtan")
    response = httpx.post(
        f"{influxdb_v1.url}/write",
        params={"db": "lingtan", "precision": "s"},
        content="energy,meter=m7 energy_kwh=1234.5 1700000000\n",
        trust_env=False,
    )
    assert response.status_code == 204, response.text

    body = influxdb_v1.query('SELECT "energy_kwh" FROM "energy" WHERE "meter" = \'m7\'', db="lingtan")

    series = body["results"][0]["series"][0]
    assert series["columns"] == ["time", "energy_kwh"]
    assert series["values"] == [["2023-11-14T22:13:20Z", 1234.5]]


def test_influxdb_v1_keeps_data_across_crash(influxdb_v1: InfluxDBv1) -> None:
    influxdb_v1.query("CREATE DATABASE lingtan")
    influxdb_v1.write("energy,meter=m7 energy_kwh=1.5 1700000000\n", db="lingtan", precision="s")

    influxdb_v1.kill9()
    influxdb_v1.start()

    body = influxdb_v1.query('SELECT count("energy_kwh") FROM "energy"', db="lingtan")
    assert body["results"][0]["series"][0]["values"][0][1] == 1


def test_victoria_metrics_v2_write_and_export(victoria_metrics: VictoriaMetrics) -> None:
    response = httpx.post(
        f"{victoria_metrics.url}/api/v2/write",
        content="energy,meter=m7 energy_kwh=1234.5 1700000000000000000\n",
        trust_env=False,
    )
    assert response.status_code == 204, response.text

    [series] = victoria_metrics.export('{__name__="energy_energy_kwh"}')

    assert series["metric"] == {"__name__": "energy_energy_kwh", "meter": "m7"}
    assert series["values"] == [1234.5]
    assert series["timestamps"] == [1700000000000]


def test_victoria_metrics_keeps_data_across_restart(victoria_metrics: VictoriaMetrics) -> None:
    httpx.post(
        f"{victoria_metrics.url}/write", content="power,meter=m7 power_kw=3 1700000000000000000\n", trust_env=False
    ).raise_for_status()
    victoria_metrics.flush()

    victoria_metrics.stop()
    victoria_metrics.start()

    [series] = victoria_metrics.export('{__name__="power_power_kw"}')
    assert series["values"] == [3]


def test_postgres_select_one_and_restart(postgres: Postgres) -> None:
    engine = sa.create_engine(postgres.url)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
            conn.execute(sa.text("CREATE TABLE reading (energy_kwh double precision)"))
            conn.execute(sa.text("INSERT INTO reading VALUES (1234.5)"))
        engine.dispose()

        postgres.kill9()
        postgres.start()

        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT energy_kwh FROM reading")).scalar_one() == 1234.5
    finally:
        engine.dispose()


def test_pty_pair_carries_bytes_both_ways(pty_pair: PtyPair) -> None:
    with serial.Serial(pty_pair.a, 9600, timeout=WAIT_S) as a, serial.Serial(pty_pair.b, 9600, timeout=WAIT_S) as b:
        a.write(b"\x01\x03\x00\x00\x00\x02\xc4\x0b")  # Modbus RTU: read 2 holding registers
        assert b.read(8) == b"\x01\x03\x00\x00\x00\x02\xc4\x0b"
        b.write(b"\x01\x03\x04\x00\x00\x00\x00\xfa\x33")
        assert a.read(9) == b"\x01\x03\x04\x00\x00\x00\x00\xfa\x33"


@pytest.mark.parametrize("restart", ["stop", "kill9"])
def test_pty_pair_can_be_unplugged_and_replugged(pty_pair: PtyPair, restart: str) -> None:
    getattr(pty_pair, restart)()
    pty_pair.start()

    with serial.Serial(pty_pair.a, timeout=WAIT_S) as a, serial.Serial(pty_pair.b, timeout=WAIT_S) as b:
        a.write(b"ping")
        assert b.read(4) == b"ping"


def test_wait_for_returns_the_value_or_times_out() -> None:
    values = iter([0, 0, 7])
    assert wait_for(lambda: next(values), timeout=WAIT_S, interval=0) == 7
    with pytest.raises(TimeoutError, match="nothing"):
        wait_for(lambda: None, timeout=0, message="nothing")
