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
    # such names are refused at input now; a ledger written before may hold them, so output still escapes them
    r = shop.fail("enroll", "anna", "--name", EVIL, contains="name holds a control character")
    _assert_clean(r.stderr)
    shop.run("enroll", "anna", "--name", "Anna")
    _set_name(shop, "anna", EVIL)
    shop.run("purchase", "anna", "10.00", "--order", "T-1")
    shop.fail("adjust", "anna", "5", "--reason", "sorry\x07\x1b]8;;http://x\x07", contains="control character")
    shop.run("adjust", "anna", "5", "--reason", "sorry")
    for args in (["show", "anna"], ["members"], ["balance"], ["history", "anna"], ["lapsed", "--lapsed-days", "1"],
                 ["expiring"]):
        for fmt in ("table", "csv"):
            r = shop.run(*args, "--format", fmt)
            _assert_clean(r.stdout + r.stderr)
    r = shop.run("members", "--format", "csv")
    assert "Ann\\x1b]0;pwned\\x07a" in r.stdout  # shown escaped, visible
    shop.fail("edit", "anna", "--name", "Bo\x1b[5mb", contains="control character")
    _set_name(shop, "anna", "Bo\x1b[5mb")
    # JSON keeps the exact text (escaped by JSON itself)
    assert shop.json("show", "anna")["name"] == "Bo\x1b[5mb"
    r = shop.fail("show", "x\x1b]0;t\x07")  # an error line with a typed escape
    _assert_clean(r.stderr)
    # JSON escapes what json leaves raw too (C1, bidi) and still reads back exactly
    shop.run("enroll", "rlo", "--name", "RLO")
    _set_name(shop, "rlo", "R\u202eL\x9bO")
    for args in (["show", "rlo"], ["members"], ["export", "members"]):
        r = shop.run(*args, "--format", "json")
        _assert_clean(r.stdout)
    assert shop.json("show", "rlo")["name"] == "R\u202eL\x9bO"
    r = shop.run("batch", "-", input="show rlo\n")
    _assert_clean(r.stdout)
    assert json.loads(r.stdout)["result"]["name"] == "R\u202eL\x9bO"


def test_export_on_a_screen_is_made_harmless_and_exact_into_a_file():
    import io

    from loyalty_cli.cli.render import Screen

    out = io.StringIO()
    Screen(out).write("id,name\nanna,A\x1b]0;x\x07\u202e\n")
    assert out.getvalue() == "id,name\nanna,A\\x1b]0;x\\x07\\u202e\n"
    out = io.StringIO()
    Screen(out, json_out=True).write(json.dumps({"n": "A\u202e\x85"}, ensure_ascii=False))
    assert json.loads(out.getvalue()) == {"n": "A\u202e\x85"} and not RAW.search(out.getvalue())


def test_rich_tables_escape_titles_headers_and_cells():
    import io

    from loyalty_cli.cli.render import Col, View, _rich_tables

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


# ---------------------------------------------------------------------------
# 7. small ones: Ctrl-C, init --force, check --format json, --help summaries
# ---------------------------------------------------------------------------


def test_ctrl_c_mid_transaction_exits_130_and_rolls_back(shop, monkeypatch):
    from loyalty_cli.ledger import operations

    shop.run("enroll", "anna", "--name", "Anna")
    real = operations.purchase

    def interrupted(*args, **kwargs):
        real(*args, **kwargs)  # everything written, not yet committed
        raise KeyboardInterrupt

    monkeypatch.setattr(operations, "purchase", interrupted)
    before = shop.snapshot()
    r = shop.invoke("purchase", "anna", "10.00", "--order", "T-1")
    assert r.exit_code == 130, r.stderr
    assert r.stderr.strip().splitlines() == ["Interrupted; nothing was written (what was under way was rolled back)."]
    assert "Aborted" not in r.stderr
    assert shop.snapshot() == before


@pytest.mark.process
def test_ctrl_c_in_a_real_process_exits_130(shop):
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_CONFIG"] = str(shop.config)
    p = subprocess.Popen([sys.executable, "-m", "loyalty_cli", "batch", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    p.stdin.write("balance\n")
    p.stdin.flush()
    assert p.stdout.readline()  # the first line ran: the batch now waits for more
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err and "Aborted" not in err


def test_init_force_keeps_a_backup_of_the_programme_file(tmp_path):
    runner = CliRunner()
    conf = tmp_path / "loyalty.toml"
    env = {"LOYALTY_CONFIG": None, "LOYALTY_DB": None, "LOYALTY_FORMAT": None}

    def init(*args):
        r = runner.invoke(cli, ["init", "--config", str(conf), *args], env=env, catch_exceptions=False)
        assert r.exit_code == 0, r.stderr
        return r

    init("--name", "First")
    init("--force", "--name", "Second")
    r = init("--force", "--name", "Third")
    assert "kept as" in r.stderr and "loyalty.toml.bak.1" in r.stderr
    assert tomllib.loads((tmp_path / "loyalty.toml.bak").read_text())["program"]["name"] == "First"
    assert tomllib.loads((tmp_path / "loyalty.toml.bak.1").read_text())["program"]["name"] == "Second"
    assert tomllib.loads(conf.read_text())["program"]["name"] == "Third"


def test_check_format_json_lists_problems_as_objects(shop):
    import sqlite3

    shop.run("enroll", "anna", "--name", "Anna")
    shop.run("adjust", "anna", "10", "--reason", "gift")
    assert json.loads(shop.run("check", "--format", "json").stdout) == {"ok": True, "problems": [], "head": None}
    assert shop.run("check").stdout == ""  # the table form stays silent
    con = sqlite3.connect(shop.db)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    con.execute("UPDATE entries SET points = 99 WHERE kind = 'adjust'")
    con.commit()
    con.close()
    r = shop.invoke("check", "--format", "json")
    assert r.exit_code == 1 and r.stderr.startswith("Error: ")
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["problems"]
    assert all(set(p) == {"kind", "subject", "message"} for p in doc["problems"])
    assert {p["kind"] for p in doc["problems"]} & {"entry", "member"}


def test_help_summaries_are_whole_sentences_on_one_line(shop):
    for args in ([], ["promo"], ["import"]):
        text = shop.run(*args, "--help").stdout
        commands = text.split("Commands:")[1].splitlines()[1:]
        for line in filter(str.strip, commands):
            assert line.startswith("  ") and not line.startswith("            "), f"a summary on two lines: {line!r}"
            assert not line.rstrip().endswith("..."), line
            assert line.rstrip().endswith("."), line
            assert len(line) <= 80, line


# ---------------------------------------------------------------------------
# 8. the programme file init writes can be extended as the docs show
# ---------------------------------------------------------------------------

README_BLOCKS = """
[[rewards]]
name = "Cake"
points = 300
description = "A slice of the day's cake"

[[tiers.levels]]
name = "Platinum"
min = "2000"
multiplier = 2.0
discount_percent = 10
"""


def test_blocks_from_the_readme_can_be_appended_to_what_init_writes(tmp_path):
    runner = CliRunner()
    conf = tmp_path / "loyalty.toml"
    env = {"LOYALTY_CONFIG": str(conf), "LOYALTY_DB": None, "LOYALTY_FORMAT": None}
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    conf.write_text(conf.read_text() + README_BLOCKS)
    r = runner.invoke(cli, ["program", "--format", "json"], env=env)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [x["name"] for x in doc["rewards"]] == ["Free coffee", "Cake"]
    assert [x["name"] for x in doc["tiers"]["levels"]] == ["Bronze", "Silver", "Gold", "Platinum"]
    assert runner.invoke(cli, ["check"], env=env).exit_code == 0


def test_init_sample_writes_the_packaged_sample(tmp_path):
    runner = CliRunner()
    conf = tmp_path / "shop.toml"
    env = {"LOYALTY_CONFIG": None, "LOYALTY_DB": None, "LOYALTY_FORMAT": None}
    r = runner.invoke(cli, ["init", "--sample", "--config", str(conf), "--name", "Kohvik \"Nurk\""], env=env)
    assert r.exit_code == 0, r.stderr
    text = conf.read_text()
    root = (Path(__file__).resolve().parents[2] / "sample_config.toml").read_text()
    assert text == root.replace('name = "Corner Coffee"', 'name = "Kohvik \\"Nurk\\""', 1)
    assert tomllib.loads(text)["program"]["timezone"] == "Europe/Tallinn"  # not given: the sample's
    r = runner.invoke(cli, ["program", "--config", str(conf), "--format", "json"], env=env)
    assert json.loads(r.stdout)["program"]["name"] == 'Kohvik "Nurk"'


def test_the_packaged_sample_is_the_repository_one():
    from loyalty_cli.domain import config

    root = Path(__file__).resolve().parents[2] / "sample_config.toml"
    assert config.sample_text() == root.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# 9. shell completion
# ---------------------------------------------------------------------------


# click checks the bash version by running `bash --version`: a real process
@pytest.mark.parametrize("shell, says", [pytest.param("bash", "complete -o", marks=pytest.mark.process),
                                         ("zsh", "compdef"), ("fish", "complete")])
def test_completion_prints_the_script(shop, shell, says):
    r = shop.run("completion", shell)
    assert says in r.stdout and "_LOYALTY_COMPLETE" in r.stdout


def _complete(shop, words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {**shop.env(), "_LOYALTY_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    r = shop.runner.invoke(cli, [], env=env, prog_name="loyalty")
    assert r.exit_code == 0, r.stderr
    return [line.split(",", 1)[1] for line in r.stdout.splitlines() if line]


def test_completion_of_members_rewards_actions_and_codes(make_shop):
    shop = make_shop(programme("""
        [earning.actions]
        review = { points = 20 }
        [[rewards]]
        name = "Free coffee"
        points = 10
        """))
    for m in ("anna", "andres", "bob"):
        shop.run("enroll", m, "--name", m.title())
    shop.run("promo", "create", "SUMMER10", "--percent", "10")
    assert _complete(shop, "loyalty show an") == ["andres", "anna"]
    assert _complete(shop, "loyalty purchase b") == ["bob"]
    assert _complete(shop, "loyalty redeem anna --reward F") == ["Free\\\\ coffee"]  # quoted for bash (test_completion_quoting)
    assert _complete(shop, "loyalty award anna ") == ["review"]
    assert _complete(shop, "loyalty promo show S") == ["SUMMER10"]
    assert _complete(shop, "loyalty purchase anna 5 --code ") == ["SUMMER10"]
    assert "balance" in _complete(shop, "loyalty bal")
    # no ledger there: silent, nothing offered
    assert _complete(shop, "loyalty --db nowhere/x.db show a") == []


# ---------------------------------------------------------------------------
# 2. tables fit the terminal: nothing unsplittable is split
# ---------------------------------------------------------------------------

EMAIL = "anna.maria.tamm@example-shop.com"
TABLE_RULES = programme("""
    [earning]
    welcome_bonus = 50
    [earning.actions]
    review = { points = 20 }
    [[rewards]]
    name = "Free coffee"
    points = 10
    description = "Any regular coffee or tea, at the counter or to take away"
    [expiry]
    days = 365
    [[tiers.levels]]
    name = "Bronze"
    min = "0"
    [[tiers.levels]]
    name = "Gold"
    min = "500"
    multiplier = 1.5
    discount_percent = 5
    """)


@pytest.fixture(scope="module")
def table_shop(tmp_path_factory):
    from tests.conftest import Shop

    folder = tmp_path_factory.mktemp("tables")
    shop = Shop(folder, TABLE_RULES)
    shop.run("enroll", "anna-maria", "--name", "Anna-Maria Tamm-Kasemets", "--email", EMAIL,
             "--phone", "+372 5123 0003", "--marketing", "--date", "2025-01-05")
    shop.run("enroll", "bob", "--name", "Bob", "--email", "bob@example.com", "--date", "2025-01-06")
    shop.run("purchase", "anna-maria", "620.00", "--order", "WEB-2025-000123", "--date", "2025-02-01")
    shop.run("purchase", "bob", "12.00", "--order", "T-1", "--date", "2025-02-02")
    shop.run("promo", "create", "SUMMER10", "--percent", "10", "--min-purchase", "20", "--date", "2025-01-05")
    return shop


TABLE_COMMANDS = [
    ("members",), ("lapsed", "--lapsed-days", "10"), ("expiring", "--within", "400", "--as-of", "2025-03-01"),
    ("show", "anna-maria", "--as-of", "2025-03-01"), ("balance",), ("history", "anna-maria"), ("tiers",),
    ("report",), ("promo", "list"), ("promo", "show", "SUMMER10"), ("referral", "bob"), ("program",),
]


def _terminal_output(shop, monkeypatch, width: int, *args) -> str:
    from loyalty_cli.cli import render

    monkeypatch.setattr(render, "_is_terminal", lambda out: True)
    r = shop.runner.invoke(cli, list(args), env={**shop.env(), "COLUMNS": str(width), "NO_COLOR": "1"},
                           catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    return r.stdout


def _assert_fits(text: str, width: int) -> None:
    for line in text.splitlines():
        assert len(line.rstrip()) <= width, f"wider than {width}: {line!r}"
    wholes = (EMAIL, "bob@example.com", "anna-maria", "WEB-2025-000123", "620.00", "+37251230003")
    for token in text.split():
        assert not any(w.startswith(token) and len(w) > len(token) >= 4 for w in wholes), f"{token!r} split:\n{text}"
        assert not re.fullmatch(r"[0-9]{4}-([0-9]{2}-?|[0-9])?", token) or re.fullmatch(r"[0-9]{4}-[0-9]{2}", token), \
            f"a date split: {token!r}\n{text}"
    assert not re.search(r"\b(Marketin|E-mai|Enrolle|Purchas|Balanc|Expirin|Rewarde)\b", text), text  # headers
    assert "…" not in text, text


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("args", TABLE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_table_fits_the_terminal(table_shop, monkeypatch, width, args):
    _assert_fits(_terminal_output(table_shop, monkeypatch, width, *args), width)


@pytest.mark.parametrize("width", [80, 120])
def test_receipts_fit_the_terminal(make_shop, monkeypatch, width):
    shop = make_shop(TABLE_RULES)
    shop.run("enroll", "anna-maria", "--name", "Anna", "--email", EMAIL)
    shop.run("promo", "create", "SUMMER10", "--points", "5")
    for args in (("purchase", "anna-maria", "620.00", "--order", "WEB-2025-000123", "--code", "SUMMER10"),
                 ("refund", "WEB-2025-000123", "--amount", "20.00"), ("redeem", "anna-maria", "10"),
                 ("adjust", "anna-maria", "5", "--reason", "a very long reason that goes on and on and on " * 3),
                 ("award", "anna-maria", "review")):
        text = _terminal_output(shop, monkeypatch, width, *args)
        _assert_fits(text, width)
        assert "anna-maria" in text


def test_wide_emails_stay_whole_at_120_and_columns_give_way_at_80(table_shop, monkeypatch):
    wide = _terminal_output(table_shop, monkeypatch, 120, "lapsed", "--lapsed-days", "10")
    assert EMAIL in wide and "Not shown" in wide  # the e-mail whole; the least useful columns left out
    narrow = _terminal_output(table_shop, monkeypatch, 80, "members")
    assert "Not shown at this width" in narrow and "--format csv or json" in narrow
    assert "Anna-Maria" in narrow and "anna-maria" in narrow


def _pty_run(width: int, *args, env: dict) -> str:
    """A real `python -m loyalty_cli` on a pseudo-terminal `width` columns wide."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, width, 0, 0))
    full = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    full.update(env, COLUMNS=str(width), NO_COLOR="1")
    p = subprocess.Popen([sys.executable, "-m", "loyalty_cli", *args], stdin=slave, stdout=slave, stderr=slave,
                         env=full, close_fds=True)
    os.close(slave)
    out = b""
    try:
        while select.select([master], [], [], 60)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        p.wait(timeout=60)
        os.close(master)
    assert p.returncode == 0, out
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode()).replace("\r", "")


@pytest.mark.process
@pytest.mark.parametrize("width", [80, 120])
def test_tables_fit_a_real_terminal(table_shop, width):
    env = {"LOYALTY_CONFIG": str(table_shop.config)}
    for args in (("members",), ("lapsed", "--lapsed-days", "10"),
                 ("purchase", "bob", "3.00", "--order", f"PTY-{width}")):
        text = _pty_run(width, *args, env=env)
        _assert_fits(text, width)
        if width == 120 and args[0] == "lapsed":
            assert EMAIL in text


def _set_name(shop, member: str, name: str) -> None:
    """A name as a ledger from before the control-character refusal may hold it."""
    import sqlite3

    con = sqlite3.connect(shop.db)
    try:
        con.execute("UPDATE members SET name = ? WHERE id = ?", (name, member))
        con.commit()
    finally:
        con.close()
