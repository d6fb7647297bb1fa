"""`lingtan demo` as a real process, as a newcomer runs it."""

import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from tests.support.process import free_port, wait_for


class Demo:
    """`python -m lingtan demo` as a subprocess, its output collected line by line. By default on
    free ports and in `data_dir`; `ports=False` passes only --port (the broker's and the simulator's
    ports are the demo's own choice), `data_dir=None` no --data-dir (a temporary folder)."""

    def __init__(self, data_dir, *args: str, ports: bool = True, env: dict | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.started = time.monotonic()
        command = [sys.executable, "-m", "lingtan", "demo", "--port", str(self.port)]
        if data_dir is not None:
            command += ["--data-dir", str(data_dir)]
        if ports:
            command += ["--mqtt-port", str(free_port()), "--modbus-port", str(free_port())]
        self.proc = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def line(self, text: str, timeout: float) -> str:
        return wait_for(lambda: next((ln for ln in self.lines if text in ln), None), timeout, 0.2,
                        f"{text!r} in the demo's output:\n{self.out}")

    def get(self, path: str, headers: dict | None = None, **params):
        try:
            r = httpx.get(f"{self.base}{path}", params=params, headers=headers, timeout=10)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 else None

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=40)
        self._reader.join(5)
        assert self.proc.returncode == 0, self.out
        assert "Traceback" not in self.out, self.out
        return self.out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
