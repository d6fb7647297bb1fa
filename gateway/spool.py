"""Store-and-forward spool: readings wait on disk, in order, until the broker acknowledges them.

SQLite in WAL mode with synchronous=FULL, so a reading is on disk before the poll that took it
finishes, and a `kill -9` (or a power cut) loses nothing that was spooled. The spool is the
only path to the broker: every reading is spooled, then published, then deleted.

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
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.max_age_s = max_age_days * 86400
        self.wall = wall
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def append(self, readings: list[dict]) -> list[int]:
        """Spool readings durably; returns their sequence numbers."""
        now = self.wall()
        seqs = []
        with self.db:
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
        log.warning("spool %s: dropped %d oldest reading(s) (%s); %d dropped in all",
                    self.path, n, why, self.dropped)

    def _size_bytes(self) -> int:
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self.db.execute("PRAGMA page_size").fetchone()[0]

    def _enforce_bounds(self) -> None:
        cutoff = self.wall() - self.max_age_s
        cur = self.db.execute("DELETE FROM spool WHERE spooled_at < ?", (cutoff,))
        self._count_dropped(cur.rowcount, f"older than {self.max_age_s / 86400:g} days")
        while self._size_bytes() > self.max_bytes:
            n = max(1, len(self) // 10)
            cur = self.db.execute("DELETE FROM spool WHERE seq IN "
                                  "(SELECT seq FROM spool ORDER BY seq LIMIT ?)", (n,))
            self._count_dropped(cur.rowcount, f"spool above {self.max_bytes // 1048576} MB")
            if cur.rowcount == 0:
                break

    def close(self) -> None:
        self.db.close()
