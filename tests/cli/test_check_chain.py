"""`check` against edits made outside loyalty: the hash chain over entries,
the seals over every other table, the head noted elsewhere, FIFO spending,
and SQLite's own integrity check.

Every tamper here first gets past the append-only triggers, as someone
editing the file with the sqlite3 shell would (dropping them), or the
server's superuser on PostgreSQL (triggers off for the session); balances
are kept consistent where that would hide the edit from the other checks,
so only the chain or the seals can catch it. On both backends."""

import hashlib
import json
import sqlite3

import pytest

from tests.conftest import clean, copy_shop, programme, shop_template

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run


def _tamper(shop, *statements):
    if shop.backend == "postgresql":  # as the server's superuser with psql: foreign keys not enforced
        shop.sql("; ".join(["SET session_replication_role = replica", *statements]))
        return
    con = sqlite3.connect(shop.db)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


def _problems(shop):
    r = shop.invoke("check")
    assert r.exit_code == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [f"Error: {len(r.stdout.splitlines())} problem"
                                             f"{'s' if len(r.stdout.splitlines()) != 1 else ''} found"]
    return r.stdout.splitlines()


@pytest.fixture(scope="module")
def busy_template(tmp_path_factory, backend):
    """A ledger with a few of every kind of entry: ids 1..9 (built once per backend)."""
    shop = shop_template(tmp_path_factory.mktemp("chain") / "busy", programme("""
        [earning]
        points_per_unit = 1
        [expiry]
        days = 30
    """), [
        ("enroll", "anna", "--name", "Anna", "--date", "2026-01-01"),
        ("enroll", "ben", "--name", "Ben", "--date", "2026-01-01"),
        ("purchase", "anna", "40.00", "--order", "a1", "--date", "2026-01-02"),     # 1 earn 40
        ("purchase", "ben", "25.00", "--order", "b1", "--date", "2026-01-02"),      # 2 earn 25
        ("purchase", "anna", "30.00", "--order", "a2", "--date", "2026-01-10"),     # 3 earn 30
        ("redeem", "anna", "50", "--date", "2026-01-11"),                           # 4 redeem 40 from 1, 10 from 3
        ("adjust", "ben", "5", "--reason", "goodwill", "--date", "2026-01-12"),     # 5 adjust +5
        ("refund", "a2", "--amount", "10.00", "--date", "2026-01-12"),              # 6 refund -10 from 3
        ("daily", "--as-of", "2026-03-01"),                                         # 7, 8, 9: expiry
    ], backend)
    clean(shop)
    assert shop.sql("SELECT count(*) FROM entries") == [(9,)]
    return shop.folder


@pytest.fixture
def busy(busy_template, tmp_path):
    """A copy of that ledger, for one test."""
    return copy_shop(busy_template, tmp_path / "busy")


def _hash(prev, row):
    """sha256 over [previous hash, the entry's columns as stored], as JSON:
    written out here independently of loyalty_cli/chain.py."""
    return hashlib.sha256(json.dumps([prev, *row], ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


FIELDS = "id, member_id, at, kind, points, order_id, action, note, reverses, expires_on, available_on, recorded_at"


def _rechain(shop, start, stop=None):
    """Recompute every hash from entry `start` on (to `stop`), as a forger
    who read the source would: the chain alone then looks whole."""
    prev = shop.sql("SELECT hash FROM entries WHERE id < ? ORDER BY id DESC LIMIT 1", start)
    prev = prev[0][0] if prev else "0" * 64
    for row in shop.sql(f"SELECT {FIELDS} FROM entries WHERE id >= ? AND id <= ? ORDER BY id", start, stop or 10**9):
        prev = _hash(prev, row)
        _tamper(shop, f"UPDATE entries SET hash = '{prev}' WHERE id = {row[0]}")


def _reseal(shop):
    """What a careful forger does after removing seals: number the rest 1, 2,
    3, ... again and chain them anew (sha256 over [previous hash, id, table,
    key, digest], as JSON: written out here independently of seals.py)."""
    rows = shop.sql("SELECT table_name, row_key, digest FROM seals ORDER BY id")
    prev, values = "0" * 64, []
    for n, (table, key, digest) in enumerate(rows, start=1):
        prev = hashlib.sha256(json.dumps([prev, n, table, key, digest], ensure_ascii=False,
                                         separators=(",", ":")).encode()).hexdigest()
        values.append(f"({n}, '{table}', '{key}', '{digest}', '{prev}')")
    _tamper(shop, "DELETE FROM seals", f"INSERT INTO seals (id, table_name, row_key, digest, hash) VALUES "
                                       f"{', '.join(values)}")


def test_every_entry_is_chained_to_the_one_before(busy):
    rows = busy.sql(f"SELECT {FIELDS}, hash FROM entries ORDER BY id")
    assert [r[0] for r in rows] == list(range(1, 10))  # ids have no gaps
    prev = "0" * 64
    for *values, stored in rows:
        prev = _hash(prev, values)
        assert stored == prev


def test_personal_data_is_not_in_the_chain(busy):
    """Hashes cover entry columns only; changing a member's name, e-mail or
    phone (as `edit` and `forget` do) leaves the chain whole."""
    before = busy.sql("SELECT hash FROM entries ORDER BY id")
    busy.run("edit", "anna", "--name", "Someone Else", "--email", "x@example.com", "--date", "2026-03-02")
    assert busy.sql("SELECT hash FROM entries ORDER BY id") == before
    clean(busy)


@pytest.mark.parametrize("statements, first_broken", [
    # the points of an earning, with the balance kept in step: only the chain sees it
    (["UPDATE entries SET points = 45 WHERE id = 2", "UPDATE members SET points = points + 20 WHERE id = 'ben'"], 2),
    (["UPDATE entries SET note = 'nothing to see' WHERE id = 5"], 5),
    (["UPDATE entries SET at = '2026-01-03 00:00:00.000000' WHERE id = 3"], 3),
    (["UPDATE entries SET member_id = 'anna' WHERE id = 5"], 5),
    (["UPDATE entries SET expires_on = '2027-01-01' WHERE id = 1"], 1),
    (["UPDATE entries SET hash = NULL WHERE id = 6"], 6),
    (["UPDATE entries SET recorded_at = '2020-01-01 00:00:00.000000' WHERE id = 8"], 8),
])
def test_an_edit_made_outside_loyalty_names_the_first_broken_entry(busy, statements, first_broken):
    _tamper(busy, *statements)
    chain = [p for p in _problems(busy) if "changed outside loyalty" in p]
    assert chain == [f"entry {first_broken}: "
                     + ("has no hash" if "NULL" in statements[0] else
                        "hash does not match its content and the entry before it")
                     + ": the entry, or one before it, was changed outside loyalty (the chain is broken from here)"]


def test_a_forger_who_rehashes_the_edited_entry_breaks_the_next_link(busy):
    _tamper(busy, "UPDATE entries SET note = 'moved' WHERE id = 5")
    _rechain(busy, 5)  # the edited entry and everything after it rehashed...
    clean(busy)  # ...then the chain looks whole: this is what a head noted elsewhere is for
    _tamper(busy, "UPDATE entries SET note = 'again' WHERE id = 5")
    _rechain(busy, 5, 5)  # only this one rehashed
    assert [p for p in _problems(busy) if p.startswith("entry 6:")]


def test_a_removed_entry_shows_as_a_gap(busy):
    # ben's adjustment, with his balance kept in step
    _tamper(busy, "DELETE FROM entries WHERE id = 5", "UPDATE members SET points = points - 5 WHERE id = 'ben'")
    assert _problems(busy) == ["entry 6: follows entry 4, but ids have no gaps: entry 5 removed outside loyalty"]


def _combined(entry_hash, seal_hash):
    """The head's hash, written out independently of loyalty_cli/chain.py."""
    return hashlib.sha256(f"{entry_hash}:{seal_hash}".encode()).hexdigest()


def test_a_head_noted_earlier_catches_a_rewritten_or_shortened_ledger(busy):
    r = busy.run("check", "--print-head")
    head = r.stdout.strip()
    counts, h = head.split(":")
    n, s = counts.split(".")
    (seals,) = busy.sql("SELECT count(*), max(id) FROM seals")
    assert n == "9" and (int(s), int(s)) == seals
    [(entry_hash,)] = busy.sql("SELECT hash FROM entries WHERE id = 9")
    [(seal_hash,)] = busy.sql(f"SELECT hash FROM seals WHERE id = {s}")
    assert h == _combined(entry_hash, seal_hash)
    assert busy.run("check", "--head", head).stdout == ""
    # the ledger grows: the old head is still in it
    busy.run("purchase", "ben", "1.00", "--date", "2026-03-02")
    assert busy.run("check", "--head", head).stdout == ""
    # a careful forger rewrites an entry and rehashes the rest: only the head shows it
    _tamper(busy, "UPDATE entries SET note = 'rewritten' WHERE id = 5")
    _rechain(busy, 5)
    clean(busy)
    r = busy.invoke("check", "--head", head)
    assert r.exit_code == 1
    assert r.stdout == (f"chain: the head given (9 entries, {s} seals) says {h[:16]}…, the ledger there has "
                        f"{_combined(busy.sql('SELECT hash FROM entries WHERE id = 9')[0][0], seal_hash)[:16]}…: "
                        "the ledger was rewritten up to there\n")
    # the head an older loyalty printed (entries only) still proves the entries
    r = busy.invoke("check", "--head", f"9:{entry_hash}")
    assert r.exit_code == 1 and r.stdout.startswith("entry 9: hash is ")


def test_a_head_catches_seals_cut_off_the_end(busy):
    head = busy.run("check", "--print-head").stdout.strip()
    busy.run("promo", "create", "LATE", "--points", "5", "--date", "2026-03-02")  # a row and its seal, no entry
    clean(busy)
    last = busy.sql("SELECT max(id) FROM seals")[0][0]
    _tamper(busy, "DELETE FROM promo_codes WHERE code = 'LATE'", f"DELETE FROM seals WHERE id = {last}")
    clean(busy)  # on its own, a ledger cut short is whole
    later = busy.run("check", "--print-head").stdout.strip()
    assert later == head  # and it is the ledger as it was: only a head noted later shows the cut
    busy.run("promo", "create", "LATER", "--points", "5", "--date", "2026-03-02")
    noted = busy.run("check", "--print-head").stdout.strip()
    _tamper(busy, "DELETE FROM promo_codes WHERE code = 'LATER'", f"DELETE FROM seals WHERE id = {last}")
    r = busy.invoke("check", "--head", noted)
    assert r.exit_code == 1 and r.stdout == (f"chain: the ledger has {last - 1} seals, but the head given is seal "
                                             f"{last}: seals were removed from the end\n")


def test_a_head_catches_entries_cut_off_the_end(busy):
    head = busy.run("check", "--print-head").stdout.strip()
    # the last two entries (ben's expiry) removed, with their allocations and those allocations' seals,
    # and the balances put back
    _tamper(busy, "DELETE FROM seals WHERE table_name = 'allocations' AND CAST(row_key AS BIGINT) IN "
                  "(SELECT id FROM allocations WHERE debit_id IN (8, 9))",
            "DELETE FROM allocations WHERE debit_id IN (8, 9)", "DELETE FROM entries WHERE id IN (8, 9)",
            "UPDATE members SET points = (SELECT sum(points) FROM entries WHERE member_id = members.id)")
    _reseal(busy)  # the seals after the gap renumbered and rehashed
    clean(busy)  # on its own the shortened chain is whole
    r = busy.invoke("check", "--head", head)
    assert r.exit_code == 1
    assert r.stdout == ("chain: the ledger has 7 entries, but the head given is entry 9: "
                        "entries were removed from the end\n")


@pytest.mark.parametrize("bad", ["", "8", "8:abc", "x:" + "0" * 64, "8:" + "G" * 64, "-1:" + "0" * 64,
                                 "8.:" + "0" * 64, "8.x:" + "0" * 64, "8.-2:" + "0" * 64, ".3:" + "0" * 64])
def test_a_malformed_head_is_refused_in_one_line(busy, bad):
    busy.fail("check", "--head", bad, contains="is not valid: expected <entries>.<seals>:<64 hex digits>")


def test_print_head_prints_nothing_when_there_are_problems(busy):
    _tamper(busy, "UPDATE members SET points = points + 1 WHERE id = 'ben'")
    r = busy.invoke("check", "--print-head")
    assert r.exit_code == 1 and r.stdout == "member ben: balance is 1, but the entries sum to 0\n"


def test_a_new_ledger_has_no_entries_and_one_seal_its_currency(shop):
    [(seal_hash,)] = shop.sql("SELECT hash FROM seals WHERE id = 1")
    assert shop.sql("SELECT table_name, row_key FROM seals") == [("meta", "currency")]
    assert shop.run("check", "--print-head").stdout == f"0.1:{_combined('0' * 64, seal_hash)}\n"
    assert shop.run("check", "--head", "0.0:" + _combined("0" * 64, "0" * 64)).stdout == ""
    assert shop.run("check", "--head", "0:" + "0" * 64).stdout == ""  # an older loyalty's head of nothing


def test_spending_newer_points_before_older_ones_is_caught(busy):
    """The redemption (entry 4) took 40 from entry 1 and 10 from entry 3.
    Moving it onto the newer lot keeps every sum right; only FIFO sees it."""
    _tamper(busy,
            "UPDATE allocations SET points = 30 WHERE debit_id = 4 AND credit_id = 1",
            "UPDATE allocations SET points = 20 WHERE debit_id = 4 AND credit_id = 3")
    problems = _problems(busy)
    assert ("entry 4: redeem of 50 points took 30 from entry 1, 20 from entry 3, but the soonest-expiring, "
            "oldest points then were 40 from entry 1, 10 from entry 3 (member anna)") in problems


def test_a_refund_takes_back_its_own_orders_points_first(busy):
    """The refund (entry 6) of order a2 took 10 from a2's own lot (entry 3);
    pointing it at anna's older lot is caught."""
    assert busy.sql("SELECT credit_id, points FROM allocations WHERE debit_id = 6") == [(3, 10)]
    _tamper(busy, "UPDATE allocations SET credit_id = 1 WHERE debit_id = 6")
    problems = _problems(busy)
    assert any(p.startswith("entry 6: refund of 10 points took 10 from entry 1, but the soonest-expiring, "
                            "oldest points then were 10 from entry 3") for p in problems), problems


@pytest.mark.sqlite_only("SQLite's own integrity check, on the file's pages")
def test_check_reports_sqlites_own_integrity_problems(busy):
    con = sqlite3.connect(busy.db)
    roots = dict(con.execute("SELECT name, rootpage FROM sqlite_master WHERE type = 'index' "
                             "AND name IN ('ix_entries_order', 'ix_entries_expires')").fetchall())
    con.execute("PRAGMA writable_schema = ON")  # two indexes swapped: each now disagrees with the table
    con.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = 'ix_entries_order'", (roots["ix_entries_expires"],))
    con.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = 'ix_entries_expires'", (roots["ix_entries_order"],))
    con.commit()
    con.close()
    problems = _problems(busy)
    assert any(p.startswith("sqlite: ") and "missing from index" in p for p in problems), problems
