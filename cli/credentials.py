"""`lingtan keys create|list|revoke` and `lingtan users create|disable`: credentials from the shell.

A new key is printed once, to standard output, and never again (only its hash is stored). A
password is read from the terminal (or the environment variable named by --password-env),
never from the command line, where other users could see it in the process list.
"""

import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from lingtan.api.scopes import Scope
from lingtan.kernel.config import Config, ConfigError

# The commands import the platform (lingtan.api.auth, lingtan.store) when they run: building the
# `lingtan` parser must not need the platform extra.


def _parks(config: Config, args) -> list[str] | None:
    if args.all_parks:
        if args.park:
            raise ConfigError("give --park P (repeatable) or --all-parks, not both")
        return None
    if not args.park:
        raise ConfigError("give --park P (repeatable) or --all-parks")
    known = [p.id for p in config.parks]
    for p in args.park:
        if p not in known:
            raise ConfigError(f"--park {p!r}: not a park of {args.config or 'the demo'}; parks are {known}")
    return args.park


def _enterprises(config: Config, args, parks: list[str] | None) -> list[str] | None:
    """The enterprises an enterprise credential is bound to (None: a park-level credential)."""
    if not args.enterprise:
        return None
    if parks is None or len(set(parks)) != 1:
        raise ConfigError(f"--enterprise {args.enterprise[0]!r}: an enterprise credential needs exactly one "
                          f"--park (the park of its enterprises), not "
                          f"{'--all-parks' if parks is None else sorted(set(parks))}")
    park = next(p for p in config.parks if p.id == parks[0])
    known = [e.id for e in park.enterprises]
    for e in args.enterprise:
        if e not in known:
            raise ConfigError(f"--enterprise {e!r}: not an enterprise of park {park.id!r}; its enterprises are {known}")
    return args.enterprise


def _store(config_loader, args):
    """The config and a session factory on its existing platform database. These commands never
    create a database: a key written into a new, empty one would be a key nothing accepts."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from lingtan.cli.runner import CommandError
    from lingtan.store.db import make_engine, sessions, upgrade
    from lingtan.store.models import ApiKey
    if args.data_dir:
        from lingtan.cli.demo import demo_config
        config, source = demo_config(Path(args.data_dir)), f"the demo's data folder {args.data_dir}"
    else:
        config, source = config_loader(args.config), f"store.url of {args.config}"
    url = make_url(config.store.url)
    shown = url.render_as_string(hide_password=True)
    hint = ("start the platform (lingtan api, ingest or accounting) or the demo with it once; "
            "keys and users are never written into a new database")
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        raise CommandError(f"no platform database at {shown} ({source}): {hint}")
    engine = make_engine(config.store.url, migrate=False)
    try:
        ready = inspect(engine).has_table(ApiKey.__tablename__)
    except SQLAlchemyError as exc:
        raise CommandError(f"cannot open the platform database {shown} ({source}): "
                           f"{type(exc.orig or exc).__name__}: {str(exc.orig or exc).splitlines()[0]}") from None
    if not ready:
        raise CommandError(f"{shown} ({source}) is not a Lingtan platform database (no table "
                           f"{ApiKey.__tablename__!r}): {hint}")
    upgrade(engine)  # an existing Lingtan database a release behind (as every service does at start)
    return config, sessions(engine)


def cmd_keys_create(args, config_loader) -> None:
    from lingtan.api import auth
    config, make = _store(config_loader, args)
    parks = _parks(config, args)
    enterprises = _enterprises(config, args, parks)
    with make.begin() as s:
        row, key = auth.create_key(s, parks=parks, scopes=[Scope(x) for x in args.scope],
                                   name=args.name or "", now=datetime.now(UTC), enterprises=enterprises)
    print(key)
    bound = f", enterprises {row.enterprises}" if row.enterprises else ""
    print(f"key id {row.id}: parks {row.parks}{bound}, scopes {row.scopes}. Shown once: store it now.",
          file=sys.stderr)


def cmd_keys_list(args, config_loader) -> None:
    from lingtan.api import auth
    _, make = _store(config_loader, args)
    with make() as s:
        print(f"{'id':<10}{'scopes':<18}{'parks':<30}{'enterprises':<24}{'created (UTC)':<22}{'revoked':<22}name")
        for k in auth.list_keys(s):
            revoked = k.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if k.revoked_at else "-"
            print(f"{k.id:<10}{k.scopes:<18}{k.parks:<30}{k.enterprises or '*':<24}"
                  f"{k.created_at:%Y-%m-%d %H:%M:%S}   {revoked:<22}{k.name}")


def cmd_keys_revoke(args, config_loader) -> None:
    from lingtan.api import auth
    _, make = _store(config_loader, args)
    try:
        with make.begin() as s:
            auth.revoke_key(s, args.key_id, datetime.now(UTC))
    except auth.AuthError as exc:
        raise ConfigError(str(exc)) from None
    print(f"key {args.key_id} revoked", file=sys.stderr)


def _password(args) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise ConfigError(f"--password-env {args.password_env}: the variable is not set")
        return value
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ConfigError("the two passwords differ")
    return first


def cmd_users_create(args, config_loader) -> None:
    from lingtan.api import auth
    config, make = _store(config_loader, args)
    parks = _parks(config, args)
    enterprises = _enterprises(config, args, parks)
    try:
        with make.begin() as s:
            auth.create_user(s, username=args.username, password=_password(args), parks=parks,
                             scopes=[Scope(x) for x in args.scope], now=datetime.now(UTC), enterprises=enterprises)
    except auth.AuthError as exc:
        raise ConfigError(str(exc)) from None
    print(f"user {args.username} created", file=sys.stderr)


def cmd_users_disable(args, config_loader) -> None:
    from lingtan.store.models import User
    _, make = _store(config_loader, args)
    with make.begin() as s:
        user = s.get(User, args.username)
        if user is None:
            raise ConfigError(f"user {args.username!r}: no such user")
        user.disabled = True
    print(f"user {args.username} disabled", file=sys.stderr)


def add_credential_parsers(sub, config_loader) -> None:
    """Add `keys` and `users` to the `lingtan` command's subparsers."""
    scopes = [s.value for s in Scope]

    def command(group, name, func, help_text):
        p = group.add_parser(name, help=help_text, description=help_text)
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--config", metavar="FILE", help="platform config file (YAML)")
        where.add_argument("--data-dir", metavar="DIR", help="a running or stopped demo's data folder "
                           "(as `lingtan demo` prints it)")
        p.set_defaults(func=lambda args: func(args, config_loader))
        return p

    def park_args(p, what):
        p.add_argument("--park", action="append", metavar="P", help=f"a park the {what} may see (repeatable)")
        p.add_argument("--all-parks", action="store_true", help=f"the {what} may see every park (city platform)")
        p.add_argument("--enterprise", action="append", metavar="E",
                       help=f"bind the {what} to this enterprise of its one --park (repeatable): it then sees only "
                            "its enterprises' routes and the session")
        p.add_argument("--scope", action="append", choices=scopes, required=True,
                       help="read, write (activity data; implies read) or admin (everything); repeatable")

    keys = sub.add_parser("keys", help="API keys: create, list, revoke").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION")
    c = command(keys, "create", cmd_keys_create, "create an API key and print it once")
    park_args(c, "key")
    c.add_argument("--name", help="what the key is for (shown by list)")
    command(keys, "list", cmd_keys_list, "list keys (ids, parks, scopes; never the keys)")
    r = command(keys, "revoke", cmd_keys_revoke, "revoke a key by its id")
    r.add_argument("key_id", metavar="KEY_ID", help="the key's id, as `keys list` shows it (not the key)")

    users = sub.add_parser("users", help="dashboard users: create, disable").add_subparsers(
        dest="users_command", required=True, metavar="ACTION")
    u = command(users, "create", cmd_users_create, "create a dashboard user (password asked on the terminal)")
    u.add_argument("username", help="login name for the dashboard")
    park_args(u, "user")
    u.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    d = command(users, "disable", cmd_users_disable, "disable a dashboard user")
    d.add_argument("username", help="the user to disable; their sessions end at once")
