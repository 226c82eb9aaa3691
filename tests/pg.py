"""PostgreSQL for the suite: one server per run, a fresh database per shop.

Unless LOYALTY_TEST_PG=off, the run finds PostgreSQL's server programs
(installing them with apt-get when it runs as root and they are missing, as on
a fresh CI machine), and the first test that asks for PostgreSQL starts a
throwaway cluster (scripts/pg_server.py's Server: a temporary folder, a Unix
socket, no TCP port), stopped and removed when the run ends.
LOYALTY_TEST_PG_URL=postgresql+psycopg://USER@HOST/DB uses an existing server
instead (the role needs CREATEDB; the run's databases are dropped at its end).

Each shop gets its own database, made with CREATE DATABASE ... TEMPLATE from
a database that `loyalty init` set up once for the same programme text (the
same trick as the SQLite template cache in tests/conftest.py's Shop), and
dropped when its test ends. When no server can be had, the tests that ask for
one are skipped, with the reason, and the pytest header says so; with
LOYALTY_TEST_PG=require they fail instead.
"""

from __future__ import annotations

import collections
import importlib.util
import itertools
import os
import shutil
import threading
from datetime import date, datetime
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pg_server.py"
HOW = ("install PostgreSQL's server (apt-get install postgresql; as root the suite does it itself) "
       "or set LOYALTY_TEST_PG_URL=postgresql+psycopg://USER@HOST/DB; LOYALTY_TEST_PG=off skips them quietly")

_state: dict = {"reason": None, "where": None, "bindir": None, "server": None, "admin": None, "base": None,
                "probed": False, "spares": None}
_names = itertools.count(1)
_per_test: list[str] = []  # databases to drop when the current test ends
_kept: list[str] = []  # databases to drop when the run ends (templates)


def _server_module():
    spec = importlib.util.spec_from_file_location("loyalty_pg_server", SCRIPT)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def probe() -> None:
    """Decide, once, before the run starts, whether PostgreSQL can be had
    (no server is started yet): sets the reason it cannot, or where it is."""
    if _state["probed"]:
        return
    _state["probed"] = True
    choice = (os.environ.get("LOYALTY_TEST_PG") or "").strip().lower()
    if choice not in ("", "on", "off", "require"):
        raise pytest.UsageError(f"LOYALTY_TEST_PG={choice!r}: say off, on or require")
    if choice == "off":
        _state["reason"] = "LOYALTY_TEST_PG=off"
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _state["reason"] = "the psycopg driver is not installed (pip install -e '.[test]' installs it)"
        return
    url = os.environ.get("LOYALTY_TEST_PG_URL")
    if url:
        from sqlalchemy.engine import make_url

        _state["base"] = url
        _state["where"] = f"the server of LOYALTY_TEST_PG_URL ({make_url(url).render_as_string(hide_password=True)})"
        return
    server = _server_module()
    bindir = server.find()
    if bindir is None and os.geteuid() == 0 and shutil.which("apt-get"):
        bindir = server.install(quiet=True)
    if bindir is None:
        _state["reason"] = "no PostgreSQL server programs (initdb, pg_ctl, postgres) on this machine"
        return
    _state["bindir"] = bindir
    _state["where"] = f"a throwaway server from {bindir}, started on first use"


def required() -> bool:
    return (os.environ.get("LOYALTY_TEST_PG") or "").strip().lower() == "require"


def header() -> str:
    probe()
    if _state["reason"]:
        return f"PostgreSQL tests are SKIPPED: {_state['reason']}; to run them, {HOW}"
    return f"PostgreSQL tests run on {_state['where']} (LOYALTY_TEST_PG=off to skip them)"


def skipped_reason() -> str | None:
    return _state["reason"]


def _skip() -> None:
    message = f"PostgreSQL tests skipped: {_state['reason']}"
    if required():
        pytest.fail(f"{message} (LOYALTY_TEST_PG=require)", pytrace=False)
    pytest.skip(message)


def _admin():
    """The run's own connection for CREATE/DROP DATABASE (autocommit),
    starting the throwaway server on first use."""
    if _state["admin"] is not None:
        return _state["admin"]
    probe()
    if _state["reason"]:
        _skip()
    import psycopg

    if _state["base"] is None:
        from tests.conftest import processes_allowed

        server = _server_module().Server(_state["bindir"])
        try:
            with processes_allowed():
                _state["base"] = server.start()
        except Exception as e:  # any failure to start is the one reason given for every skip
            server.stop()
            log = getattr(e, "stderr", "") or ""
            _state["reason"] = f"the throwaway server did not start: {e} {log}".strip()
            _skip()
        _state["server"] = server
    try:
        _state["admin"] = psycopg.connect(conninfo(_state["base"]), autocommit=True)
    except psycopg.Error as e:
        _state["reason"] = f"cannot connect to {_state['where']}: {e}".strip()
        _skip()
    return _state["admin"]


def require() -> None:
    """Skip (or fail, with LOYALTY_TEST_PG=require) when there is no server."""
    probe()
    if _state["reason"]:
        _skip()
    _admin()


def conninfo(url: str) -> str:
    """The psycopg connection string of an SQLAlchemy URL."""
    from psycopg.conninfo import make_conninfo
    from sqlalchemy.engine import make_url

    u = make_url(url)
    params = {"dbname": u.database, "user": u.username, "password": u.password, "host": u.host, "port": u.port}
    params.update({k: (v if isinstance(v, str) else v[0]) for k, v in u.query.items()})
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def url_of(name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(_state["base"]).set(database=name)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def name_of(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).database or ""


class _Spares:
    """Databases made ahead of need and dropped after it, by a thread on a
    connection of its own, so that the server copies and removes them on the
    other core while the tests run: a copy of a template that shops asked for
    more than once is ready when the next such shop asks (up to two ahead),
    and a test's databases are dropped behind it."""

    DEPTH = 2

    def __init__(self, info: str):
        import psycopg

        self.con = psycopg.connect(info, autocommit=True)
        self.cond = threading.Condition()
        self.ready: dict[str, list[str]] = {}
        self.asked: dict[str, int] = {}
        self.todo: collections.deque = collections.deque()  # ("create", template, name) or ("drop", name)
        self.busy = False
        self.thread = threading.Thread(target=self._work, name="pg-spares", daemon=True)
        self.thread.start()

    def take(self, template: str) -> str | None:
        with self.cond:
            self.asked[template] = self.asked.get(template, 0) + 1
            ready = self.ready.setdefault(template, [])
            name = ready.pop(0) if ready else None
            coming = sum(1 for job in self.todo if job[0] == "create" and job[1] == template)
            for _ in range(min(self.DEPTH, self.asked[template] - 1) - len(ready) - coming):
                self.todo.append(("create", template, f"loyalty_t{os.getpid()}_{next(_names)}"))
            self.cond.notify()
        return name

    def drop(self, name: str) -> None:
        with self.cond:
            self.todo.append(("drop", name))
            self.cond.notify()

    def _work(self) -> None:
        while True:
            with self.cond:
                while not self.todo:
                    self.busy = False
                    self.cond.notify_all()
                    self.cond.wait()
                job = self.todo.popleft()
                self.busy = True
            if job[0] is None:
                return
            try:
                if job[0] == "create":
                    self.con.execute(f'CREATE DATABASE "{job[2]}" TEMPLATE "{job[1]}"')
                    with self.cond:
                        self.ready.setdefault(job[1], []).append(job[2])
                else:
                    self.con.execute(f'DROP DATABASE IF EXISTS "{job[1]}" WITH (FORCE)')
            except Exception:  # a spare that could not be made is made when asked for; a drop is retried at the end
                if job[0] == "drop":
                    _kept.append(job[1])

    def close(self) -> None:
        """Finish what is queued, then drop the spares nobody took."""
        with self.cond:
            for names in self.ready.values():
                self.todo.extend(("drop", n) for n in names)
            self.ready.clear()
            self.todo = collections.deque(j for j in self.todo if j[0] == "drop")
            self.todo.append((None,))
            self.cond.notify()
        self.thread.join(timeout=120)
        for names in self.ready.values():  # made while the queue was being closed
            for n in names:
                self.con.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        self.con.close()


def _spares() -> _Spares:
    if _state["spares"] is None:
        _admin()
        _state["spares"] = _Spares(conninfo(_state["base"]))
    return _state["spares"]


def new_database(template: str | None = None, *, keep: bool = False, spare: bool = False) -> str:
    """A fresh database (a copy of `template`, a database name, when given):
    its URL. Dropped when the current test ends, or when the run does (`keep`).
    `spare`: the template never changes, so a copy made ahead of need will do."""
    admin = _admin()
    name = _spares().take(template) if spare and template else None
    if name is None:
        name = f"loyalty_t{os.getpid()}_{next(_names)}"
        copy = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    (_kept if keep else _per_test).append(name)
    return url_of(name)


def drop(name: str, *, later: bool = False) -> None:
    """Drop a database now, or (`later`) behind the tests, on the spares' thread."""
    for pending in (_per_test, _kept):
        if name in pending:
            pending.remove(name)
    if later and _state["spares"] is not None:
        _state["spares"].drop(name)
        return
    admin = _state["admin"]
    if admin is not None and not admin.closed:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def end_of_test() -> None:
    """Drop the databases the test made (behind it)."""
    while _per_test:
        drop(_per_test[-1], later=True)


def end_of_run() -> None:
    end_of_test()
    if _state["spares"] is not None:
        _state["spares"].close()
        _state["spares"] = None
    while _kept:
        drop(_kept[-1])
    admin, server = _state["admin"], _state["server"]
    if admin is not None:
        admin.close()
        _state["admin"] = None
    if server is not None:
        from tests.conftest import processes_allowed

        with processes_allowed():
            server.stop()
        _state["server"] = None


def _plain(value):
    """A value as SQLite returns it, so that one assertion holds on both
    backends: moments and days as SQLAlchemy's text, booleans as 0/1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def sql(url: str, query: str, params: tuple = ()) -> list[tuple]:
    """Rows of a query on the database at `url`, SQLite's `?` placeholders
    allowed, values as SQLite gives them (see _plain)."""
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as con:
        cur = con.execute(query.replace("?", "%s") if params else query, params or None)
        if cur.description is None:
            return []
        return [tuple(_plain(v) for v in row) for row in cur.fetchall()]


def snapshot(url: str) -> dict:
    """Every row of every table of the database at `url`, in a fixed order."""
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]
        out = {}
        for t in tables:
            rows = [tuple(_plain(v) for v in row) for row in con.execute(f'SELECT * FROM "{t}"')]
            out[t] = sorted(rows, key=lambda r: [(v is None, str(v)) for v in r])
        return out

