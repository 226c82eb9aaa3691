"""The library's time-driven rules, called directly: expire, birthdays and
daily return typed results whose JSON is the command's; each is one
transaction; a dry run writes nothing and says what the real run writes; a
second run writes nothing; a future --as-of is the CLI's refusal."""

import dataclasses
import io
from contextlib import redirect_stdout
from datetime import date, datetime

import pytest

import loyalty_cli
from loyalty_cli.api.daily import (
    BirthdayBonus,
    Birthdays,
    DailyBirthdays,
    DailyExpiry,
    DailyRun,
    ExpiredPoints,
    Expiry,
    TierChange,
)
from loyalty_cli.cli.render import emit_json
from loyalty_cli.domain.dates import now
from tests.conftest import copy_shop, programme, shop_template

TOML = programme("""
    [earning]
    birthday_bonus = 25
    pending_days = 3

    [expiry]
    days = 30

    [tiers]
    basis = "spend"
    window = "rolling-365"

    [[tiers.levels]]
    name = "Bronze"
    min = 0

    [[tiers.levels]]
    name = "Gold"
    min = 100
""")

HISTORY = [
    ("enroll", "anna", "--name", "Anna Tamm", "--birthday", "1990-03-10", "--date", "2025-01-05"),
    ("enroll", "bob", "--name", "Bob", "--birthday", "1985-03-12", "--date", "2025-01-06"),
    ("purchase", "anna", "150.00", "--order", "A1", "--date", "2025-03-01"),
    ("purchase", "bob", "20.00", "--order", "B1", "--date", "2026-03-01"),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return shop_template(tmp_path_factory.mktemp("daily") / "shop", TOML, HISTORY).folder


@pytest.fixture
def shop(template, tmp_path):
    return copy_shop(template, tmp_path / "shop")


@pytest.fixture
def ledger(shop):
    with loyalty_cli.open_ledger(shop.config) as ledger:
        yield ledger


def cli_json(shop, *args):
    """The command's JSON as printed (text, so that the comparison is byte for byte)."""
    return shop.run(*args, "--format", "json").stdout


def as_printed(result) -> str:
    """The result's JSON as the CLI prints it."""
    out = io.StringIO()
    with redirect_stdout(out):
        emit_json(result.to_json())
    return out.getvalue()


def test_a_dry_run_expiry_says_what_the_run_writes_and_writes_nothing(ledger, shop):
    before = shop.snapshot()
    dry = ledger.expire(as_of="2026-03-20", dry_run=True)
    assert isinstance(dry, Expiry) and dry.dry_run is True
    assert dry.expired == (ExpiredPoints("anna", date(2025, 3, 31), 150),)
    assert (dry.members, dry.points, dry.as_of) == (1, 150, datetime(2026, 3, 20, 23, 59, 59))
    assert shop.snapshot() == before and ledger.commits == 0
    assert as_printed(dry) == cli_json(shop, "expire", "--as-of", "2026-03-20", "--dry-run")
    assert dry.to_json() == {"as_of": "2026-03-20T23:59:59", "dry_run": True, "members": 1, "points": 150,
                             "expired": [{"member": "anna", "date": "2025-03-31", "points": 150}]}
    done = ledger.expire(as_of="2026-03-20")
    assert dataclasses.replace(done, dry_run=True) == dry and ledger.commits == 1
    assert shop.sql("SELECT member_id, points FROM entries WHERE kind = 'expire'") == [("anna", -150)]
    again = ledger.expire(as_of="2026-03-20")
    assert again.expired == () and ledger.commits == 1  # nothing new: no write counted


def test_birthdays_are_granted_once(ledger, shop):
    before = shop.snapshot()
    dry = ledger.birthdays(as_of=date(2026, 3, 15), dry_run=True)
    assert isinstance(dry, Birthdays) and dry.bonus == 25 and "bonus" not in dry.to_json()
    assert dry.granted == (BirthdayBonus("anna", "Anna Tamm", date(2026, 3, 10), 25),
                           BirthdayBonus("bob", "Bob", date(2026, 3, 12), 25))
    assert shop.snapshot() == before
    assert as_printed(dry) == cli_json(shop, "birthdays", "--as-of", "2026-03-15", "--dry-run")
    assert list(dry.to_json()) == ["as_of", "dry_run", "members", "points", "granted"]
    assert ledger.birthdays(as_of="2026-03-15").points == 50
    assert ledger.birthdays(as_of="2026-03-15").granted == ()
    assert ledger.balance("anna", as_of="2026-03-15").points == 25  # the purchase's points expired long ago


def test_the_daily_run_nests_its_parts_and_names_from_as_the_json_does(ledger, shop):
    before = shop.snapshot()
    dry = ledger.daily(as_of="2026-03-15", dry_run=True)
    assert isinstance(dry, DailyRun) and dry.previous_run is None
    assert isinstance(dry.birthdays, DailyBirthdays) and dry.birthdays.points == 50
    assert isinstance(dry.expired, DailyExpiry) and dry.expired.entries == (
        ExpiredPoints("anna", date(2025, 3, 31), 150),)
    # a year after the purchase that made her Gold, the rolling window lets go of it
    assert dry.tier_changes == (TierChange("anna", date(2026, 3, 1), "Gold", "Bronze"),)
    assert dry.to_json()["tier_changes"] == [{"member": "anna", "date": "2026-03-01", "from": "Gold", "to": "Bronze"}]
    assert shop.snapshot() == before
    assert as_printed(dry) == cli_json(shop, "daily", "--as-of", "2026-03-15", "--dry-run")
    doc = dry.to_json()
    assert list(doc) == ["as_of", "previous_run", "dry_run", "birthdays", "expired", "released_points", "tier_changes"]
    assert doc["expired"] == {"members": 1, "points": 150,
                              "entries": [{"member": "anna", "date": "2025-03-31", "points": 150}]}
    assert list(doc["birthdays"]) == ["members", "points", "granted"]
    assert doc["birthdays"]["granted"][0] == {"member": "anna", "name": "Anna Tamm", "birthday": "2026-03-10",
                                              "points": 25}
    done = ledger.daily(as_of="2026-03-15")
    assert done.tier_changes == dry.tier_changes and ledger.commits == 1
    again = ledger.daily(as_of="2026-03-15")
    assert again.previous_run == datetime(2026, 3, 15, 23, 59, 59)
    assert (again.birthdays.points, again.expired.points, again.tier_changes) == (0, 0, ())


def test_a_future_as_of_is_the_clis_refusal_and_writes_nothing(ledger, shop):
    before = shop.snapshot()
    for method, command in ((ledger.expire, "expire"), (ledger.birthdays, "birthdays"), (ledger.daily, "daily")):
        with pytest.raises(loyalty_cli.LoyaltyError) as refused:
            method(as_of="2999-01-01")
        today = now("Europe/Tallinn").date()  # the programme's day
        assert str(refused.value) == f"--as-of '2999-01-01' is in the future (today is {today:%Y-%m-%d})"
        assert shop.fail(command, "--as-of", "2999-01-01").stderr.strip() == f"Error: {refused.value}"
    with pytest.raises(loyalty_cli.LoyaltyError, match="in the future"):
        ledger.daily(as_of=date(2999, 1, 1))
    assert shop.snapshot() == before
