"""A password in the ledger's URL is never printed: not by `init` (nor its
"already set up" refusal), `program`, `check`, `backup`, a report, a refused
write, nor a connection the server refused. The suite's server trusts its
socket, so a URL carrying a password works there, and shows where it would
leak."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import make_url

import loyalty_cli
from loyalty_cli.cli import cli
from tests.conftest import _with_database

pytestmark = pytest.mark.backends("postgresql")

SECRET = "s3cret"


def _secret_url(url: str, **changes) -> str:
    return make_url(url).set(password=SECRET, **changes).render_as_string(hide_password=False)


def test_no_command_prints_the_password(shop, tmp_path):
    url = _secret_url(shop.url)
    config = tmp_path / "secret.toml"
    config.write_text(_with_database(shop.config.read_text(encoding="utf-8"), url), encoding="utf-8")
    env = {"LOYALTY_CONFIG": str(config), "LOYALTY_DB": None, "LOYALTY_FORMAT": None, "NO_COLOR": None}
    wrong_port = _secret_url(shop.url, port=1)
    in_query = make_url(wrong_port).set(password=None).update_query_dict({"password": SECRET})
    said = []

    def run(*args: str, code: int = 0) -> None:
        r = shop.runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        out = r.stdout + r.stderr
        assert r.exit_code == code, f"{args}: {out}"
        assert SECRET not in out, f"{args}: {out}"
        assert "Traceback" not in out
        if code:
            assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("Error: "), r.stderr
        said.append(out)

    fresh = str(tmp_path / "fresh.toml")
    run("init", "--config", fresh, "--db", url)  # a new programme file; the ledger is kept
    run("init", "--config", fresh, "--db", url, code=1)  # already set up
    run("program")
    run("program", "--format", "json")
    run("program", "--format", "csv")
    run("check", "--print-head")
    run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05")
    run("purchase", "ghost", "10.00", "--date", "2026-01-06", code=1)  # a refused write
    run("report", "--format", "json")
    run("backup", str(tmp_path / "copy.db"))
    run("copy", "--to", str(tmp_path / "moved.db"))
    run("copy", "--to", url, code=1)  # onto itself
    run("check", "--db", wrong_port, code=1)  # the server is not there
    run("check", "--db", in_query.render_as_string(hide_password=False), code=1)
    run("check", "--db", url.replace("://", "://\x00"), code=1)
    assert "postgres:***@" in said[0] and "***" in said[-2] and "is the server running" in said[-3].lower()
    program = json.loads(said[3])
    assert program["program"]["database"] == url.replace(SECRET, "***")
    with loyalty_cli.open_ledger(config) as ledger:
        assert SECRET not in repr(ledger)
