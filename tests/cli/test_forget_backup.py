"""The right to be forgotten, online backups and owner-only files.

`forget` must leave no copy of a member's personal data anywhere in the
ledger's files (the database, its WAL and shared-memory files), while every
entry stays and every total still balances. `backup` must make a consistent
copy while tills keep writing, which `check` accepts."""

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from tests.conftest import clean, copy_shop, programme, run_process, shop_template

TOML = programme("""
    [earning]
    points_per_unit = 1
    birthday_bonus = 25

    [earning.actions]
    review = { points = 10 }

    [redemption]
    point_value = "0.01"

    [expiry]
    days = 365
""")

# Strings that appear nowhere but in the member's personal data (her id,
# "zelda", stays: ids are not erased, see the README).
NAME, EMAIL, PHONE, BIRTHDAY = "Zelda Quarterfield", "zelda.q@example.org", "+3725551987", "1977-03-14"


def _files(shop):
    return [p for p in shop.folder.iterdir() if p.name.startswith("loyalty.db")]


def _traces(shop):
    """Which of the personal strings any ledger file still holds, byte for byte."""
    found = set()
    for path in _files(shop):
        data = path.read_bytes()
        for s in (NAME, EMAIL, PHONE, BIRTHDAY, "Zelda", "zelda.q", "5551987"):
            if s.encode() in data:
                found.add((path.name, s))
    return found


@pytest.fixture(scope="module")
def zelda_template(tmp_path_factory):
    """Built once; each test gets a byte-for-byte copy of the folder."""
    return shop_template(tmp_path_factory.mktemp("forget") / "zelda", TOML, [
        ("enroll", "zelda", "--name", NAME, "--email", EMAIL, "--phone", PHONE, "--birthday", BIRTHDAY,
         "--marketing", "--date", "2026-01-01"),
        ("enroll", "ben", "--name", "Ben", "--date", "2026-01-01"),
        ("purchase", "zelda", "120.00", "--order", "z1", "--date", "2026-01-05"),
        ("purchase", "zelda", "30.00", "--order", "z2", "--date", "2026-02-05"),
        ("purchase", "ben", "40.00", "--order", "b1", "--date", "2026-02-06"),
        ("redeem", "zelda", "50", "--date", "2026-03-01"),
        ("award", "zelda", "review", "--date", "2026-03-02"),
        ("daily", "--as-of", "2026-03-20"),  # pays her birthday bonus
        # the name also went through an edit: an old version of the row exists too
        ("edit", "zelda", "--name", NAME + " Jr", "--date", "2026-03-21"),
        ("edit", "zelda", "--name", NAME, "--date", "2026-03-22"),
    ]).folder


@pytest.fixture
def zelda(zelda_template, tmp_path):
    return copy_shop(zelda_template, tmp_path / "zelda")


def test_forget_leaves_no_copy_in_any_ledger_file_and_every_total_still_balances(zelda):
    assert _traces(zelda)  # the strings are there to be found before
    before_entries = zelda.sql("SELECT id, member_id, kind, points, hash FROM entries ORDER BY id")
    before_balances = [(b["member"], b["points"], b["tier"]) for b in zelda.json("balance")]
    before_report = zelda.json("report", "--as-of", "2026-03-22")
    r = zelda.run("forget", "zelda", "--yes", "--date", "2026-03-23")
    assert r.stderr == ("Forgot member zelda: erased name, email, phone, birthday. "
                        "Their 135 points and history stay, anonymous.\n")
    assert _traces(zelda) == set()
    assert zelda.sql("SELECT name, email, phone, birthday, marketing, forgotten_at FROM members WHERE id = 'zelda'") \
        == [(None, None, None, None, 0, "2026-03-23 00:00:00.000000")]
    assert zelda.sql("SELECT id, member_id, kind, points, hash FROM entries ORDER BY id") == before_entries
    assert [(b["member"], b["points"], b["tier"]) for b in zelda.json("balance")] == before_balances
    assert zelda.json("report", "--as-of", "2026-03-22") == before_report
    clean(zelda)
    show = zelda.json("show", "zelda", "--as-of", "2026-03-23")
    assert (show["name"], show["email"], show["phone"], show["birthday"], show["points"]) == (None, None, None, None, 135)
    assert show["forgotten_at"] == "2026-03-23T00:00:00"
    assert "Forgotten member (zelda)" in zelda.run("show", "zelda", "--as-of", "2026-03-23").stdout


def test_forget_by_email_and_the_json_result(zelda):
    r = zelda.run("forget", EMAIL, "--yes", "--date", "2026-03-23", "--format", "json")
    doc = json.loads(r.stdout)
    assert doc == {"member": "zelda", "forgotten_at": "2026-03-23T00:00:00", "already": False,
                   "erased": ["name", "email", "phone", "birthday"], "points": 135, "scrubbed": True}
    # the e-mail no longer finds anyone
    zelda.fail("show", EMAIL, contains=f"unknown member {EMAIL!r}")


def test_forget_needs_yes_without_a_terminal_and_writes_nothing(zelda):
    before = zelda.snapshot()
    zelda.fail("forget", "zelda", contains="needs --yes when there is no terminal to confirm at")
    assert zelda.snapshot() == before


def test_forget_an_unknown_member_is_refused(zelda):
    before = zelda.snapshot()
    zelda.fail("forget", "nobody", "--yes", contains="unknown member 'nobody'")
    assert zelda.snapshot() == before


def test_forgetting_twice_changes_nothing_and_says_so(zelda):
    zelda.run("forget", "zelda", "--yes", "--date", "2026-03-23")
    before = zelda.snapshot()
    r = zelda.run("forget", "zelda", "--yes", "--date", "2026-04-01")
    assert r.stderr == "Member zelda was already forgotten on 2026-03-23; the ledger file was scrubbed again.\n"
    assert zelda.snapshot() == before


@pytest.mark.parametrize("args", [
    ("purchase", "zelda", "10.00", "--date", "2026-04-01"),
    ("redeem", "zelda", "10", "--date", "2026-04-01"),
    ("award", "zelda", "review", "--date", "2026-04-01"),
    ("edit", "zelda", "--name", "Zelda Again", "--date", "2026-04-01"),
    ("referral", "zelda"),
    ("promo", "create", "--percent", "10", "--member", "zelda", "--date", "2026-04-01"),
])
def test_nothing_new_is_recorded_for_a_forgotten_member(zelda, args):
    zelda.run("forget", "zelda", "--yes", "--date", "2026-03-23")
    before = zelda.snapshot()
    zelda.fail(*args, contains="member zelda was forgotten on 2026-03-23 (their personal data erased)")
    assert zelda.snapshot() == before


def test_what_is_already_in_the_ledger_can_still_be_settled(zelda):
    zelda.run("forget", "zelda", "--yes", "--date", "2026-03-23")
    zelda.run("refund", "z2", "--date", "2026-04-01")
    zelda.run("adjust", "zelda", "-10", "--reason", "closing the account", "--date", "2026-04-02")
    assert zelda.json("balance", "zelda", "--as-of", "2026-04-02")[0]["points"] == 135 - 30 - 10
    zelda.run("daily", "--as-of", "2026-04-03")
    clean(zelda)


def test_an_import_skips_a_forgotten_members_recorded_orders_and_refuses_new_ones(zelda, tmp_path):
    zelda.run("forget", "zelda", "--yes", "--date", "2026-03-23")
    f = tmp_path / "till.csv"
    f.write_text("member,amount,date,order\nzelda,30.00,2026-02-05,z2\nben,5.00,2026-03-24,b2\n"
                 "zelda,9.00,2026-03-24,z3\n")
    before = zelda.snapshot()
    r = zelda.invoke("import", "purchases", str(f))
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [
        "  line 4 (member): member zelda was forgotten on 2026-03-23 (their personal data erased): nothing new can "
        "be recorded for them; enrol them again as a new member",
        "Error: 1 bad row; nothing was imported (--skip-errors --rejects FILE imports the good rows)"]
    assert zelda.snapshot() == before
    doc = json.loads(zelda.run("import", "purchases", str(f), "--skip-errors", "--format", "json").stdout)
    assert (doc["added"], doc["skipped"], doc["rejected"]) == (1, 1, 1)
    clean(zelda)


@pytest.mark.process
def test_forget_while_a_till_keeps_writing(zelda):
    """Other processes write while forget vacuums: both succeed, nothing is
    lost, and no copy is left once everyone is done."""
    env = {"LOYALTY_CONFIG": str(zelda.config)}
    tills = [subprocess.Popen([sys.executable, "-m", "loyalty_cli", "purchase", "ben", "1.00", "--order", f"t{i}",
                               "--date", "2026-03-24"], env={**os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(4)]
    r = run_process("forget", "zelda", "--yes", "--date", "2026-03-23", env=env)
    errors = [p.communicate(timeout=120)[1] for p in tills]
    assert r.returncode == 0, r.stderr
    assert [p.returncode for p in tills] == [0] * 4, errors
    assert zelda.sql("SELECT count(*) FROM purchases WHERE order_id LIKE 't%'") == [(4,)]
    run_process("forget", "zelda", "--yes", env=env)  # scrubs again, with nobody else around
    assert _traces(zelda) == set()
    clean(zelda)


# --- backup -------------------------------------------------------------------


def test_backup_is_an_owner_only_copy_that_check_accepts(zelda, tmp_path):
    target = tmp_path / "copy.db"
    r = zelda.run("backup", str(target), "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["path"] == str(target) and doc["entries"] == zelda.sql("SELECT count(*) FROM entries")[0][0]
    assert doc["problems"] == [] and doc["bytes"] == target.stat().st_size
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert zelda.run("check", "--print-head").stdout.strip() == doc["head"]
    assert zelda.run("check", "--db", str(target), "--head", doc["head"]).stdout == ""
    assert zelda.json("balance", "--db", str(target)) == zelda.json("balance")


def test_backup_refuses_to_overwrite_and_names_the_reason(zelda, tmp_path):
    existing = tmp_path / "there.db"
    existing.write_bytes(b"keep me")
    zelda.fail("backup", str(existing), contains="already exists; backup never overwrites a file")
    assert existing.read_bytes() == b"keep me"
    zelda.fail("backup", str(tmp_path), contains="is a folder; give the backup file's name")
    zelda.fail("backup", str(tmp_path / "no" / "such" / "x.db"), contains="does not exist")
    assert not (tmp_path / "no").exists()


@pytest.mark.process
def test_an_online_backup_while_tills_write_is_one_consistent_moment(zelda, tmp_path):
    env = {**os.environ, "LOYALTY_CONFIG": str(zelda.config)}
    tills = [subprocess.Popen([sys.executable, "-m", "loyalty_cli", "purchase", "ben", f"{i + 1}.00", "--order",
                               f"t{i}", "--date", "2026-03-24"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    copies = []
    for n in range(2):
        target = tmp_path / f"copy{n}.db"
        r = run_process("backup", str(target), "--format", "json", env={"LOYALTY_CONFIG": str(zelda.config)})
        assert r.returncode == 0, r.stderr
        copies.append(target)
        time.sleep(0.2)
    errors = [p.communicate(timeout=120)[1] for p in tills]
    assert [p.returncode for p in tills] == [0] * 4, errors
    for target in copies:
        # each copy is whole: check is silent and ben's balance matches the orders it holds
        assert zelda.run("check", "--db", str(target)).stdout == ""
        import sqlite3
        con = sqlite3.connect(target)
        orders = con.execute("SELECT coalesce(sum(points_earned), 0) FROM purchases WHERE member_id = 'ben'").fetchone()[0]
        points = con.execute("SELECT points FROM members WHERE id = 'ben'").fetchone()[0]
        con.close()
        assert points == orders


def test_a_backup_of_a_postgres_url_is_refused_cleanly(zelda, tmp_path):
    zelda.fail("backup", str(tmp_path / "x.db"), "--db", "postgresql+nosuchdbapi://u:p@h/db")


# --- owner-only files -------------------------------------------------------------


@pytest.mark.process
def test_the_ledger_and_its_wal_files_are_owner_only_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        assert run_process("init", cwd=tmp_path).returncode == 0
        con_env = {"LOYALTY_CONFIG": str(tmp_path / "loyalty.toml")}
        # a reader holds the ledger open so the -wal and -shm files exist to be looked at
        import sqlite3
        con = sqlite3.connect(tmp_path / "loyalty.db")
        con.execute("SELECT count(*) FROM members").fetchall()
        assert run_process("enroll", "anna", "--name", "Anna", env=con_env, cwd=tmp_path).returncode == 0
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir() if p.name.startswith("loyalty.db")}
        con.close()
    finally:
        os.umask(old)
    assert modes.get("loyalty.db") == 0o600 and modes.get("loyalty.db-wal") == 0o600, modes
    assert all(m == 0o600 for m in modes.values()), modes


def test_forget_withdraws_consent_and_the_consent_history_keeps_when(zelda):
    zelda.run("forget", "zelda", "--yes", "--date", "2026-03-23")
    assert zelda.sql("SELECT at, marketing, via FROM consent_changes WHERE member_id = 'zelda' ORDER BY id") == [
        ("2026-01-01 00:00:00.000000", 1, "enroll"), ("2026-03-23 00:00:00.000000", 0, "forget")]
    # as of a day before, she had consented (her name is gone: names show as they are now)
    before = zelda.json("show", "zelda", "--as-of", "2026-03-22")
    assert (before["name"], before["marketing"], before["marketing_at"]) == (None, True, "2026-01-01T00:00:00")
    assert zelda.json("show", "zelda")["marketing"] is False
    assert {m["member"]: m["marketing"] for m in zelda.json("members", "--as-of", "2026-03-22")} == \
        {"ben": False, "zelda": True}
    assert _traces(zelda) == set()  # the consent history holds no personal data
    clean(zelda)


def test_a_forgotten_member_gets_no_birthday_bonus(make_shop):
    shop = make_shop(TOML)
    shop.run("enroll", "fay", "--name", "Fay", "--birthday", "1980-11-20", "--date", "2026-01-01")
    shop.run("enroll", "gus", "--name", "Gus", "--birthday", "1980-11-20", "--date", "2026-01-01")
    shop.run("forget", "fay", "--yes", "--date", "2026-11-01")
    r = shop.json("daily", "--as-of", "2026-11-25")
    assert [g["member"] for g in r["birthdays"]["granted"]] == ["gus"]
    assert shop.sql("SELECT member_id FROM entries WHERE kind = 'birthday'") == [("gus",)]
    clean(shop)


# --- half-done work -----------------------------------------------------------


@pytest.mark.process
def test_forget_whose_scrub_fails_says_the_member_was_forgotten_and_a_rerun_finishes(zelda):
    """A disk that fills during the scrub (the vacuum needs room for a second
    copy): the erase is committed, and the message says so and how to finish."""
    import resource
    import signal

    limit = 56 * 1024  # room for the erase's few pages in the WAL, not for the vacuum's copy of the whole ledger
    assert zelda.db.stat().st_size > 2 * limit

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond the limit fails instead (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "LOYALTY_CONFIG": str(zelda.config)}
    p = subprocess.run([sys.executable, "-m", "loyalty_cli", "forget", "zelda", "--yes", "--date", "2026-03-23"],
                       env=env, capture_output=True, text=True, preexec_fn=small_disk, timeout=120)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: member zelda was forgotten, but the ledger file could not "
                                                   "be scrubbed yet ("), p.stderr
    assert "run `loyalty forget zelda --yes` again to finish" in lines[0]
    assert zelda.sql("SELECT name, forgotten_at FROM members WHERE id = 'zelda'") == [(None, "2026-03-23 00:00:00.000000")]
    r = zelda.run("forget", "zelda", "--yes")
    assert "already forgotten" in r.stderr
    assert _traces(zelda) == set()
    clean(zelda)


@pytest.mark.process
def test_a_backup_killed_mid_copy_leaves_no_file_under_its_name_and_a_rerun_works(zelda, tmp_path):
    tmp_path = tmp_path / "backups"
    tmp_path.mkdir()
    target = tmp_path / "copy.db"
    env = {**os.environ, "LOYALTY_CONFIG": str(zelda.config)}
    seen = False
    for _ in range(5):  # the copy takes a moment: kill it as soon as its temporary file is there
        p = subprocess.Popen([sys.executable, "-m", "loyalty_cli", "backup", str(target)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while p.poll() is None and time.monotonic() < deadline:
            if list(tmp_path.glob("copy.db.partial-*")):
                p.kill()
                seen = True
                break
        p.wait(timeout=60)
        if seen:
            break
        target.unlink(missing_ok=True)
    if not seen:
        pytest.skip("every backup finished before it could be killed")
    assert not target.exists()
    assert f"copy.db.partial-{p.pid}" in [x.name for x in tmp_path.glob("copy.db.partial-*")]
    r = zelda.run("backup", str(target), "--format", "json")
    assert json.loads(r.stdout)["problems"] == []
    assert sorted(x.name for x in tmp_path.iterdir()) == ["copy.db"]  # the killed run's leftover is gone
    assert zelda.run("check", "--db", str(target)).stdout == ""


def test_a_backup_whose_copy_cannot_be_opened_leaves_nothing(zelda, tmp_path, monkeypatch):
    from loyalty_cli.store import db as dbm

    tmp_path = tmp_path / "backups"
    tmp_path.mkdir()
    def broken(engine, url, *a, **k):  # the copy on disk is not a ledger (a damaged write)
        raise dbm.LedgerError(f"{url} is not a loyalty ledger, or is damaged (file is not a database)")

    real = dbm.engine_for
    monkeypatch.setattr(dbm, "engine_for", lambda url, **k: broken(None, url) if ".partial-" in url else real(url, **k))
    zelda.fail("backup", str(tmp_path / "copy.db"), contains="is not a loyalty ledger, or is damaged")
    assert list(tmp_path.iterdir()) == []
