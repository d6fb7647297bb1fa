"""Notifications reach real servers the test starts: an SMTP server with STARTTLS (aiosmtpd), an
HTTP webhook receiver checking the HMAC, and receivers checking the WeCom, DingTalk and Feishu
bodies and signatures as their documentation gives them (docs/alarms.md, Channels). With one
receiver down the others still get theirs, and the failing one is retried until it arrives."""

import base64
import email
import email.policy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lingtan.alarms.service import AlarmService
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import Alarm, AlarmNotification, AuditEntry
from tests.support import free_port
from tests.support.alarms import ManualClock, Receiver, only, smtp_server
from tests.support.configs import config_of, meter, platform, sqlite_url

T0 = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)  # noon in Asia/Shanghai: outside any quiet hours below
SECRETS = {"LT_HOOK_SECRET": "hook-secret-1", "LT_DING_SECRET": "SECding-secret-2", "LT_FEISHU_SECRET": "fs-secret-3",
           "LT_WECOM_URL": None}


@pytest.fixture
def receivers(tmp_path):
    http = Receiver()
    controller, box, cert = smtp_server(tmp_path)
    yield http, controller, box, cert
    http.close()
    controller.stop()


def channels(http: Receiver, smtp_port: int, cert, dead_port: int) -> list[dict]:
    return [
        {"id": "hook", "kind": "webhook", "url": http.url("/hook"), "secret_env": "LT_HOOK_SECRET", "language": "en"},
        {"id": "wecom", "kind": "wecom", "url_env": "LT_WECOM_URL"},
        {"id": "ding", "kind": "dingtalk", "url": http.url("/ding?access_token=tok"), "secret_env": "LT_DING_SECRET"},
        {"id": "feishu", "kind": "feishu", "url": http.url("/feishu/hook/abc"), "secret_env": "LT_FEISHU_SECRET"},
        {"id": "mail", "kind": "email", "smtp_port": smtp_port, "ca_file": str(cert), "sender": "alarms@park.example",
         "to": ["ops@park.example"]},
        {"id": "down", "kind": "webhook", "url": f"http://127.0.0.1:{dead_port}/hook", "timeout_s": 2},
    ]


def service_for(tmp_path, chans, clock, **rule):
    data = platform([meter("m1", "bus-1", 1, interval=10)], [{"id": "bus-1"}], store=sqlite_url(tmp_path),
                    park_extra={"name": "测试园区"},
                    alarms={"channels": chans, "rules": only("meter_no_data", threshold=3, **rule)})
    config = config_of(data)
    engine = make_engine(config.store.url)
    return AlarmService(config, engine, clock, listen=False), engine


def test_every_channel_gets_its_documented_message_and_a_dead_receiver_is_retried(tmp_path, receivers, monkeypatch,
                                                                                 caplog):
    http, controller, box, cert = receivers
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v or http.url("/wecom/cgi-bin/webhook/send?key=wecom-key-4"))
    dead_port = free_port()
    clock = ManualClock(T0)
    svc, engine = service_for(tmp_path, channels(http, controller.port, cert, dead_port), clock)
    before = int(time.time())

    events = svc.run_once()  # m1 never reported: meter_no_data holds at once, raised (for_s 0)
    after = int(time.time())

    assert [e.kind for e in events] == ["raised"]
    # -- generic webhook: JSON, HMAC-SHA256 over the exact body
    [(_, _, headers, body)] = http.on("/hook")
    expected = "sha256=" + hmac.new(b"hook-secret-1", body, hashlib.sha256).hexdigest()
    assert headers["X-Lingtan-Signature"] == expected
    hook = json.loads(body)
    assert (hook["event"], hook["park"], hook["rule"], hook["subject"], hook["severity"]) == \
        ("raised", "gw-park", "meter_no_data", "m1", "warning")
    assert hook["title"].startswith("[RAISED][warning]")  # language en
    # -- WeCom group robot: markdown body to the URL with its key
    [(_, query, _, body)] = http.on("/wecom/cgi-bin/webhook/send")
    assert query == {"key": ["wecom-key-4"]}
    wecom = json.loads(body)
    assert wecom["msgtype"] == "markdown" and set(wecom) == {"msgtype", "markdown"}
    assert "仪表无数据" in wecom["markdown"]["content"] and "测试园区" in wecom["markdown"]["content"]
    # -- DingTalk: timestamp (ms) and sign = base64(HMAC-SHA256(secret, "ts\nsecret")) as query parameters
    [(_, query, _, body)] = http.on("/ding")
    ts = int(query["timestamp"][0])
    assert before * 1000 <= ts <= (after + 1) * 1000
    string_to_sign = f"{ts}\nSECding-secret-2".encode()
    assert query["sign"][0] == base64.b64encode(
        hmac.new(b"SECding-secret-2", string_to_sign, hashlib.sha256).digest()).decode()
    assert query["access_token"] == ["tok"]
    ding = json.loads(body)
    assert ding["msgtype"] == "markdown" and "告警" in ding["markdown"]["title"] and "m1" in ding["markdown"]["text"]
    # -- Feishu: timestamp (s) and sign = base64(HMAC-SHA256(key="ts\nsecret", msg="")) in the body
    [(_, _, _, body)] = http.on("/feishu/hook/abc")
    fs = json.loads(body)
    assert before <= int(fs["timestamp"]) <= after + 1
    key = f"{fs['timestamp']}\nfs-secret-3".encode()
    assert fs["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert fs["msg_type"] == "text" and "仪表无数据" in fs["content"]["text"]
    # -- e-mail over STARTTLS: subject and body in Chinese (the channel's default language)
    [(sender, to, raw, tls)] = box.messages
    assert tls, "the message was not sent inside STARTTLS"
    assert (sender, to) == ("alarms@park.example", ["ops@park.example"])
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "[告警][警告] 测试园区: 仪表无数据 m1"
    assert msg["Content-Language"] == "zh-CN"
    text = msg.get_content()
    assert "园区：测试园区（gw-park）" in text and "对象：m1" in text and "级别：警告" in text
    # -- the dead receiver: others got theirs, it waits for a retry with backoff
    with sessions(engine)() as s:
        down = s.scalars(select(AlarmNotification).where(AlarmNotification.channel == "down")).one()
        assert (down.status, down.attempts) == ("pending", 1)
        assert down.next_at.replace(tzinfo=UTC) > T0
        sent = s.scalars(select(AlarmNotification.channel).where(AlarmNotification.status == "sent")).all()
        assert sorted(sent) == ["ding", "feishu", "hook", "mail", "wecom"]
    for secret in ("hook-secret-1", "SECding-secret-2", "fs-secret-3", "wecom-key-4"):
        assert secret not in caplog.text
    assert "down" in caplog.text  # the failure is logged, without its URL's secrets

    svc.run_once()  # not due yet: nothing is sent twice, the dead one is not retried before its time
    assert len(http.requests) == 4 and len(box.messages) == 1

    late = Receiver(dead_port)  # the receiver comes up
    try:
        clock.advance(60)
        svc.run_once()
        assert len(late.on("/hook")) == 1
        with sessions(engine)() as s:
            down = s.scalars(select(AlarmNotification).where(AlarmNotification.channel == "down")).one()
            assert (down.status, down.attempts) == ("sent", 2)
    finally:
        late.close()
    assert len(http.requests) == 4 and len(box.messages) == 1  # still one of each


def test_quiet_hours_hold_back_below_critical_and_the_audit_log_has_the_raise(tmp_path, monkeypatch):
    http = Receiver()
    try:
        clock = ManualClock(T0)  # 12:00 local
        chans = [{"id": "hook", "kind": "webhook", "url": http.url("/hook"), "quiet_hours": "11:00-13:30"}]
        svc, engine = service_for(tmp_path, chans, clock)
        svc.run_once()
        assert http.requests == []
        clock.advance(3600)  # 13:00: still quiet
        svc.run_once()
        assert http.requests == []
        clock.advance(1800)  # 13:30: over
        svc.run_once()
        assert len(http.on("/hook")) == 1
        with sessions(engine)() as s:
            [alarm] = s.scalars(select(Alarm)).all()
            audit = s.scalars(select(AuditEntry).where(AuditEntry.target == f"alarm/{alarm.id}")).all()
            assert [a.action for a in audit] == ["alarm.raised"]
    finally:
        http.close()


def test_a_channel_failing_unexpectedly_never_makes_the_others_send_again(tmp_path, monkeypatch, caplog):
    """A robot URL that httpx refuses as InvalidURL (not an HTTPError) escaped the sender: the
    pass never committed, so every other channel sent the same notice again on every pass. Now
    it is that channel's failure, named by type only (the URL holds the robot's key), and a
    secret read from a variable loses the newline an EnvironmentFile or a Kubernetes secret adds."""
    http = Receiver()
    try:
        monkeypatch.setenv("LT_WECOM_URL", http.url("/wecom/cgi-bin/webhook/send?key=wecom-key-9") + "\n")
        monkeypatch.setenv("LT_BAD_URL", "http://[::1/robot/send?access_token=bad-key-7")
        chans = [{"id": "hook", "kind": "webhook", "url": http.url("/hook")},
                 {"id": "wecom", "kind": "wecom", "url_env": "LT_WECOM_URL"},
                 {"id": "bad", "kind": "dingtalk", "url_env": "LT_BAD_URL"}]
        clock = ManualClock(T0)
        svc, engine = service_for(tmp_path, chans, clock)
        for _ in range(3):
            svc.run_once()
            clock.advance(5)
        assert len(http.on("/hook")) == 1 and len(http.on("/wecom/cgi-bin/webhook/send")) == 1
        with sessions(engine)() as s:
            rows = {r.channel: r for r in s.scalars(select(AlarmNotification))}
        assert (rows["hook"].status, rows["wecom"].status) == ("sent", "sent")
        assert rows["bad"].status == "pending" and rows["bad"].attempts >= 1
        assert "InvalidURL" in rows["bad"].last_error
        assert "bad-key-7" not in caplog.text and "wecom-key-9" not in caplog.text
    finally:
        http.close()
