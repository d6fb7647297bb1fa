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

The size bound counts everything the spool has on disk: three quarters of it for the database's
used pages, a quarter for its write-ahead log, which is checkpointed often enough to stay within
an eighth of the bound (at most 256 KiB) and truncated when it grows past twice that (a long
read can hold a checkpoint back). A disk that is
full anyway (other files, a bound larger than the disk) or an I/O error does not stop the
gateway: `append` checkpoints, drops the oldest readings and tries again, and if the disk still
refuses it raises SpoolFull, which the caller answers by keeping the batch in memory and trying
again on the next commit; `error` says what is wrong, and the status message carries it.
"""

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

DROP_LOG_INTERVAL_S = 60.0
WAL_MAX_BYTES = 256 * 1024
RESERVE_BYTES = 512 * 1024  # kept free next to the spool, given up when the disk fills anyway
LOW_DISK_BYTES = 2 * WAL_MAX_BYTES  # free space below which the database file stops growing
_RETRY_DROP_SHARE = 10  # on a full disk, drop 1/10 of the spool (the oldest) before trying again


class SpoolFull(OSError):
    """The disk refused the spool's writes even after dropping the oldest readings; nothing of
    the batch was written (the caller keeps it and tries again)."""

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
        self.error: str | None = None  # the disk's last refusal, until a write succeeds again
        self._dropped_unsaved = 0  # dropped while the disk refused to record the count
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.page_size = self.db.execute("PRAGMA page_size").fetchone()[0]
        # Keep the WAL small (an eighth of the bound, at most 256 KiB) and truncate it to that
        # after each checkpoint: data that lives only in the WAL cannot be checkpointed into a
        # full disk, and then neither new readings nor the deletes that would make room fit.
        wal = min(self.max_bytes // 8, WAL_MAX_BYTES)
        self.db.execute(f"PRAGMA wal_autocheckpoint = {max(16, wal // self.page_size)}")
        self.db.execute(f"PRAGMA journal_size_limit = {wal}")
        self.db.executescript(_SCHEMA)
        self.reserve = Path(self.path + ".reserve")
        self._ensure_reserve()

    def _free_disk(self) -> int:
        try:
            st = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        except OSError:
            return 1 << 62
        return st.f_bavail * st.f_frsize

    def _ensure_reserve(self) -> None:
        """Hold RESERVE_BYTES of the disk in a file of our own, when the disk has room for it."""
        if self.reserve.exists() or self._free_disk() < 2 * RESERVE_BYTES:
            return
        try:
            with open(self.reserve, "wb") as f:
                f.write(b"\0" * RESERVE_BYTES)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            self.reserve.unlink(missing_ok=True)

    def append(self, readings: list[dict]) -> list[int]:
        """Spool readings durably; returns their sequence numbers. Raises SpoolFull when the disk
        refuses them even after the oldest readings were dropped (nothing is written then)."""
        try:
            seqs = self._append(readings)
        except sqlite3.OperationalError as exc:  # SQLITE_FULL, SQLITE_IOERR, ...
            first = exc
            self._make_room()
            try:
                seqs = self._append(readings)
            except sqlite3.OperationalError as exc:
                self._refused(exc)
                raise SpoolFull(f"spool {self.path}: {exc} (after dropping the oldest readings; first: "
                                f"{first})") from exc
        if self.error is not None:
            log.info("spool %s: writes succeed again", self.path)
            self.error = None
            self._ensure_reserve()
        if self._wal_bytes() > min(self.max_bytes // 4, 4 * WAL_MAX_BYTES):  # a reader held a checkpoint back
            self._checkpoint()
        return seqs

    def _append(self, readings: list[dict]) -> list[int]:
        now = self.wall()
        seqs = []
        with self.db:  # one transaction, one fsync, for the readings and any overflow drop
            self.db.execute("BEGIN IMMEDIATE")
            for r in readings:
                cur = self.db.execute("INSERT INTO spool (spooled_at, reading) VALUES (?, ?)",
                                      (now, json.dumps(r, separators=(",", ":"))))
                seqs.append(cur.lastrowid)
            if self._dropped_unsaved:
                self._save_dropped(self._dropped_unsaved)
                self._dropped_unsaved = 0
            self._enforce_bounds()
        return seqs

    def _refused(self, exc: Exception) -> None:
        if self.error is None:
            log.error("spool %s: the disk refuses writes (%s); readings wait in memory, the oldest "
                      "spooled ones are dropped to make room", self.path, exc)
        self.error = f"{type(exc).__name__}: {exc}"[:200]

    def _checkpoint(self) -> None:
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            log.debug("spool %s: checkpoint failed: %s", self.path, exc)

    def _make_room(self) -> None:
        """After a refused write: give up the reserve, move the WAL into the database and drop
        the oldest tenth of the readings (their pages are reused by the next ones)."""
        self.reserve.unlink(missing_ok=True)
        self._checkpoint()
        n = max(1, len(self) // _RETRY_DROP_SHARE)
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                cur = self.db.execute("DELETE FROM spool WHERE seq IN (SELECT seq FROM spool ORDER BY seq LIMIT ?)",
                                      (n,))
                self._count_dropped(cur.rowcount, "the disk is full")
        except sqlite3.OperationalError as exc:
            self._refused(exc)
        self._checkpoint()

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
        return (row[0] if row else 0) + self._dropped_unsaved

    def _save_dropped(self, n: int) -> None:
        self.db.execute("INSERT INTO counters VALUES ('dropped', ?) "
                        "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (n,))

    def count_lost(self, n: int, why: str) -> None:
        """Readings lost before they reached the spool (the caller's memory bound on a full disk):
        counted with the dropped ones, saved with the next successful write."""
        self._dropped_unsaved += n
        self._log_dropped(n, why)

    def _count_dropped(self, n: int, why: str) -> None:
        if n <= 0:
            return
        self._save_dropped(n)
        self._log_dropped(n, why)

    def _log_dropped(self, n: int, why: str) -> None:
        # a full spool drops on every append; say so at most once a minute
        self._unlogged += n
        now = time.monotonic()
        if now - self._logged_at >= DROP_LOG_INTERVAL_S:
            log.warning("spool %s: dropped the %d oldest reading(s) (%s); %d dropped since the spool was "
                        "created (logged at most once a minute)", self.path, self._unlogged, why, self.dropped)
            self._unlogged, self._logged_at = 0, now

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(self.path + "-wal")
        except OSError:
            return 0

    def _size_bytes(self) -> int:
        """The database's used pages (in the current transaction's view)."""
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self.page_size

    def disk_bytes(self) -> int:
        """What the spool takes on disk now: the database file and its write-ahead log."""
        try:
            return os.path.getsize(self.path) + self._wal_bytes()
        except OSError:
            return 0

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
        # the database gets three quarters of the bound, the write-ahead log the rest
        while self._size_bytes() > self.max_bytes * 3 // 4:
            n = max(1, len(self) // 10)
            cur = self.db.execute("DELETE FROM spool WHERE seq IN "
                                  "(SELECT seq FROM spool ORDER BY seq LIMIT ?)", (n,))
            if cur.rowcount == 0:
                break
            dropped += cur.rowcount
        self._count_dropped(dropped, f"spool above {self.max_mb:g} MB")
        # Before the disk is full: with little free space left, the database file stops growing
        # and the oldest readings make way for new ones inside it.
        if self._free_disk() < LOW_DISK_BYTES and self.db.execute("PRAGMA freelist_count").fetchone()[0] < 16:
            cur = self.db.execute("DELETE FROM spool WHERE seq IN (SELECT seq FROM spool ORDER BY seq LIMIT ?)",
                                  (max(1, len(self) // _RETRY_DROP_SHARE),))
            self._count_dropped(cur.rowcount, "the disk is nearly full")

    def close(self) -> None:
        self.db.close()
