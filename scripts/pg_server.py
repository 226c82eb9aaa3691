#!/usr/bin/env python3
"""A throwaway PostgreSQL server for the tests: a cluster in a temporary
folder, listening only on a Unix socket in that folder (no TCP port), owned
by an unprivileged user, removed when it stops.

    python scripts/pg_server.py --check        # is a server program there (or installable)? exit 0/1
    python scripts/pg_server.py --install      # apt-get install postgresql if missing (as root)
    python scripts/pg_server.py -- CMD ARGS    # start a server, run CMD with LOYALTY_TEST_PG_URL set, stop

From Python (the test suite): `with Server() as url: ...` gives an SQLAlchemy
URL (postgresql+psycopg://...) of an empty database; `Server.find()` says
where the server programs are, or None.

PostgreSQL refuses to run as root: as root the cluster belongs to the
`postgres` user (made by Debian's package) and every server program runs
through `runuser -u postgres`. As any other user it runs as that user.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROGRAMS = ("initdb", "pg_ctl", "postgres")


def find() -> Path | None:
    """The folder of initdb/pg_ctl/postgres: Debian keeps them under
    /usr/lib/postgresql/N/bin (newest first), other systems on the PATH."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if all((Path(folder) / p).exists() for p in PROGRAMS):
            return Path(folder)
    found = [shutil.which(p) for p in PROGRAMS]
    if all(found):
        return Path(found[0]).resolve().parent  # type: ignore[arg-type]
    return None


def _version(folder: str) -> int:
    try:
        return int(Path(folder).parent.name)
    except ValueError:
        return 0


def install(quiet: bool = False, timeout: float = 600) -> Path | None:
    """apt-get install postgresql, when missing and we are root on a
    Debian-like system: bounded by `timeout` seconds for each of apt-get's
    two steps, and silent with `quiet` (the test suite's start)."""
    if find() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        out = subprocess.DEVNULL
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"]):
            try:
                subprocess.run(cmd, check=False, env=env, stdout=out, stderr=out if quiet else None,
                               stdin=subprocess.DEVNULL, timeout=timeout)
            except subprocess.TimeoutExpired:
                break
    return find()


class Server:
    """A running throwaway cluster; `url` is an empty database's URL. Its
    databases sort text by `collation` (ICU's en-US: "a" < "B" < "b"), not by
    code point, as a server set up for a language does."""

    def __init__(self, bindir: Path | None = None, database: str = "loyalty", collation: str = "en-US"):
        self.bindir = bindir or find()
        if self.bindir is None:
            raise RuntimeError("no PostgreSQL server programs (initdb, pg_ctl, postgres) found; "
                               "install them with `apt-get install postgresql` or set LOYALTY_TEST_PG_URL")
        self.database = database
        self.collation = collation  # the databases' default collation (ICU), where the server has ICU
        self.folder: Path | None = None
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> str:
        self.folder = Path(tempfile.mkdtemp(prefix="loyalty-pg-"))
        if self.user:
            shutil.chown(self.folder, self.user)
        data, sock = self.folder / "data", self.folder
        initdb = ("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                  "--no-instructions")
        try:  # a language's collation, as most servers have, so that an order left to the collation shows
            self._run(*initdb, "--locale-provider=icu", f"--icu-locale={self.collation}")
        except subprocess.CalledProcessError:  # a server built without ICU, or older than 15
            shutil.rmtree(data, ignore_errors=True)
            self._run(*initdb)
        opts = f"-c listen_addresses='' -k {sock} -c fsync=off -c synchronous_commit=off -c full_page_writes=off " \
               "-c max_connections=60"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-o", opts, "-w", "start")
        self.url_of = lambda db: f"postgresql+psycopg://postgres@/{db}?host={sock}"
        self._wait()
        self.create_database(self.database)
        return self.url_of(self.database)

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._run("pg_isready", "-h", str(self.folder), "-q", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start; see {self.folder}/server.log")

    def create_database(self, name: str) -> str:
        self._psql(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def _psql(self, sql: str) -> None:
        psql = self.bindir / "psql"
        exe = str(psql) if psql.exists() else "psql"
        cmd = [exe, "-h", str(self.folder), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        if self.folder is None:
            return
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 0 when the server programs are there")
    ap.add_argument("--install", action="store_true", help="apt-get install postgresql when missing (root)")
    ap.add_argument("command", nargs="*", help="run this with LOYALTY_TEST_PG_URL set to a fresh database")
    a = ap.parse_args()
    if a.install:
        found = install()
        print(f"PostgreSQL server programs: {found or 'not available'}", file=sys.stderr)
        if not a.command:
            return 0 if found else 1
    if a.check:
        return 0 if find() else 1
    if not a.command:
        ap.print_help()
        return 2
    with Server() as url:
        return subprocess.run(a.command, env={**os.environ, "LOYALTY_TEST_PG_URL": url}).returncode


if __name__ == "__main__":
    sys.exit(main())
