"""A mail server that accepts the connection and never answers (a black-holed SMTP host) holds back
its own channel only: the alarm service's loop goes on evaluating, and the webhook gets the
raise and the clear while the mail channel still hangs on the raise. Nothing goes out twice. A
waiting dispatch waits (bounded) for the hung channel's job under way and reports the channel as
busy rather than as nothing to send; shutting down waits a bounded time for the hung send and
leaves its notification pending for the next start."""

import json
import socket
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lingtan.alarms.service import AlarmService
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import AlarmNotification, Latest
from tests.support import wait_for
from tests.support.alarms import ManualClock, Receiver, only
from tests.support.configs import config_of, meter, platform, sqlite_url

T0 = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)


class SilentServer:
    """A real TCP listener that accepts, reads whatever comes and never writes a byte, until closed."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone leaves it listening
        except OSError:
            pass
        self.sock.close()
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


@pytest.fixture
def servers():
    silent, http = SilentServer(), Receiver()
    yield silent, http
    silent.close()
    http.close()


def test_a_hung_mail_server_delays_neither_the_webhook_nor_the_next_evaluation(tmp_path, servers):
    silent, http = servers
    chans = [{"id": "mail", "kind": "email", "smtp_port": silent.port, "starttls": False, "timeout_s": 60,
              "sender": "alarms@park.example", "to": ["ops@park.example"]},
             {"id": "hook", "kind": "webhook", "url": http.url("/hook"), "language": "en"}]
    data = platform([meter("m1", "bus-1", 1, interval=10)], [{"id": "bus-1"}], store=sqlite_url(tmp_path),
                    alarms={"interval_s": 0.05, "channels": chans,
                            "rules": only("meter_no_data", threshold=3, clear_s=0)})
    config = config_of(data)
    engine = make_engine(config.store.url)
    svc = AlarmService(config, engine, ManualClock(T0), listen=False)
    loop = threading.Thread(target=svc.run, daemon=True)
    loop.start()
    try:
        # m1 never reported: raised; the webhook has it while the mail server holds the channel's connection
        wait_for(lambda: http.on("/hook"), 10, message="the raise on the webhook")
        wait_for(lambda: silent.conns, 10, message="the mail channel connecting")
        with sessions(engine).begin() as s:  # m1 reports: the next evaluation clears the alarm
            s.add(Latest(park="gw-park", meter="m1", ts=T0, gateway="gw-1", values={"energy_import_kwh": 1.0}))
        wait_for(lambda: len(http.on("/hook")) == 2, 10, message="the clear on the webhook while SMTP hangs")
        assert not silent.closed.is_set() and len(silent.conns) == 1  # the mail channel still waits on the raise
        with sessions(engine)() as s:
            mail = s.scalars(select(AlarmNotification).where(AlarmNotification.channel == "mail")).all()
        assert [(m.event, m.status, m.attempts) for m in mail] == [("raised", "pending", 0), ("cleared", "pending", 0)]
    finally:
        svc.stop.set()
        silent.close()  # the mail server hangs up: the channel's attempt fails at once
        loop.join(30)
    assert not loop.is_alive()
    events = [json.loads(body)["event"] for _, _, _, body in http.on("/hook")]
    assert events == ["raised", "cleared"]  # each once
    with sessions(engine)() as s:
        rows = {(r.channel, r.event): r for r in s.scalars(select(AlarmNotification))}
    assert (rows[("hook", "raised")].status, rows[("hook", "cleared")].status) == ("sent", "sent")
    # the raise's mail attempt failed when the server hung up and waits for a retry; the clear waits
    # too (tried once if a last pass ran while the service stopped, when the server was gone)
    assert (rows[("mail", "raised")].status, rows[("mail", "raised")].attempts) == ("pending", 1)
    assert rows[("mail", "cleared")].status == "pending" and rows[("mail", "cleared")].attempts <= 1


def _mail_only(tmp_path, silent, meters: int = 1, **service) -> tuple[AlarmService, object]:
    """An alarm service with one mail channel on the silent server (60 s of socket timeout, the
    longest the config allows) and `meters` meters that never report."""
    chans = [{"id": "mail", "kind": "email", "smtp_port": silent.port, "starttls": False, "timeout_s": 60,
              "sender": "alarms@park.example", "to": ["ops@park.example"]}]
    data = platform([meter(f"m{j}", "bus-1", j, interval=10) for j in range(1, meters + 1)], [{"id": "bus-1"}],
                    store=sqlite_url(tmp_path), alarms={"interval_s": 0.05, "channels": chans,
                                                        "rules": only("meter_no_data", threshold=3, clear_s=0)})
    config = config_of(data)
    engine = make_engine(config.store.url)
    svc = AlarmService(config, engine, ManualClock(T0), listen=False)
    for name, value in service.items():  # the dispatcher's bounds (busy_wait_s, close_wait_s)
        setattr(svc.dispatcher, name, value)
    return svc, engine


def _mail_rows(engine) -> list[tuple]:
    with sessions(engine)() as s:
        return [(r.alarm_id, r.status, r.attempts) for r in s.scalars(
            select(AlarmNotification).order_by(AlarmNotification.id))]


def test_a_waiting_dispatch_reports_a_channel_still_busy_with_an_earlier_send(tmp_path, servers):
    silent, _ = servers
    svc, engine = _mail_only(tmp_path, silent, meters=2, busy_wait_s=0.3)
    svc.run_once(wait=False)  # two alarms raised; the mail job hangs on the first notice
    wait_for(lambda: silent.conns, 10, message="the mail channel connecting")
    assert svc.dispatch(wait=True) == {"sent": 0, "failed": 0, "busy": 1}  # waited 0.3 s, still hanging
    assert [(status, attempts) for _, status, attempts in _mail_rows(engine)] == [("pending", 0)] * 2
    # waiting long enough: the server hangs up (soon after the dispatch starts waiting), the job
    # under way fails its notice and the dispatch counts it; the second notice goes in the next
    # job (refused at once, the server is gone) if it is still due
    svc.dispatcher.busy_wait_s = 20
    threading.Timer(0.2, silent.close).start()
    counts = svc.dispatch(wait=True)
    assert counts["busy"] == 0 and counts["sent"] == 0 and counts["failed"] >= 1
    assert all(attempts == 1 for _, status, attempts in _mail_rows(engine) if status == "pending")


def test_shutting_down_waits_a_bounded_time_for_a_hung_send_and_leaves_it_pending(tmp_path, servers):
    silent, _ = servers
    svc, engine = _mail_only(tmp_path, silent, close_wait_s=0.3)
    loop = threading.Thread(target=svc.run, daemon=True)
    loop.start()
    wait_for(lambda: silent.conns, 10, message="the mail channel connecting")
    svc.stop.set()
    loop.join(20)  # the SMTP attempt would hang for its 60-s timeout
    assert not loop.is_alive()
    assert not silent.closed.is_set()  # the send was still hanging when the service stopped
    assert [(status, attempts) for _, status, attempts in _mail_rows(engine)] == [("pending", 0)]
