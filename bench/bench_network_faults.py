"""Network faults, long form (issue 14): gateway, Mosquitto, ingest and InfluxDB 1.6 in their own
network namespaces, each fault alone between gateway and broker, then between ingest and store:
10 % packet loss, 500 ± 100 ms delay and a 5-minute partition (tests/support/netfaults.py).

    .venv/bin/python bench/bench_network_faults.py [--hold-s 90] [--partition-s 300] [--meters 4]

Needs root (ip netns, TUN devices). The kernel here has no netem qdisc; the impairing packet router
of tests/support/netns.py stands in for it. Prints, per fault: readings sent (served by the
simulator), stored, lost (must be 0), duplicates stored (must be 0) and delivered more than once by
the broker (QoS 1 replays, absorbed downstream), the router's packet counts, and the time to drain
after the fault heals, with its ratio to the no-fault phase of the same run. Exits 1 if anything
was lost, stored twice or differs from what the simulator served. Takes about 18 minutes.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.netfaults import Phase, Plan, Run, long_plan, report  # noqa: E402
from tests.support.netns import unavailable  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hold-s", type=float, default=90.0, help="seconds of each loss or delay phase (default 90)")
    ap.add_argument("--partition-s", type=float, default=300.0, help="seconds of each partition (default 300)")
    ap.add_argument("--baseline-s", type=float, default=30.0, help="seconds of the no-fault phase (default 30)")
    ap.add_argument("--meters", type=int, default=4)
    ap.add_argument("--poll-s", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=14)
    args = ap.parse_args()
    why = unavailable()
    if why:
        print(f"network-fault bench cannot run here: {why}")
        return 2
    holds = {None: args.baseline_s, False: args.hold_s, True: args.partition_s}
    phases = [Phase(p.name.replace(" 5 min", f" {args.partition_s / 60:g} min"), p.link,
                    holds[None if p.link is None else p.partition], p.loss, p.delay_s, p.jitter_s, p.partition)
              for p in long_plan().phases]
    plan = Plan(phases, meters=args.meters, poll_s=args.poll_s, seed=args.seed,
                drain_timeout_s=max(180.0, args.partition_s + 120))
    with tempfile.TemporaryDirectory(prefix="lingtan-netfaults-") as tmp:
        began = time.monotonic()
        run = Run(plan, Path(tmp), log=lambda text: print(text, flush=True))
        results = run.run()
        wall = time.monotonic() - began
        problems = run.mismatches()
    print()
    print(report(results))
    sent, stored = sum(r.sent for r in results), sum(r.stored for r in results)
    lost, twice = sum(r.lost for r in results), sum(r.duplicates_stored for r in results)
    print(f"\nreadings sent {sent}, stored {stored}, lost {lost}, stored twice {twice}; "
          f"ratio stored/sent {stored / sent:.6f}; {wall:.0f} s wall")
    for problem in problems:
        print("MISMATCH", problem)
    ok = lost == 0 and twice == 0 and stored == sent and not problems
    print("network faults:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
