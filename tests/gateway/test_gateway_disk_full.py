"""A spool on a small, real tmpfs (mounted by the test; CI runs as root): the size bound counts the
write-ahead log, a full disk drops the oldest readings and never the process, and everything
is counted.

Found by hand before the fix: with a 2 MB tmpfs the WAL grew past the bound (which counted only
the main file), and at about 1,400 rows the gateway died with `database or disk is full`, exit
code 0, losing the batch in memory; with a bound larger than the disk it died on every restart.
"""

import subprocess
import time
from pathlib import Path

import pytest

from lingtan.gateway.spool import Spool, SpoolFull
from tests.support import free_port, wait_for
from tests.support.configs import config_of, meter, platform, write_config
from tests.support.gateway import SimThread, Subscriber, gateway_process


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 2 MB tmpfs of the test's own."""
    mount = tmp_path / "disk"
    mount.mkdir()
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                         text=True)
    if run.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root; CI runs as root): {run.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def reading(i: int) -> dict:
    return {"meter": f"m{i % 7}", "ts": f"2026-06-15T04:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
            "values": {"energy_import_kwh": 1000.0 + i * 0.013, "power_kw": 52.3 + i % 11}}


def test_the_bound_counts_the_write_ahead_log(small_disk):
    spool = Spool(small_disk / "spool.db", max_mb=1.0)
    taken = 0
    for batch in range(400):  # ~24,000 readings, several times the bound
        spool.append([reading(taken + k) for k in range(60)])
        taken += 60
        assert spool.disk_bytes() <= 1.0 * 1024 * 1024 * 1.05, (batch, spool.disk_bytes())
    assert spool.error is None and spool.dropped > 0
    assert len(spool) + spool.dropped == taken  # every reading is spooled or counted as dropped
    newest = spool.peek(len(spool))[-1]
    assert newest["ts"] == reading(taken - 1)["ts"]  # the oldest go first, the newest stay
    spool.close()


def test_a_full_disk_drops_the_oldest_and_goes_on(small_disk):
    spool = Spool(small_disk / "spool.db", max_mb=256)  # a bound larger than the disk
    (small_disk / "ballast").write_bytes(b"\0" * 900_000)  # something else fills half the disk
    taken, refused = 0, 0
    for _ in range(600):
        batch = [reading(taken + k) for k in range(60)]
        try:
            spool.append(batch)
        except SpoolFull:
            refused += 1  # the caller keeps such a batch; here it is simply not taken
            continue
        taken += 60
    assert taken > 10_000  # it went on writing long after the disk first filled
    assert spool.dropped > 0 and refused == 0  # the database stopped growing before the disk was full
    assert len(spool) + spool.dropped == taken
    assert spool.peek(len(spool))[-1]["ts"] == reading(taken - 1)["ts"]

    # something else takes every last byte: the spool gives up its reserve and goes on
    with open(small_disk / "hog", "wb", buffering=0) as hog:
        try:
            while True:
                hog.write(b"\0" * 4096)
        except OSError:
            pass
    assert spool.reserve.exists()
    for size in (60,) * 20 + (2000,) + (60,) * 20:  # a large batch needs pages the file does not have
        try:
            spool.append([reading(taken + k) for k in range(size)])
        except SpoolFull:
            refused += 1
            continue
        taken += size
    assert not spool.reserve.exists()  # the disk refused the large batch until the reserve went
    assert refused == 0 and spool.error is None
    assert len(spool) + spool.dropped == taken
    assert spool.peek(len(spool))[-1]["ts"] == reading(taken - 1)["ts"]
    spool.close()


def test_the_gateway_survives_a_full_spool_disk_and_reports_it(small_disk, tmp_path, mosquitto):
    buses = [{"id": "bus-a", "port": free_port(), "timeout_s": 1}]
    meters = [meter(f"m{i}", "bus-a", i, interval=0.05) for i in range(1, 21)]
    data = platform(meters, buses, mosquitto.port, small_disk / "spool.db",
                    gateway_extra={"spool": {"path": str(small_disk / "spool.db"), "max_mb": 256}})
    config = config_of(data)
    path = write_config(data, tmp_path / "gateway.yaml")
    (small_disk / "ballast").write_bytes(b"\0" * 1_500_000)
    mosquitto.stop()  # the broker is down: everything goes to the spool, which fills the disk
    log = tmp_path / "gw.log"
    with SimThread(config):
        proc = gateway_process(path, log)
        try:
            wait_for(lambda: "the disk is nearly full" in log.read_text() or proc.poll() is not None, 90,
                     message="the spool's disk nearly full: the oldest readings dropped")
            assert proc.poll() is None, log.read_text()[-3000:]
            for _ in range(10):  # ten more seconds of readings into a nearly full disk
                assert proc.poll() is None, log.read_text()[-3000:]
                time.sleep(1)
            assert (small_disk / "spool.db").stat().st_size < 2 * 1024 * 1024
            # the broker comes back: readings flow again and the status tells what happened
            mosquitto.start()
            sub = Subscriber(mosquitto.port, "lingtan/v1/gw-park/gw-1/#")
            wait_for(lambda: sub.readings() and any(s.get("dropped", 0) > 0 for s, _ in sub.on("status")), 60,
                     message="readings and a status with dropped > 0")
            assert proc.poll() is None
            seqs = [r["seq"] for r in sub.readings()]
            assert seqs == sorted(seqs)
        finally:
            proc.terminate()
            code = proc.wait(20)
    assert code == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
