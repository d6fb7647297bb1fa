"""Linux network namespaces joined by an impairing userspace packet router, for network-fault tests.

This machine's kernel has network namespaces, veth and TUN devices, but no `netem` qdisc and no
tc classifiers or actions, so `tc qdisc add ... netem` cannot add loss or delay here. The router
stands in for netem: it runs as its own process, owns two TUN devices per link (one moved into
each namespace of the link, addressed point to point), and copies whole IP packets between them.
On the way it drops packets with probability `loss` (seeded RNG), holds each packet for
`delay_s ± jitter_s` (uniform, like netem without a distribution table; packets leave in order of
their due time, so jitter reorders packets as netem's does), or drops everything while the link
is partitioned. The kernels' own TCP stacks on both sides see the loss, the delay and the
reordering and retransmit as on a bad network. Impairments apply to both directions of a link.

    with Network(["gw", "mq"], [("gw", "mq")]) as net:   # as root
        net.addr("mq")                     # 10.77.0.2: the namespace's address, on its loopback
        net.ns("gw")                       # `ip netns` name: ltnf-<pid>-<hex>-gw
        net.set("gw-mq", loss=0.1, delay_s=0.5, jitter_s=0.1)
        net.set("gw-mq", partition=True)
        net.call("mq", fn, *args)          # fn on a thread inside that namespace
        net.stats("gw-mq")                 # {"forwarded": .., "lost": .., "cut": ..}

`python -m tests.support.netns router --seed N NAME...` is the router process itself; it reads
commands on stdin (`set NAME key=value ...`, `stats NAME`) and answers one line each.
"""

from __future__ import annotations

import ctypes
import fcntl
import heapq
import json
import os
import random
import secrets
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PREFIX = "ltnf-"  # namespace names: ltnf-<pid of the test process>-<hex>-<role>
NETNS_DIR = Path("/var/run/netns")
_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def unavailable() -> str | None:
    """Why namespaces and the router cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add, TUN devices); this run is not root"
    if shutil.which("ip") is None:
        return "the ip command (Debian package iproute2) is not installed"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing: the kernel has no TUN devices for the impairing router"
    probe = f"{PREFIX}probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


def enter(ns: str) -> None:
    """Move the calling thread (only it) into network namespace `ns`; sockets it opens from now on
    belong to that namespace, whichever thread uses them later."""
    fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in(ns: str, fn: Callable[..., T], *args: Any, timeout: float = 60.0) -> T:
    """fn(*args) on a new thread inside namespace `ns`; its result or its exception."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            enter(ns)
            out["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            out["error"] = exc

    thread = threading.Thread(target=run, name=f"in-{ns}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"call in namespace {ns} did not finish in {timeout:g} s")
    if "error" in out:
        raise out["error"]
    return out["value"]


def exec_prefix(ns: str | None) -> list[str]:
    """The argv prefix that runs a program inside namespace `ns` (none for the host's)."""
    return ["ip", "netns", "exec", ns] if ns else []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> list[str]:
    """Delete the namespaces of earlier runs whose test process is gone (crashed or killed), and
    end any process still running in them."""
    removed = []
    for path in NETNS_DIR.glob(f"{PREFIX}*") if NETNS_DIR.is_dir() else []:
        try:
            pid = int(path.name[len(PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if not _pid_alive(pid):
            pids = subprocess.run(["ip", "netns", "pids", path.name], capture_output=True, text=True).stdout
            for left in pids.split():
                try:
                    os.kill(int(left), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "delete", path.name], capture_output=True)
            removed.append(path.name)
    return removed


class Network:
    """Namespaces (one per role, each with its address 10.77.0.N/32 on its loopback) and links
    between pairs of them through one router process. Everything is removed on exit."""

    def __init__(self, roles: Sequence[str], links: Sequence[tuple[str, str]], seed: int = 1,
                 log_path: Path | None = None) -> None:
        self.tag = f"{os.getpid()}-{secrets.token_hex(2)}"
        self.roles = list(roles)
        self.links = {f"{a}-{b}": (a, b) for a, b in links}
        self.seed = seed
        self.log_path = log_path
        self.router: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._made: list[str] = []

    def ns(self, role: str) -> str:
        return f"{PREFIX}{self.tag}-{role}"

    def addr(self, role: str) -> str:
        return f"10.77.0.{self.roles.index(role) + 1}"

    def call(self, role: str, fn: Callable[..., T], *args: Any, timeout: float = 60.0) -> T:
        return call_in(self.ns(role), fn, *args, timeout=timeout)

    def prefix(self, role: str) -> list[str]:
        return exec_prefix(self.ns(role))

    def __enter__(self) -> Network:
        remove_leftovers()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        for role in self.roles:
            _ip("netns", "add", self.ns(role))
            self._made.append(self.ns(role))
            _ip("-n", self.ns(role), "link", "set", "lo", "up")
            _ip("-n", self.ns(role), "addr", "add", f"{self.addr(role)}/32", "dev", "lo")
        # TUN names are at most 15 characters: "nf" + 6 hex of this run + link number + a/b
        stem = f"nf{secrets.token_hex(3)}"
        devices = {name: (f"{stem}{i}a", f"{stem}{i}b") for i, name in enumerate(self.links)}
        spec = [f"{name}={a},{b}" for name, (a, b) in devices.items()]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.router = subprocess.Popen(
            [sys.executable, "-m", "tests.support.netns", "router", "--seed", str(self.seed), *spec],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1,
            cwd=Path(__file__).resolve().parents[2], start_new_session=True, preexec_fn=_router_preexec)
        if log is not subprocess.DEVNULL:
            log.close()
        ready = self.router.stdout.readline().strip()
        if ready != "ready":
            raise RuntimeError(f"the packet router did not start: {ready!r}")
        for name, (a, b) in self.links.items():
            for role, peer, dev in ((a, b, devices[name][0]), (b, a, devices[name][1])):
                _ip("link", "set", dev, "netns", self.ns(role))
                _ip("-n", self.ns(role), "link", "set", dev, "up")
                _ip("-n", self.ns(role), "route", "add", f"{self.addr(peer)}/32", "dev", dev,
                    "src", self.addr(role))

    def _command(self, line: str) -> str:
        assert self.router is not None and self.router.poll() is None, "the packet router is not running"
        with self._lock:
            self.router.stdin.write(line + "\n")
            self.router.stdin.flush()
            answer = self.router.stdout.readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError(f"router refused {line!r}: {answer}")
        return answer[2:].strip()

    def set(self, link: str, *, loss: float | None = None, delay_s: float | None = None,
            jitter_s: float | None = None, partition: bool | None = None) -> None:
        """Change a link's impairment at once (both directions); unnamed settings stay."""
        given = {"loss": loss, "delay_s": delay_s, "jitter_s": jitter_s,
                 "partition": None if partition is None else int(partition)}
        self._command(f"set {link} " + " ".join(f"{k}={v}" for k, v in given.items() if v is not None))

    def clear(self, link: str) -> None:
        self.set(link, loss=0.0, delay_s=0.0, jitter_s=0.0, partition=False)

    def stats(self, link: str) -> dict[str, int]:
        """Packets on `link` so far: forwarded, lost (random loss) and cut (partition)."""
        return json.loads(self._command(f"stats {link}"))

    def close(self) -> None:
        if self.router is not None:
            try:
                os.killpg(self.router.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.router.wait()
            self.router = None
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        self._made.clear()


def die_with_parent() -> None:
    """For preexec_fn: the child gets SIGKILL when the test process dies (kept across the exec of
    `ip netns exec` and of the program it runs), so a killed run leaves nothing running."""
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _router_preexec() -> None:
    # die with the test process; and run ahead of the busy test processes on a 2-core machine
    die_with_parent()
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError:
        pass


# -- the router process ---------------------------------------------------------------------------

class _Link:
    def __init__(self, name: str, fd_a: int, fd_b: int) -> None:
        self.name, self.fd_a, self.fd_b = name, fd_a, fd_b
        self.loss = 0.0
        self.delay_s = 0.0
        self.jitter_s = 0.0
        self.partition = False
        self.counts = {"forwarded": 0, "lost": 0, "cut": 0}

    def set(self, key: str, value: str) -> None:
        if key == "partition":
            self.partition = value not in ("0", "false", "False")
            return
        number = float(value)
        if key == "loss" and not 0.0 <= number <= 1.0:
            raise ValueError(f"loss={value}: a probability from 0 to 1 is accepted")
        if key in ("delay_s", "jitter_s") and number < 0:
            raise ValueError(f"{key}={value}: seconds, 0 or more, are accepted")
        if key not in ("loss", "delay_s", "jitter_s"):
            raise ValueError(f"{key}: unknown setting; loss, delay_s, jitter_s and partition are accepted")
        setattr(self, key, number)


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    return fd


def _serve(specs: list[str], seed: int) -> None:
    rng = random.Random(seed)
    links: dict[str, _Link] = {}
    route: dict[int, tuple[_Link, int]] = {}  # fd read -> (link, fd to write)
    for spec in specs:
        name, devs = spec.split("=", 1)
        a, b = devs.split(",")
        link = _Link(name, _open_tun(a), _open_tun(b))
        links[name] = link
        route[link.fd_a] = (link, link.fd_b)
        route[link.fd_b] = (link, link.fd_a)
    print("ready", flush=True)
    stdin = sys.stdin.fileno()
    timers: list[tuple[float, int, int, bytes]] = []  # (due, order, fd, packet)
    order = 0
    poller = select.epoll()
    poller.register(stdin, select.EPOLLIN)
    for fd in route:
        poller.register(fd, select.EPOLLIN)
    pending_in = b""
    while True:
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            _, _, fd, packet = heapq.heappop(timers)
            _send(fd, packet)
        timeout = max(0.0, timers[0][0] - now) if timers else -1
        for fd, _event in poller.poll(timeout):
            if fd == stdin:
                chunk = os.read(stdin, 4096)
                if not chunk:
                    return  # the test closed the control channel
                pending_in += chunk
                while b"\n" in pending_in:
                    line, pending_in = pending_in.split(b"\n", 1)
                    print(_control(links, line.decode().split()), flush=True)
                continue
            link, out = route[fd]
            while True:  # drain the device: the TUN fd is non-blocking
                try:
                    packet = os.read(fd, 65535)
                except BlockingIOError:
                    break
                except OSError:
                    break  # a device whose namespace is going away
                if link.partition:
                    link.counts["cut"] += 1
                    continue
                if link.loss and rng.random() < link.loss:
                    link.counts["lost"] += 1
                    continue
                link.counts["forwarded"] += 1
                hold = link.delay_s + (rng.uniform(-link.jitter_s, link.jitter_s) if link.jitter_s else 0.0)
                if hold <= 0 and not timers:
                    _send(out, packet)
                else:
                    order += 1
                    heapq.heappush(timers, (time.monotonic() + max(0.0, hold), order, out, packet))


def _send(fd: int, packet: bytes) -> None:
    try:
        os.write(fd, packet)
    except OSError:
        pass  # the far device is down or gone: the packet is lost, as on a wire


def _control(links: dict[str, _Link], words: list[str]) -> str:
    try:
        if len(words) >= 2 and words[0] in ("set", "stats"):
            link = links.get(words[1])
            if link is None:
                return f"error link {words[1]!r} unknown; links: {', '.join(links)}"
            if words[0] == "stats":
                return "ok " + json.dumps(link.counts)
            for word in words[2:]:
                key, _, value = word.partition("=")
                link.set(key, value)
            return "ok"
        return f"error {' '.join(words)!r}: commands are `set LINK key=value ...` and `stats LINK`"
    except ValueError as exc:
        return f"error {exc}"


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] != "router" or argv[1] != "--seed":
        sys.exit("usage: python -m tests.support.netns router --seed N NAME=TUN_A,TUN_B ...")
    _serve(argv[3:], int(argv[2]))


if __name__ == "__main__":
    main(sys.argv[1:])
