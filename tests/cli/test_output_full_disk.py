"""Every command that prints to stdout, in every --format, with stdout a full
disk (issue 14): exit 1 with one `Error: could not write the output (No space
left on device); ...` line naming what was recorded, or "nothing was changed"
when the run committed nothing. Never exit 0 with the output lost.

In-process, the way `loyalty` runs: app.main() with sys.stdout a GuardedOutput
over a real /dev/full stream, so click.echo probes it and writes to it as in a
real process. Both kinds of stdout: Python's default (buffered: the final flush
fails) and PYTHONUNBUFFERED's (write-through: every write fails, even click's
empty probe write, which is how the plain-text output was lost). A few real
processes (marked `process`) check the same end to end."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from loyalty_cli.cli import app, render
from tests.conftest import clean, copy_shop, shop_template

FULL = "Error: could not write the output (No space left on device); "
ALL = ("table", "csv", "json")

PROGRAMME = """
[program]
name = "Test Shop"
currency = "EUR"
timezone = "Europe/Tallinn"

[ledger]
database = "loyalty.db"

[earning]
birthday_bonus = 10

[earning.actions]
review = { points = 5 }

[expiry]
days = 30
"""


@pytest.fixture(scope="module")
def full_template(tmp_path_factory):
    """Built once; each test gets a copy."""
    return shop_template(tmp_path_factory.mktemp("full") / "shop", PROGRAMME, [
        ("enroll", "anna", "--name", "Anna", "--birthday", "1990-01-03", "--date", "2026-01-01"),
        ("enroll", "bob", "--name", "Bob", "--date", "2026-01-01", "--marketing"),
        *[("enroll", f"gone{i}", "--name", f"Gone {i}", "--date", "2026-01-01") for i in range(3)],
        ("purchase", "anna", "50.00", "--order", "A1", "--date", "2026-01-02"),
        ("promo", "create", "TEN", "--percent", "10", "--date", "2026-01-01"),
    ]).folder


@pytest.fixture
def full_shop(full_template, tmp_path):
    return copy_shop(full_template, tmp_path / "shop")


def _full(unbuffered: bool):
    if unbuffered:  # as Python makes stdout under PYTHONUNBUFFERED=1
        return io.TextIOWrapper(io.FileIO("/dev/full", "w"), encoding="utf-8", write_through=True)
    return open("/dev/full", "w", encoding="utf-8")


def to_full_disk(shop, monkeypatch, *args: str, unbuffered: bool = True) -> tuple[int, str]:
    """`loyalty ARGS >/dev/full`, in-process: (exit code, stderr)."""
    err = io.StringIO()
    with _full(unbuffered) as full, monkeypatch.context() as m:
        for k, v in shop.env().items():
            if v is None:
                m.delenv(k, raising=False)
            else:
                m.setenv(k, v)
        m.setattr(sys, "stdout", render.GuardedOutput(full))
        m.setattr(sys, "stderr", err)
        m.setattr(sys, "argv", ["loyalty", *map(str, args)])
        try:
            app.main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, err.getvalue()


# (command words, its arguments ({n}: a number of its own for each run), the
# formats in which it prints to stdout, what its error says it recorded, or
# None for a read). Every command that can print to stdout is here.
D = "2026-01-05"
CASES = [
    ("enroll", ("e{n}", "--name", "E", "--date", D), ALL, "the member was enrolled as e{n}"),
    ("enroll", ("--name", "Generated", "--date", D), ALL, "the member was enrolled as "),
    ("forget", ("gone{n}", "--yes", "--date", D), ("json",), "the member was forgotten"),
    ("members", (), ALL, None),
    ("show", ("anna",), ALL, None),
    ("purchase", ("anna", "5.00", "--order", "P{n}", "--date", D), ALL, "the purchase was recorded"),
    ("refund", ("A1", "--amount", "1.00", "--date", D), ALL, "the refund was recorded"),
    ("redeem", ("anna", "5", "--date", D), ALL, "the redemption was recorded"),
    ("adjust", ("anna", "5", "--reason", "x", "--date", D), ALL, "the adjustment was recorded"),
    ("award", ("anna", "review", "--date", D), ALL, "the award was recorded"),
    ("promo create", ("CODE{n}", "--percent", "5", "--date", D), ALL, "the promo code CODE{n} was created"),
    ("promo create", ("--count", "3", "--points", "5", "--date", D), ALL, "the promo codes were created"),
    ("promo list", (), ALL, None),
    ("promo show", ("TEN",), ALL, None),
    ("referral", ("anna",), ALL, "the referral code is recorded"),
    ("balance", (), ALL, None),
    ("history", ("anna",), ALL, None),
    ("tiers", (), ALL, None),
    ("report", (), ALL, None),
    ("expiring", (), ALL, None),
    ("lapsed", (), ALL, None),
    ("program", (), ALL, None),
    ("export ledger", (), ("csv", "json"), None),
    ("export members", (), ("csv", "json"), None),
    ("export purchases", (), ("csv", "json"), None),
    ("import purchases", ("@purchases",), ("json",), "the import was recorded"),
    ("import members", ("@members",), ("json",), "the import was recorded"),
    ("expire", ("--as-of", "2026-03-01"), ALL, "the expiry was recorded"),
    ("birthdays", ("--as-of", "2026-01-10"), ALL, "the birthday bonuses were recorded"),
    ("daily", ("--as-of", "2026-03-01"), ALL, "the daily run was recorded"),
    ("daily", ("--as-of", "2026-03-01", "--dry-run"), ALL, None),
    ("backup", ("@copy",), ("json",), "the backup was written"),
    ("check", ("--print-head",), ALL, None),
    ("batch", ("@batch",), ALL, "the batch stopped after line 1"),
]


def _argv(tmp_path, words, args, fmt, n):
    files = {"@purchases": ("p{n}.csv", "member,amount,date,order\nanna,2.00,2026-01-04,I{n}\n"),
             "@members": ("m{n}.csv", "member,name\nimp{n},Imported\n"),
             "@batch": ("b{n}.txt", "purchase anna 1.00 --order Q{n} --date 2026-01-04 --format {fmt}\n"),
             "@copy": ("copy{n}.db", None)}
    argv = [*words.split()]
    for a in args:
        if a in files:
            name, text = (x.format(n=n, fmt=fmt) if x else x for x in files[a])
            if text is not None:
                (tmp_path / name).write_text(text)
            a = str(tmp_path / name)
        argv.append(a.format(n=n))
    if words not in ("batch",):
        argv += ["--format", fmt]
    return argv


@pytest.mark.parametrize("i, words, args, prints, says", [(i, *c) for i, c in enumerate(CASES)],
                         ids=[f"{c[0]}{'-' + c[1][0] if c[1] and c[1][0].startswith('--') else ''}" for c in CASES])
def test_every_command_to_a_full_disk_says_so_in_every_format(full_shop, monkeypatch, tmp_path, i, words, args,
                                                             prints, says):
    formats = ("csv", "json") if words.startswith("export") else ALL
    for n, fmt in enumerate(formats):
        argv = _argv(tmp_path, words, args, fmt, n)
        before = full_shop.snapshot()
        # each format meets both kinds of stdout across the commands
        code, err = to_full_disk(full_shop, monkeypatch, *argv, unbuffered=(i + n) % 2 == 0)
        changed = full_shop.snapshot() != before or words == "backup"
        assert "Traceback" not in err and "Exception ignored" not in err and "internal error" not in err, err
        if fmt not in prints:  # nothing goes to stdout in this format
            assert code == 0 and "could not write" not in err, (argv, code, err)
            continue
        errors = [ln for ln in err.splitlines() if ln.startswith("Error: ")]
        assert code == 1 and len(errors) == 1 and err.splitlines()[-1] == errors[0], (argv, code, err)
        if says is not None and changed:
            assert errors[0].startswith(FULL + says.format(n=n)), (argv, err)
        else:  # a read, a dry run, or a write that found nothing to do: it names nothing as recorded
            assert errors[0] == FULL + "nothing was changed", (argv, err)
            assert not changed, argv
    clean(full_shop)


@pytest.mark.process  # `completion bash`: click runs `bash --version`
def test_click_s_own_output_to_a_full_disk_is_one_error_line(full_shop, monkeypatch):
    for unbuffered in (True, False):
        for argv in (("--help",), ("--version",), ("purchase", "--help"), ("completion", "bash")):
            assert to_full_disk(full_shop, monkeypatch, *argv, unbuffered=unbuffered) == (
                1, FULL + "nothing was changed\n"), (argv, unbuffered)


def test_a_write_that_recorded_nothing_says_so_when_stdout_is_closed(full_shop, monkeypatch):
    # issue 14: a second `birthdays` with `>&-` said "the birthday bonuses were recorded"
    full_shop.run("birthdays", "--as-of", "2026-01-10")
    before = full_shop.snapshot()
    for args in (("birthdays", "--as-of", "2026-01-10"), ("expire", "--as-of", "2026-01-10"),
                 ("import", "purchases", str(full_shop.folder / "none.csv"), "--format", "json")):
        (full_shop.folder / "none.csv").write_text("member,amount,date,order\nanna,50.00,2026-01-02,A1\n")
        with monkeypatch.context() as m:
            m.setattr(sys, "stdout", render.GuardedOutput(None))  # what Python has for a closed descriptor 1
            m.setenv("LOYALTY_CONFIG", str(full_shop.config))
            m.setattr(sys, "argv", ["loyalty", *args])
            err = io.StringIO()
            m.setattr(sys, "stderr", err)
            with pytest.raises(SystemExit) as exit_:
                app.main()
        assert exit_.value.code == 1, (args, err.getvalue())
        assert err.getvalue().splitlines()[-1] == ("Error: could not write the output (standard output is closed); "
                                                   "nothing was changed"), args
    assert full_shop.snapshot() == before


def _process(shop, *args, stdout, preexec=None, unbuffered=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_") and k != "PYTHONUNBUFFERED"}
    env["LOYALTY_CONFIG"] = str(shop.config)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run([sys.executable, "-m", "loyalty_cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, env=env, preexec_fn=preexec, timeout=120)


@pytest.mark.process
def test_the_plain_text_writes_that_lost_their_output_fail_in_a_real_process(full_shop):
    # issue 14: these exited 0 with the id / code / head lost (click.echo's probe swallowed the error)
    # with PYTHONUNBUFFERED=1, as this was found (click's empty probe write fails), and without
    cases = [(True, ("enroll", "zu", "--name", "Z", "--date", D), "the member was enrolled as zu"),
             (True, ("promo", "create", "--count", "3", "--points", "5"), "the promo codes were created"),
             (True, ("promo", "create", "CFULL", "--percent", "5"), "the promo code CFULL was created"),
             (True, ("check", "--print-head"), "nothing was changed"),
             (False, ("enroll", "zb", "--name", "Z", "--date", D), "the member was enrolled as zb"),
             (False, ("check", "--print-head"), "nothing was changed")]
    for unbuffered, args, says in cases:
        with open("/dev/full", "w") as full:
            r = _process(full_shop, *args, stdout=full, unbuffered=unbuffered)
        assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, (args, unbuffered, r.stderr)
        assert r.stderr.startswith(FULL + says), (args, unbuffered, r.stderr)
    assert full_shop.sql("SELECT id FROM members WHERE id LIKE 'z%' ORDER BY id") == [("zb",), ("zu",)]
    assert full_shop.sql("SELECT code FROM promo_codes WHERE code = 'CFULL'") == [("CFULL",)]


@pytest.mark.process
def test_a_second_birthdays_run_with_stdout_closed_says_nothing_was_changed(full_shop):
    full_shop.run("birthdays", "--as-of", "2026-01-10")
    r = _process(full_shop, "birthdays", "--as-of", "2026-01-10", stdout=None, preexec=lambda: os.close(1))
    assert (r.returncode, r.stderr) == (
        1, "Error: could not write the output (standard output is closed); nothing was changed\n")
