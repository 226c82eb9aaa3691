"""The library's administration, called directly: `loyalty_cli.init` writes
a programme and creates its ledger; `check`, `backup` and `program` are
Ledger methods with typed results whose JSON is the CLI's."""

import dataclasses
import json
import os
import sqlite3
from decimal import Decimal

import pytest

import loyalty_cli
from loyalty_cli.api.admin import Backup, Check, Problem, Program, Setup
from tests import pg


def _tamper(shop, statement):
    if shop.backend == "postgresql":  # as the server's superuser: the append-only triggers do not fire
        shop.sql(f"SET session_replication_role = replica; {statement}")
        return
    con = sqlite3.connect(shop.db)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    con.execute(statement)
    con.commit()
    con.close()


@pytest.fixture
def ledger(shop):
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05")
    shop.run("purchase", "anna", "12.50", "--order", "A1", "--date", "2026-01-06")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        yield ledger


# -- init ---------------------------------------------------------------------


def test_init_writes_the_programme_and_creates_the_ledger(tmp_path):
    conf = tmp_path / "loyalty.toml"
    r = loyalty_cli.init(conf, name="Corner Coffee", currency="eur", timezone="Europe/Tallinn")
    assert isinstance(r, Setup) and r.written and r.state == "created" and r.kept_as is None
    assert r.config == str(conf) and r.ledger == str(tmp_path / "loyalty.db") and r.schema_version >= 6
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.state = "current"  # type: ignore[misc]
    with loyalty_cli.open_ledger(conf) as ledger:
        assert ledger.programme.name == "Corner Coffee" and ledger.programme.currency.code == "EUR"
        assert ledger.check().ok


def test_a_second_init_is_the_clis_refusal_and_force_keeps_the_old_file(tmp_path, make_shop):
    conf = tmp_path / "loyalty.toml"
    loyalty_cli.init(conf)
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        loyalty_cli.init(conf)
    assert str(refused.value).startswith(f"already set up: {conf} and ledger")
    r = loyalty_cli.init(conf, force=True, name="Second")
    assert r.written and r.state == "current" and r.kept_as == f"{conf}.bak"
    assert "Second" in conf.read_text() and "My Shop" in (tmp_path / "loyalty.toml.bak").read_text()


def test_an_init_that_loses_the_race_for_a_new_ledger_file_never_removes_the_winners(tmp_path, monkeypatch):
    """Four inits at once saw no file, one created the ledger, and a loser's
    "already set up" removed it (seen once in tests/process). Here the loser's
    look (no file yet) and the winner's creation are made to interleave."""
    conf = tmp_path / "loyalty.toml"
    loyalty_cli.init(conf)  # the winner
    db = tmp_path / "loyalty.db"
    before = db.read_bytes()
    real = os.path.lexists
    monkeypatch.setattr(os.path, "lexists", lambda p: False if os.fspath(p) == str(db) else real(p))
    with pytest.raises(loyalty_cli.LoyaltyError, match="already set up"):
        loyalty_cli.init(conf)  # the loser: it looked before the winner's file existed
    monkeypatch.undo()
    assert db.read_bytes() == before
    with loyalty_cli.open_ledger(conf) as ledger:
        assert ledger.check().ok


def test_init_with_a_db_path_names_it_in_the_file_unless_told_not_to(tmp_path):
    (tmp_path / "data").mkdir()
    one = loyalty_cli.init(tmp_path / "one.toml", db=tmp_path / "data" / "x.db")
    assert one.ledger == str(tmp_path / "data" / "x.db")
    assert 'database = "data/x.db"' in (tmp_path / "one.toml").read_text()
    loyalty_cli.init(tmp_path / "two.toml", db=tmp_path / "y.db", record_db=False)
    assert 'database = "loyalty.db"' in (tmp_path / "two.toml").read_text()
    assert (tmp_path / "y.db").exists()


def test_a_refused_init_leaves_no_file(tmp_path):
    with pytest.raises(loyalty_cli.LoyaltyError, match="unknown currency 'XXX'"):
        loyalty_cli.init(tmp_path / "loyalty.toml", currency="XXX")
    with pytest.raises(loyalty_cli.LoyaltyError, match="folder"):
        loyalty_cli.init(tmp_path / "missing" / "loyalty.toml")
    assert list(tmp_path.iterdir()) == []


def test_init_sample_keeps_the_samples_values_unless_given(tmp_path):
    conf = tmp_path / "loyalty.toml"
    loyalty_cli.init(conf, sample=True, name="Kohvik")
    with loyalty_cli.open_ledger(conf) as ledger:
        prog = ledger.program()
    assert prog.program.name == "Kohvik" and prog.program.timezone == "Europe/Tallinn"  # the sample's zone


# -- check ----------------------------------------------------------------------


def test_check_of_a_sound_ledger_is_ok_and_its_json_is_the_clis(ledger, shop):
    r = ledger.check()
    assert isinstance(r, Check) and r.ok and r.problems == () and r.head is None
    assert r.to_json() == shop.json("check")
    head = ledger.check(print_head=True).head
    assert head == shop.run("check", "--print-head").stdout.strip()
    assert ledger.check(head=head).ok


def test_check_lists_problems_as_typed_objects(ledger, shop):
    _tamper(shop, "UPDATE entries SET points = points + 1 WHERE id = 1")
    r = ledger.check(print_head=True)
    assert not r.ok and r.head is None and all(isinstance(p, Problem) for p in r.problems)
    cli = shop.invoke("check")
    assert [str(p) for p in r.problems] == cli.stdout.splitlines()
    assert r.problems[0].kind == "entry" and r.problems[0].subject == "entry 1"
    assert json.loads(shop.invoke("check", "--format", "json").stdout) == r.to_json()


def test_a_bad_head_is_the_clis_refusal(ledger, shop):
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.check(head="1:zz")
    assert shop.fail("check", "--head", "1:zz").stderr.strip() == f"Error: {refused.value}"


# -- backup ---------------------------------------------------------------------


@pytest.mark.sqlite_only("backup copies an SQLite file; on PostgreSQL it refuses and names pg_dump")
def test_backup_returns_what_it_wrote(ledger, shop, tmp_path):
    target = tmp_path / "copy.db"
    r = ledger.backup(target)
    assert isinstance(r, Backup) and target.exists()
    assert r.path == str(target) and r.bytes == target.stat().st_size and r.problems == ()
    assert r.entries == 1 and r.head == ledger.check(print_head=True).head
    cli = shop.json("backup", str(tmp_path / "cli.db"))
    assert r.to_json().keys() == cli.keys() and cli["head"] == r.head
    with loyalty_cli.open_ledger(shop.config, db=target) as copy:
        assert copy.balance("anna").points == ledger.balance("anna").points


def test_a_backup_over_an_existing_file_is_refused_and_writes_nothing(ledger, shop, tmp_path):
    target = tmp_path / "copy.db"
    target.write_text("keep me")
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.backup(target)
    assert target.read_text() == "keep me"
    assert shop.fail("backup", str(target)).stderr.strip() == f"Error: {refused.value}"
    with pytest.raises(loyalty_cli.LoyaltyError, match="no user 'nosuchuser'"):
        ledger.backup("~nosuchuser/x.db")


# -- program --------------------------------------------------------------------


def test_program_is_typed_and_its_json_is_the_clis(ledger, shop):
    r = ledger.program()
    assert isinstance(r, Program)
    assert r.program.currency == "EUR" and isinstance(r.earning.points_per_unit, Decimal)
    assert isinstance(r.earning.min_purchase, Decimal) and isinstance(r.redemption.max_share, Decimal)
    assert r.tiers.levels and all(isinstance(lv.multiplier, Decimal) for lv in r.tiers.levels)
    assert r.to_json() == shop.json("program")
    assert "decimals" not in r.to_json()["program"]  # for the table only


def test_program_of_a_programme_file_needs_no_ledger(shop):
    from loyalty_cli.domain.config import load

    if shop.backend == "postgresql":
        pg.drop(pg.name_of(shop.url))
    else:
        shop.db.unlink()
    assert Program.of(load(shop.config)).to_json() == shop.json("program")


# -- completion -----------------------------------------------------------------


def test_complete_lists_ids_codes_and_orders_by_prefix(ledger, shop):
    shop.run("enroll", "anders", "--name", "Anders", "--date", "2026-01-05")
    shop.run("enroll", "bo", "--name", "Bo", "--date", "2026-01-05")
    shop.run("forget", "bo", "--yes")
    shop.run("promo", "create", "SUMMER", "--percent", "10")
    assert ledger.complete("member", "an") == ["anders", "anna"]
    assert ledger.complete("member", "b") == []  # forgotten
    assert ledger.complete("promo", "SU") == ["SUMMER"]
    assert ledger.complete("order", "A") == ["A1"]
    assert ledger.complete("member", "%") == []  # LIKE's wildcards are literal
    # in the ledger's order, by code point, whatever the server's collation ("Anne" < "an..." < "ann_a")
    shop.run("enroll", "Anne", "--name", "Anne", "--date", "2026-01-05")
    shop.run("enroll", "ann_a", "--name", "Ann A", "--date", "2026-01-05")
    assert ledger.complete("member", "") == ["Anne", "anders", "ann_a", "anna"]
