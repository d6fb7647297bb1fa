"""Running services in one process: the demo, and each `lingtan` service subcommand.

asyncio owns the process; the two blocking workers (ingest's paho loop and the accounting loop)
run in threads that stop on an Event. SIGINT/SIGTERM stop everything cleanly.
"""

import asyncio
import contextlib
import logging
import signal
import threading
from datetime import UTC, datetime

log = logging.getLogger(__name__)


def api_server(app, host: str, port: int):
    """A uvicorn server for `app` that leaves the process's signals to its caller
    (run_until_signal, or a test running it in a thread)."""
    import uvicorn  # the platform extra; the gateway's commands run without it

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # we own the signals of the whole process
            yield

    # proxy_headers off: the app believes X-Forwarded-* only from api.trusted_proxies (lingtan.api.app)
    return Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", proxy_headers=False))


async def run_until_signal(tasks: list, threads: list[tuple[threading.Thread, threading.Event]],
                           servers: list = (), cleanup: list = ()) -> None:
    """Run coroutines and threaded workers until Ctrl-C / SIGTERM, then stop them in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for thread, _ in threads:
        thread.start()
    running = [asyncio.create_task(t) for t in tasks]
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *running], return_when=asyncio.FIRST_COMPLETED)
    failed = [t.exception() for t in done if t is not waiter and t.exception() is not None]
    for exc in failed:
        log.error("a service failed: %r", exc)
    log.info("stopping")
    for s in servers:
        s.should_exit = True
    for _, event in threads:
        event.set()
    await asyncio.sleep(0.2)
    for t in running:
        t.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    for thread, _ in threads:
        await asyncio.to_thread(thread.join, 10)
    for c in cleanup:
        await c()
    waiter.cancel()
    if failed:  # the process exits non-zero, so a supervisor (systemd) sees it and restarts it
        raise ServiceFailed(f"a service failed: {failed[0]!r}") from failed[0]


class ServiceFailed(RuntimeError):
    """A service of this process stopped with an error."""


class CommandError(Exception):
    """Something the user can fix before a command starts (a taken port, a missing database):
    `lingtan` prints it as one line, `lingtan <command>: <message>`, and exits 2."""


def utc_now() -> datetime:
    return datetime.now(UTC)
