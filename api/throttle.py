"""Login throttling: failed dashboard logins counted per username and per client address over a
sliding window; past the limit, logins answer 429 with Retry-After until the window moves on.

Password checks (Argon2, tens of milliseconds of CPU each) run in a pool of their own with
ARGON2_THREADS threads, outside the API's shared request limit and its worker threads, so a
storm of logins queues behind itself and never behind (or in front of) keyed requests. The
counts live in the API process (one per process: behind a load balancer each process counts
its own share).
"""

import threading
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor

WINDOW_S = 300.0
PER_USER = 5  # failed logins of one username per window
PER_ADDRESS = 20  # failed logins from one client address per window
ARGON2_THREADS = 2


class LoginThrottle:
    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=ARGON2_THREADS, thread_name_prefix="argon2")

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        return times

    def retry_after(self, username: str, address: str) -> int | None:
        """Seconds until this username from this address may try again; None: it may now."""
        now = self.clock()
        with self._lock:
            waits = []
            for key, limit in ((("user", username), PER_USER), (("address", address), PER_ADDRESS)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(times[len(times) - limit] + WINDOW_S - now)
        return max(1, int(max(waits)) + 1) if waits else None

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (("user", username), ("address", address)):
                self._recent(key, now).append(now)
            if len(self._failures) > 100_000:  # bounded memory under a spray of made-up names
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]
