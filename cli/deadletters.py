"""`lingtan dead-letters`: the messages ingest refused, newest first, with the reason for each."""

import argparse
import json
import sys
from collections.abc import Callable

from lingtan.kernel.config import Config


def recent(config: Config, park: str | None = None, limit: int = 20) -> list:
    """The newest dead letters (store rows), of one park (by the topic's park level) or all."""
    from sqlalchemy import select

    from lingtan.store.db import make_engine, sessions
    from lingtan.store.models import DeadLetter
    q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if park is not None:
        q = q.where(DeadLetter.park == park)
    with sessions(make_engine(config.store.url))() as s:
        return list(s.scalars(q))


def add_dead_letters_parser(sub, load_config: Callable[[str], Config]) -> None:
    def run(args) -> None:
        letters = recent(load_config(args.config), args.park, args.limit)
        if args.json:
            json.dump([{"id": d.id, "received_at": d.received_at.isoformat(), "topic": d.topic, "park": d.park,
                        "gateway": d.gateway, "reason": d.reason, "payload": d.payload} for d in letters],
                      sys.stdout, ensure_ascii=False, indent=2)
            print()
            return
        for d in letters:
            payload = d.payload if len(d.payload) <= 200 else d.payload[:200] + f"… ({len(d.payload)} chars)"
            print(f"#{d.id} {d.received_at:%Y-%m-%d %H:%M:%S} {d.topic}\n  reason:  {d.reason}\n  payload: {payload}")
        if not letters:
            print("no dead letters" + (f" for park {args.park!r}" if args.park else ""))

    d = sub.add_parser("dead-letters", help="list messages ingest rejected, newest first, with the reason",
                       description="Messages ingest could not accept (dead letters), from the platform database.")
    d.add_argument("--config", required=True, metavar="FILE", help="platform config file (YAML)")
    d.add_argument("--park", help="only this park (the topic's park level)")
    d.add_argument("--limit", type=_positive, default=20, help="how many, newest first (default 20)")
    d.add_argument("--json", action="store_true", help="JSON instead of text")
    d.set_defaults(func=run)


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return n
