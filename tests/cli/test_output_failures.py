"""Standard output that fails: a full disk (`> /dev/full`), a closed
descriptor (`>&-`), a reader that left (`| head -1`). A write command that
committed says so (exit 1, "could not write the output (...); the purchase
was recorded"); a read whose reader left ends quietly; nothing is ever an
internal error.

The mechanism runs in real processes (marked `process`); that every write
command names what it recorded is checked in-process, by making the final
flush of its output fail."""

import json
import os
import subprocess
import sys

import pytest

from loyalty_cli.cli import render
from tests.conftest import clean


def _process(shop, *args, stdout, input=None, preexec=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_CONFIG"] = str(shop.config)
    return subprocess.run([sys.executable, "-m", "loyalty_cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, env=env, input=input, preexec_fn=preexec, timeout=120)


def _close_stdout():
    os.close(1)


@pytest.fixture
def anna(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    return shop


@pytest.mark.process
def test_a_purchase_to_a_full_disk_says_it_was_recorded(anna):
    with open("/dev/full", "w") as full:
        r = _process(anna, "purchase", "anna", "5.00", "--order", "F1", "--date", "2026-01-02", stdout=full)
    assert r.returncode == 1
    assert r.stderr == "Error: could not write the output (No space left on device); the purchase was recorded\n"
    assert anna.sql("SELECT order_id FROM purchases") == [("F1",)]
    clean(anna)


@pytest.mark.process
def test_a_json_purchase_with_stdout_closed_says_it_was_recorded(anna):
    r = _process(anna, "purchase", "anna", "5.00", "--order", "F2", "--date", "2026-01-02", "--format", "json",
                 stdout=None, preexec=_close_stdout)
    assert r.returncode == 1
    assert r.stderr == "Error: could not write the output (standard output is closed); the purchase was recorded\n"
    assert anna.sql("SELECT order_id FROM purchases") == [("F2",)]


@pytest.mark.process
def test_reads_whose_reader_left_end_quietly(anna):
    # closed stdout
    r = _process(anna, "balance", stdout=None, preexec=_close_stdout)
    assert (r.returncode, r.stderr) == (0, "")
    # a reader that leaves after the first line, with far more than a pipe holds to come
    lines = "".join(f"enroll m{i} --name M{i} --date 2026-01-01\n" for i in range(2500))
    assert _process(anna, "batch", "-", input=lines, stdout=subprocess.DEVNULL).returncode == 0
    for args in (("balance",), ("export", "ledger", "--format", "json")):
        p = subprocess.Popen([sys.executable, "-m", "loyalty_cli", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={**os.environ, "LOYALTY_CONFIG": str(anna.config)})
        p.stdout.readline()
        p.stdout.close()  # like `head -1`
        err = p.stderr.read()
        p.stderr.close()
        assert (p.wait(timeout=120), err) == (0, b""), (args, err)


@pytest.mark.process
def test_a_read_to_a_full_disk_is_an_error_that_changed_nothing(anna):
    with open("/dev/full", "w") as full:
        r = _process(anna, "balance", stdout=full)
    assert r.returncode == 1
    assert r.stderr == "Error: could not write the output (No space left on device); nothing was changed\n"


@pytest.mark.process
def test_a_batch_to_a_full_disk_stops_and_says_what_ran(anna):
    text = "purchase anna 1.00 --order B1 --date 2026-01-02\npurchase anna 1.00 --order B2 --date 2026-01-02\n"
    with open("/dev/full", "w") as full:
        r = _process(anna, "batch", "-", input=text, stdout=full)
    assert r.returncode == 1
    assert r.stderr == ("Error: could not write the output (No space left on device); the batch stopped after "
                        "line 1: what the lines up to it wrote is recorded, the lines after it did not run\n")
    assert anna.sql("SELECT order_id FROM purchases") == [("B1",)]


@pytest.fixture
def full_disk(monkeypatch):
    """The final flush of stdout fails as a full disk would."""
    def fail():
        raise render.OutputFailed("No space left on device", gone=False)
    monkeypatch.setattr(render, "flush_stdout", fail)
    return monkeypatch


@pytest.fixture
def rich_shop(make_shop):
    shop = make_shop("""
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
""")
    shop.run("enroll", "anna", "--name", "Anna", "--birthday", "1990-01-03", "--date", "2026-01-01")
    shop.run("enroll", "bob", "--name", "Bob", "--date", "2026-01-01")
    shop.run("purchase", "anna", "50.00", "--order", "A1", "--date", "2026-01-02")
    shop.run("promo", "create", "TEN", "--percent", "10", "--date", "2026-01-01")
    return shop


WRITES = [
    (("enroll", "carl", "--name", "Carl", "--date", "2026-01-02"), "the member was enrolled"),
    (("edit", "anna", "--name", "Anna T", "--date", "2026-01-02"), "the change was recorded"),
    (("purchase", "anna", "5.00", "--date", "2026-01-03"), "the purchase was recorded"),
    (("refund", "A1", "--amount", "1.00", "--date", "2026-01-03"), "the refund was recorded"),
    (("redeem", "anna", "5", "--date", "2026-01-03"), "the redemption was recorded"),
    (("adjust", "anna", "5", "--reason", "x", "--date", "2026-01-03"), "the adjustment was recorded"),
    (("award", "anna", "review", "--date", "2026-01-03"), "the award was recorded"),
    (("referral", "anna"), "the referral code is recorded"),
    (("promo", "create", "--count", "3", "--points", "5", "--date", "2026-01-03"), "the promo codes were created"),
    (("promo", "disable", "TEN", "--yes", "--date", "2026-01-03"), "the code was disabled"),
    (("expire", "--as-of", "2026-03-01"), "the expiry was recorded"),
    (("birthdays", "--as-of", "2026-01-10"), "the birthday bonuses were recorded"),
    (("daily", "--as-of", "2026-03-01"), "the daily run was recorded"),
    (("forget", "bob", "--yes", "--date", "2026-01-03"), "the member was forgotten"),
    (("import", "purchases", "@csv"), "the import was recorded"),
    (("backup", "@copy"), "the backup was written"),
]


@pytest.mark.parametrize("args, says", WRITES, ids=lambda v: v[0] if isinstance(v, tuple) else None)
def test_every_write_command_says_what_it_recorded_when_its_output_fails(rich_shop, full_disk, tmp_path, args, says):
    files = {"@csv": ("p.csv", "member,amount,date,order\nanna,2.00,2026-01-04,I1\n"),
             "@batch": ("b.txt", "purchase anna 1.00 --order Q1 --date 2026-01-04\n"), "@copy": ("copy.db", None)}
    argv = []
    for a in args:
        if a in files:
            name, text = files[a]
            if text is not None:
                (tmp_path / name).write_text(text)
            a = str(tmp_path / name)
        argv.append(a)
    before = rich_shop.snapshot()
    r = rich_shop.invoke(*argv)
    assert r.exit_code == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: could not write the output (No space left on device); " + says), r.stderr
    if args[0] == "backup":
        assert (tmp_path / "copy.db").exists()
    else:
        assert rich_shop.snapshot() != before  # it was committed
    full_disk.undo()
    clean(rich_shop)


def test_a_dry_run_or_a_read_whose_output_fails_recorded_nothing(rich_shop, full_disk):
    before = rich_shop.snapshot()
    for args in (("daily", "--as-of", "2026-03-01", "--dry-run"), ("balance",), ("show", "anna")):
        r = rich_shop.invoke(*args)
        assert r.exit_code == 1
        assert r.stderr == "Error: could not write the output (No space left on device); nothing was changed\n"
    assert rich_shop.snapshot() == before


@pytest.mark.process
def test_a_dry_run_import_whose_reader_left_ends_quietly_like_other_dry_runs(anna, tmp_path):
    """`import --dry-run` writes nothing, so a closed stdout is a reader that
    left (exit 0), as for `expire --dry-run`; it used to say "nothing was
    changed" with exit 1, as a write would."""
    f = tmp_path / "p.csv"
    f.write_text("member,amount,date,order\nanna,5.00,2026-01-20,D1\n", encoding="utf-8")
    before = anna.snapshot()
    for args in (("import", "purchases", f, "--dry-run", "--format", "json"), ("expire", "--dry-run", "--format", "json")):
        r = _process(anna, *args, stdout=None, preexec=_close_stdout)
        assert (r.returncode, r.stderr) == (0, ""), (args, r.stderr)
    assert anna.snapshot() == before
