"""Shared fixtures: a shop in a temporary folder, driven through the real CLI
(click's CliRunner, in-process) against a real SQLite file.

    def test_x(shop):
        shop.run("enroll", "anna", "--name", "Anna")        # asserts exit 0
        r = shop.fail("purchase", "anna", "-5")               # asserts exit 1, one-line error
        data = shop.json("balance")                           # --format json, parsed

Use ``make_shop(toml)`` for a programme of your own. ``shop.db`` is the
ledger's path, for direct sqlite3 reads in assertions; ``shop.sql(query)``
and ``shop.snapshot()`` read the ledger on either backend.

Backends: a test whose shop may be SQLite or PostgreSQL runs on both
(`backend` is "sqlite" or "postgresql"; tests/pg.py gives each PostgreSQL
shop a fresh database of a throwaway server). The tests in tests/api (their
PostgreSQL cases in the whole run only) and tests/model do, and so does every module marked
``pytestmark = pytest.mark.backends("sqlite", "postgresql")``; everything
else, and a test marked ``sqlite_only("why")``, runs on SQLite only. A
PostgreSQL case marked ``pg_full`` runs only in the whole run, not in the
fast lane. `-m "not postgresql"` leaves every PostgreSQL case out.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from loyalty_cli.cli import cli
from tests import pg

PROGRAMMES = Path(__file__).parent / "programmes"


def programme_file(name: str, **keys) -> str:
    """The text of tests/programmes/NAME.toml, a programme that tests in
    several files share. Each of `keys` sets a key the file has exactly once:
    ``programme_file("gold_at_100", window="rolling-365", downgrade=False)``."""
    text = (PROGRAMMES / f"{name}.toml").read_text(encoding="utf-8")
    for key, value in keys.items():
        literal = (("true" if value else "false") if isinstance(value, bool)
                   else json.dumps(value) if isinstance(value, str) else str(value))
        text, found = re.subn(rf"^{re.escape(key)} = .*$", lambda _: f"{key} = {literal}", text, flags=re.M)
        if found != 1:
            raise KeyError(f"{key!r} is in tests/programmes/{name}.toml {found} times, not once")
    return text


BASE_TOML = programme_file("base")  # [program] and [ledger]: what `shop` runs on


# --- the two lanes -------------------------------------------------------------
# A test that starts a real process (subprocess, fork, a pty, kill -9, races
# between tills) is marked `process`. `pytest -m "not process"` is the fast
# lane; plain `pytest` runs everything. The property tests with a costly
# example (the model-based test, the import held to typed purchases) run fewer
# examples in the fast lane and their full count in the whole run:
# `examples(full, fast)`. LOYALTY_TEST_LANE=fast|full overrides the choice.

_LANE = {"name": "full"}


def examples(full: int, fast: int) -> int:
    """Hypothesis examples for this run's lane: `full` in the whole run, `fast`
    in the fast lane."""
    return fast if _LANE["name"] == "fast" else full


def pytest_configure(config):
    chosen = os.environ.get("LOYALTY_TEST_LANE") or ""
    if chosen not in ("", "fast", "full"):
        raise pytest.UsageError(f"LOYALTY_TEST_LANE={chosen!r}: say fast or full")
    expr = " ".join((config.getoption("markexpr", "") or "").split())
    _LANE["name"] = chosen or ("fast" if "not process" in expr else "full")


def pytest_sessionstart(session):
    pg.probe()  # before the header: it says whether PostgreSQL tests run


def pytest_report_header(config):
    return [f"loyalty test lane: {_LANE['name']} (LOYALTY_TEST_LANE=fast|full to choose)", pg.header()]


def pytest_terminal_summary(terminalreporter):
    if pg.skipped_reason() and terminalreporter.stats.get("skipped"):
        terminalreporter.write_line(f"PostgreSQL tests were SKIPPED: {pg.skipped_reason()}; to run them, {pg.HOW}",
                                    yellow=True, bold=True)


def pytest_sessionfinish(session):
    pg.end_of_run()


# --- the two backends ------------------------------------------------------------

BOTH = ("sqlite", "postgresql")
# Folders of tests/ whose every shop test runs on both backends, and whether their PostgreSQL
# cases wait for the whole run (pg_full): the fast lane keeps a few PostgreSQL tests only (the
# model-based test, tests/cli/test_backends_agree.py), to stay within its time.
_BOTH_BY_DEFAULT = {"api": True, "model": False}


def _backends(definition) -> tuple[str, ...]:
    if definition.get_closest_marker("sqlite_only") is not None:
        return ("sqlite",)
    marker = definition.get_closest_marker("backends")
    if marker is not None:
        return tuple(marker.args)
    return BOTH if _folder(definition) in _BOTH_BY_DEFAULT else ("sqlite",)


def _folder(definition) -> str | None:
    folder = Path(str(definition.path)).parent
    return folder.name if folder.parent == Path(__file__).parent else None


def pytest_generate_tests(metafunc):
    if "backend" not in metafunc.fixturenames:
        return
    pg_marks = [pytest.mark.postgresql]
    if _BOTH_BY_DEFAULT.get(_folder(metafunc.definition) or ""):
        pg_marks.append(pytest.mark.pg_full)
    metafunc.parametrize("backend", [pytest.param(b, marks=pg_marks if b == "postgresql" else [])
                                     for b in _backends(metafunc.definition)], indirect=True, scope="module")


def pytest_collection_modifyitems(config, items):
    """The fast lane leaves out the PostgreSQL cases marked pg_full."""
    if _LANE["name"] != "fast":
        return
    keep, drop = [], []
    for item in items:
        param = getattr(getattr(item, "callspec", None), "params", {}).get("backend")
        (drop if param == "postgresql" and item.get_closest_marker("pg_full") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def backend(request) -> str:
    """The ledger's database: "sqlite", or "postgresql" (a server, or a skip)."""
    name = getattr(request, "param", "sqlite")
    if name == "postgresql":
        pg.require()
    return name


# An unmarked test that starts a process fails, so the fast lane stays free of
# them: the guard wraps every way this suite (and click) starts one.
_SPAWN = {"allowed": True}


def _guarded(start):
    def guarded(*args, **kwargs):
        if not _SPAWN["allowed"]:
            pytest.fail("this test starts a real process: mark it @pytest.mark.process", pytrace=False)
        return start(*args, **kwargs)
    return guarded


subprocess.Popen._execute_child = _guarded(subprocess.Popen._execute_child)  # run, Popen, check_output
for _name in ("fork", "forkpty", "posix_spawn", "posix_spawnp"):
    if hasattr(os, _name):
        setattr(os, _name, _guarded(getattr(os, _name)))


@contextmanager
def processes_allowed():
    """Starting the PostgreSQL server is the suite's own business, in any test."""
    was, _SPAWN["allowed"] = _SPAWN["allowed"], True
    try:
        yield
    finally:
        _SPAWN["allowed"] = was


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _SPAWN["allowed"] = item.get_closest_marker("process") is not None
    try:
        return (yield)
    finally:
        _SPAWN["allowed"] = True
        pg.end_of_test()  # the PostgreSQL databases the test's shops had


def programme(body: str = "", currency: str = "EUR", name: str = "Test Shop") -> str:
    """A programme file: [program] and [ledger], then `body` (dedented)."""
    head = f"""
[program]
name = "{name}"
currency = "{currency}"
timezone = "Europe/Tallinn"

[ledger]
database = "loyalty.db"
"""
    return head + textwrap.dedent(body)


def clean(shop) -> None:
    """`loyalty check` is silent: the ledger is sound."""
    r = shop.run("check")
    assert r.stdout == "" and r.stderr == "", r.stdout + r.stderr


# A fresh ledger per programme text, made once by a real `loyalty init` and
# copied for every later shop with the same programme: the suite makes about a
# thousand shops, and init's migrations would otherwise run for each. On
# PostgreSQL the copy is CREATE DATABASE ... TEMPLATE of the database init set up.
_TEMPLATES: dict[str, Path] = {}
_PG_TEMPLATES: dict[str, str] = {}


def _with_database(toml: str, url: str) -> str:
    """The programme text with its [ledger] database set to `url`."""
    line = f"database = {json.dumps(url)}"
    text, found = re.subn(r"^database = .*$", lambda _: line, toml, count=1, flags=re.M)
    if found:
        return text
    if re.search(r"^\[ledger\]\s*$", toml, flags=re.M):
        return re.sub(r"^\[ledger\]\s*$", lambda _: f"[ledger]\n{line}", toml, count=1, flags=re.M)
    return toml.rstrip("\n") + f"\n\n[ledger]\n{line}\n"


class Shop:
    """A programme file in `folder` and a fresh ledger: an SQLite file beside
    it, or (`backend="postgresql"`) a database of its own, which `url` names,
    written into the programme's [ledger] database and passed as LOYALTY_DB."""

    def __init__(self, folder: Path, toml: str, backend: str = "sqlite", *, keep: bool = False):
        self.folder = folder
        self.backend = backend
        self.config = folder / "loyalty.toml"
        self.runner = CliRunner()
        text = textwrap.dedent(toml)
        if backend == "postgresql":
            self._pg_ledger(text, keep)
            return
        self.config.write_text(text, encoding="utf-8")
        self.db: Path | None = folder / "loyalty.db"
        self.url = f"sqlite:///{self.db}"
        template = _TEMPLATES.get(text)
        if template is not None:
            shutil.copy(template, self.db)  # mode too: 0600, as init made it
        else:
            r = self.invoke("init")
            if r.exit_code == 0 and self.db.exists() and not Path(str(self.db) + "-wal").exists():
                kept = Path(tempfile.mkdtemp(prefix="loyalty-template-")) / "loyalty.db"
                shutil.copy(self.db, kept)  # before the test writes anything
                _TEMPLATES[text] = kept

    def _pg_ledger(self, text: str, keep: bool) -> None:
        self.db = None
        template = _PG_TEMPLATES.get(text)
        self.url = pg.new_database(template, keep=keep, spare=True)
        self.config.write_text(_with_database(text, self.url), encoding="utf-8")
        if template is None:
            r = self.invoke("init")
            if r.exit_code == 0:
                _PG_TEMPLATES[text] = pg.name_of(pg.new_database(pg.name_of(self.url), keep=True))

    def env(self) -> dict:
        db = self.url if self.backend == "postgresql" else None
        return {"LOYALTY_CONFIG": str(self.config), "LOYALTY_DB": db, "LOYALTY_FORMAT": None,
                "NO_COLOR": None, "LOYALTY_DEBUG": None}

    def invoke(self, *args: str, input: str | None = None):
        return self.runner.invoke(cli, [str(a) for a in args], env=self.env(), input=input, catch_exceptions=False)

    def run(self, *args: str, input: str | None = None):
        r = self.invoke(*args, input=input)
        assert r.exit_code == 0, f"loyalty {' '.join(map(str, args))} -> {r.exit_code}\n{r.stdout}\n{r.stderr}"
        return r

    def fail(self, *args: str, code: int = 1, contains: str | None = None):
        """Run a command that must be refused: exit `code`, one `Error:` line
        on stderr, no traceback."""
        r = self.invoke(*args)
        assert r.exit_code == code, f"expected exit {code}, got {r.exit_code}\n{r.stdout}\n{r.stderr}"
        assert "Traceback" not in r.stderr + r.stdout
        if code == 1:
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
        if contains is not None:
            assert contains in r.stderr, r.stderr
        return r

    def json(self, *args: str):
        return json.loads(self.run(*args, "--format", "json").stdout)

    def sql(self, query: str, *params):
        """The rows of a query, `?` placeholders, committed (an UPDATE too);
        on PostgreSQL the values are given as SQLite gives them (moments as
        text, booleans as 0/1)."""
        if self.backend == "postgresql":
            return pg.sql(self.url, query, params)
        con = sqlite3.connect(self.db)
        try:
            rows = con.execute(query, params).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def snapshot(self) -> dict:
        """Every row of every table: to assert that a refusal wrote nothing."""
        if self.backend == "postgresql":
            return pg.snapshot(self.url)
        con = sqlite3.connect(self.db)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            return {t: con.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
        finally:
            con.close()


class CopiedShop(Shop):
    """A Shop over a copy of a template's folder (no `init`: it is set up).
    On PostgreSQL the ledger is a new database copied from the template's."""

    def __init__(self, folder: Path, template: Shop | None = None):
        self.folder = folder
        self.config = folder / "loyalty.toml"
        self.runner = CliRunner()
        self.backend = template.backend if template is not None else "sqlite"
        if self.backend == "postgresql":
            self.db = None
            self.url = pg.new_database(pg.name_of(template.url))  # type: ignore[union-attr]
            self.config.write_text(_with_database(self.config.read_text(encoding="utf-8"), self.url),
                                   encoding="utf-8")
        else:
            self.db = folder / "loyalty.db"
            self.url = f"sqlite:///{self.db}"


_SHOP_OF_FOLDER: dict[Path, Shop] = {}  # templates by folder, for copy_shop


def shop_template(folder: Path, toml: str, history, backend: str = "sqlite") -> Shop:
    """A shop with a history (each item the arguments of one command, which
    must succeed), built once in `folder` for a module-scoped fixture; tests get
    copies with `copy_shop`, instead of each running the same commands again."""
    folder.mkdir()
    shop = Shop(folder, toml, backend, keep=True)
    for args in history:
        shop.run(*args)
    assert not list(folder.glob("loyalty.db-*")), "the template ledger is not checkpointed"
    _SHOP_OF_FOLDER[folder] = shop
    return shop


def copy_shop(template: Path | Shop, folder: Path) -> Shop:
    """A fresh copy of a template's folder (programme and ledger), as a Shop."""
    shop = template if isinstance(template, Shop) else _SHOP_OF_FOLDER.get(template)
    shutil.copytree(shop.folder if shop is not None else template, folder)
    return CopiedShop(folder, shop)


@pytest.fixture
def make_shop(tmp_path, backend):
    count = 0

    def make(toml: str = BASE_TOML) -> Shop:
        nonlocal count
        count += 1
        folder = tmp_path / f"shop{count}"
        folder.mkdir()
        return Shop(folder, toml, backend)

    return make


@pytest.fixture
def shop(make_shop) -> Shop:
    return make_shop()


def copy_ledger(source: Path, target: Path) -> None:
    """A consistent copy of a ledger, what is in its WAL included (SQLite's
    backup API, as `sqlite3 .backup` makes), owner-only like the original."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    os.chmod(target, 0o600)


def same_ledger(source: Shop, target: Shop) -> None:
    """Make `target`'s ledger a copy of `source`'s, on either backend (on
    PostgreSQL a new database made from the source's, which `target` then names)."""
    if source.backend == "postgresql":
        target.url = pg.new_database(pg.name_of(source.url))
        target.config.write_text(_with_database(target.config.read_text(encoding="utf-8"), target.url),
                                 encoding="utf-8")
    else:
        copy_ledger(source.db, target.db)


def run_process(*args: str, env: dict | None = None, cwd: Path | None = None, input: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed console entry point as a real process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "loyalty_cli", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, input=input, timeout=timeout)
