"""A real Mosquitto 2 broker on a free loopback port, with optional users and ACL."""

from __future__ import annotations

import os
import pwd
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from .netns import call_in, exec_prefix
from .process import ServerProcess, ServiceHandle, find_binary, free_port, port_open, run_checked

HOST = "127.0.0.1"


class Mosquitto(ServiceHandle):
    """Handle on one broker: `host`, `port`; `stop()`, `start()`, `kill9()`.

    Retained messages and persistent sessions are saved in `data_dir` every second and
    on clean stop, so `stop()` + `start()` keeps them; `kill9()` loses at most the last second.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        users: Mapping[str, str] | None = None,
        acl_text: str | None = None,
        allow_anonymous: bool | None = None,
        port: int | None = None,
        tls: tuple[str, str, str] | None = None,
        extra: list[str] = (),
        host: str = HOST,
        netns: str | None = None,
        conf_text: str | None = None,
    ) -> None:
        self.host = host  # another address only inside a namespace a test made (tests/support/netns.py)
        self.netns = netns
        self.port = port or free_port()
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.tls = tls  # (cafile, certfile, keyfile): the listener speaks TLS only
        self.extra = list(extra)  # more mosquitto.conf lines, e.g. "max_queued_messages 0"
        self.conf_path = workdir / "mosquitto.conf"
        # Without users, anonymous access is the only way in; with users, it is opt-in.
        anonymous = allow_anonymous if allow_anonymous is not None else not self.users
        # conf_text: a whole mosquitto.conf instead (e.g. deploy_conf's); a listener on `port` is its own job
        self.conf_path.write_text(self._config(anonymous, acl_text) if conf_text is None else conf_text)
        self._server = ServerProcess(
            "mosquitto",
            [*exec_prefix(netns), find_binary("mosquitto"), "-c", str(self.conf_path)],
            workdir / "mosquitto.log",
            lambda: call_in(netns, port_open, self.host, self.port) if netns else port_open(self.host, self.port),
            stop_signal=signal.SIGTERM,
        )

    def _config(self, allow_anonymous: bool, acl_text: str | None) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            *([f"cafile {self.tls[0]}", f"certfile {self.tls[1]}", f"keyfile {self.tls[2]}"] if self.tls else []),
            f"allow_anonymous {'true' if allow_anonymous else 'false'}",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            "autosave_interval 1",
            "log_dest stdout",
            "log_type all",
            "connection_messages true",
            # As root mosquitto would switch to the `mosquitto` user, who cannot enter
            # pytest's private tmp folders; stay whoever runs the tests.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            *self.extra,
        ]
        if self.users:
            password_file = self.workdir / "passwd"
            passwd = find_binary("mosquitto_passwd", "mosquitto")
            for index, (name, password) in enumerate(self.users.items()):
                create = ["-c"] if index == 0 else []
                run_checked([passwd, *create, "-b", str(password_file), name, password], "mosquitto_passwd")
            lines.append(f"password_file {password_file}")
        if acl_text is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text(acl_text)
            lines.append(f"acl_file {acl_file}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"Mosquitto({self.host}:{self.port}, running={self.running})"


class MosquittoFactory(Protocol):
    """What the `mosquitto_factory` fixture is: call it to start another broker."""

    def __call__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        acl_text: str | None = None,
        allow_anonymous: bool | None = None,
    ) -> Mosquitto: ...


def make_certs(folder: Path) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1, with the openssl CLI: (ca, cert, key)."""
    folder.mkdir(parents=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args):
        run_checked(["openssl", *args], "openssl", cwd=folder)

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Lingtan test CA")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    return str(folder / "ca.crt"), str(folder / "server.crt"), str(folder / "server.key")


def deploy_conf(text: str, *, auth_dir: Path, data_dir: Path, tls_dir: Path, plain_port: int, tls_port: int) -> str:
    """deploy/mosquitto/mosquitto.conf made to run here: its paths moved into the test's folders, its
    listeners onto free loopback ports (8883 -> tls_port, 1883 -> plain_port), running as whoever
    runs the tests. Everything else, the auth and listener options above all, is left as shipped."""
    out = []
    for line in text.splitlines():
        line = (line.replace("/mosquitto/auth/", f"{auth_dir}/").replace("/mosquitto/data/", f"{data_dir}/")
                .replace("/mosquitto/tls/", f"{tls_dir}/"))
        if line.split()[:2] == ["listener", "8883"]:
            line = f"listener {tls_port} {HOST}"
        elif line.split()[:2] == ["listener", "1883"]:
            line = f"listener {plain_port} {HOST}"
        out.append(line)
    out.append(f"user {pwd.getpwuid(os.geteuid()).pw_name}")
    return "\n".join(out) + "\n"
