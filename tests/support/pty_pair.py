"""Two linked pseudo-terminals from socat: a serial cable between two programs."""

from __future__ import annotations

import signal
from pathlib import Path

from .process import ServerProcess, ServiceHandle, find_binary


class PtyPair(ServiceHandle):
    """Handle on one socat pty pair: `a` and `b` are device paths (str) for pyserial or
    pymodbus; bytes written to one are read from the other. `stop()` unplugs the cable,
    `start()` plugs a new one in under the same paths (open ports must be reopened).
    """

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.a = str(workdir / "a")
        self.b = str(workdir / "b")
        self._server = ServerProcess(
            "socat",
            [
                find_binary("socat"),
                "-d",
                "-d",
                f"pty,raw,echo=0,link={self.a}",
                f"pty,raw,echo=0,link={self.b}",
            ],
            workdir / "socat.log",
            lambda: Path(self.a).exists() and Path(self.b).exists(),
            stop_signal=signal.SIGTERM,
        )

    def start(self) -> None:
        if not self.running:
            # socat removes its links only on a clean exit; stale ones would fool the wait.
            for link in (self.a, self.b):
                Path(link).unlink(missing_ok=True)
        super().start()

    def __repr__(self) -> str:
        return f"PtyPair({self.a} <-> {self.b}, running={self.running})"
