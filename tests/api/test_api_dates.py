"""Date and datetime objects get the checks ISO strings get: 1900-9998 (before
and after a conversion into the programme's timezone), and no local time the
clocks skipped. The refusal is the string's, with the value shown as ISO, and
nothing is written. (The shops here are in Europe/Tallinn: on 2026-03-29 the
clocks moved from 03:00 to 04:00.)"""

from datetime import date, datetime, timedelta, timezone

import pytest

import loyalty_cli


@pytest.fixture
def ledger(shop):
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        yield ledger


def _refusal(call) -> str:
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        call()
    return str(refused.value)


@pytest.mark.parametrize(("value", "says"), [
    (date(999, 1, 1), "--date '0999-01-01' is before 1900"),
    (date(1850, 1, 1), "--date '1850-01-01' is before 1900"),
    (datetime(1899, 12, 31, 23, 0), "--date '1899-12-31T23:00:00' is before 1900"),
    (datetime(1, 1, 1, tzinfo=timezone.utc), "--date '0001-01-01T00:00:00+00:00' is before 1900"),
])
def test_an_enrolment_dated_before_1900_is_refused_and_the_chain_stays_sound(ledger, shop, value, says):
    before = shop.snapshot()
    assert _refusal(lambda: ledger.enroll("old", name="Old", date=value)) == says
    assert shop.snapshot() == before
    assert ledger.check().ok


def test_an_object_is_refused_with_the_words_its_iso_string_gets(ledger, shop):
    for value in (date(1850, 1, 1), datetime(1850, 1, 1, 12, 30), date(9999, 1, 1)):
        text = value.isoformat()
        assert _refusal(lambda v=value: ledger.purchase("anna", "1", date=v)) == \
            _refusal(lambda t=text: ledger.purchase("anna", "1", date=t))
    cli = shop.fail("purchase", "anna", "1", "--date", "1850-01-01").stderr.strip()
    assert cli == "Error: " + _refusal(lambda: ledger.purchase("anna", "1", date=date(1850, 1, 1)))


@pytest.mark.parametrize("as_of", [
    date(1, 1, 1),
    datetime(1, 1, 1),
    datetime.max,
    datetime.max.replace(tzinfo=timezone.utc),
    datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
    date.max,
])
def test_as_of_at_datetimes_limits_is_a_refusal_not_an_overflow(ledger, as_of):
    for call in (lambda: ledger.show("anna", as_of=as_of), lambda: ledger.balances(as_of=as_of),
                 lambda: ledger.report(as_of=as_of), lambda: ledger.history("anna", since=as_of),
                 lambda: ledger.daily(as_of=as_of, dry_run=True)):
        says = _refusal(call)
        assert f"'{as_of.isoformat()}' is " in says and ("before 1900" in says or "after 9998" in says), says


def test_an_aware_datetime_is_checked_again_once_converted(ledger):
    late = datetime(9998, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-12)))  # 9999 in Tallinn
    assert _refusal(lambda: ledger.show("anna", as_of=late)) == \
        f"--as-of '{late.isoformat()}' is after 9998 in the programme's timezone"
    assert _refusal(lambda: ledger.show("anna", as_of=late.isoformat())) == \
        f"--as-of '{late.isoformat()}' is after 9998 in the programme's timezone"


def test_a_naive_datetime_in_a_daylight_saving_gap_is_refused(ledger, shop):
    before = shop.snapshot()
    says = _refusal(lambda: ledger.purchase("anna", "1", order="G1", date=datetime(2026, 3, 29, 3, 30)))
    assert says == ("--date '2026-03-29T03:30:00' does not exist in Europe/Tallinn: clocks moved forward "
                    "from 03:00 to 04:00 on 2026-03-29")
    assert says == _refusal(lambda: ledger.purchase("anna", "1", order="G1", date="2026-03-29T03:30:00"))
    assert _refusal(lambda: ledger.members(as_of=datetime(2026, 3, 29, 3, 0))).startswith(
        "--as-of '2026-03-29T03:00:00' does not exist in Europe/Tallinn")
    assert shop.snapshot() == before
    # either side of the gap, an aware time in it, and a fold are as before
    assert ledger.purchase("anna", "1", order="G2", date=datetime(2026, 3, 29, 2, 59)).date == \
        datetime(2026, 3, 29, 2, 59)
    assert ledger.purchase("anna", "1", order="G3", date=datetime(2026, 3, 29, 4, 0)).date == datetime(2026, 3, 29, 4)
    aware = datetime(2026, 3, 29, 3, 30, tzinfo=timezone.utc)
    assert ledger.purchase("anna", "1", order="G4", date=aware).date == datetime(2026, 3, 29, 6, 30)
    assert ledger.purchase("anna", "1", order="G5", date=datetime(2026, 10, 25, 3, 30)).date == \
        datetime(2026, 10, 25, 3, 30)


def test_a_birthday_or_a_codes_day_as_a_date_is_held_to_the_range(ledger, shop):
    before = shop.snapshot()
    assert _refusal(lambda: ledger.enroll("b1", name="B", birthday=date(1800, 1, 1))) == \
        "--birthday '1800-01-01' is before 1900" == \
        _refusal(lambda: ledger.enroll("b1", name="B", birthday="1800-01-01"))
    assert _refusal(lambda: ledger.edit("anna", birthday=datetime(1800, 1, 1, 12))) == \
        "--birthday '1800-01-01' is before 1900"
    assert _refusal(lambda: ledger.promo_create("OLD", percent="10", expires=date(9999, 12, 31))) == \
        "--expires '9999-12-31' is after 9998"
    assert shop.snapshot() == before
    assert ledger.enroll("b2", name="B", birthday=date(1990, 4, 12)).member == "b2"
