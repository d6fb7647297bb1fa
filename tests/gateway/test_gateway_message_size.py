"""Message sizes that agree: the publisher caps every message in bytes below ingest's
max_payload_bytes (real Mosquitto), so a large backlog goes out in several messages instead of one
that ingest would dead-letter, and check-config refuses a meter whose one reading could not fit.

Found before the fix: with publish_batch 5000, a backlog of 5,000 readings became one 1.3 MB
message, dead-lettered by ingest as `size` and deleted from the spool.
"""

import asyncio
import json
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest

from lingtan.gateway.publisher import Publisher
from lingtan.gateway.spool import Spool
from lingtan.kernel.config import ConfigError
from tests.support import wait_for
from tests.support.configs import config_of, meter, platform


def test_check_config_refuses_a_meter_whose_reading_could_never_be_sent():
    data = platform([meter("m1", "bus-1", 1)], [{"id": "bus-1"}], ingest={"max_payload_bytes": 1024})
    with pytest.raises(ConfigError) as err:
        config_of(data, "small-limit.yaml")
    text = str(err.value)
    assert "small-limit.yaml" in text and "meters[m1].profile = 'generic_float32'" in text
    assert "ingest.max_payload_bytes = 1024" in text and "raise ingest.max_payload_bytes to at least 1088" in text
    # any publish_batch is accepted: the publisher splits by bytes (next test)
    data["ingest"] = {"max_payload_bytes": 1088}
    data["gateways"][0]["publish_batch"] = 5000
    assert config_of(data).gateway("gw-1").publish_batch == 5000


def test_the_publisher_caps_each_message_in_bytes(tmp_path, mosquitto):
    limit = 20_000
    data = platform([meter("m1", "bus-1", 1)], [{"id": "bus-1"}], mosquitto.port,
                    gateway_extra={"publish_batch": 2000}, ingest={"max_payload_bytes": 2_000_000})
    config = config_of(data)
    spool = Spool(tmp_path / "spool.db")
    spool.append([{"meter": "m1", "ts": f"2026-06-15T04:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
                   "values": {"energy_import_kwh": 1000 + i / 7, "power_kw": 52.25 + i % 13}} for i in range(3000)])
    sizes, seqs = [], []

    def on_message(_c, _u, msg) -> None:
        sizes.append(len(msg.payload))
        seqs.extend(r["seq"] for r in json.loads(msg.payload)["readings"])

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="size-check", protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("lingtan/v1/gw-park/gw-1/readings", qos=1)
    sub.loop_start()
    publisher = Publisher(config.gateway("gw-1"), config.mqtt, spool, lambda: datetime.now(UTC),
                          max_payload_bytes=limit)

    async def drain() -> None:
        task = asyncio.create_task(publisher.run())
        try:
            for _ in range(300):
                if len(spool) == 0 and len(seqs) >= 3000:
                    return
                await asyncio.sleep(0.1)
        finally:
            task.cancel()

    try:
        asyncio.run(drain())
        wait_for(lambda: len(seqs) >= 3000, 10, message="every reading received")
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert max(sizes) <= limit and len(sizes) > 3000 * 100 // limit  # several messages, each under the cap
    assert sorted(seqs) == list(range(1, 3001)) and len(spool) == 0
    spool.close()
