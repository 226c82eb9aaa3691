"""The library's points methods, called directly: typed results, exact
amounts, the CLI's refusals as LoyaltyError, one transaction each."""

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal

import pytest

import loyalty_cli
from loyalty_cli.api.points import Purchase


@pytest.fixture
def ledger(shop):
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        yield ledger


def test_a_purchase_returns_a_frozen_typed_result(ledger):
    sale = ledger.purchase("anna", "12.50", order="A1", date="2026-01-06")
    assert isinstance(sale, Purchase)
    assert sale.amount == Decimal("12.50") and isinstance(sale.amount, Decimal)
    assert sale.order == "A1" and sale.date == datetime(2026, 1, 6)
    assert sale.points_earned == 12 and sale.points == 12 and sale.tier == "Member"
    with pytest.raises(dataclasses.FrozenInstanceError):
        sale.points = 99  # type: ignore[misc]
    assert ledger.balance("anna").points == 12


def test_the_result_is_the_commands_json(ledger, shop):
    sale = ledger.purchase("anna", Decimal("20.00"), order="A2", date=date(2026, 1, 7))
    history = shop.json("history", "anna")
    assert history[-1]["order"] == "A2"
    doc = sale.to_json()
    assert doc["amount"] == "20.00" and doc["date"] == "2026-01-07T00:00:00" and "tier_before" not in doc
    cli = shop.json("refund", "A2", "--amount", "5.00", "--date", "2026-01-08")
    assert ledger.refund("A2", amount="5.00", date="2026-01-08").to_json().keys() == cli.keys()


def test_balances_are_rows_with_the_balance_commands_keys(ledger, shop):
    ledger.purchase("anna", "10", date="2026-01-06")
    rows = ledger.balances()
    assert len(rows) == 1 and rows[0].member == "anna" and rows[0].points == 10
    assert json.loads(json.dumps(rows.to_json())) == shop.json("balance")


def test_a_float_amount_is_refused_and_nothing_is_written(ledger, shop):
    before = shop.snapshot()
    with pytest.raises(loyalty_cli.LoyaltyError, match="float"):
        ledger.purchase("anna", 12.5)  # type: ignore[arg-type]
    assert shop.snapshot() == before


def test_a_refusal_is_the_clis_error_line(ledger, shop):
    ledger.purchase("anna", "5.00", date="2026-01-06")
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.redeem("anna", 500, date="2026-01-06")
    cli = shop.fail("redeem", "anna", "500", "--date", "2026-01-06")
    assert cli.stderr.strip() == f"Error: {refused.value}"


def test_a_future_date_and_a_bad_points_value_are_refused(ledger):
    with pytest.raises(loyalty_cli.LoyaltyError, match="in the future"):
        ledger.award("anna", "review", date="2999-01-01")
    with pytest.raises(loyalty_cli.LoyaltyError, match="whole number"):
        ledger.adjust("anna", "1.5", reason="typo")
    assert ledger.adjust("anna", 7, reason="sorry").points == 7
