"""Shared fixtures: a shop in a temporary folder, driven through the real CLI
(click's CliRunner, in-process) against a real SQLite file.

    def test_x(shop):
        shop.run("enroll", "anna", "--name", "Anna")        # asserts exit 0
        r = shop.fail("purchase", "anna", "-5")               # asserts exit 1, one-line error
        data = shop.json("balance")                           # --format json, parsed

Use ``make_shop(toml)`` for a programme of your own. ``shop.db`` is the
ledger's path, for direct sqlite3 reads in assertions.
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
from pathlib import Path

import pytest
from click.testing import CliRunner

from loyalty_cli.cli import cli

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


def pytest_report_header(config):
    return f"loyalty test lane: {_LANE['name']} (LOYALTY_TEST_LANE=fast|full to choose)"


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _SPAWN["allowed"] = item.get_closest_marker("process") is not None
    try:
        return (yield)
    finally:
        _SPAWN["allowed"] = True


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
# thousand shops, and init's migrations would otherwise run for each.
_TEMPLATES: dict[str, Path] = {}


class Shop:
    def __init__(self, folder: Path, toml: str):
        self.folder = folder
        self.config = folder / "loyalty.toml"
        self.config.write_text(textwrap.dedent(toml), encoding="utf-8")
        self.db = folder / "loyalty.db"
        self.runner = CliRunner()
        text = self.config.read_text(encoding="utf-8")
        template = _TEMPLATES.get(text)
        if template is not None:
            shutil.copy(template, self.db)  # mode too: 0600, as init made it
        else:
            r = self.invoke("init")
            if r.exit_code == 0 and self.db.exists() and not Path(str(self.db) + "-wal").exists():
                kept = Path(tempfile.mkdtemp(prefix="loyalty-template-")) / "loyalty.db"
                shutil.copy(self.db, kept)  # before the test writes anything
                _TEMPLATES[text] = kept

    def env(self) -> dict:
        return {"LOYALTY_CONFIG": str(self.config), "LOYALTY_DB": None, "LOYALTY_FORMAT": None,
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
        con = sqlite3.connect(self.db)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()

    def snapshot(self) -> dict:
        """Every row of every table: to assert that a refusal wrote nothing."""
        con = sqlite3.connect(self.db)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            return {t: con.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
        finally:
            con.close()


class CopiedShop(Shop):
    """A Shop over a copy of a template's folder (no `init`: it is set up)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.config = folder / "loyalty.toml"
        self.db = folder / "loyalty.db"
        self.runner = CliRunner()


def shop_template(folder: Path, toml: str, history) -> Shop:
    """A shop with a history (each item the arguments of one command, which
    must succeed), built once in `folder` for a module-scoped fixture; tests get
    copies with `copy_shop`, instead of each running the same commands again."""
    folder.mkdir()
    shop = Shop(folder, toml)
    for args in history:
        shop.run(*args)
    assert not list(folder.glob("loyalty.db-*")), "the template ledger is not checkpointed"
    return shop


def copy_shop(template: Path, folder: Path) -> Shop:
    """A fresh copy of a template's folder (programme and ledger), as a Shop."""
    shutil.copytree(template, folder)
    return CopiedShop(folder)


@pytest.fixture
def make_shop(tmp_path):
    count = 0

    def make(toml: str = BASE_TOML) -> Shop:
        nonlocal count
        count += 1
        folder = tmp_path / f"shop{count}"
        folder.mkdir()
        return Shop(folder, toml)

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


def run_process(*args: str, env: dict | None = None, cwd: Path | None = None, input: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed console entry point as a real process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "loyalty_cli", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, input=input, timeout=timeout)
