"""Start, wait for and stop one real server process; the handles' common face; ports, polling
and binary look-up."""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

INSTALL_HINT = "run bash deploy/local/test.sh"

# sbin folders are often missing from a non-root PATH, yet mosquitto lives in /usr/sbin.
_EXTRA_BIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")

_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A test service could not be started or stopped."""


class MissingBinary(ServiceError):
    """A program a test service needs is not installed."""


def find_binary(name: str, package: str | None = None) -> str:
    """Return the path of `name`, or raise MissingBinary naming the Debian package."""
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_EXTRA_BIN_DIRS))
    if path is None:
        raise MissingBinary(f"{name} not installed (Debian package {package or name}): {INSTALL_HINT}")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, message: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy and return that value.

    Raises TimeoutError after `timeout` seconds. Tests may wait with this; they never
    assert on how long something took.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


async def until(predicate: Callable[[], object], what: str | Callable[[], str], timeout: float = 30.0) -> None:
    """Poll `predicate` on the running event loop until it is truthy (for code whose state belongs
    to the loop's thread, such as the gateway's spool); raise TimeoutError after `timeout` seconds.

    `what` names what is awaited in the error; a callable is called then, to describe the state.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for: {what() if callable(what) else what}")
        await asyncio.sleep(0.05)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec (after any user switch, which would
    # clear it): if pytest itself is killed, the kernel kills the server too.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class ServerProcess:
    """One server process with its log file, restartable with the same arguments.

    The server runs in its own process group so stop and kill9 also reach its children.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        ready: Callable[[], bool],
        *,
        stop_signal: signal.Signals = signal.SIGTERM,
        user: str | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._ready = ready
        self._stop_signal = stop_signal
        self._user = user
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the server and block until it answers; raise ServiceError if it does not."""
        if self.running:
            return
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.log_path.parent,
                user=self._user,
                group=self._user,
                extra_groups=[] if self._user else None,
                preexec_fn=_die_with_parent,
            )
        _live.add(self)

        def up() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self._proc.returncode} while starting\n{self.log_tail()}"
                )
            return self._ready()

        try:
            wait_for(up, timeout=self._start_timeout, message=f"{self.name} to accept connections")
        except TimeoutError as exc:
            self.kill9()
            raise ServiceError(f"{exc}\n{self.log_tail()}") from exc

    def stop(self, timeout: float = 15.0) -> None:
        """Shut down cleanly (the server saves its state); SIGKILL if it takes too long."""
        if not self.running:
            return
        assert self._proc is not None
        self._proc.send_signal(self._stop_signal)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        # Also ends any worker a cleanly exited main process left behind.
        self._kill_group()

    def kill9(self) -> None:
        """SIGKILL the whole process group, as a crash or power cut would end it."""
        if self._proc is None:
            return
        self._kill_group()

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP (or, frozen=False, SIGCONT) the process group: a server that hangs with its
        connections open, as a stuck host or a half-dead link looks to its clients."""
        assert self._proc is not None
        os.killpg(self._proc.pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def _kill_group(self) -> None:
        assert self._proc is not None
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._proc.wait()
        _live.discard(self)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"last lines of {self.log_path}:\n{tail}"


class ServiceHandle:
    """The face every service handle shows, delegated to its one ServerProcess (`_server`):
    `running`, `log_path`, `start()`, `stop()` (clean shutdown) and `kill9()` (SIGKILL, a crash)."""

    _server: ServerProcess

    @property
    def running(self) -> bool:
        return self._server.running

    @property
    def log_path(self) -> Path:
        return self._server.log_path

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def kill9(self) -> None:
        self._server.kill9()

    def freeze(self, frozen: bool = True) -> None:
        self._server.freeze(frozen)


_live: set[ServerProcess] = set()


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_live):
        server.kill9()


def run_checked(
    argv: Sequence[str],
    what: str,
    *,
    user: str | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> str:
    """Run a set-up command (initdb, mosquitto_passwd, ...) and return its output."""
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        user=user,
        group=user,
        extra_groups=[] if user else None,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n{result.stdout}{result.stderr}"
        )
    return result.stdout
