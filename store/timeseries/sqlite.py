"""SQLite time-series store: the embedded default for the demo and small sites."""

import sqlite3
import threading

from lingtan.store.timeseries.base import Row, SinkUnavailable, WindowRead, WindowSamples

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reading (
    park TEXT NOT NULL, meter TEXT NOT NULL, quantity TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    value REAL NOT NULL, gateway TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (park, meter, quantity, ts_ms)
) WITHOUT ROWID;
"""


class SqliteSink:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a flush is on disk before ingest acknowledges it
        self.db.executescript(_SCHEMA)

    def write(self, rows: list[Row], lines: list[str] | None = None) -> None:
        """One transaction; `lines` (line protocol) are not needed here."""
        data = [(r.park, r.meter, q, r.ts_ms, v, r.gateway, r.seq) for r in rows for q, v in r.values.items()]
        try:
            with self._lock, self.db:
                self.db.execute("BEGIN")
                self.db.executemany("INSERT OR REPLACE INTO reading VALUES (?, ?, ?, ?, ?, ?, ?)", data)
        except sqlite3.Error as exc:
            raise SinkUnavailable(f"sqlite {self.path}: {exc}") from exc

    def series(self, park: str, meter: str, quantity: str, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        """(ts_ms, value) in [start_ms, end_ms), ordered by time."""
        with self._lock:
            return self.db.execute(
                "SELECT ts_ms, value FROM reading WHERE park=? AND meter=? AND quantity=? "
                "AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms", (park, meter, quantity, start_ms, end_ms)).fetchall()

    def neighbours(self, park: str, meter: str, quantity: str, ts_ms: int) -> tuple[tuple | None, tuple | None]:
        """The last sample before ts_ms and the first at or after it."""
        with self._lock:
            before = self.db.execute(
                "SELECT ts_ms, value FROM reading WHERE park=? AND meter=? AND quantity=? AND ts_ms < ? "
                "ORDER BY ts_ms DESC LIMIT 1", (park, meter, quantity, ts_ms)).fetchone()
            after = self.db.execute(
                "SELECT ts_ms, value FROM reading WHERE park=? AND meter=? AND quantity=? AND ts_ms >= ? "
                "ORDER BY ts_ms LIMIT 1", (park, meter, quantity, ts_ms)).fetchone()
        return before, after

    def read_windows(self, park: str, reads: list[WindowRead], look_back_ms: int) -> list[dict[str, WindowSamples]]:
        """See TimeSeriesStore.read_windows: in process, so three indexed lookups per counter."""
        out = []
        with self._lock:
            for r in reads:
                got = {}
                for q in r.quantities:
                    key = (park, r.meter, q)
                    before = self.db.execute(
                        "SELECT ts_ms, value FROM reading WHERE park=? AND meter=? AND quantity=? AND ts_ms >= ? "
                        "AND ts_ms < ? ORDER BY ts_ms DESC LIMIT 1", (*key, r.start_ms - look_back_ms, r.start_ms)
                    ).fetchone()
                    samples = self.db.execute(
                        "SELECT ts_ms, value FROM reading WHERE park=? AND meter=? AND quantity=? AND ts_ms >= ? "
                        "AND ts_ms < ? ORDER BY ts_ms", (*key, r.start_ms, r.end_ms)).fetchall()
                    after = self.db.execute(
                        "SELECT ts_ms, value FROM reading WHERE park=? AND meter=? AND quantity=? AND ts_ms >= ? "
                        "ORDER BY ts_ms LIMIT 1", (*key, r.end_ms)).fetchone()
                    got[q] = WindowSamples(before, samples, after)
                out.append(got)
        return out

    def close(self) -> None:
        self.db.close()
