"""The library's reports, called directly: history, tiers, report, expiring
and lapsed return typed results (NamedTuple rows, Decimal amounts, dates and
datetimes) whose JSON is the command's, byte for byte; refusals are the CLI's
Error: line; a report writes nothing."""

import dataclasses
import io
import json
from contextlib import redirect_stdout
from datetime import date, datetime
from decimal import Decimal

import pytest

import loyalty_cli
from loyalty_cli.api.reports import (
    Expiring,
    ExpiringMember,
    ExpiryDay,
    History,
    HistoryEntry,
    Lapsed,
    LapsedMember,
    Month,
    Report,
    TierGap,
    TierLevel,
    Tiers,
)
from loyalty_cli.cli.render import emit_json
from tests.conftest import copy_shop, programme, shop_template

TOML = programme("""
    [earning]
    welcome_bonus = 10

    [expiry]
    days = 60
    warn_days = 30

    [tiers]
    basis = "spend"

    [[tiers.levels]]
    name = "Bronze"
    min = 0

    [[tiers.levels]]
    name = "Silver"
    min = 50
    multiplier = 2
""")

HISTORY = [
    ("enroll", "anna", "--name", "Anna Tamm", "--email", "anna@example.com", "--marketing", "--date", "2026-01-05"),
    ("enroll", "bob", "--name", "Bob", "--date", "2026-01-06"),
    ("purchase", "anna", "40.00", "--order", "A1", "--date", "2026-01-10"),
    ("purchase", "anna", "30.00", "--order", "A2", "--date", "2026-02-10"),
    ("refund", "A2", "--amount", "10.00", "--date", "2026-02-12"),
    ("redeem", "anna", "25", "--date", "2026-02-20"),
    ("purchase", "bob", "12.34", "--order", "B1", "--date", "2026-02-21"),
]
AS_OF = "2026-03-01"

# The report's JSON keys, in the order `loyalty report --format json` has always printed them.
REPORT_KEYS = [
    "since", "until", "members", "new_members", "active_members", "purchases", "first_time_purchases",
    "repeat_purchases", "sales", "discounts", "paid_with_points", "repeat_rate", "repeat_members", "shop_sales",
    "member_share", "points_opening", "points_issued", "points_redeemed", "points_expired", "points_taken_back",
    "points_adjusted", "redemption_rate", "outstanding_points", "liability", "expiring_points", "expiring_members",
    "warn_days", "lapsed_members", "lapsed_days", "top_members", "top_percent", "top_sales", "top_share", "tiers",
    "months"]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return shop_template(tmp_path_factory.mktemp("reports") / "shop", TOML, HISTORY).folder


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


def test_history_is_typed_rows_with_a_running_balance(ledger, shop):
    h = ledger.history("anna", as_of=AS_OF)
    assert isinstance(h, History) and all(isinstance(e, HistoryEntry) for e in h)
    assert [(e.kind, e.points, e.balance) for e in h] == [
        ("welcome", 10, 10), ("earn", 40, 50), ("earn", 30, 80), ("tier", 0, 80), ("refund", -10, 70),
        ("redeem", -25, 45)]
    first = h[0]
    assert first.date == date(2026, 1, 5) and first.at == datetime(2026, 1, 5) and first.order is None
    assert h[1].order == "A1" and h[3].note == "Bronze → Silver" and h[4].note == "refund of 10.00 of order A2"
    assert as_printed(h) == cli_json(shop, "history", "anna", "--as-of", AS_OF)
    assert h.to_json()[1] == {"date": "2026-01-10", "at": "2026-01-10T00:00:00", "kind": "earn", "points": 40,
                              "balance": 50, "order": "A1", "note": None}


def test_history_since_keeps_the_running_balance(ledger, shop):
    h = ledger.history("anna", since=date(2026, 2, 11), as_of=date(2026, 3, 1))
    assert [(e.kind, e.balance) for e in h] == [("refund", 70), ("redeem", 45)]
    assert as_printed(h) == cli_json(shop, "history", "anna", "--since", "2026-02-11", "--as-of", AS_OF)


def test_history_of_an_unknown_member_is_the_clis_refusal(ledger, shop):
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.history("nobody")
    assert str(refused.value).startswith("unknown member 'nobody'")
    assert shop.fail("history", "nobody").stderr.strip() == f"Error: {refused.value}"
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.history("anna", since="last week")
    assert shop.fail("history", "anna", "--since", "last week").stderr.strip() == f"Error: {refused.value}"


def test_tiers_by_spend_are_amounts(ledger, shop):
    t = ledger.tiers(as_of=AS_OF)
    assert isinstance(t, Tiers) and t.as_of == datetime(2026, 3, 1, 23, 59, 59)
    assert t.tiers == (TierLevel("Bronze", Decimal("0.00"), 1, Decimal("12.34"), Decimal("50.0")),
                       TierLevel("Silver", Decimal("50.00"), 1, Decimal("60.00"), Decimal("50.0")))
    assert t.closest == (TierGap("bob", "Bob", "Bronze", "Silver", Decimal("12.34"), Decimal("37.66")),)
    assert t.to_json() == {
        "as_of": "2026-03-01T23:59:59", "basis": "spend", "window": "lifetime", "members": 2,
        "tiers": [{"tier": "Bronze", "min": "0.00", "members": 1, "total": "12.34", "share_percent": "50.0"},
                  {"tier": "Silver", "min": "50.00", "members": 1, "total": "60.00", "share_percent": "50.0"}],
        "closest": [{"member": "bob", "name": "Bob", "tier": "Bronze", "next_tier": "Silver", "total": "12.34",
                     "to_next_tier": "37.66"}]}
    assert as_printed(t) == cli_json(shop, "tiers", "--as-of", AS_OF)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.members = 3  # type: ignore[misc]


def test_tiers_by_points_are_whole_numbers(make_shop):
    shop = make_shop(TOML.replace('basis = "spend"', 'basis = "points"'))
    for args in HISTORY:
        shop.run(*args)
    with loyalty_cli.open_ledger(shop.config) as ledger:
        t = ledger.tiers(as_of=AS_OF)
    assert [(lv.tier, lv.min, lv.members, lv.total) for lv in t.tiers] == [("Bronze", 0, 1, 22), ("Silver", 50, 1, 90)]  # 10 + 40, then 60 at x2 less 20 back
    assert all(type(v) is int for lv in t.tiers for v in (lv.min, lv.total))
    assert as_printed(t) == cli_json(shop, "tiers", "--as-of", AS_OF)


def test_the_report_holds_exact_amounts_and_rates(ledger, shop):
    r = ledger.report(since="2026-02-01", until="2026-02-28", shop_sales="100.00", as_of=AS_OF)
    assert isinstance(r, Report)
    assert r.since == datetime(2026, 2, 1) and r.until == datetime(2026, 2, 28, 23, 59, 59)
    assert r.sales == Decimal("32.34") and r.shop_sales == Decimal("100.00") and r.member_share == Decimal("0.3234")
    assert r.months == (Month("2026-02", 2, Decimal("32.34"), 42, 25),)
    assert r.points_issued == 42 and r.points_taken_back == 10 and r.redemption_rate == Decimal("0.5952")
    assert r.repeat_rate == Decimal("0.0000") and r.top_sales == Decimal("20.00") and r.top_share == Decimal("0.6184")
    assert (r.points_opening, r.outstanding_points, r.liability) == (60, 67, Decimal("0.67"))
    doc = r.to_json()
    assert list(doc) == REPORT_KEYS and doc["sales"] == "32.34" and doc["member_share"] == "0.3234"
    assert doc["months"] == [{"month": "2026-02", "purchases": 2, "sales": "32.34", "points_issued": 42,
                              "points_redeemed": 25}]
    assert as_printed(r) == cli_json(shop, "report", "--since", "2026-02-01", "--until", "2026-02-28",
                                     "--shop-sales", "100.00", "--as-of", AS_OF)


def test_report_refusals_are_the_clis(ledger, shop):
    """Each in its words (pinned, not only compared with the CLI, which calls this very method)."""
    cases = [
        (dict(since="2026-03-01", until="2026-02-01"), ("--since", "2026-03-01", "--until", "2026-02-01"),
         "--since 2026-03-01 is after the end of the period (2026-02-01)"),
        (dict(since=date(2026, 3, 1), until=date(2026, 2, 1)), ("--since", "2026-03-01", "--until", "2026-02-01"),
         "--since 2026-03-01 is after the end of the period (2026-02-01)"),
        (dict(shop_sales="1.234"), ("--shop-sales", "1.234"),
         "--shop-sales '1.234' has too many decimals: the currency allows at most 2 decimals"),
        (dict(until="soon", since="never"), ("--until", "soon", "--since", "never"),  # --until is read first
         "--until 'soon' is not an ISO date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)"),
    ]
    for kwargs, args, message in cases:
        with pytest.raises(loyalty_cli.LoyaltyError) as refused:
            ledger.report(**kwargs)
        assert str(refused.value) == message
        assert shop.fail("report", *args).stderr.strip() == f"Error: {message}"
    with pytest.raises(loyalty_cli.LoyaltyError, match="float"):
        ledger.report(shop_sales=100.0)  # type: ignore[arg-type]
    with pytest.raises(loyalty_cli.LoyaltyError, match="--lapsed-days"):
        ledger.report(lapsed_days=0)


def test_expiring_lists_members_and_their_days(ledger, shop):
    e = ledger.expiring(within=60, as_of=AS_OF)
    assert isinstance(e, Expiring) and e.within == 60
    assert e.rows == (
        ExpiringMember("bob", "Bob", None, None, False, 10, date(2026, 3, 7), date(2026, 3, 6), 22,
                       (ExpiryDay(date(2026, 3, 7), 10), ExpiryDay(date(2026, 4, 22), 12)), 22),
        ExpiringMember("anna", "Anna Tamm", "anna@example.com", None, True, 25, date(2026, 3, 11), date(2026, 3, 10),
                       45, (ExpiryDay(date(2026, 3, 11), 25), ExpiryDay(date(2026, 4, 11), 20)), 45))
    assert as_printed(e) == cli_json(shop, "expiring", "--within", "60", "--as-of", AS_OF)
    assert e.to_json()[0] == {
        "member": "bob", "name": "Bob", "email": None, "phone": None, "marketing": False, "points_expiring": 10,
        "expires": "2026-03-07", "last_day": "2026-03-06", "total_expiring": 22,
        "expiring": [{"date": "2026-03-07", "points": 10}, {"date": "2026-04-22", "points": 12}], "points": 22}
    assert [m.member for m in ledger.expiring(within=60, marketing_only=True, as_of=AS_OF)] == ["anna"]
    assert ledger.expiring(as_of=AS_OF).within == 30  # the programme's warn_days


def test_lapsed_lists_the_biggest_spenders_first(ledger, shop):
    lapsed = ledger.lapsed(lapsed_days=10, as_of="2026-03-15")
    assert isinstance(lapsed, Lapsed) and lapsed.lapsed_days == 10
    assert lapsed.rows == (
        LapsedMember("anna", "Anna Tamm", "anna@example.com", None, True, date(2026, 1, 5), date(2026, 2, 10), 33, 2,
                     Decimal("60.00"), 20),
        LapsedMember("bob", "Bob", None, None, False, date(2026, 1, 6), date(2026, 2, 21), 22, 1, Decimal("12.34"),
                     12))
    assert as_printed(lapsed) == cli_json(shop, "lapsed", "--lapsed-days", "10", "--as-of", "2026-03-15")
    assert json.loads(as_printed(lapsed))[0] == {
        "member": "anna", "name": "Anna Tamm", "email": "anna@example.com", "phone": None, "marketing": True,
        "enrolled": "2026-01-05", "last_purchase": "2026-02-10", "days_since": 33, "purchases": 2, "spend": "60.00",
        "points": 20}


def test_reports_write_nothing(ledger, shop):
    before = shop.snapshot()
    ledger.history("anna")
    ledger.tiers()
    ledger.report()
    ledger.expiring()
    ledger.lapsed()
    ledger.balances()
    assert shop.snapshot() == before and ledger.commits == 0


def test_the_report_per_store_is_typed_and_its_json_is_the_clis(ledger, shop):
    from loyalty_cli.api import Balance, StoreFigures, StoreReport, StoresReport

    ledger.purchase("bob", "5.00", order="K1", store=" Kesklinn ", till="1", date="2026-02-25")
    r = ledger.report_by_store(as_of=AS_OF)
    # Kesklinn: bob's 5.00 (5 points, Bronze). No store: A1 40 + A2 30 - 10 refunded + B1 12.34 = 72.34,
    # points 40 + 30 + 12 issued, 10 taken back; anna bought twice. Shares of 77.34: 5/77.34, 72.34/77.34.
    assert isinstance(r, StoresReport) and r.until == datetime(2026, 3, 1, 23, 59, 59)
    assert list(r) == [
        StoreFigures("Kesklinn", 1, Decimal("5.00"), Decimal("0.00"), Decimal("0.00"), 1, 0, Decimal("0.0000"),
                     5, 0, 0, Decimal("0.0646")),
        StoreFigures(None, 3, Decimal("72.34"), Decimal("0.00"), Decimal("0.00"), 2, 1, Decimal("0.5000"),
                     82, 0, 10, Decimal("0.9354"))]
    assert as_printed(r) == cli_json(shop, "report", "--by", "store", "--as-of", AS_OF)
    one = ledger.store_report("Kesklinn", since="2026-02-01", as_of=AS_OF)
    assert isinstance(one, StoreReport) and (one.store, one.since, one.sales) == (
        "Kesklinn", datetime(2026, 2, 1), Decimal("5.00"))
    assert one.months == (Month("2026-02", 1, Decimal("5.00"), 5, 0),)
    assert as_printed(one) == cli_json(shop, "report", "--store", "Kesklinn", "--since", "2026-02-01",
                                       "--as-of", AS_OF)
    assert tuple(ledger.balances(store="Kesklinn", as_of=AS_OF)) == (Balance("bob", "Bob", 27, "Bronze"),)
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.store_report("Nowhere")
    assert str(refused.value) == "no purchase was rung up at store 'Nowhere' (stores: Kesklinn)"
    assert shop.fail("report", "--store", "Nowhere").stderr.strip() == f"Error: {refused.value}"
