"""The gateways' status messages (retained; the broker publishes a gateway's last will when its
connection dies) kept in `gateway_status`, for the gateway-offline rule.

Ingest consumes readings only, so the alarm service subscribes to `{prefix}/v1/+/+/status` itself
with paho (one network thread). A message that does not validate against the contract, or names
a gateway the config does not know, is logged and ignored.
"""

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session, sessionmaker

from lingtan.kernel import contract
from lingtan.kernel.config import Config
from lingtan.store.db import upsert
from lingtan.store.models import GatewayStatus

log = logging.getLogger(__name__)


class StatusListener:
    def __init__(self, config: Config, sessions: sessionmaker[Session],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.config = config
        self.sessions = sessions
        self.clock = clock
        self.known = {(g.park, g.id) for g in config.gateways}
        self.connected = threading.Event()
        self.received = 0
        self._pending: dict[tuple[str, str], dict] = {}  # newest status per gateway not yet stored
        self._lock = threading.Lock()
        self._failing = False
        a = config.alarms
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=a.client_id,
                                  protocol=mqtt.MQTTv5 if config.mqtt.protocol == "5" else mqtt.MQTTv311)
        if a.mqtt.username or a.mqtt.password_env:
            self.client.username_pw_set(a.mqtt.username or a.client_id, a.mqtt.password())
        tls = config.mqtt.tls
        if tls is not None:
            self.client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
        topic = f"{config.mqtt.topic_prefix}/v{contract.VERSION}/+/+/status"

        def on_connect(c, _u, _flags, reason, _props):
            if reason.is_failure:
                log.warning("broker refused the alarm status listener: %s", reason)
                return
            c.subscribe(topic, qos=1)
            self.connected.set()

        def on_disconnect(*_args):
            self.connected.clear()

        self.client.on_connect = on_connect
        self.client.on_disconnect = on_disconnect
        self.client.on_message = self._on_message
        self.client.suppress_exceptions = True  # a callback's surprise must not end paho's network thread

    def start(self) -> None:
        self.client.connect_async(self.config.mqtt.host, self.config.mqtt.port, self.config.mqtt.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, _c, _u, msg) -> None:
        try:
            data = json.loads(msg.payload)
            contract.validate_status(data)
        except (ValueError, contract.ContractError) as exc:
            log.warning("ignored status message on %s: %s", msg.topic, str(exc)[:200])
            return
        if (data["park"], data["gateway"]) not in self.known:
            log.warning("ignored status of unknown gateway %s/%s", data["park"], data["gateway"])
            return
        row = {"park": data["park"], "gateway": data["gateway"], "state": data["state"],
               "ts": contract.parse_utc(data["ts"]), "spooled": data.get("spooled"), "dropped": data.get("dropped"),
               "spool_error": data.get("spool_error"), "received_at": self.clock()}
        with self._lock:
            self._pending[(row["park"], row["gateway"])] = row
        self.received += 1
        self.flush()

    def flush(self) -> None:
        """Store the statuses received and not yet stored. A database that refuses (locked, restarting)
        keeps them here, newest per gateway, for the next message or the service's next pass (which
        calls this): a last will that arrives during a database outage is not lost."""
        with self._lock:
            rows = sorted(self._pending.values(), key=lambda r: (r["park"], r["gateway"]))
        if not rows:
            return
        try:
            with self.sessions() as session:
                upsert(session, GatewayStatus, rows,
                       ["state", "ts", "spooled", "dropped", "spool_error", "received_at"])
                session.commit()
        except Exception as exc:
            if not self._failing:
                log.warning("gateway statuses not stored (%s: %s); kept and retried", type(exc).__name__,
                            str(exc).splitlines()[0][:200])
                self._failing = True
            return
        if self._failing:
            log.info("gateway statuses stored again")
            self._failing = False
        with self._lock:
            for r in rows:
                if self._pending.get((r["park"], r["gateway"])) is r:
                    del self._pending[(r["park"], r["gateway"])]
