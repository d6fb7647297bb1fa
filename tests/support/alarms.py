"""Helpers of the alarm tests: a manual clock, real HTTP receivers for the webhook and robot
channels, and a real SMTP server (aiosmtpd) with STARTTLS on a self-signed certificate."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

from tests.support import free_port


def only(kind: str, **settings) -> list[dict]:
    """`alarms.rules` with one rule kind on (with `settings`) and every other kind off."""
    from lingtan.kernel.config import DEFAULT_ALARM_RULES
    return [{"rule": r.rule, **settings} if r.rule == kind else {"rule": r.rule, "enabled": False}
            for r in DEFAULT_ALARM_RULES]


class ManualClock:
    """A clock the test moves by hand (the alarm service reads it for every decision)."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


class Receiver:
    """A real HTTP server on 127.0.0.1 recording every POST: (path, query, headers, raw body).

    It answers what the vendor documents for success: `{"errcode": 0, "errmsg": "ok"}` (WeCom,
    DingTalk), `{"code": 0, "msg": "success"}` (Feishu, by path /feishu), `{}` otherwise."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[tuple[str, dict, dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                url = urlsplit(self.path)
                receiver.requests.append((url.path, parse_qs(url.query), dict(self.headers), body))
                answer = {"code": 0, "msg": "success"} if url.path.startswith("/feishu") else \
                    {"errcode": 0, "errmsg": "ok"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[tuple[str, dict, dict, bytes]]:
        return [r for r in self.requests if r[0] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for `host` (an IP address SAN) and its key, made with the openssl CLI."""
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=lingtan-test-smtp", "-addext", f"subjectAltName=IP:{host}",
                    "-keyout", str(key_path), "-out", str(cert_path)], check=True, capture_output=True)
    return cert_path, key_path


class Mailbox:
    """aiosmtpd handler keeping every delivered message: (envelope from, to, raw bytes, tls used)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes, bool]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                              session.ssl is not None))
        return "250 OK"


def smtp_server(folder: Path) -> tuple[Controller, Mailbox, Path]:
    """A real SMTP server on 127.0.0.1 that requires STARTTLS; returns it (started), its mailbox
    and the certificate to trust."""
    cert, key = self_signed(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True)
    controller.start()
    return controller, box, cert
