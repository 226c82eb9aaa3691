"""Terminal and scripting (issue 14): escapes in user data, options before the
command, option typos, member suggestions, phone regions, Ctrl-C, init's
programme file, `check --format json`, --help summaries and shell completion.
All through the real CLI."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from loyalty_cli.cli import cli
from tests.conftest import programme

# ---------------------------------------------------------------------------
# 1. terminal escapes: user data never reaches the terminal raw
# ---------------------------------------------------------------------------

EVIL = "Ann\x1b]0;pwned\x07a\r\x1b[2J\x85\u202eX"  # OSC title, BEL, CR, CSI clear, C1 NEL, RLO
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # what must never be printed


def _assert_clean(text: str) -> None:
    assert not RAW.search(text), repr(text)


def test_control_characters_in_user_data_are_escaped_in_every_format_but_json(shop):
    r = shop.run("enroll", "anna", "--name", EVIL)
    _assert_clean(r.stdout + r.stderr)
    assert "Enrolled Ann\\x1b]0;pwned\\x07a" in r.stderr  # shown escaped, visible
    shop.run("purchase", "anna", "10.00", "--order", "T-1")
    shop.run("adjust", "anna", "5", "--reason", "sorry\x07\x1b]8;;http://x\x07")
    for args in (["show", "anna"], ["members"], ["balance"], ["history", "anna"], ["lapsed", "--lapsed-days", "1"],
                 ["expiring"]):
        for fmt in ("table", "csv"):
            r = shop.run(*args, "--format", fmt)
            _assert_clean(r.stdout + r.stderr)
    r = shop.run("history", "anna", "--format", "csv")
    assert "sorry\\x07\\x1b]8;;http://x\\x07" in r.stdout
    r = shop.run("edit", "anna", "--name", "Bo\x1b[5mb")
    _assert_clean(r.stderr)
    # JSON keeps the exact text (escaped by JSON itself)
    assert shop.json("show", "anna")["name"] == "Bo\x1b[5mb"
    r = shop.fail("show", "x\x1b]0;t\x07")  # an error line with a typed escape
    _assert_clean(r.stderr)


def test_rich_tables_escape_titles_headers_and_cells():
    import io

    from loyalty_cli.render import Col, View, _rich_tables

    out = io.StringIO()
    rows = [{"member": "a\x1b[2Jb", "note": "n\u202eote\x9b"}]
    _rich_tables([View("T\x07itle", [Col("member", "M\x1bember"), Col("note", "Note", wrap=True)], rows,
                       caption="c\rap")], out, force_terminal=False, width=80)
    text = out.getvalue()
    _assert_clean(text)
    assert "a\\x1b[2Jb" in text and "n\\u202eote\\x9b" in text and "T\\x07itle" in text


# ---------------------------------------------------------------------------
# 3. --config, --db, --format, --as-of before the command
# ---------------------------------------------------------------------------


def test_shared_options_before_the_command(shop, tmp_path, monkeypatch):
    shop.run("enroll", "anna", "--name", "Anna")
    env = {**shop.env(), "LOYALTY_CONFIG": None}
    runner = CliRunner()

    def run(*args, extra=None):
        return runner.invoke(cli, list(map(str, args)), env={**env, **(extra or {})}, catch_exceptions=False)

    r = run("--config", shop.config, "--format", "json", "balance")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["member"] == "anna"
    r = run("--config", shop.config, "--db", shop.db, "--format", "json", "show", "anna")
    assert r.exit_code == 0 and json.loads(r.stdout)["member"] == "anna"
    # a group flag beats the environment; the command's own flag beats the group's
    r = run("--config", shop.config, "--format", "json", "balance", extra={"LOYALTY_FORMAT": "csv"})
    assert r.stdout.lstrip().startswith("[")
    r = run("--config", shop.config, "--db", tmp_path / "nope.db", "balance", "--db", shop.db, "--format", "csv")
    assert r.exit_code == 0 and r.stdout.startswith("member,")
    r = run("--config", shop.config, "--db", shop.db, "balance", extra={"LOYALTY_DB": str(tmp_path / "nope.db")})
    assert r.exit_code == 0, r.stderr
    # before a promo or import subcommand too
    r = run("--config", shop.config, "promo", "--format", "json", "list")
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    r = run("promo", "--config", shop.config, "list", "--format", "csv")
    assert r.exit_code == 0 and r.stdout.startswith("code,")
    # --as-of where the command takes it, a usage error where it does not
    r = run("--config", shop.config, "--as-of", "2020-01-01", "--format", "json", "balance")
    assert r.exit_code == 0 and json.loads(r.stdout) == []  # nobody was enrolled yet then
    r = run("--config", shop.config, "--as-of", "2026-01-01", "purchase", "anna", "5")
    assert r.exit_code == 2 and "--as-of does not apply" in r.stderr
    # export keeps its own choices
    r = run("--config", shop.config, "--format", "table", "export", "members")
    assert r.exit_code == 2 and "'table'" in r.stderr


def test_empty_db_is_an_error_and_an_empty_env_var_is_unset(shop):
    before = shop.snapshot()
    shop.fail("balance", "--db", "", contains="--db is empty")
    shop.fail("--db", "", "purchase", "anna", "5", contains="--db is empty")
    r = shop.runner.invoke(cli, ["balance"], env={**shop.env(), "LOYALTY_DB": ""})
    assert r.exit_code == 0, r.stderr
    assert shop.snapshot() == before


# ---------------------------------------------------------------------------
# 4. option typos on commands that take negative numbers as arguments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("args, hint", [
    (["purchase", "--oder", "T-9", "anna", "5.00"], "--order"),
    (["purchase", "anna", "5.00", "--redem", "10"], "--redeem"),
    (["redeem", "anna", "--rewrd", "Free coffee"], "--reward"),
    (["adjust", "anna", "5", "--reasn", "x"], "--reason"),
    (["adjust", "anna", "5", "-reason", "x"], "--reason"),
])
def test_an_unknown_option_is_a_usage_error_with_a_hint(shop, args, hint):
    shop.run("enroll", "anna", "--name", "Anna")
    before = shop.snapshot()
    r = shop.fail(*args, code=2, contains="No such option")
    assert hint in r.stderr
    assert shop.snapshot() == before


@pytest.mark.parametrize("args, says", [
    (["purchase", "anna", "-5"], "negative"),
    (["purchase", "anna", "-5.00"], "negative"),
    (["purchase", "anna", "-1e3"], "negative"),
    (["redeem", "anna", "-5"], "POINTS"),
    (["adjust", "anna", "-5.00", "--reason", "x"], "whole number"),
])
def test_negative_numbers_still_reach_their_refusal(shop, args, says):
    shop.run("enroll", "anna", "--name", "Anna")
    shop.fail(*args, contains=says)
    # and a negative adjustment still works, with an option value that starts with -
    shop.run("adjust", "anna", "10", "--reason", "gift")
    shop.run("adjust", "anna", "-5", "--reason", "-double scan")


# ---------------------------------------------------------------------------
# 5. member not found: suggestions
# ---------------------------------------------------------------------------


def test_unknown_member_suggests_close_ids_names_and_emails(shop):
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--email", "anna.tamm@example.com")
    shop.run("enroll", "bob", "--name", "Robert Kask")
    r = shop.fail("show", "anan", contains="did you mean anna (Anna Tamm)")
    assert "members --search" in r.stderr
    shop.fail("purchase", "kask", "5.00", contains="bob (Robert Kask)")
    shop.fail("balance", "anna", "anna.tam@example.com", contains="anna (Anna Tamm)")
    shop.fail("history", "zzzzzz", contains="members --search")


# ---------------------------------------------------------------------------
# 6. phone numbers with [program] phone_region
# ---------------------------------------------------------------------------

EE = programme("").replace('timezone = "Europe/Tallinn"', 'timezone = "Europe/Tallinn"\nphone_region = "EE"')


def test_phone_region_normalises_to_e164_for_storage_lookup_and_uniqueness(make_shop):
    shop = make_shop(EE)
    shop.run("enroll", "anna", "--name", "Anna", "--phone", "5123 0003")
    assert shop.json("show", "anna")["phone"] == "+37251230003"
    assert shop.json("show", "+372 5123 0003")["member"] == "anna"
    assert shop.json("show", "51230003")["member"] == "anna"
    shop.fail("enroll", "bob", "--name", "Bob", "--phone", "+372 5123 0003", contains="already belongs to member anna")
    shop.fail("enroll", "bob", "--name", "Bob", "--phone", "5551234", contains="not a valid EE number")
    shop.run("enroll", "carl", "--name", "Carl", "--phone", "+44 20 7946 0000")  # another country, with its code
    assert shop.json("show", "carl")["phone"] == "+442079460000"


def test_numbers_stored_before_the_region_was_set_still_match(make_shop):
    shop = make_shop()  # no phone_region: kept as typed
    shop.run("enroll", "anna", "--name", "Anna", "--phone", "5123 0003")
    assert shop.json("show", "anna")["phone"] == "51230003"
    shop.config.write_text(EE, encoding="utf-8")
    assert shop.json("show", "+372 5123 0003")["member"] == "anna"
    shop.fail("enroll", "bob", "--name", "Bob", "--phone", "+37251230003", contains="already belongs to member anna")
    assert shop.json("show", "anna")["phone"] == "51230003"  # stays as stored


def test_phone_region_is_validated(make_shop):
    shop = make_shop(EE.replace('"EE"', '"XX"'))
    shop.fail("program", contains="phone_region")
