"""A throwaway PostgreSQL cluster for the tests, and the pytest fixtures that use it.

Load as a plugin from the root conftest: ``pytest_plugins = ["tests.postgres"]``.

The cluster lives in a fresh directory under /tmp, listens on 127.0.0.1 only, on
a free port, trusts every local connection, and is thrown away (``pg_ctl stop -m
immediate`` then ``rm -r``) at the end of the session.  Durability is switched
off because nothing in it has to survive.  PostgreSQL refuses to run as root, so
as root the server runs as the ``postgres`` OS user, which Debian's
``postgresql-15`` package creates (``make test`` installs it).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid

import psycopg
import pytest
from psycopg import sql

DEFAULT_PG_BIN = "/usr/lib/postgresql/15/bin"
SUPERUSER = "postgres"


def pg_bin_dir() -> str:
    return os.environ.get("AGLAIS_PG_BIN") or DEFAULT_PG_BIN


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayPostgres:
    """A PostgreSQL cluster that exists between ``start()`` and ``stop()``."""

    def __init__(self, bin_dir: str | None = None):
        self.bin_dir = bin_dir or pg_bin_dir()
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.base_dir: str | None = None
        self._names = itertools.count(1)
        initdb = os.path.join(self.bin_dir, "initdb")
        if not os.access(initdb, os.X_OK):
            raise RuntimeError(
                f"PostgreSQL's initdb is not at {initdb}. Run `make test`, which installs "
                "the postgresql-15 package, or point AGLAIS_PG_BIN at PostgreSQL's bin directory."
            )
        # Root may not run PostgreSQL: hand the cluster to the postgres user.
        self._run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise RuntimeError(
                    "Running as root but there is no `postgres` OS user to run PostgreSQL as; "
                    "run `make test`, which installs the postgresql-15 package that creates it."
                ) from None
            self._run_as = SUPERUSER

    @property
    def data_dir(self) -> str:
        assert self.base_dir is not None, "cluster not started"
        return os.path.join(self.base_dir, "data")

    def _pg(self, program: str, *args: str) -> None:
        cmd = [os.path.join(self.bin_dir, program), *args]
        if self._run_as:
            cmd = ["runuser", "-u", self._run_as, "--", *cmd]
        # cwd: the postgres user may not be allowed into the caller's directory.
        result = subprocess.run(
            cmd, cwd=self.base_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}")

    def start(self) -> "ThrowawayPostgres":
        self.base_dir = tempfile.mkdtemp(prefix="aglais-pg-", dir="/tmp")
        try:
            if self._run_as:
                user = pwd.getpwnam(self._run_as)
                os.chown(self.base_dir, user.pw_uid, user.pw_gid)
            self._pg(
                "initdb", "-D", self.data_dir, "--auth=trust", "-U", SUPERUSER,
                "--encoding=UTF8", "--no-sync",
            )
            self.port = _free_port()
            options = " ".join([
                f"-c listen_addresses={self.host}",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.base_dir}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ])
            self._options = options
            self.resume()
        except BaseException:
            self.stop()
            raise
        return self

    def pause(self) -> None:
        """Stop the server (fast: clients are disconnected), keeping its data for resume()."""
        self._pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data_dir)

    def resume(self) -> None:
        """Start the server, on the same port, and wait until it accepts connections."""
        self._pg(
            "pg_ctl", "start", "-w", "-t", "60", "-D", self.data_dir,
            "-l", os.path.join(self.base_dir, "server.log"), "-o", self._options,
        )

    def stop(self) -> None:
        if self.base_dir is None:
            return
        try:
            if os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
                self._pg("pg_ctl", "stop", "-w", "-m", "immediate", "-D", self.data_dir)
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
            self.port = None

    def url(self, dbname: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        """The SQLAlchemy URL of database ``dbname`` (``driver="postgresql"`` gives a libpq URL)."""
        assert self.port is not None, "cluster not started"
        return f"{driver}://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a unique name unless given) and return its name."""
        name = name or f"test_{next(self._names)}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.url(driver="postgresql"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name


@pytest.fixture(scope="session")
def postgres_cluster():
    """The session's throwaway cluster, started on first use."""
    cluster = ThrowawayPostgres().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_db(postgres_cluster):
    """A factory: each call creates a fresh database and returns its SQLAlchemy URL."""

    def create(driver: str = "postgresql+psycopg") -> str:
        return postgres_cluster.url(postgres_cluster.create_database(), driver=driver)

    return create
