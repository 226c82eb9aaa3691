"""The library's member methods, called directly: enroll, edit, forget,
members and show give typed, frozen results whose JSON is the command's;
refusals are LoyaltyError with the CLI's Error line, and write nothing."""

import dataclasses
import io
import json
import os
from datetime import date, datetime
from decimal import Decimal

import pytest

import loyalty_cli
from loyalty_cli.api.members import Edit, Enrolment, ExpiringPoints, Forgotten, Member, Members, MemberView, RecentEntry
from loyalty_cli.cli.render import emit_json
from tests.conftest import programme_file

TIERS = programme_file("tiers_by_spend")  # Bronze / Silver from 200.00 / Gold from 500.00


def printed(result) -> str:
    """The result as the CLI prints it with --format json."""
    out = io.StringIO()
    emit_json(result.to_json(), out)
    return out.getvalue()


@pytest.fixture
def ledger(shop):
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--email", "anna@example.com", "--date", "2026-01-05")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        yield ledger


@pytest.fixture
def tiered(make_shop):
    shop = make_shop(TIERS)
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--birthday", "1990-04-12", "--marketing",
             "--date", "2026-01-05")
    shop.run("purchase", "anna", "250.00", "--order", "A1", "--date", "2026-01-10")
    shop.run("redeem", "anna", "100", "--date", "2026-01-11")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        yield shop, ledger


# --- enroll --------------------------------------------------------------------


def test_enroll_returns_the_new_member_and_generates_an_id(ledger, shop):
    r = ledger.enroll(name="Bob", date=date(2026, 1, 6))
    assert isinstance(r, Enrolment)
    assert r.member == "1002" and r.name == "Bob" and r.points == 0 and r.referred_by is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.member = "x"  # type: ignore[misc]
    cli = shop.json("enroll", "--name", "Carl", "--date", "2026-01-06")
    assert r.to_json().keys() == cli.keys() and cli["member"] == "1003"
    assert shop.sql("SELECT id, name, enrolled_at FROM members WHERE id = '1002'") == [
        ("1002", "Bob", "2026-01-06 00:00:00.000000")]


def test_enroll_takes_a_birthday_as_a_date_and_a_referral_code(ledger, shop):
    code = ledger.referral("anna").code
    r = ledger.enroll("bob", name="Bob", birthday=date(1991, 2, 3), referral=code.lower(), marketing=True,
                      date="2026-01-06")
    assert r.referred_by == "anna"
    assert shop.json("show", "bob")["birthday"] == "1991-02-03"
    assert [x.member for x in ledger.referral("anna").referrals] == ["bob"]


@pytest.mark.parametrize("args, kwargs, says", [
    (("anna", "--name", "Again"), {"member": "anna", "name": "Again"}, "member anna already exists"),
    (("bob", "--name", "Bob", "--birthday", "1999-13-01", "--date", "2999-01-01"),
     {"member": "bob", "name": "Bob", "birthday": "1999-13-01", "date": "2999-01-01"}, "--date '2999-01-01' is in"),
    (("bob", "--name", "Bob", "--birthday", "1999-13-01"), {"member": "bob", "name": "Bob", "birthday": "1999-13-01"},
     "--birthday '1999-13-01' is not a valid date"),
    (("bob", "--name", "Bob", "--email", "anna@example.com"),
     {"member": "bob", "name": "Bob", "email": "anna@example.com"}, "e-mail anna@example.com already belongs"),
    (("bob", "--name", "Bob", "--referral", "NOPE-NOPE"), {"member": "bob", "name": "Bob", "referral": "NOPE-NOPE"},
     "unknown referral code 'NOPE-NOPE'"),
    (("bob", "--name", "Bob", "--date", "2026-01-06T25:00"), {"member": "bob", "name": "Bob", "date": "2026-01-06T25:00"},
     "--date '2026-01-06T25:00'"),
])
def test_an_enroll_refusal_is_the_clis_error_line_and_writes_nothing(ledger, shop, args, kwargs, says):
    before = shop.snapshot()
    kwargs = dict(kwargs)  # the parameter is shared by every backend's case: pop from a copy
    member = kwargs.pop("member")
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.enroll(member, **kwargs)
    assert str(refused.value).startswith(says)
    assert shop.snapshot() == before
    cli = shop.fail("enroll", *args).stderr.strip()
    assert cli.split(" (it is now")[0] == f"Error: {refused.value}".split(" (it is now")[0]


# --- edit ----------------------------------------------------------------------


def test_edit_changes_what_is_given_and_an_empty_string_clears(ledger, shop):
    r = ledger.edit("anna", phone="+372 5555 1234", birthday=date(1990, 4, 12), date="2026-01-06")
    assert isinstance(r, Edit) and r.member == "anna" and r.changed == ("birthday", "phone")
    r = ledger.edit("anna@example.com", email="", marketing=True, date="2026-01-07")
    assert r.changed == ("email", "marketing")
    doc = shop.json("show", "anna")
    assert (doc["email"], doc["phone"], doc["birthday"], doc["marketing"]) == (None, "+37255551234", "1990-04-12",
                                                                                True)
    assert doc["marketing_at"] == "2026-01-07T00:00:00"
    assert ledger.edit("anna", birthday="").changed == ("birthday",)
    assert shop.json("show", "anna")["birthday"] is None


@pytest.mark.parametrize("args, member, kwargs, says", [
    (("anna",), "anna", {}, "nothing to change"),
    (("ghost", "--name", "Ghost"), "ghost", {"name": "Ghost"}, "unknown member 'ghost'"),
    (("anna", "--birthday", "1990-02-30"), "anna", {"birthday": "1990-02-30"}, "--birthday '1990-02-30'"),
    (("ghost", "--birthday", "yesterday"), "ghost", {"birthday": "yesterday"}, "--birthday 'yesterday'"),
    (("anna", "--name", "A", "--date", "2999-01-01"), "anna", {"name": "A", "date": "2999-01-01"},
     "--date '2999-01-01' is in the future"),
])
def test_an_edit_refusal_is_the_clis_error_line_and_writes_nothing(ledger, shop, args, member, kwargs, says):
    """The birthday is checked before the member is looked up, as the command always did."""
    before = shop.snapshot()
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.edit(member, **kwargs)
    assert str(refused.value).startswith(says)
    assert shop.snapshot() == before
    cli = shop.fail("edit", *args).stderr.strip()
    assert cli.split(" (it is now")[0] == f"Error: {refused.value}".split(" (it is now")[0]


# --- forget --------------------------------------------------------------------


def test_forget_erases_without_asking_and_scrubs(ledger, shop):
    ledger.edit("anna", phone="555 1234", date="2026-01-06")
    r = ledger.forget("anna", date="2026-01-07")
    assert isinstance(r, Forgotten)
    assert r.member == "anna" and r.forgotten_at == datetime(2026, 1, 7) and not r.already
    assert r.erased == ("name", "email", "phone") and r.points == 0 and r.scrubbed is True
    assert shop.sql("SELECT name, email, phone FROM members") == [(None, None, None)]
    if shop.backend == "sqlite":  # the file itself; PostgreSQL's side is the test below
        assert b"Anna Tamm" not in shop.db.read_bytes()
    again = ledger.forget("anna")
    assert again.already and again.erased == () and again.forgotten_at == datetime(2026, 1, 7)
    cli = shop.json("forget", "anna", "--yes")
    assert cli == json.loads(printed(again))


@pytest.mark.backends("postgresql")
def test_forget_leaves_no_erased_value_in_the_servers_statistics(ledger, shop):
    for i in range(5):
        ledger.enroll(f"m{i}", name=f"Member {i}", date="2026-01-06")
    stats = ("SELECT count(*) FROM pg_stats WHERE tablename = 'members' AND attname = 'name' "
             "AND concat(most_common_vals::text, histogram_bounds::text) LIKE '%Anna Tamm%'")
    shop.sql("ANALYZE members")  # what autovacuum does on its own, sooner or later
    assert shop.sql(stats) == [(1,)]
    ledger.forget("anna", date="2026-01-07")
    assert shop.sql(stats) == [(0,)]


@pytest.mark.backends("postgresql")
def test_forget_by_a_role_that_does_not_own_the_table_fails_loudly_and_stays_written(ledger, shop):
    """A role that may write the tables but does not own them cannot VACUUM
    FULL or ANALYZE them (the server only warns): forget says so, exit 1, with
    the owner's command; the erase itself is committed. The owner's forget
    then finishes the job."""
    from sqlalchemy.engine import make_url

    from tests import pg

    role = f"loyalty_clerk_{os.getpid()}"
    pg.sql(shop.url, f'CREATE ROLE "{role}" LOGIN')
    try:
        pg.sql(shop.url, f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO "{role}"')
        pg.sql(shop.url, f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        clerk = make_url(shop.url).set(username=role).render_as_string(hide_password=False)
        said = shop.fail("forget", "anna", "--yes", "--db", clerk).stderr
        assert said.startswith(f"Error: member anna was forgotten in the ledger (that stays written), but the server "
                               f"still holds old copies of the erased data in the table members and its statistics: "
                               f"the database role {role} does not own the table members (postgres does)"), said
        assert f"as postgres run `psql -d {make_url(shop.url).database} -c 'VACUUM FULL members' -c 'ANALYZE " \
               "members'`, then `loyalty forget anna --yes` again" in said
        assert shop.sql("SELECT name, email, forgotten_at IS NOT NULL FROM members") == [(None, None, 1)]
        assert shop.json("forget", "anna", "--yes")["scrubbed"] is True  # as the owner
    finally:
        pg.sql(shop.url, f'DROP OWNED BY "{role}"')
        pg.sql(shop.url, f'DROP ROLE "{role}"')


@pytest.mark.backends("postgresql")
def test_forget_while_an_older_snapshot_is_open_says_the_job_is_not_finished(ledger, shop):
    """A transaction that began before the erase may still see the old row,
    so VACUUM FULL keeps that row version: `scrubbed` is False (after a short
    retry) and the warning says to run it again; once that transaction ends,
    forgetting again scrubs."""
    import psycopg

    from tests import pg

    with psycopg.connect(pg.conninfo(shop.url)) as reader:  # not autocommit: a transaction, as a long report's
        reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT count(*) FROM entries")  # its snapshot, and no lock on members
        said = shop.invoke("forget", "anna", "--yes", "--format", "json")
        assert said.exit_code == 0 and json.loads(said.stdout)["scrubbed"] is False
        assert "Warning: another process kept the ledger open" in said.stderr
        reader.rollback()
    assert ledger.forget("anna").scrubbed is True


def test_forgetting_an_unknown_member_is_the_clis_refusal(ledger, shop):
    before = shop.snapshot()
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.forget("ghost")
    assert shop.snapshot() == before
    assert shop.fail("forget", "ghost", "--yes").stderr.strip() == f"Error: {refused.value}"


# --- members -------------------------------------------------------------------


def test_members_are_rows_with_the_commands_json(tiered):
    shop, ledger = tiered
    shop.run("enroll", "bob", "--name", "Bob Berg", "--email", "bob@example.com", "--date", "2026-01-20")
    rows = ledger.members(as_of="2026-02-01")
    assert isinstance(rows, Members) and len(rows) == 2
    anna = rows[0]
    assert isinstance(anna, Member) and anna.member == "anna" and anna.tier == "Silver" and anna.points == 150
    assert anna.enrolled == date(2026, 1, 5) and anna.birthday == date(1990, 4, 12) and anna.marketing is True
    assert printed(rows) == shop.run("members", "--as-of", "2026-02-01", "--format", "json").stdout
    assert [m.member for m in ledger.members(tier="silver", as_of="2026-02-01")] == ["anna"]
    assert [m.member for m in ledger.members(search="BERG", as_of=date(2026, 2, 1))] == ["bob"]
    assert not ledger.members(as_of="2026-01-01")
    assert printed(ledger.members(as_of="2026-01-01")) == shop.run("members", "--as-of", "2026-01-01",
                                                                    "--format", "json").stdout


def test_members_of_an_unknown_tier_is_the_clis_refusal(ledger, shop):
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.members(tier="Platinum")
    assert shop.fail("members", "--tier", "Platinum").stderr.strip() == f"Error: {refused.value}"


# --- show ----------------------------------------------------------------------


def test_show_is_a_typed_member_view_whose_json_is_the_commands(tiered):
    shop, ledger = tiered
    r = ledger.show("anna", as_of="2026-02-01")
    assert isinstance(r, MemberView)
    assert r.points == 150 and r.tier == "Silver" and r.next_tier == "Gold"
    assert r.lifetime_spend == Decimal("250.00") and isinstance(r.lifetime_spend, Decimal)
    assert r.to_next_tier == Decimal("250.00") and r.qualifying_total == Decimal("250.00")
    assert r.enrolled == datetime(2026, 1, 5) and r.marketing_at == datetime(2026, 1, 5)
    assert r.birthday == date(1990, 4, 12) and r.forgotten_at is None
    assert all(isinstance(e, RecentEntry) for e in r.recent)
    assert [(e.kind, e.points, e.balance) for e in r.recent] == [("earn", 250, 250), ("tier", 0, 250),
                                                                 ("redeem", -100, 150)]
    assert r.recent[0].date == date(2026, 1, 10) and r.recent[0].at == datetime(2026, 1, 10)
    assert r.progress == (5000, 30000)  # 50.00 of the 300.00 from Silver to Gold, in cents
    doc = r.to_json()
    assert "progress" not in doc and doc["to_next_tier"] == "250.00"
    assert printed(r) == shop.run("show", "anna", "--as-of", "2026-02-01", "--format", "json").stdout
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.points = 0  # type: ignore[misc]


def test_show_as_of_a_date_means_its_end_and_finds_by_email(ledger, shop):
    shop.run("purchase", "anna", "12.00", "--date", "2026-01-06T18:00")
    assert ledger.show("anna@example.com", as_of=date(2026, 1, 6)).points == 12
    assert ledger.show("anna", as_of=datetime(2026, 1, 6, 17, 0)).points == 0


def test_show_by_points_gives_points_and_expiring_points(make_shop):
    shop = make_shop(programme_file("birthday_and_expiry"))
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05")
    shop.run("purchase", "anna", "40.00", "--date", "2026-01-06")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        r = ledger.show("anna", as_of="2026-01-20")
    assert r.expiring == (ExpiringPoints(date(2026, 2, 5), 40),)
    assert r.next_tier is None and r.to_next_tier is None and r.progress is None
    assert printed(r) == shop.run("show", "anna", "--as-of", "2026-01-20", "--format", "json").stdout


def test_show_with_tiers_by_points_has_points_not_amounts(make_shop):
    shop = make_shop(programme_file("base") + """
[tiers]
basis = "points"

[[tiers.levels]]
name = "Member"
min = 0

[[tiers.levels]]
name = "VIP"
min = 100
""")
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05")
    shop.run("purchase", "anna", "40.00", "--date", "2026-01-06")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        r = ledger.show("anna", as_of="2026-01-20")
    assert r.to_next_tier == 60 and r.qualifying_total == 40 and type(r.to_next_tier) is int
    assert r.progress == (40, 100)
    assert printed(r) == shop.run("show", "anna", "--as-of", "2026-01-20", "--format", "json").stdout


def test_show_of_an_unknown_member_or_a_bad_date_is_the_clis_refusal(ledger, shop):
    for member, as_of, args in (("ghost", None, ("ghost",)), ("anna", "soon", ("anna", "--as-of", "soon"))):
        with pytest.raises(loyalty_cli.LoyaltyError) as refused:
            ledger.show(member, as_of=as_of)
        assert shop.fail("show", *args).stderr.strip() == f"Error: {refused.value}"
