"""Store-and-forward spool: readings wait on disk, in order, until the broker acknowledges them.

SQLite in WAL mode with synchronous=FULL: `append` returns only once its readings are on disk,
so a `kill -9` (or a power cut) loses nothing that was spooled. The spool is the only path to the
broker: every reading is spooled, then published, then deleted after the broker's PUBACK.
`seq` is SQLite's AUTOINCREMENT rowid, which never hands out a number twice, even after the
rows are deleted or the process is killed, so it is the gateway's sequence number.

Overflow policy: the spool is bounded by size (MB) and age (days). When a bound is exceeded the
OLDEST readings are dropped first (the newest data is the most valuable for live monitoring and
older counter readings are bridged by the next reading of the same meter: cumulative counters
lose resolution, not energy). Every dropped reading is counted, persisted, logged and reported
in the gateway's status message (`dropped`).
"""

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

DROP_LOG_INTERVAL_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- the per-gateway sequence number, never reused
    spooled_at REAL NOT NULL,                -- wall time, for the age bound
    reading TEXT NOT NULL                    -- the reading as JSON, without seq
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Spool:
    def __init__(self, path: str | Path, max_mb: float = 256, max_age_days: float = 30,
                 wall: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.max_mb = max_mb
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.max_age_s = max_age_days * 86400
        self.wall = wall
        self._unlogged, self._logged_at = 0, -DROP_LOG_INTERVAL_S
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def append(self, readings: list[dict]) -> list[int]:
        """Spool readings durably; returns their sequence numbers."""
        now = self.wall()
        seqs = []
        with self.db:  # one transaction, one fsync, for the readings and any overflow drop
            self.db.execute("BEGIN IMMEDIATE")
            for r in readings:
                cur = self.db.execute("INSERT INTO spool (spooled_at, reading) VALUES (?, ?)",
                                      (now, json.dumps(r, separators=(",", ":"))))
                seqs.append(cur.lastrowid)
            self._enforce_bounds()
        return seqs

    def peek(self, limit: int) -> list[dict]:
        """The oldest readings, each with its `seq`, in order."""
        rows = self.db.execute("SELECT seq, reading FROM spool ORDER BY seq LIMIT ?", (limit,))
        out = []
        for seq, text in rows:
            r = json.loads(text)
            r["seq"] = seq
            out.append(r)
        return out

    def ack(self, up_to_seq: int) -> None:
        """The broker has acknowledged everything up to and including this sequence number."""
        self.db.execute("DELETE FROM spool WHERE seq <= ?", (up_to_seq,))

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM spool").fetchone()[0]

    @property
    def dropped(self) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        return row[0] if row else 0

    def _count_dropped(self, n: int, why: str) -> None:
        if n <= 0:
            return
        self.db.execute("INSERT INTO counters VALUES ('dropped', ?) "
                        "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (n,))
        # a full spool drops on every append; say so at most once a minute
        self._unlogged += n
        now = time.monotonic()
        if now - self._logged_at >= DROP_LOG_INTERVAL_S:
            log.warning("spool %s: dropped the %d oldest reading(s) (%s); %d dropped since the spool was "
                        "created (logged at most once a minute)", self.path, self._unlogged, why, self.dropped)
            self._unlogged, self._logged_at = 0, now

    def _size_bytes(self) -> int:
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self.db.execute("PRAGMA page_size").fetchone()[0]

    def _enforce_bounds(self) -> None:
        # Age: readings are appended in time order, so the too-old ones are a prefix of the
        # spool; look at the head only (no full scan on every append).
        cutoff = self.wall() - self.max_age_s
        dropped = 0
        while True:
            oldest = self.db.execute("SELECT spooled_at FROM spool ORDER BY seq LIMIT 1").fetchone()
            if oldest is None or oldest[0] >= cutoff:
                break
            head = self.db.execute("SELECT seq, spooled_at FROM spool ORDER BY seq LIMIT 1000").fetchall()
            old = [seq for seq, at in head if at < cutoff]
            dropped += self.db.execute("DELETE FROM spool WHERE seq <= ? AND spooled_at < ?",
                                       (old[-1], cutoff)).rowcount
            if len(old) < len(head):
                break
        self._count_dropped(dropped, f"older than {self.max_age_s / 86400:g} days")
        dropped = 0
        while self._size_bytes() > self.max_bytes:
            n = max(1, len(self) // 10)
            cur = self.db.execute("DELETE FROM spool WHERE seq IN "
                                  "(SELECT seq FROM spool ORDER BY seq LIMIT ?)", (n,))
            if cur.rowcount == 0:
                break
            dropped += cur.rowcount
        self._count_dropped(dropped, f"spool above {self.max_mb:g} MB")

    def close(self) -> None:
        self.db.close()
