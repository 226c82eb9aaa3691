"""The one posting function, called directly on a real SQLite ledger.

`posting.post` writes a batch of Postings (entries sealed into the chain,
their allocations, the cached balances) and asserts the ledger's invariants
in the same transaction. Each invariant is broken here by a crafted posting
(or, for the two a posting cannot break on its own, by a ledger or a head
made wrong first): it raises, and nothing of it is written. And every
command that moves points, the import's fast path included, goes through it.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

import pytest

from loyalty_cli.domain.money import INT64_MAX
from loyalty_cli.errors import LoyaltyError
from loyalty_cli.io import importer
from loyalty_cli.ledger import operations, posting
from loyalty_cli.ledger.posting import Posting, PostingError, post
from loyalty_cli.store import bulk, chain, db
from tests.conftest import clean, copy_shop, programme, shop_template

PROGRAMME = programme("""
    [earning]
    points_per_unit = 1
    welcome_bonus = 50
    birthday_bonus = 25

    [earning.actions]
    review = { points = 20 }

    [expiry]
    days = 30

    [referral]
    referrer_points = 200
    referee_points = 100
    min_purchase = "20"
""")

HISTORY = [
    ("enroll", "anna", "--name", "Anna", "--date", "2026-01-05"),               # 1 welcome 50
    ("enroll", "bob", "--name", "Bob", "--date", "2026-01-05"),                 # 2 welcome 50
    ("purchase", "anna", "12.00", "--order", "A1", "--date", "2026-01-06"),     # 3 earn 12
    ("redeem", "anna", "30", "--date", "2026-01-07"),                           # 4 redeem 30 from 1
]

AT = datetime(2026, 1, 8, 10, 0)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    shop = shop_template(tmp_path_factory.mktemp("posting") / "shop", PROGRAMME, HISTORY)
    assert shop.sql("SELECT id, member_id, kind, points FROM entries ORDER BY id") == [
        (1, "anna", "welcome", 50), (2, "bob", "welcome", 50), (3, "anna", "earn", 12), (4, "anna", "redeem", -30)]
    assert shop.sql("SELECT debit_id, credit_id, points FROM allocations") == [(4, 1, 30)]
    return shop.folder


@pytest.fixture
def shop(template, tmp_path):
    return copy_shop(template, tmp_path / "shop")


def _post(shop, postings, **kw) -> list[int]:
    """`post` in a write transaction of the shop's ledger, committed."""
    engine = db.engine_for(db.sqlite_url(shop.db))
    try:
        with db.transaction(engine, write=True) as conn:
            return post(conn, postings, **kw)
    finally:
        engine.dispose()


def _refused(shop, postings, error=PostingError, match: str | None = None):
    """The posting raises `error`, and the ledger is as it was."""
    before = shop.snapshot()
    with pytest.raises(error, match=match) as e:
        _post(shop, postings)
    assert shop.snapshot() == before
    return e.value


def test_a_batch_writes_entries_allocations_balances_and_extends_the_chain(shop):
    head = shop.sql("SELECT max(id), hash FROM entries WHERE id = (SELECT max(id) FROM entries)")[0]
    ids = _post(shop, [
        Posting("bob", AT, "adjust", 7, note="goodwill", expires_on=date(2026, 2, 7)),
        Posting("anna", AT, "redeem", -25, ((1, 20), (3, 5)), note="Free coffee"),
        Posting("bob", AT, "redeem", -10, ((2, 10),), order_id="B1"),
    ], recorded_at=datetime(2026, 1, 8, 8, 0))
    assert ids == [5, 6, 7]
    assert shop.sql("SELECT id, member_id, kind, points, order_id, note, expires_on, recorded_at FROM entries "
                    "WHERE id > 4 ORDER BY id") == [
        (5, "bob", "adjust", 7, None, "goodwill", "2026-02-07", "2026-01-08 08:00:00.000000"),
        (6, "anna", "redeem", -25, None, "Free coffee", None, "2026-01-08 08:00:00.000000"),
        (7, "bob", "redeem", -10, "B1", None, None, "2026-01-08 08:00:00.000000")]
    assert shop.sql("SELECT debit_id, credit_id, points FROM allocations WHERE debit_id > 4 ORDER BY id") == [
        (6, 1, 20), (6, 3, 5), (7, 2, 10)]
    assert shop.sql("SELECT id, points FROM members ORDER BY id") == [("anna", 7), ("bob", 47)]
    first = shop.sql("SELECT hash FROM entries WHERE id = 5")[0][0]
    assert first == chain.digest(head[1], shop.sql(f"SELECT {', '.join(chain.FIELDS)} FROM entries WHERE id = 5")[0])
    clean(shop)  # `loyalty check`: the chain verifies, balances and allocations hold


def test_a_credit_pays_a_debt_through_its_allocations(shop):
    """A debit left uncovered (a refund's claw-back: the debt) is paid by the
    allocations of a later credit."""
    (debt,) = _post(shop, [Posting("anna", AT, "refund", -40, ((3, 12), (1, 20)), order_id="A1")])
    assert shop.sql("SELECT points FROM members WHERE id = 'anna'") == [(-8,)]
    (lot,) = _post(shop, [Posting("anna", AT, "adjust", 10, ((debt, 8),), note="goodwill")])
    assert shop.sql("SELECT debit_id, credit_id, points FROM allocations WHERE credit_id = ?", lot) == [(debt, lot, 8)]
    assert shop.sql("SELECT points FROM members WHERE id = 'anna'") == [(2,)]
    clean(shop)


def test_nothing_to_post_writes_nothing(shop):
    before = shop.snapshot()
    assert _post(shop, []) == []
    assert shop.snapshot() == before


# --- each invariant, broken: it raises, and nothing is written ------------------


def test_an_entry_of_no_points(shop):
    _refused(shop, [Posting("bob", AT, "adjust", 5), Posting("bob", AT, "adjust", 0)], match="0 points")


def test_an_allocation_of_no_points(shop):
    _refused(shop, [Posting("bob", AT, "redeem", -5, ((2, 5), (2, 0)))], match="0 or fewer")


def test_a_debit_allocated_beyond_its_size(shop):
    _refused(shop, [Posting("bob", AT, "redeem", -5, ((2, 6),))], match="more than its size")


def test_a_lot_over_allocated(shop):
    """Lot 1 (anna's welcome, 50) already gave 30 to entry 4: 21 more is one too many."""
    e = _refused(shop, [Posting("anna", AT, "redeem", -21, ((1, 21),))], match="entry 1: 51 points allocated")
    assert isinstance(e, AssertionError) and not isinstance(e, LoyaltyError)  # a bug, not a refusal


def test_one_lot_over_allocated_by_two_postings_of_a_batch(shop):
    _refused(shop, [Posting("bob", AT, "redeem", -30, ((2, 30),)), Posting("bob", AT, "adjust", -30, ((2, 30),))],
             match="entry 2: 60 points allocated from a credit of 50")


def test_a_debit_covered_beyond_its_size_by_a_credit(shop):
    """Entry 4 (a redemption of 30) is fully covered: a credit paying 5 of it as a debt over-covers it."""
    _refused(shop, [Posting("anna", AT, "adjust", 5, ((4, 5),))], match="entry 4: a debit of 30 covered by 35")


def test_an_allocation_from_another_members_lot(shop):
    _refused(shop, [Posting("bob", AT, "redeem", -5, ((3, 5),))], match="not a debit and a credit of the same member")


def test_an_allocation_from_a_debit(shop):
    _refused(shop, [Posting("anna", AT, "redeem", -5, ((4, 5),))])


def test_a_cached_balance_that_is_not_the_sum_of_the_entries(shop):
    """Only a ledger already wrong can break this one (a posting moves the
    cache with its entries): bob's cached balance was changed outside loyalty."""
    con = sqlite3.connect(shop.db)
    with con:
        con.execute("UPDATE members SET points = 49 WHERE id = 'bob'")
    con.close()
    _refused(shop, [Posting("bob", AT, "adjust", 5)], match="member bob: the cached balance is 54, but their entries "
                                                             "sum to 55")


def test_a_posting_for_a_member_the_ledger_does_not_have(shop):
    _refused(shop, [Posting("zed", AT, "adjust", 5)], match="member zed, who is not in the ledger")


def test_a_balance_beyond_64_bits_is_refused_before_the_write(shop):
    """A refusal (exit 1 at the command line), not a bug, as before the posting function."""
    _refused(shop, [Posting("bob", AT, "adjust", INT64_MAX)], error=LoyaltyError,
             match="member bob's balance would hold more than 9,223,372,036,854,775,807 points")
    _refused(shop, [Posting("bob", AT, "adjust", INT64_MAX - 50), Posting("bob", AT, "adjust", 1)],
             error=LoyaltyError, match="member bob's balance would hold")


def test_entries_linked_to_a_head_that_is_not_the_last_entry(shop, monkeypatch):
    """Only a bug (or a writer that did not take the chain's lock) can break
    the chain: here the head read before sealing is made wrong."""
    real = chain.last
    monkeypatch.setattr(posting.chain, "last", lambda conn: (real(conn)[0] + 1, real(conn)[1]))
    _refused(shop, [Posting("bob", AT, "adjust", 5)], match="the chain: the new entries were linked to entry 5")
    monkeypatch.setattr(posting.chain, "last", lambda conn: (real(conn)[0], "0" * 64))
    _refused(shop, [Posting("bob", AT, "adjust", 5)], match="not the entry before them")


def test_an_entry_stored_with_another_hash_than_it_was_sealed_with(shop, monkeypatch):
    """The stored head must be the last entry as sealed: here the insert
    stores the last one's hash changed."""
    real = bulk.insert_rows

    def altered(conn, table, columns, rows, **kw):
        if table.name == "entries":
            rows = [*rows[:-1], (*rows[-1][:-1], "f" * 64)]
        return real(conn, table, columns, rows, **kw)

    monkeypatch.setattr(posting.bulk, "insert_rows", altered)
    _refused(shop, [Posting("bob", AT, "adjust", 5), Posting("anna", AT, "adjust", 5)],
             match="entry 6 is not stored with the hash it was sealed with")


# --- every point movement goes through it ------------------------------------------


@pytest.fixture
def posted(monkeypatch):
    """Every call of `post`, by whichever module made it: (caller, kinds)."""
    calls: list[tuple[str, list[str]]] = []
    for module in (operations, importer):
        def spy(conn, postings, *, _module=module.__name__, **kw):
            calls.append((_module.rsplit(".", 1)[-1], [p.kind for p in postings]))
            return post(conn, postings, **kw)
        monkeypatch.setattr(module, "post", spy)
    return calls


def test_every_command_that_moves_points_posts_through_it(shop, posted):
    shop.run("enroll", "cyd", "--name", "Cyd", "--birthday", "1990-01-20", "--date", "2026-01-08")
    code = shop.json("referral", "anna")["code"]
    shop.run("enroll", "dan", "--name", "Dan", "--referral", code, "--date", "2026-01-08")
    shop.run("purchase", "dan", "25.00", "--order", "D1", "--date", "2026-01-09")
    shop.run("purchase", "bob", "30.00", "--order", "B1", "--redeem", "20", "--date", "2026-01-09")
    shop.run("refund", "B1", "--amount", "15.00", "--date", "2026-01-10")
    shop.run("adjust", "cyd", "5", "--reason", "goodwill", "--date", "2026-01-10")
    shop.run("adjust", "cyd", "-3", "--reason", "correction", "--date", "2026-01-10")
    shop.run("award", "cyd", "review", "--date", "2026-01-11")
    shop.run("daily", "--as-of", "2026-02-01")  # cyd's birthday bonus
    shop.run("daily", "--as-of", "2026-03-01")  # the expiry of everything earned in January
    kinds = [k for _, ks in posted for k in ks]
    assert sorted(set(kinds)) == ["adjust", "award", "birthday", "earn", "expire", "redeem", "referral", "refund",
                                  "restore", "welcome"]
    assert len(kinds) == shop.sql("SELECT count(*) FROM entries WHERE id > 4")[0][0]  # nothing around it
    clean(shop)


def test_the_import_posts_once_per_batch_of_members(shop, posted, tmp_path, monkeypatch):
    """The fast path batches through `post`, not around it: one call for a
    batch's earnings, however many rows and members it holds."""
    monkeypatch.setattr(importer, "BATCH", 40)
    rows = [f"m{i % 30},{1 + i % 7}.50,2026-01-{10 + i % 9:02d},o{i}" for i in range(100)]
    f = tmp_path / "sales.csv"
    f.write_text("member,amount,date,order\n" + "\n".join(rows) + "\n")
    r = shop.json("import", "purchases", f, "--create-members")
    assert (r["added"], r["rejected"]) == (100, 0)
    calls = [c for c in posted if c[1]]  # (an expiry with nothing due posts nothing: post([]))
    assert calls[0] == ("importer", ["welcome"] * 30)  # the new members' welcome bonuses, in one call
    assert [who for who, _ in calls] == ["importer"] * 4
    earns = [ks for _, ks in calls[1:]]
    assert [len(ks) for ks in earns] == [42, 42, 16] and {k for ks in earns for k in ks} == {"earn"}
    assert shop.sql("SELECT count(*) FROM entries WHERE kind = 'earn'") == [(101,)]
    clean(shop)


# --- every other row: recorded and sealed -------------------------------------------


def _write(shop, fn):
    engine = db.engine_for(db.sqlite_url(shop.db))
    try:
        with db.transaction(engine, write=True) as conn:
            return fn(conn)
    finally:
        engine.dispose()


def test_record_gives_the_next_ids_and_seals_each_row_in_order(shop):
    from loyalty_cli.store import seals
    from loyalty_cli.store.models import tier_changes

    before = shop.sql("SELECT max(id) FROM seals")[0][0]
    ids = _write(shop, lambda conn: posting.record(conn, tier_changes, [
        {"member_id": "anna", "at": AT, "from_tier": None, "to_tier": "Bronze"},
        {"member_id": "bob", "at": AT, "from_tier": "Bronze", "to_tier": "Silver"}]))
    first = shop.sql("SELECT coalesce(max(id), 0) FROM tier_changes WHERE id < ?", ids[0])[0][0]
    assert ids == [first + 1, first + 2]
    got = shop.sql("SELECT id, table_name, row_key, digest FROM seals WHERE id > ? ORDER BY id", before)
    kinds = seals.COLUMNS["tier_changes"]
    assert got == [(before + 1, "tier_changes", str(ids[0]), seals.digest(kinds, {
                        "id": ids[0], "member_id": "anna", "at": AT, "to_tier": "Bronze"})),
                   (before + 2, "tier_changes", str(ids[1]), seals.digest(kinds, {
                       "id": ids[1], "member_id": "bob", "at": AT, "from_tier": "Bronze", "to_tier": "Silver"}))]


def test_a_seal_linked_to_a_head_that_is_not_the_last_seal_is_refused(shop, monkeypatch):
    from loyalty_cli.store import seals
    from loyalty_cli.store.models import referrals

    real = seals.last
    for wrong in (lambda conn: (real(conn)[0] + 1, real(conn)[1]), lambda conn: (real(conn)[0], "0" * 64)):
        monkeypatch.setattr(posting.seals, "last", wrong)
        before = shop.snapshot()
        with pytest.raises(PostingError, match="the seals: the new seals were linked to seal"):
            _write(shop, lambda conn: posting.record(conn, referrals, [{"referee_id": "bob", "referrer_id": "anna",
                                                                         "at": AT}]))
        assert shop.snapshot() == before


def test_amend_seals_the_row_again_and_its_newest_seal_counts(shop):
    from loyalty_cli.store.models import members

    _write(shop, lambda conn: posting.amend(conn, members, "bob", marketing=True, marketing_at=AT))
    assert shop.sql("SELECT count(*) FROM seals WHERE table_name = 'members' AND row_key = 'bob'") == [(2,)]
    r = shop.invoke("check")
    assert "member bob: does not match its seal" not in r.stdout  # (the consent history is check's to find)


def test_nothing_writes_a_table_but_the_posting_path():
    """Every INSERT, UPDATE and DELETE in loyalty_cli is in ledger/posting.py
    (and store/bulk.py, which only it calls), store/copy.py (a whole ledger,
    seals included, into an empty one) or the migrations: no row can be
    written without its seal."""
    import re
    from pathlib import Path

    root = Path(posting.__file__).resolve().parent.parent
    allowed = {"ledger/posting.py", "store/bulk.py", "store/copy.py"}
    write = re.compile(r"(?<![.\w])(insert|update|delete)\(|\b(insert_rows|insert_dicts|add_points)\(|"
                       r"INSERT INTO|UPDATE \w+ SET|DELETE FROM", re.IGNORECASE)
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in allowed or rel.startswith("store/migrations/"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if write.search(code) and not code.lstrip().startswith(("def ", '"', "'")):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert found == []
    calls = {p.relative_to(root).as_posix() for p in root.rglob("*.py")
             if re.search(r"bulk\.(insert_rows|insert_dicts|add_points)\(", p.read_text(encoding="utf-8"))}
    assert calls <= {"ledger/posting.py", "store/migrations/versions/v11_seals.py"}
