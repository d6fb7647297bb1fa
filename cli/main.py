"""The `lingtan` command: one subcommand per service, plus the demo and offline tools.

The CLI is the only place that reads config files; services receive a validated `Config`.
"""

import argparse
import asyncio
import importlib.util
import json
import logging
import sys
import tempfile
import threading
from pathlib import Path

import yaml

from lingtan.cli.credentials import add_credential_parsers
from lingtan.cli.deadletters import add_dead_letters_parser
from lingtan.cli.dlt645 import add_dlt645_parser
from lingtan.cli.modbus import add_modbus_parser
from lingtan.cli.reports import add_report_parsers
from lingtan.cli.runner import CommandError, ServiceFailed
from lingtan.kernel.config import Config, ConfigError
from lingtan.kernel.profile import ProfileError

log = logging.getLogger("lingtan")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("pymodbus", "amqtt", "transitions", "httpx", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)


def _config(path: str) -> Config:
    from lingtan.cli.configfile import load_config
    return load_config(path)


# -- services -------------------------------------------------------------------------
def cmd_simulate(args) -> None:
    from lingtan.cli.runner import run_until_signal, utc_now
    from lingtan.kernel.clock import SimClock
    from lingtan.simulator.server import ParkServer

    config = _config(args.config)

    async def main():
        sim = config.simulator
        clock = SimClock(sim.start or utc_now(), args.speed or sim.speed)
        server = ParkServer(config, clock, seed=args.seed)
        await server.start()
        await run_until_signal([asyncio.Event().wait()], [], cleanup=[server.stop])

    asyncio.run(main())


def cmd_gateway(args) -> None:
    from lingtan.cli.runner import run_until_signal
    from lingtan.gateway.service import GatewayService

    config = _config(args.config)
    try:
        config.gateway(args.id)
    except KeyError:
        from lingtan.kernel.park import did_you_mean
        ids = [g.id for g in config.gateways]
        raise ConfigError(f"{args.config}: --id {args.id!r} is not among gateways {ids}"
                          f"{did_you_mean(args.id, ids)}") from None
    clock_args = (args.clock_start, args.clock_speed, args.clock_epoch)
    if any(a is not None for a in clock_args):
        if None in clock_args:
            raise ConfigError("--clock-start, --clock-speed and --clock-epoch go together")
        import time
        from datetime import datetime

        from lingtan.kernel.clock import SimClock
        try:
            start = datetime.fromisoformat(args.clock_start)
        except ValueError:
            raise ConfigError(f"--clock-start = {args.clock_start!r}: not an ISO 8601 time") from None
        if start.tzinfo is None:
            raise ConfigError(f"--clock-start = {args.clock_start!r}: needs a UTC offset, e.g. +00:00")
        clock = SimClock(start, args.clock_speed, wall=time.time, wall_start=args.clock_epoch).now
        service = GatewayService(config, args.id, clock=clock, spool_path=args.spool)
    else:
        service = GatewayService(config, args.id, spool_path=args.spool)
    asyncio.run(run_until_signal([service.run()], []))


def _ingest_threads(config: Config, workers: int, partition: tuple[int, int] | None = None):
    from lingtan.ingest.service import make_ingest, start_metrics
    out, made = [], []
    # /metrics on ingest.metrics_port, when set: bound first, so a taken port stops the process
    # before any store is opened; the workers are read at scrape time
    start_metrics(config, made)
    shares = [partition] if partition else [(i, workers) for i in range(workers)]
    for i, n in shares:
        worker = make_ingest(config, client_id=f"{config.ingest.client_id}-{i}" if n > 1 else None,
                             partition=(i, n))
        made.append(worker)
        out.append((threading.Thread(target=worker.run, name=f"ingest-{i}", daemon=True), worker.stop))
    return out


def cmd_ingest(args) -> None:
    from lingtan.cli.runner import run_until_signal
    config = _config(args.config)
    if args.partition and args.workers is not None:
        raise ConfigError("--partition runs one worker: use it without --workers")
    if args.workers is None:
        args.workers = 1 if args.partition else config.ingest.workers
    n = args.partition[1] if args.partition else args.workers
    if config.ingest.logs_in and n != config.ingest.workers:
        flag = f"--partition {args.partition[0]}/{n}" if args.partition else f"--workers {n}"
        raise ConfigError(f"{flag}: {args.config} has ingest.workers = {config.ingest.workers}; each worker logs "
                          f"in as its own broker user, made by `lingtan mqtt-auth` from ingest.workers: set "
                          f"ingest.workers: {n} and run mqtt-auth again")
    if config.ingest.logs_in:  # a missing password stops the process now, not a worker thread later
        for i in ([args.partition[0]] if args.partition else range(n)):
            config.ingest.worker_password(i)
    if args.workers > 1 and config.ingest.shared_group and config.mqtt.protocol != "5":
        raise ConfigError(f"{args.config}: ingest.shared_group needs mqtt.protocol '5'")
    if args.partition and config.ingest.shared_group:
        raise ConfigError(f"--partition {args.partition[0]}/{args.partition[1]}: {args.config}: set "
                          f"ingest.shared_group to null (static partitioning replaces the shared subscription)")
    asyncio.run(run_until_signal([], _ingest_threads(config, args.workers, args.partition)))


def workers_arg(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers = {text!r}: a whole number, e.g. 2") from None
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"--workers = {n}: must be between 1 and 64")
    return n


def partition_arg(text: str) -> tuple[int, int]:
    """'I/N': this process is worker I (0-based) of N."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--partition = {text!r}: expected I/N, e.g. 0/3") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"--partition = {text!r}: need 0 <= I < N")
    return i, n


def _rollup_thread(config: Config):
    from lingtan.accounting.service import Rollup
    from lingtan.store.db import make_engine
    from lingtan.store.timeseries import open_sink
    rollup = Rollup(config, open_sink(config.ingest.sink), make_engine(config.store.url))
    return threading.Thread(target=rollup.run, name="accounting", daemon=True), rollup.stop


def cmd_accounting(args) -> None:
    from lingtan.cli.runner import run_until_signal
    asyncio.run(run_until_signal([], [_rollup_thread(_config(args.config))]))


def cmd_alarms(args) -> None:
    from lingtan.alarms.service import AlarmService
    from lingtan.cli.runner import run_until_signal
    from lingtan.store.db import make_engine
    config = _config(args.config)
    service = AlarmService(config, make_engine(config.store.url))
    service.serve_metrics()
    thread = threading.Thread(target=service.run, name="alarms", daemon=True)
    asyncio.run(run_until_signal([], [(thread, service.stop)]))


def cmd_api(args) -> None:
    from lingtan.api.app import create_app
    from lingtan.cli.runner import api_server, run_until_signal
    from lingtan.store.db import make_engine
    config = _config(args.config)
    server = api_server(create_app(config, make_engine(config.store.url)), config.api.host, config.api.port)
    print(f"Lingtan API on http://{config.api.host}:{config.api.port}/", file=sys.stderr)
    asyncio.run(run_until_signal([server.serve()], [], servers=[server]))


def cmd_demo(args) -> None:
    from lingtan.cli.demo import demo_ports, run_demo
    options = dict(port=args.port, speed=args.speed, mqtt_port=args.mqtt_port, modbus_port=args.modbus_port,
                   history_days=args.history_days)
    if args.data_dir:
        run_demo(Path(args.data_dir), **options)
        return
    demo_ports(args.port, args.mqtt_port, args.modbus_port)  # a taken port: one line, before a folder is made
    with tempfile.TemporaryDirectory(prefix="lingtan-demo-", ignore_cleanup_errors=True) as folder:
        run_demo(Path(folder), temporary=True, **options)


def history_days_arg(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of days, 0 for no history") from None
    if not 0 <= days <= 3660:
        raise argparse.ArgumentTypeError(f"{days}: must be between 0 (no history) and 3660")
    return days


# -- offline tools ----------------------------------------------------------------------
def cmd_check_config(args) -> None:
    config = _config(args.config)
    meters = sum(len(p.meters) for p in config.parks)
    print(f"{args.config}: ok — {len(config.parks)} park(s), {meters} meter(s), {len(config.gateways)} gateway(s)")


def cmd_account(args) -> None:
    from lingtan.accounting.offline import evaluate
    path = Path(args.file)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except ValueError as exc:  # YAML that parses but holds an impossible value, e.g. 2025-02-30
        raise ConfigError(f"{path}: {exc} (a date must be a real day, written YYYY-MM-DD)") from exc
    from lingtan.accounting.activity import ActivityError
    try:
        result = evaluate(data, str(path))
    except (ActivityError, ValueError, TypeError) as exc:  # bad input, never a traceback
        print(f"lingtan: activity data error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    print()


def cmd_contract_schema(args) -> None:
    from lingtan.kernel.contract import SCHEMAS
    text = json.dumps(SCHEMAS, indent=2, ensure_ascii=False) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def cmd_mqtt_auth(args) -> None:
    from lingtan.gateway.acl import broker_conf_problems, write_auth
    config = _config(args.config)
    if args.broker_conf:
        problems = broker_conf_problems(Path(args.broker_conf))
        if problems:
            raise CommandError(f"--broker-conf {args.broker_conf}: nothing written; "
                               f"{len(problems)} problem(s): " + "; ".join(problems))
    try:
        created = write_auth(config, Path(args.out))
    except (RuntimeError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(f"wrote {args.out}/acl, {args.out}/passwd and {args.out}/secrets/ "
          f"({len(created)} new secret(s): {', '.join(created) or 'none'})")
    if not args.broker_conf:
        print("every listener of the broker needs `use_username_as_clientid true` on the line after it, so no "
              "user's credentials can take over another's session: check yours with --broker-conf FILE")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lingtan", description="Lingtan 零碳: energy metering and carbon "
                                "monitoring for zero-carbon industrial parks.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def service(name, func, help_text):
        s = sub.add_parser(name, help=help_text, description=help_text)
        s.add_argument("--config", required=True, metavar="FILE", help="platform config file (YAML)")
        s.set_defaults(func=func)
        return s

    d = sub.add_parser("demo", help="run the whole platform on embedded defaults",
                       description="Simulated park → gateway (Modbus TCP) → embedded MQTT broker → ingest → "
                       "SQLite → accounting → API and dashboard at http://127.0.0.1:PORT, starting with a "
                       "simulated history from 1 January (--history-days). Ctrl-C stops.")
    d.add_argument("--port", type=int, default=8000, help="API and dashboard port (default 8000)")
    d.add_argument("--data-dir", metavar="DIR", help="where the demo keeps its databases, kept after exit and "
                   "reused by the next run (default: a temporary folder, removed at exit)")
    d.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    d.add_argument("--mqtt-port", type=int, help="embedded broker port (default 18830, or any free port if that "
                   "is taken)")
    d.add_argument("--modbus-port", type=int, help="simulated Modbus TCP port (default 15020, or any free port "
                   "if that is taken)")
    d.add_argument("--history-days", type=history_days_arg, metavar="N",
                   help="start with N days of simulated history before today, generated in batch mode and "
                   "accounted like live readings (default: since 1 January, park-local; 0: none). A data dir "
                   "that already has readings gets none again: its counters continue (docs/demo.md)")
    d.set_defaults(func=cmd_demo)

    s = service("simulate", cmd_simulate, "serve the configured parks' meters as simulated Modbus devices")
    s.add_argument("--speed", type=float, help="simulated seconds per real second (overrides simulator.speed)")
    s.add_argument("--seed", type=int, help="random seed (overrides simulator.seed)")
    g = service("gateway", cmd_gateway, "poll one gateway's Modbus meters and publish readings over MQTT")
    g.add_argument("--id", required=True, help="which of the config's gateways this process is")
    g.add_argument("--spool", metavar="PATH", help="spool database (overrides gateways[].spool.path)")
    g.add_argument("--clock-start", metavar="ISO8601", help="simulated clock for tests and soaks: time at the "
                   "epoch; readings are stamped start + (now − epoch) × speed (all three flags together)")
    g.add_argument("--clock-speed", type=float, metavar="X", help="simulated seconds per real second")
    g.add_argument("--clock-epoch", type=float, metavar="UNIX_SECONDS", help="wall time (time.time()) of clock-start")
    i = service("ingest", cmd_ingest, "consume readings from MQTT into the time-series store")
    i.add_argument("--workers", type=workers_arg,
                   help="worker connections (default ingest.workers): they share ingest.shared_group, or, "
                        "without one, split the gateways between them (docs/ingest.md)")
    i.add_argument("--partition", type=partition_arg, metavar="I/N",
                   help="run worker I (0-based) of N, each in its own process or host, splitting the "
                        "gateways statically (needs ingest.shared_group: null; docs/scaling.md)")
    service("accounting", cmd_accounting, "turn stored counter readings into interval energy")
    service("api", cmd_api, "serve the REST API and the dashboard")
    service("alarms", cmd_alarms, "evaluate alarm rules and send notifications (docs/alarms.md)")
    c = sub.add_parser("check-config", help="validate a config file and exit")
    c.add_argument("config", metavar="FILE", help="platform config file (YAML) to validate")
    c.set_defaults(func=cmd_check_config)
    a = sub.add_parser("account", help="evaluate a park and period from an activity-data file; JSON out",
                       description="Offline 零碳园区 accounting from statistics (docs/activity-data.md).")
    a.add_argument("file", metavar="FILE", help="activity-data file (YAML or JSON)")
    a.set_defaults(func=cmd_account)
    m = sub.add_parser("mqtt-auth", help="generate Mosquitto ACL, password file and per-user secrets",
                       description="One broker user per gateway and per ingest worker (ingest.workers): each "
                       "gateway may write only its own topics; ingest's workers may read them. The broker binds "
                       "each user to its own session (use_username_as_clientid; docs/deployment.md).")
    m.add_argument("--config", required=True, metavar="FILE", help="platform config file (YAML)")
    m.add_argument("--out", required=True, metavar="DIR", help="output folder (acl, passwd, secrets/)")
    m.add_argument("--broker-conf", metavar="FILE", help="first check this mosquitto.conf (and its include_dir "
                   "files): every listener binds users to client ids, no anonymous access; write nothing if not")
    m.set_defaults(func=cmd_mqtt_auth)
    k = sub.add_parser("contract-schema", help="print the wire contract's JSON Schemas")
    k.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    k.set_defaults(func=cmd_contract_schema)
    add_modbus_parser(sub, _config)  # `lingtan modbus scan|read` (commissioning)
    add_dlt645_parser(sub, _config)  # `lingtan dlt645 scan|read` (commissioning)
    add_credential_parsers(sub, _config)  # `lingtan keys ...`, `lingtan users ...`
    add_dead_letters_parser(sub, _config)  # `lingtan dead-letters`
    add_report_parsers(sub, _config)  # `lingtan report`, `lingtan reports run`
    return p


# What each command needs beyond the base install (the gateway's): the extra and the modules it brings.
_PLATFORM = ("platform", ("fastapi", "uvicorn", "sqlalchemy", "alembic", "influxdb_client", "numpy", "orjson",
                          "prometheus_client", "argon2", "openpyxl"))
_SIMULATOR = ("simulator", ("numpy", "pandas", "pvlib"))
_DEMO = ("demo", _PLATFORM[1] + ("amqtt", "pandas", "pvlib"))
NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "demo": _DEMO, "simulate": _SIMULATOR, "ingest": _PLATFORM, "accounting": _PLATFORM, "api": _PLATFORM,
    "alarms": _PLATFORM, "account": _PLATFORM, "keys": _PLATFORM, "users": _PLATFORM, "dead-letters": _PLATFORM,
    "report": _PLATFORM, "reports": _PLATFORM,
}


def missing_extra(argv: list[str]) -> str | None:
    """For a command whose extra is not installed, the line that says which one to install."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in NEEDS:
        return None
    extra, modules = NEEDS[command]
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (f"lingtan {command}: needs the '{extra}' extra (missing: {', '.join(missing)}); "
            f"install it with: pip install 'lingtan[{extra}]'")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    need = missing_extra(argv)
    if need:
        print(need, file=sys.stderr)
        return 2
    args = parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        args.func(args)
    except ConfigError as exc:
        print(f"lingtan: configuration error: {exc}", file=sys.stderr)
        return 2
    except ProfileError as exc:  # a broken profile file: named, never a traceback
        print(f"lingtan: device profile error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except CommandError as exc:
        print(f"lingtan {args.command}: {exc}", file=sys.stderr)
        return 2
    except ServiceFailed as exc:
        print(f"lingtan {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
