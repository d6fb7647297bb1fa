"""A real PostgreSQL cluster (Debian's server binaries) on a free loopback port."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import tempfile
from pathlib import Path

import psycopg

from .process import INSTALL_HINT, MissingBinary, ServerProcess, ServiceHandle, free_port, run_checked

HOST = "127.0.0.1"
SUPERUSER = "postgres"
DATABASE = "lingtan"


def server_bindir() -> Path:
    """Folder holding initdb and postgres: Debian's newest /usr/lib/postgresql/N/bin."""
    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise MissingBinary(f"postgres not installed (Debian package postgresql): {INSTALL_HINT}")


class Postgres(ServiceHandle):
    """Handle on one cluster: `url` (SQLAlchemy, database `lingtan`), `host`, `port`,
    `database`, `user`; `url_for(db)`, `create_database(db)`; `stop()`, `start()`, `kill9()`.

    Authentication is `trust` on loopback. PostgreSQL refuses to run as root, so under root
    the cluster runs as the `postgres` system user in a folder it owns outside pytest's
    private tmp tree; `remove()` deletes that folder.
    """

    def __init__(self, template: Path | None = None) -> None:
        """Initialise a new cluster, or copy the stopped cluster in `template` (faster)."""
        bindir = server_bindir()
        self.host = HOST
        self.port = free_port()
        self.user = SUPERUSER
        self.database = DATABASE
        self.url = self.url_for(DATABASE)
        run_as = SUPERUSER if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="lingtan-pg-"))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "run"
        self.socket_dir.mkdir()
        if run_as:
            account = pwd.getpwnam(run_as)
            for path in (self.root, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        if template is None:
            run_checked(
                [
                    str(bindir / "initdb"),
                    f"--pgdata={self.data_dir}",
                    f"--username={SUPERUSER}",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                "initdb",
                user=run_as,
                cwd=self.root,
            )
        else:
            run_checked(["cp", "-a", str(template), str(self.data_dir)], "copy cluster", user=run_as)
        self._server = ServerProcess(
            "postgres",
            [
                str(bindir / "postgres"),
                "-D", str(self.data_dir),
                "-p", str(self.port),
                "-c", f"listen_addresses={HOST}",
                "-c", f"unix_socket_directories={self.socket_dir}",
                # Durability against OS crashes is not under test. Commits still reach the
                # WAL before they return, so kill9() loses nothing committed, as in production.
                "-c", "fsync=off",
                "-c", "full_page_writes=off",
            ],
            self.root / "postgres.log",
            self._accepts_connections,
            stop_signal=signal.SIGINT,  # "fast" shutdown: does not wait for clients to leave
            user=run_as,
        )
        self._created = template is not None  # a template already holds the database

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def _accepts_connections(self) -> bool:
        try:
            with psycopg.connect(host=HOST, port=self.port, user=SUPERUSER, dbname="postgres", connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self, database: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        with psycopg.connect(
            host=HOST, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        return self.url_for(database)

    def start(self) -> None:
        """Start the server; the first start of a new cluster also creates the `lingtan` database."""
        super().start()
        if not self._created:
            self.create_database(DATABASE)
            self._created = True

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self._server.kill9()
        shutil.rmtree(self.root, ignore_errors=True)

    def __repr__(self) -> str:
        return f"Postgres({self.host}:{self.port}, running={self.running})"
