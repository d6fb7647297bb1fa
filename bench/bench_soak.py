"""The soak, full form: a simulated month of a 200-meter park through the whole platform under
faults, compared with the simulator's ground truth (tests/support/soak.py, docs/soak.md).

    .venv/bin/python bench/bench_soak.py [--meters 200] [--days 30] [--run-s 900] [--out FILE]

Starts its own Mosquitto (persistence, save on every change) and influxd on free loopback ports,
runs four `lingtan gateway` processes against the simulator, two ingest workers, accounting and
the API, injects the fault schedule, then prints the report (also written to --out) and the
figures: readings stored per reading taken (1.0: nothing lost), the worst relative energy
deviation over all meters, and how fast the platform went against simulated time. Exits 1 if any
comparison fails. Bounded: the faulted run lasts --run-s seconds; draining gives up after 120 s.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import InfluxDBv1, Mosquitto  # noqa: E402
from tests.support.soak import MOSQUITTO_DURABLE, Plan, Soak, close, report  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=200)
    ap.add_argument("--gateways", type=int, default=4)
    ap.add_argument("--days", type=float, default=30.0, help="simulated days (default 30)")
    ap.add_argument("--run-s", type=float, default=900.0, help="wall seconds of the faulted run (default 900)")
    ap.add_argument("--poll-s", type=float, default=0.8)
    ap.add_argument("--mosquitto-down-s", type=float, default=30.0)
    ap.add_argument("--influx-down-s", type=float, default=120.0)
    ap.add_argument("--gateway-down-s", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=Path("bench/soak-report.md"))
    args = ap.parse_args()
    plan = Plan(meters=args.meters, gateways=args.gateways, days=args.days, run_s=args.run_s, poll_s=args.poll_s,
                mosquitto_down_s=args.mosquitto_down_s, influx_down_s=args.influx_down_s,
                gateway_down_s=args.gateway_down_s)
    with tempfile.TemporaryDirectory(prefix="lingtan-soak-") as tmp:
        folder = Path(tmp)
        mosquitto = Mosquitto(folder / "mosquitto", extra=MOSQUITTO_DURABLE)
        influx = InfluxDBv1(folder / "influxdb")
        mosquitto.start()
        influx.start()
        try:
            soak = Soak(plan, folder, mosquitto, influx, log=lambda text: print(text, flush=True))
            began = time.monotonic()
            result = soak.run()
            wall = time.monotonic() - began
            api = soak.api_check(result)
        finally:
            mosquitto.kill9()
            influx.kill9()
    text = report(soak, result, api)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    seq = result["sequence"].values()
    taken, stored = sum(g["taken"] for g in seq), sum(g["stored"] for g in seq)
    t0, t1 = result["period"]
    ok = all(r["ok"] for r in result["meters"]) and all(close(a, b) for a, b in api["pairs"].values()) \
        and stored == taken
    print(f"readings taken {taken}, stored {stored}: ratio stored/taken {stored / taken:.6f}")
    print(f"worst relative energy deviation (float64 counters) {result['worst']['rel']:.3g}")
    print(f"simulated {(t1 - t0).total_seconds() / 86400:.1f} days in {wall:.0f} s wall including drain and "
          f"accounting catch-up: ratio simulated/wall {(t1 - t0).total_seconds() / wall:.0f}")
    print("soak:", "PASS" if ok else "FAIL", f"(report: {args.out})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
