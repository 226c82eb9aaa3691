"""The time-driven rules end to end: expiry, birthday bonuses, pending points,
the tier review and `loyalty daily` (spec.md "Meaning of the numbers",
loyalty_cli/daily.py). Every expected figure and date is worked out by hand in
the comment beside it; none is recomputed with the product's code. All dates
are explicit and in the past (a time-driven run refuses the future). Each
scenario ends with `loyalty check`, which must print nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from loyalty_cli.domain.dates import now
from tests.conftest import clean, programme_file
from tests.conftest import programme as shared_programme

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run


def programme(body: str = "") -> str:
    return shared_programme(body, name="Daily")


def enroll(shop, member: str, when: str = "2025-01-01", *extra: str) -> None:
    shop.run("enroll", member, "--name", member.title(), "--date", when, *extra)


def buy(shop, member: str, amount: str, when: str, *extra: str) -> dict:
    return shop.json("purchase", member, amount, "--date", when, *extra)


def ts(text: str) -> str:
    """A moment as SQLite stores it: '2026-03-02' -> '2026-03-02 00:00:00.000000'."""
    moment = datetime.fromisoformat(text)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def ledger_rows(shop) -> list[tuple]:
    return shop.sql("SELECT member_id, at, kind, points FROM entries ORDER BY member_id, at, kind, points")


def tier_log(shop) -> list[tuple]:
    return shop.sql("SELECT member_id, at, from_tier, to_tier FROM tier_changes ORDER BY member_id, at, id")


def days(first: str, last: str):
    d, end = date.fromisoformat(first), date.fromisoformat(last)
    while d <= end:
        yield d.isoformat()
        d += timedelta(days=1)


def points_of(shop, member: str, as_of: str) -> int:
    return shop.json("balance", member, "--as-of", as_of)[0]["points"]


EXPIRY = """
[earning]
points_per_unit = 1

[earning.actions]
review = {{ points = 7 }}

[redemption]
point_value = "0.01"

[expiry]
days = {days}
"""


def expiry(days: int = 30) -> str:
    return programme(EXPIRY.format(days=days))


NOTHING_EXPIRED = {"members": 0, "points": 0, "expired": []}

# ---------------------------------------------------------------------------
# expiry: the day itself, month ends, leap years
# ---------------------------------------------------------------------------


def test_points_are_spendable_through_the_day_before_expiry_and_gone_on_it(make_shop):
    s = make_shop(expiry(30))
    enroll(s, "anna")
    buy(s, "anna", "100", "2026-01-31", "--order", "A1")
    # 2026-01-31 + 30 days = 2026-03-02 (February has 28 days): spendable through 2026-03-01
    assert s.sql("SELECT expires_on FROM entries WHERE kind = 'earn'") == [("2026-03-02",)]
    shown = s.json("show", "anna", "--as-of", "2026-03-01")
    assert (shown["points"], shown["available"], shown["expiring"]) == (
        100, 100, [{"date": "2026-03-02", "points": 100}])
    # from 2026-03-02 00:00 they are gone, even before `expire` posts it
    shown = s.json("show", "anna", "--as-of", "2026-03-02T00:00")
    assert (shown["points"], shown["available"], shown["expiring"]) == (0, 0, [])

    assert s.json("redeem", "anna", "30", "--date", "2026-03-01T23:00")["points"] == 70  # 100 - 30, last day
    before = s.snapshot()
    # on the expiry day the 70 left are gone: refused, and the refusal posts nothing (not even the expiry)
    s.fail("redeem", "anna", "1", "--date", "2026-03-02", contains="member anna has 0 available")
    assert s.snapshot() == before

    assert s.json("expire", "--as-of", "2026-03-01") == {"as_of": "2026-03-01T23:59:59", "dry_run": False,
                                                         **NOTHING_EXPIRED}
    assert s.snapshot() == before
    r = s.json("expire", "--as-of", "2026-03-02")
    # the 70 left (100 - 30 redeemed), dated at the start of the expiry day
    assert r == {"as_of": "2026-03-02T23:59:59", "dry_run": False, "members": 1, "points": 70,
                 "expired": [{"member": "anna", "date": "2026-03-02", "points": 70}]}
    after = s.snapshot()
    assert s.json("expire", "--as-of", "2026-03-02")["expired"] == []  # idempotent
    assert s.json("expire", "--as-of", "2026-03-20")["expired"] == []  # and later runs find nothing new
    assert s.snapshot() == after
    assert [(h["at"], h["kind"], h["points"], h["balance"], h["note"]) for h in s.json("history", "anna")] == [
        ("2026-01-31T00:00:00", "earn", 100, 100, None),
        ("2026-03-01T23:00:00", "redeem", -30, 70, None),
        ("2026-03-02T00:00:00", "expire", -70, 0, "expired: points earned 2026-01-31"),
    ]
    clean(s)


@pytest.mark.parametrize(
    "earned, n, gone",
    [
        ("2026-01-31", 30, "2026-03-02"),  # Jan 31 + 28 = Feb 28, + 2 = Mar 2
        ("2024-01-31", 30, "2024-03-01"),  # leap year: Jan 31 + 29 = Feb 29, + 1 = Mar 1
        ("2024-02-28", 1, "2024-02-29"),  # the leap day itself
        ("2024-02-29", 1, "2024-03-01"),  # earned on the leap day
        ("2025-02-28", 1, "2025-03-01"),  # no 29 February in 2025
        ("2023-03-01", 365, "2024-02-29"),  # a year that contains 2024-02-29 has 366 days
        ("2024-02-29", 365, "2025-02-28"),  # 2024-02-29 + 366 would be 2025-03-01
        ("2025-12-31", 1, "2026-01-01"),  # across the new year
    ],
)
def test_expiry_day_across_month_ends_and_leap_years(make_shop, earned, n, gone):
    s = make_shop(expiry(n))
    enroll(s, "anna", "2023-01-01")
    buy(s, "anna", "40", earned, "--order", "E1")  # 40 points
    last = (date.fromisoformat(gone) - timedelta(days=1)).isoformat()
    assert s.sql("SELECT expires_on FROM entries WHERE kind = 'earn'") == [(gone,)]
    assert s.json("show", "anna", "--as-of", last)["available"] == 40
    assert s.json("show", "anna", "--as-of", gone)["available"] == 0
    assert s.json("expire", "--as-of", last)["expired"] == []
    assert s.json("redeem", "anna", "1", "--date", last)["points"] == 39  # still spendable on the last day
    r = s.json("expire", "--as-of", gone)
    assert (r["members"], r["points"], r["expired"]) == (1, 39, [{"member": "anna", "date": gone, "points": 39}])
    assert s.sql("SELECT at, points FROM entries WHERE kind = 'expire'") == [(ts(gone), -39)]
    assert points_of(s, "anna", gone) == 0  # 40 - 1 - 39
    clean(s)


def test_one_expiry_entry_per_member_and_day_even_in_a_late_run(make_shop):
    s = make_shop(expiry(30))
    enroll(s, "anna")
    enroll(s, "bob")
    buy(s, "anna", "10", "2026-01-10T09:00")  # expires 2026-02-09
    buy(s, "anna", "20", "2026-01-10T18:00")  # expires 2026-02-09 as well
    buy(s, "anna", "30", "2026-01-11")  # expires 2026-02-10
    buy(s, "bob", "40", "2026-01-10")  # expires 2026-02-09
    r = s.json("expire", "--as-of", "2026-02-15")
    # one run, days late: each expiry still dated on its own day; anna's two 01-10 lots make one entry
    assert r == {"as_of": "2026-02-15T23:59:59", "dry_run": False, "members": 2, "points": 100,  # 30+30+40
                 "expired": [{"member": "anna", "date": "2026-02-09", "points": 30},  # 10 + 20
                             {"member": "anna", "date": "2026-02-10", "points": 30},
                             {"member": "bob", "date": "2026-02-09", "points": 40}]}
    assert s.sql("SELECT member_id, at, points, note FROM entries WHERE kind = 'expire' ORDER BY member_id, at") == [
        ("anna", ts("2026-02-09"), -30, "expired: points earned 2026-01-10"),
        ("anna", ts("2026-02-10"), -30, "expired: points earned 2026-01-11"),
        ("bob", ts("2026-02-09"), -40, "expired: points earned 2026-01-10"),
    ]
    assert [(b["member"], b["points"]) for b in s.json("balance", "--as-of", "2026-02-15")] == [
        ("anna", 0), ("bob", 0)]
    clean(s)


@pytest.mark.parametrize(
    "command, expected",
    [
        (("purchase", "anna", "10", "--order", "C1"), 30),  # 120 - 100 expired + 10 earned
        (("redeem", "anna", "5"), 15),  # 20 left after the expiry, 5 spent
        (("adjust", "anna", "5", "--reason", "goodwill"), 25),  # 20 + 5
        (("adjust", "anna", "-5", "--reason", "correction"), 15),  # 20 - 5
        (("award", "anna", "review"), 27),  # 20 + 7
        (("refund", "B2", "--amount", "10.00"), 10),  # 20 - 10 (half of B2's 20 points)
    ],
)
def test_every_write_posts_the_members_due_expiry_first(make_shop, command, expected):
    s = make_shop(expiry(30))
    enroll(s, "anna")
    enroll(s, "bob")
    buy(s, "anna", "100", "2026-01-31", "--order", "A1")  # 100, gone 2026-03-02
    buy(s, "anna", "20", "2026-02-20", "--order", "B2")  # 20, gone 2026-03-22
    buy(s, "bob", "50", "2026-01-31", "--order", "X1")  # 50, gone 2026-03-02
    r = s.json(*command, "--date", "2026-03-02")
    assert r["points"] == expected  # the printed balance already lacks the 100 expired points
    assert s.sql("SELECT member_id, at, points FROM entries WHERE kind = 'expire'") == [
        ("anna", ts("2026-03-02"), -100)]  # anna's only: bob's wait for `expire`
    r = s.json("expire", "--as-of", "2026-03-02")
    assert (r["points"], r["expired"]) == (50, [{"member": "bob", "date": "2026-03-02", "points": 50}])
    assert points_of(s, "anna", "2026-03-02") == expected
    clean(s)


def test_redemption_spends_the_soonest_expiring_points_first(make_shop):
    s = make_shop(expiry(30))
    enroll(s, "anna")
    buy(s, "anna", "50", "2026-01-10", "--order", "F1")  # 50, gone 2026-02-09
    buy(s, "anna", "40", "2026-01-15", "--order", "F2")  # 40, gone 2026-02-14
    s.run("adjust", "anna", "30", "--reason", "welcome back", "--date", "2026-01-20")  # 30, gone 2026-02-19
    assert s.json("redeem", "anna", "60", "--date", "2026-01-25")["points"] == 60  # 120 - 60
    # FIFO: all 50 of F1 (soonest), then 10 of F2; the adjustment untouched
    assert s.sql("""SELECT c.kind, c.order_id, a.points FROM allocations a
                    JOIN entries d ON d.id = a.debit_id JOIN entries c ON c.id = a.credit_id
                    WHERE d.kind = 'redeem' ORDER BY a.id""") == [("earn", "F1", 50), ("earn", "F2", 10)]
    r = s.json("expire", "--as-of", "2026-02-19")
    # F1 is empty (nothing on 02-09), F2 has 30 left (02-14), the adjustment 30 (02-19)
    assert (r["points"], r["expired"]) == (60, [{"member": "anna", "date": "2026-02-14", "points": 30},
                                                {"member": "anna", "date": "2026-02-19", "points": 30}])
    assert points_of(s, "anna", "2026-02-19") == 0  # 120 - 60 - 60
    clean(s)


# ---------------------------------------------------------------------------
# refunds and expiry
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("posted_first", [True, False])
def test_a_refund_takes_nothing_back_when_all_the_orders_points_expired(make_shop, posted_first):
    s = make_shop(expiry(30))
    enroll(s, "anna")
    buy(s, "anna", "100", "2026-01-31", "--order", "A1")  # 100, gone 2026-03-02
    assert buy(s, "anna", "30", "2026-02-25", "--order", "A2")["points"] == 130  # 30 more, gone 2026-03-27
    if posted_first:
        assert s.json("expire", "--as-of", "2026-03-02")["points"] == 100
    # (otherwise the refund itself posts the expiry first)
    r = s.json("refund", "A1", "--date", "2026-03-05")
    # the 100 already expired: nothing taken back a second time; 130 - 100 expired = 30, unchanged by the refund
    assert (r["points_taken_back"], r["points_already_expired"], r["points"]) == (0, 100, 30)
    assert ledger_rows(s) == [("anna", ts("2026-01-31"), "earn", 100),
                              ("anna", ts("2026-02-25"), "earn", 30),
                              ("anna", ts("2026-03-02"), "expire", -100)]  # on its day, whoever posted it
    assert s.json("show", "anna")["lifetime_spend"] == "30.00"  # 100 + 30 - 100 refunded
    clean(s)


def test_a_refund_takes_back_only_the_redeemed_part_of_a_partly_expired_order(make_shop):
    s = make_shop(expiry(30))
    enroll(s, "anna")
    buy(s, "anna", "100", "2026-01-31", "--order", "A1")  # 100, gone 2026-03-02
    assert s.json("redeem", "anna", "40", "--date", "2026-02-10")["points"] == 60
    assert s.json("expire", "--as-of", "2026-03-02")["points"] == 60  # 100 - 40 spent
    r = s.json("refund", "A1", "--date", "2026-03-05")
    # 100 to take back, 60 of them expired: 40 taken, and they were spent: a debt of 40
    assert (r["points_taken_back"], r["points_already_expired"], r["points"]) == (40, 60, -40)
    assert buy(s, "anna", "50", "2026-03-06", "--order", "A2")["points"] == 10  # 50 earned pay the 40 owed
    r = s.json("expire", "--as-of", "2026-04-05")  # A2's lot (gone 03-06 + 30 = 04-05) holds only the 10 left
    assert r["expired"] == [{"member": "anna", "date": "2026-04-05", "points": 10}]
    clean(s)


def test_partial_refunds_count_the_expired_points_only_once(make_shop):
    s = make_shop(expiry(30))
    enroll(s, "anna")
    buy(s, "anna", "100", "2026-01-31", "--order", "A1")
    s.run("redeem", "anna", "40", "--date", "2026-02-10")
    s.run("expire", "--as-of", "2026-03-02")  # 60 expire
    r = s.json("refund", "A1", "--amount", "50.00", "--date", "2026-03-05")
    # half: 50 points to take back, all covered by the 60 expired
    assert (r["points_taken_back"], r["points_already_expired"], r["points"]) == (0, 50, 0)
    r = s.json("refund", "A1", "--date", "2026-03-06")
    # the other 50: only 60 - 50 = 10 expired points are left to cover them, 40 taken back
    assert (r["points_taken_back"], r["points_already_expired"], r["points"]) == (40, 10, -40)
    clean(s)


def test_points_given_back_after_their_expiry_are_born_expired(make_shop):
    s = make_shop(expiry(30))
    enroll(s, "anna")
    buy(s, "anna", "100", "2026-01-10", "--order", "A1")  # 100, gone 2026-02-09
    r = buy(s, "anna", "10.00", "2026-01-20", "--order", "B1", "--redeem", "50")
    # 50 points pay 0.50: net 9.50 -> 9 points (gone 2026-02-19); 100 - 50 + 9 = 59
    assert (r["points_redeemed"], r["net"], r["points_earned"], r["points"]) == (50, "9.50", 9, 59)
    r = s.json("expire", "--as-of", "2026-02-09")
    assert r["expired"] == [{"member": "anna", "date": "2026-02-09", "points": 50}]  # A1's 100 - 50 spent
    r = s.json("refund", "B1", "--date", "2026-02-12T15:00")
    # B1's 9 taken back; the 50 that paid for it come back with A1's expiry (02-09), already past: they
    # expire at once, at the refund's moment. 59 - 50 - 9 + 50 - 50 = 0
    assert (r["points_taken_back"], r["points_restored"], r["points"]) == (9, 50, 0)
    assert ledger_rows(s) == [
        ("anna", ts("2026-01-10"), "earn", 100),
        ("anna", ts("2026-01-20"), "earn", 9),
        ("anna", ts("2026-01-20"), "redeem", -50),
        ("anna", ts("2026-02-09"), "expire", -50),
        ("anna", ts("2026-02-12T15:00"), "expire", -50),
        ("anna", ts("2026-02-12T15:00"), "refund", -9),
        ("anna", ts("2026-02-12T15:00"), "restore", 50),
    ]
    assert s.json("expire", "--as-of", "2026-02-28")["expired"] == []  # nothing left to expire
    clean(s)


# ---------------------------------------------------------------------------
# pending points
# ---------------------------------------------------------------------------

PENDING = """
[earning]
points_per_unit = 1
pending_days = 7

[redemption]
point_value = "0.01"
"""


def test_pending_points_are_in_the_balance_but_spendable_only_from_day_d_plus_p(make_shop):
    s = make_shop(programme(PENDING))
    s.run("promo", "create", "BONUS5", "--points", "5", "--date", "2026-01-01")
    enroll(s, "anna", "2026-01-01")
    s.run("adjust", "anna", "10", "--reason", "goodwill", "--date", "2026-03-02")  # not pending
    r = buy(s, "anna", "50", "2026-03-02", "--order", "P1", "--code", "BONUS5")
    assert (r["points_earned"], r["bonus_points"], r["points"]) == (50, 5, 65)  # 10 + 50 + 5
    shown = s.json("show", "anna", "--as-of", "2026-03-08")  # 2026-03-02 + 7 = 03-09: still pending on 03-08
    assert (shown["points"], shown["available"], shown["pending"]) == (65, 10, 55)
    before = s.snapshot()
    s.fail("redeem", "anna", "20", "--date", "2026-03-08",
           contains="cannot redeem 20 points: member anna has 10 available, 55 more pending")
    assert s.snapshot() == before
    assert s.json("daily", "--as-of", "2026-03-08")["released_points"] == 0  # first run: that day only; none
    assert s.json("daily", "--as-of", "2026-03-09")["released_points"] == 55  # purchase and promo bonus
    shown = s.json("show", "anna", "--as-of", "2026-03-09")
    assert (shown["points"], shown["available"], shown["pending"]) == (65, 65, 0)
    assert s.json("redeem", "anna", "65", "--date", "2026-03-09")["points"] == 0
    clean(s)


def test_a_refund_inside_the_pending_window_cancels_the_pending_points(make_shop):
    s = make_shop(programme(PENDING))
    enroll(s, "anna", "2026-01-01")
    buy(s, "anna", "50", "2026-03-02", "--order", "P1")  # 50 pending until 2026-03-09
    r = s.json("refund", "P1", "--amount", "20.00", "--date", "2026-03-04")
    assert (r["points_taken_back"], r["points"]) == (20, 30)  # 50 x 20/50 = 20, from the pending lot
    shown = s.json("show", "anna", "--as-of", "2026-03-04")
    assert (shown["points"], shown["available"], shown["pending"]) == (30, 0, 30)
    r = s.json("refund", "P1", "--date", "2026-03-05")
    assert (r["points_taken_back"], r["points"]) == (30, 0)
    assert [h["balance"] for h in s.json("history", "anna")] == [50, 30, 0]  # never below zero
    shown = s.json("show", "anna", "--as-of", "2026-03-09")
    assert (shown["points"], shown["available"], shown["pending"]) == (0, 0, 0)
    assert s.json("daily", "--as-of", "2026-03-09")["released_points"] == 0  # nothing left to release
    clean(s)


# ---------------------------------------------------------------------------
# birthdays
# ---------------------------------------------------------------------------

BIRTHDAYS = """
[earning]
points_per_unit = 1
birthday_bonus = 25
"""


def test_a_birthday_bonus_once_a_year_dated_on_the_birthday(make_shop):
    s = make_shop(programme(BIRTHDAYS))
    enroll(s, "anna", "2025-01-01", "--birthday", "1990-03-15")
    enroll(s, "bob", "2025-01-01", "--birthday", "1985-12-31")
    enroll(s, "cara", "2025-01-01")  # no birthday known
    r = s.json("birthdays", "--as-of", "2026-03-14")
    # anna's latest birthday is 2025-03-15 (364 days ago), bob's 2025-12-31 (73 days ago): both too old
    assert r == {"as_of": "2026-03-14T23:59:59", "dry_run": False, "members": 0, "points": 0, "granted": []}
    r = s.json("birthdays", "--as-of", "2026-03-15")
    assert r == {"as_of": "2026-03-15T23:59:59", "dry_run": False, "members": 1, "points": 25,
                 "granted": [{"member": "anna", "name": "Anna", "birthday": "2026-03-15", "points": 25}]}
    assert s.sql("SELECT member_id, at, kind, points, note FROM entries") == [
        ("anna", ts("2026-03-15"), "birthday", 25, "birthday bonus 2026")]
    after = s.snapshot()
    assert s.json("birthdays", "--as-of", "2026-03-15")["granted"] == []  # once
    assert s.json("birthdays", "--as-of", "2026-04-14")["granted"] == []  # once per year, even within the grace
    assert s.snapshot() == after
    assert s.sql("SELECT member_id, year FROM birthday_bonuses") == [("anna", 2026)]
    clean(s)


@pytest.mark.parametrize(
    "as_of, granted",
    [
        ("2025-12-30", False),  # before the birthday (and 2024-12-31 is before she joined)
        ("2025-12-31", True),
        ("2026-01-10", True),  # across the new year: the bonus is 2025's, dated 2025-12-31
        ("2026-01-30", True),  # 2025-12-31 + 30 days: the last day a late run pays it
        ("2026-01-31", False),  # 31 days: too late
    ],
)
def test_a_late_run_pays_a_birthday_up_to_30_days_after_it(make_shop, as_of, granted):
    s = make_shop(programme(BIRTHDAYS))
    enroll(s, "bob", "2025-01-01", "--birthday", "1985-12-31")
    r = s.json("birthdays", "--as-of", as_of)
    if granted:
        assert r["granted"] == [{"member": "bob", "name": "Bob", "birthday": "2025-12-31", "points": 25}]
        assert s.sql("SELECT at, points, note FROM entries") == [(ts("2025-12-31"), 25, "birthday bonus 2025")]
        assert s.sql("SELECT year FROM birthday_bonuses") == [(2025,)]
    else:
        assert (r["members"], r["points"], r["granted"]) == (0, 0, [])
        assert s.sql("SELECT * FROM entries") == []
    clean(s)



POINTS_TIERS = """
[earning]
points_per_unit = 1
birthday_bonus = 100

[earning.actions]
review = { points = 100 }

[tiers]
basis = "points"
window = "rolling-365"

[[tiers.levels]]
name = "Bronze"
min = 0

[[tiers.levels]]
name = "Silver"
min = 100
multiplier = 2
"""


def test_an_award_or_birthday_bonus_that_gives_a_tier_records_it_on_its_own_day_once(make_shop):
    """Points basis: an award and a birthday bonus (paid by a late `daily`)
    count as points earned; each records the tier change it caused on its
    own day, and later runs record nothing twice."""
    s = make_shop(programme(POINTS_TIERS))
    enroll(s, "anna", "2025-01-01", "--birthday", "1990-01-10")
    enroll(s, "bob", "2025-01-01")
    s.run("award", "bob", "review", "--date", "2025-01-03")
    r = s.json("daily", "--as-of", "2025-01-20")  # ten days after anna's birthday
    assert r["birthdays"]["granted"] == [{"member": "anna", "name": "Anna", "birthday": "2025-01-10", "points": 100}]
    assert r["tier_changes"] == []  # nothing left for the review: the writes recorded their own
    log = [("anna", ts("2025-01-10"), "Bronze", "Silver"), ("bob", ts("2025-01-03"), "Bronze", "Silver")]
    assert tier_log(s) == log
    assert [h["kind"] for h in s.json("history", "anna")] == ["birthday", "tier"]
    assert s.json("show", "anna", "--as-of", "2025-01-10")["tier"] == "Silver"
    assert buy(s, "anna", "5.00", "2025-01-21")["points_earned"] == 10  # at Silver, no second change
    assert s.json("daily", "--as-of", "2025-01-21")["tier_changes"] == []
    assert tier_log(s) == log
    clean(s)


def test_a_29_february_birthday_is_kept_on_28_february_in_other_years(make_shop):
    s = make_shop(programme(BIRTHDAYS))
    enroll(s, "lea", "2023-01-01", "--birthday", "2000-02-29")
    # (2027 and 2028 are after today; 2023/2025 and 2024 are the same kinds of year)
    steps = [
        ("2023-02-27", []),  # not yet: 2023 has no 29 February, her day is the 28th
        ("2023-02-28", ["2023-02-28"]),
        ("2023-03-01", []),  # 2023's is paid
        ("2024-02-28", []),  # leap year: her day is the 29th; the latest one, 2023-02-28, is paid
        ("2024-02-29", ["2024-02-29"]),
        ("2025-02-27", []),
        ("2025-02-28", ["2025-02-28"]),
    ]
    for as_of, expected in steps:
        r = s.json("birthdays", "--as-of", as_of)
        assert [g["birthday"] for g in r["granted"]] == expected, as_of
    assert s.sql("SELECT at, points, note FROM entries ORDER BY at") == [
        (ts("2023-02-28"), 25, "birthday bonus 2023"),
        (ts("2024-02-29"), 25, "birthday bonus 2024"),
        (ts("2025-02-28"), 25, "birthday bonus 2025")]
    assert points_of(s, "lea", "2025-02-28") == 75  # 3 x 25 (no expiry in this programme)
    clean(s)


def test_a_29_february_birthday_in_2027_and_2028():
    # These dates are after today, so no CLI run can be dated on them: the
    # date rule itself, as `birthdays` applies it.
    from loyalty_cli.ledger.daily import BIRTHDAY_GRACE_DAYS, birthday_in, birthdays_payable, due_birthdays

    born, enrolled = date(2000, 2, 29), date(2026, 1, 1)

    def due(on):  # what a run on `on` pays: the birthdays of the last 30 days
        return due_birthdays(born, enrolled, on - timedelta(days=BIRTHDAY_GRACE_DAYS), on)

    assert birthday_in(born, 2027) == date(2027, 2, 28)  # not a leap year
    assert birthday_in(born, 2028) == date(2028, 2, 29)  # a leap year
    assert due(date(2027, 2, 27)) == []  # 2026-02-28 is 364 days back
    assert due(date(2027, 2, 28)) == [date(2027, 2, 28)]
    assert due(date(2027, 3, 30)) == [date(2027, 2, 28)]  # 30 days after: still due
    assert due(date(2027, 3, 31)) == []  # 31 days after
    # 2028 is a leap year: her day is the 29th, and 2027-02-28 is 365 days back
    assert due(date(2028, 2, 28)) == []
    assert due(date(2028, 2, 29)) == [date(2028, 2, 29)]
    # the birthdays a run may pay (those of the last 30 days), whenever the previous run was
    assert due_birthdays(born, enrolled, date(2026, 6, 1), date(2028, 3, 1)) == [date(2027, 2, 28), date(2028, 2, 29)]
    assert birthdays_payable(born, enrolled, date(2028, 3, 1)) == [date(2028, 2, 29)]
    assert birthdays_payable(born, enrolled, date(2027, 3, 30)) == due(date(2027, 3, 30)) == [date(2027, 2, 28)]


def test_no_bonus_for_a_birthday_before_enrolment_and_the_enrolment_moment_on_the_day(make_shop):
    s = make_shop(programme(BIRTHDAYS))
    enroll(s, "dora", "2025-06-10T14:30", "--birthday", "1990-06-10")  # joined on her birthday
    enroll(s, "eve", "2025-06-11", "--birthday", "1990-06-10")  # joined the day after hers
    r = s.json("birthdays", "--as-of", "2025-06-20")
    assert [(g["member"], g["birthday"]) for g in r["granted"]] == [("dora", "2025-06-10")]
    r = s.json("birthdays", "--as-of", "2026-06-10")
    assert [(g["member"], g["birthday"]) for g in r["granted"]] == [("dora", "2026-06-10"), ("eve", "2026-06-10")]
    assert ledger_rows(s) == [
        ("dora", ts("2025-06-10T14:30"), "birthday", 25),  # not before she joined that day
        ("dora", ts("2026-06-10"), "birthday", 25),
        ("eve", ts("2026-06-10"), "birthday", 25),
    ]
    clean(s)


# ---------------------------------------------------------------------------
# the daily run
# ---------------------------------------------------------------------------

DAILY = """
[earning]
points_per_unit = 1
birthday_bonus = 25
pending_days = 3

[redemption]
point_value = "0.01"

[expiry]
days = 10
"""


def test_daily_runs_birthdays_expiry_and_release_once(make_shop):
    s = make_shop(programme(DAILY))
    enroll(s, "anna", "2026-01-01", "--birthday", "1990-03-01")
    buy(s, "anna", "40", "2026-03-05", "--order", "D1")  # 40, spendable 03-08, gone 03-15
    r = s.json("daily", "--as-of", "2026-03-12")
    # the birthday (11 days ago) pays 25 dated 03-01; birthdays run before expiry, so the bonus, gone on
    # 03-01 + 10 = 03-11, expires in the same run; the first run releases only what frees on 03-12: none
    assert r == {
        "as_of": "2026-03-12T23:59:59", "previous_run": None, "dry_run": False,
        "birthdays": {"members": 1, "points": 25,
                      "granted": [{"member": "anna", "name": "Anna", "birthday": "2026-03-01", "points": 25}]},
        "expired": {"members": 1, "points": 25, "entries": [{"member": "anna", "date": "2026-03-11", "points": 25}]},
        "released_points": 0, "tier_changes": [],
    }
    before = s.snapshot()
    r = s.json("daily", "--as-of", "2026-03-12")  # the same as-of again: nothing
    assert r == {"as_of": "2026-03-12T23:59:59", "previous_run": "2026-03-12T23:59:59", "dry_run": False,
                 "birthdays": {"members": 0, "points": 0, "granted": []},
                 "expired": {"members": 0, "points": 0, "entries": []},
                 "released_points": 0, "tier_changes": []}
    assert s.snapshot() == before

    buy(s, "anna", "20", "2026-03-13", "--order", "D2")  # 20, spendable 03-16, gone 03-23
    r = s.json("daily", "--as-of", "2026-03-16")
    assert r["previous_run"] == "2026-03-12T23:59:59"
    assert r["expired"]["entries"] == [{"member": "anna", "date": "2026-03-15", "points": 40}]  # D1
    assert r["released_points"] == 20  # D2, spendable from 03-16 (days 03-13..03-16 counted)
    assert s.sql("SELECT value FROM meta WHERE key = 'daily_through'") == [("2026-03-16T23:59:59",)]
    rows = s.json("history", "anna", "--as-of", "2026-03-16")
    assert [(h["date"], h["kind"], h["points"], h["balance"]) for h in rows] == [
        ("2026-03-01", "birthday", 25, 25),
        ("2026-03-05", "earn", 40, 65),
        ("2026-03-11", "expire", -25, 40),
        ("2026-03-13", "earn", 20, 60),
        ("2026-03-15", "expire", -40, 20),
    ]
    before = s.snapshot()
    r = s.json("daily", "--as-of", "2026-03-14")  # earlier than the last run: nothing new, mark kept
    assert (r["birthdays"]["granted"], r["expired"]["entries"], r["released_points"], r["tier_changes"]) == (
        [], [], 0, [])
    assert s.snapshot() == before
    clean(s)


def run_both(make_shop, toml: str, setup, start: str, last: str, events: dict):
    """Two identical shops: `setup`, then a daily run as of `start` on both.
    Shop A then records each day's events and runs daily that day, every day
    through `last`; shop B records all the events, then runs daily once."""
    a, b = make_shop(toml), make_shop(toml)
    for s in (a, b):
        setup(s)
        s.run("daily", "--as-of", start)
    runs = []
    for day in days((date.fromisoformat(start) + timedelta(days=1)).isoformat(), last):
        for args in events.get(day, []):
            a.run(*args)
        runs.append(a.json("daily", "--as-of", day))
    for day in sorted(events):
        for args in events[day]:
            b.run(*args)
    once = b.json("daily", "--as-of", last)
    return a, b, runs, once


ROLLING = """
[earning]
points_per_unit = 1
birthday_bonus = 25
pending_days = 5

[redemption]
point_value = "0.01"

[expiry]
days = 30

[tiers]
window = "{window}"
downgrade = true

[[tiers.levels]]
name = "Bronze"
min = "0"

[[tiers.levels]]
name = "Gold"
min = "100"
multiplier = 2
"""


def test_a_late_daily_run_writes_what_daily_runs_would_have_rolling_window(make_shop):
    def setup(s):
        enroll(s, "anna", "2025-01-01", "--birthday", "1991-02-20")
        enroll(s, "cara", "2025-01-01")
        buy(s, "anna", "120", "2025-02-12T10:00", "--order", "A0")  # 120, Gold; gone 2025-03-14
        buy(s, "cara", "100", "2025-03-01T16:00", "--order", "C0")  # 100, Gold; gone 2025-03-31

    events = {
        "2026-01-15": [("enroll", "bob", "--name", "Bob", "--birthday", "1980-03-01", "--date", "2026-01-15T11:00")],
        # anna still Gold (A0 in the window): 30 x 2 = 60, spendable 01-25, gone 02-19
        "2026-01-20": [("purchase", "anna", "30", "--order", "A1", "--date", "2026-01-20")],
        "2026-01-28": [("redeem", "anna", "20", "--date", "2026-01-28")],  # 40 of A1 left
        "2026-01-31": [("purchase", "bob", "80", "--order", "B1", "--date", "2026-01-31T12:00")],  # 80, gone 03-02
        "2026-02-03": [("purchase", "bob", "30", "--order", "B2", "--date", "2026-02-03")],  # 30 at x1; 110: Gold
        "2026-02-10": [("redeem", "bob", "50", "--date", "2026-02-10")],  # FIFO: from B1 (03-02), 30 left
        "2026-03-03": [("adjust", "bob", "10", "--reason", "goodwill", "--date", "2026-03-03")],
    }
    # 2026-01-14 .. 2026-03-05: across two month ends, A0 and C0 leaving the rolling window
    # (2025-02-12 + 365 = 2026-02-12, 2025-03-01 + 365 = 2026-03-01), two birthdays and four expiries
    a, b, runs, once = run_both(make_shop, programme(ROLLING.format(window="rolling-365")), setup,
                                "2026-01-14", "2026-03-05", events)
    expected = [
        ("anna", ts("2025-02-12T10:00"), "earn", 120),
        ("anna", ts("2025-03-14"), "expire", -120),  # posted by the first run on 2026-01-14
        ("anna", ts("2026-01-20"), "earn", 60),
        ("anna", ts("2026-01-28"), "redeem", -20),
        ("anna", ts("2026-02-19"), "expire", -40),
        ("anna", ts("2026-02-20"), "birthday", 25),
        ("bob", ts("2026-01-31T12:00"), "earn", 80),
        ("bob", ts("2026-02-03"), "earn", 30),
        ("bob", ts("2026-02-10"), "redeem", -50),
        ("bob", ts("2026-03-01"), "birthday", 25),
        ("bob", ts("2026-03-02"), "expire", -30),  # B1's 80 - 50
        ("bob", ts("2026-03-03"), "adjust", 10),
        ("bob", ts("2026-03-05"), "expire", -30),  # B2 (2026-02-03 + 30)
        ("cara", ts("2025-03-01T16:00"), "earn", 100),
        ("cara", ts("2025-03-31"), "expire", -100),
    ]
    tiers = [
        ("anna", ts("2025-02-12T10:00"), "Bronze", "Gold"),
        ("anna", ts("2026-02-12"), "Gold", "Bronze"),  # A0 left the window; A1's 30 is not enough
        ("bob", ts("2026-02-03"), "Bronze", "Gold"),  # 80 + 30 = 110
        ("cara", ts("2025-03-01T16:00"), "Bronze", "Gold"),
        ("cara", ts("2026-03-01"), "Gold", "Bronze"),
    ]
    assert ledger_rows(a) == expected
    assert ledger_rows(b) == expected
    assert tier_log(a) == tiers
    assert tier_log(b) == tiers
    # the time-driven changes, run by run or all at once
    by_day = [c for r in runs for c in r["tier_changes"]]
    assert by_day == once["tier_changes"] == [
        {"member": "anna", "date": "2026-02-12", "from": "Gold", "to": "Bronze"},
        {"member": "cara", "date": "2026-03-01", "from": "Gold", "to": "Bronze"}]
    assert [g for r in runs for g in r["birthdays"]["granted"]] == once["birthdays"]["granted"] == [
        {"member": "anna", "name": "Anna", "birthday": "2026-02-20", "points": 25},
        {"member": "bob", "name": "Bob", "birthday": "2026-03-01", "points": 25}]
    # bob's 03-02 expiry: posted by the daily run of that day in A, by his adjustment on 03-03 in B
    assert [e for r in runs for e in r["expired"]["entries"]] == [
        {"member": "anna", "date": "2026-02-19", "points": 40},
        {"member": "bob", "date": "2026-03-02", "points": 30},
        {"member": "bob", "date": "2026-03-05", "points": 30}]
    assert once["expired"]["entries"] == [{"member": "anna", "date": "2026-02-19", "points": 40},
                                          {"member": "bob", "date": "2026-03-05", "points": 30}]
    assert [(x["member"], x["points"], x["tier"]) for x in a.json("balance", "--as-of", "2026-03-05")] == [
        ("anna", 25, "Bronze"), ("bob", 35, "Gold"), ("cara", 0, "Bronze")]  # bob: 80+30-50+25-30+10-30
    assert a.json("balance", "--as-of", "2026-03-05") == b.json("balance", "--as-of", "2026-03-05")
    assert a.sql("SELECT value FROM meta WHERE key = 'daily_through'") == [("2026-03-05T23:59:59",)]
    assert b.sql("SELECT value FROM meta WHERE key = 'daily_through'") == [("2026-03-05T23:59:59",)]
    clean(a)
    clean(b)


def test_a_late_daily_run_writes_what_daily_runs_would_have_calendar_year(make_shop):
    def setup(s):
        enroll(s, "dan", "2025-01-01", "--birthday", "1975-12-25")
        enroll(s, "eva", "2025-01-01", "--birthday", "1999-01-10")
        buy(s, "dan", "150", "2025-06-01", "--order", "D0")  # 150, Gold; gone 2025-07-01
        buy(s, "eva", "60", "2025-11-20", "--order", "E0")  # 60, Bronze; spendable 11-25, gone 12-20

    events = {
        "2025-12-05": [("purchase", "dan", "50", "--order", "D1", "--date", "2025-12-05")],  # Gold: 100, gone 01-04
        "2025-12-10": [("redeem", "eva", "10", "--date", "2025-12-10")],  # 50 of E0 left
        "2026-01-15": [("purchase", "eva", "20", "--order", "E1", "--date", "2026-01-15")],  # 20, gone 02-14
    }
    # 2025-11-30 .. 2026-01-20: across 30 November, 31 December and 1 January (totals restart)
    a, b, runs, once = run_both(make_shop, programme(ROLLING.format(window="calendar-year")), setup,
                                "2025-11-30", "2026-01-20", events)
    expected = [
        ("dan", ts("2025-06-01"), "earn", 150),
        ("dan", ts("2025-07-01"), "expire", -150),
        ("dan", ts("2025-12-05"), "earn", 100),
        ("dan", ts("2025-12-25"), "birthday", 25),
        ("dan", ts("2026-01-04"), "expire", -100),
        ("eva", ts("2025-11-20"), "earn", 60),
        ("eva", ts("2025-12-10"), "redeem", -10),
        ("eva", ts("2025-12-20"), "expire", -50),
        ("eva", ts("2026-01-10"), "birthday", 25),
        ("eva", ts("2026-01-15"), "earn", 20),
    ]
    tiers = [("dan", ts("2025-06-01"), "Bronze", "Gold"),
             ("dan", ts("2026-01-01"), "Gold", "Bronze")]  # 2026's total starts at 0
    assert ledger_rows(a) == expected
    assert ledger_rows(b) == expected
    assert tier_log(a) == tiers
    assert tier_log(b) == tiers
    assert [c for r in runs for c in r["tier_changes"]] == once["tier_changes"] == [
        {"member": "dan", "date": "2026-01-01", "from": "Gold", "to": "Bronze"}]
    assert [g["birthday"] for r in runs for g in r["birthdays"]["granted"]] == ["2025-12-25", "2026-01-10"]
    assert [g["birthday"] for g in once["birthdays"]["granted"]] == ["2025-12-25", "2026-01-10"]
    assert a.json("balance", "--as-of", "2026-01-20") == b.json("balance", "--as-of", "2026-01-20")
    clean(a)
    clean(b)


def test_a_late_daily_run_pays_a_birthday_up_to_30_days_back_and_no_later(make_shop):
    def setup(s):
        enroll(s, "anna", "2025-01-01", "--birthday", "1990-01-05")

    a, b, runs, once = run_both(make_shop, programme(BIRTHDAYS), setup, "2026-01-01", "2026-02-04", {})
    # the run of 2026-01-05 pays 25 dated 2026-01-05; one run on 02-04 (30 days later) pays the same
    assert ledger_rows(a) == [("anna", ts("2026-01-05"), "birthday", 25)]
    assert ledger_rows(b) == [("anna", ts("2026-01-05"), "birthday", 25)]


@pytest.mark.parametrize("command", ["daily", "birthdays"])
def test_a_birthday_more_than_30_days_back_is_not_paid_by_daily_or_birthdays(make_shop, command):
    # issue 14: a run on 2025-12-01, then one on 2026-03-01, paid a 2026-01-10 birthday 50 days late
    s = make_shop(programme(BIRTHDAYS))
    enroll(s, "eva", "2025-01-01", "--birthday", "1999-01-10")
    s.run("daily", "--as-of", "2025-12-01")
    before = s.snapshot()
    r = s.json(command, "--as-of", "2026-03-01", "--dry-run")
    granted = r["birthdays"]["granted"] if command == "daily" else r["granted"]
    assert granted == []
    s.run(command, "--as-of", "2026-03-01")
    assert s.sql("SELECT COUNT(*) FROM entries WHERE kind = 'birthday'") == [(0,)]
    if command == "birthdays":
        assert s.snapshot() == before  # nothing due, nothing written
    # one rule for both: 30 days after the birthday is the last day a run pays it
    s2 = make_shop(programme(BIRTHDAYS))
    enroll(s2, "eva", "2025-01-01", "--birthday", "1999-01-10")
    s2.run("daily", "--as-of", "2025-12-01")
    late = s2.json(command, "--as-of", "2026-02-09")
    assert (late["birthdays"]["granted"] if command == "daily" else late["granted"]) == [
        {"member": "eva", "name": "Eva", "birthday": "2026-01-10", "points": 25}]
    clean(s)
    clean(s2)


def gold_at_100(window: str, downgrade: bool = True) -> str:
    return programme(programme_file("gold_at_100", window=window, downgrade=downgrade))


@pytest.mark.parametrize(
    "amount, after_drop",
    [
        ("100", [("anna", ts("2026-02-15T10:00"), "Bronze", "Gold")]),  # back to Gold with the purchase
        ("10", []),  # 10 < 100: stays Bronze, no change to record
    ],
)
def test_a_late_daily_run_after_a_write_following_a_window_drop(make_shop, amount, after_drop):
    def setup(s):
        enroll(s, "anna")
        buy(s, "anna", "100", "2025-02-10T12:00", "--order", "A0")  # Gold; leaves the window 2026-02-10

    events = {"2026-02-15": [("purchase", "anna", amount, "--order", "A1", "--date", "2026-02-15T10:00")]}
    a, b, runs, once = run_both(make_shop, gold_at_100("rolling-365"),
                                setup, "2026-02-08", "2026-02-16", events)
    expected = [("anna", ts("2025-02-10T12:00"), "Bronze", "Gold"),
                ("anna", ts("2026-02-10"), "Gold", "Bronze"), *after_drop]
    assert tier_log(a) == expected
    assert tier_log(b) == expected


# ---------------------------------------------------------------------------
# the tier review: rolling and calendar-year windows, downgrade = false
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bought, last_gold, drop",
    [
        ("2025-03-10", "2026-03-09", "2026-03-10"),  # P + 364 counts, P + 365 does not
        ("2023-03-01", "2024-02-28", "2024-02-29"),  # 365 days after 2023-03-01 is the leap day
        ("2024-02-29", "2025-02-27", "2025-02-28"),  # bought on the leap day
    ],
)
def test_a_rolling_window_lets_go_of_a_purchase_365_days_after_it(make_shop, bought, last_gold, drop):
    s = make_shop(gold_at_100("rolling-365") + "\n[expiry]\ndays = 365\n")
    enroll(s, "anna", "2023-01-01")
    r = buy(s, "anna", "100", f"{bought}T15:00", "--order", "R1")  # 100 points, Gold; gone on `drop` too
    assert (r["points_earned"], r["tier"]) == (100, "Gold")
    r = s.json("daily", "--as-of", last_gold)
    assert (r["tier_changes"], r["expired"]["entries"]) == ([], [])
    assert s.json("show", "anna", "--as-of", last_gold)["tier"] == "Gold"
    r = s.json("daily", "--as-of", drop)
    assert r["tier_changes"] == [{"member": "anna", "date": drop, "from": "Gold", "to": "Bronze"}]
    assert r["expired"]["entries"] == [{"member": "anna", "date": drop, "points": 100}]
    shown = s.json("show", "anna", "--as-of", drop)
    assert (shown["tier"], shown["qualifying_total"], shown["points"]) == ("Bronze", "0.00", 0)
    # tier rows: points 0, after the entries of the same moment
    assert [(h["at"], h["kind"], h["points"], h["balance"], h["note"]) for h in s.json("history", "anna")] == [
        (f"{bought}T15:00:00", "earn", 100, 100, None),
        (f"{bought}T15:00:00", "tier", 0, 100, "Bronze → Gold"),
        (f"{drop}T00:00:00", "expire", -100, 0, f"expired: points earned {bought}"),
        (f"{drop}T00:00:00", "tier", 0, 0, "Gold → Bronze"),
    ]
    before = s.snapshot()
    assert s.json("daily", "--as-of", drop)["tier_changes"] == []
    assert s.snapshot() == before
    clean(s)


def test_daily_counts_a_refund_in_the_window_of_the_purchase_it_refunds(make_shop):
    s = make_shop(gold_at_100("rolling-365"))
    enroll(s, "anna", "2024-01-01")
    buy(s, "anna", "150.00", "2024-01-10")  # Gold; leaves the window 2025-01-09 (2024 is a leap year)
    buy(s, "anna", "150.00", "2024-07-01", "--order", "o2")  # still Gold; would leave it 2025-07-01
    s.run("refund", "o2", "--date", "2025-02-01")  # o2 counts for nothing, in its own window
    log = [("anna", ts("2024-01-10"), "Bronze", "Gold"),
           ("anna", ts("2025-01-09"), "Gold", "Bronze")]  # the refund's review: nothing left then
    assert tier_log(s) == log
    # daily agrees: no Bronze -> Gold at 2025-01-09 from o2 before its refund was recorded, and
    # no Gold -> Bronze when o2 leaves the window
    assert s.json("daily", "--as-of", "2025-08-01")["tier_changes"] == []
    assert tier_log(s) == log
    assert s.json("show", "anna", "--as-of", "2025-08-01")["tier"] == "Bronze"
    clean(s)


def test_a_calendar_year_window_restarts_on_1_january(make_shop):
    s = make_shop(gold_at_100("calendar-year"))
    enroll(s, "anna")
    enroll(s, "bob")
    buy(s, "anna", "150", "2025-06-01")  # Gold
    buy(s, "bob", "150", "2025-12-31T23:00")  # Gold, for one hour of 2025
    buy(s, "bob", "20", "2025-12-30")  # back-dated before his Gold purchase: 20 at x1
    assert s.json("daily", "--as-of", "2025-12-31")["tier_changes"] == []
    tiers = s.json("tiers", "--as-of", "2025-12-31")
    assert [(t["tier"], t["members"]) for t in tiers["tiers"]] == [("Bronze", 0), ("Gold", 2)]
    r = s.json("daily", "--as-of", "2026-01-01")
    assert r["tier_changes"] == [{"member": "anna", "date": "2026-01-01", "from": "Gold", "to": "Bronze"},
                                 {"member": "bob", "date": "2026-01-01", "from": "Gold", "to": "Bronze"}]
    shown = s.json("show", "bob", "--as-of", "2026-01-01")
    assert (shown["tier"], shown["qualifying_total"], shown["lifetime_spend"]) == ("Bronze", "0.00", "170.00")
    assert tier_log(s) == [("anna", ts("2025-06-01"), "Bronze", "Gold"), ("anna", ts("2026-01-01"), "Gold", "Bronze"),
                           ("bob", ts("2025-12-31T23:00"), "Bronze", "Gold"),
                           ("bob", ts("2026-01-01"), "Gold", "Bronze")]
    clean(s)


@pytest.mark.parametrize("window", ["rolling-365", "calendar-year"])
def test_with_downgrade_false_time_never_lowers_a_tier(make_shop, window):
    s = make_shop(gold_at_100(window, downgrade=False))
    enroll(s, "anna")
    buy(s, "anna", "150", "2025-03-10")  # Gold
    assert s.json("daily", "--as-of", "2025-03-10")["tier_changes"] == []
    r = s.json("daily", "--as-of", "2026-06-01")  # past 1 January and past 2025-03-10 + 365
    assert r["tier_changes"] == []
    shown = s.json("show", "anna", "--as-of", "2026-06-01")
    assert (shown["tier"], shown["qualifying_total"]) == ("Gold", "0.00")  # nothing in the window, tier kept
    assert s.json("balance", "anna", "--as-of", "2026-06-01")[0]["tier"] == "Gold"
    assert tier_log(s) == [("anna", ts("2025-03-10"), "Bronze", "Gold")]
    assert buy(s, "anna", "10", "2026-06-02")["points_earned"] == 20  # still Gold's x2
    assert tier_log(s) == [("anna", ts("2025-03-10"), "Bronze", "Gold")]
    clean(s)


# ---------------------------------------------------------------------------
# refusals and --as-of
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["expire", "birthdays", "daily"])
def test_a_future_or_malformed_as_of_is_refused_and_writes_nothing(make_shop, command):
    s = make_shop(programme(DAILY))
    enroll(s, "anna", "2025-01-01", "--birthday", "1990-03-01")
    buy(s, "anna", "40", "2026-03-05")  # gone 2026-03-15: a real run would write
    before = s.snapshot()
    tomorrow = (now("Europe/Tallinn").date() + timedelta(days=1)).isoformat()
    for as_of, message in [
        (tomorrow, "is in the future"),
        ("2099-01-01", "is in the future"),
        ("2026-02-30", "is not a valid date"),
        ("next week", "is not an ISO date"),
        ("2026-3-1", "is not an ISO date"),
        ("", "is not an ISO date"),
    ]:
        s.fail(command, "--as-of", as_of, contains=message)
        s.fail(command, "--as-of", as_of, "--format", "json", contains=message)
        assert s.snapshot() == before, (command, as_of)
    clean(s)


@pytest.mark.parametrize("command", ["expire", "birthdays", "daily"])
def test_todays_date_as_of_means_now(make_shop, command):
    s = make_shop(programme(DAILY))
    enroll(s, "anna", "2025-01-01")
    start = now("Europe/Tallinn")
    r = s.json(command, "--as-of", start.date().isoformat())
    end = now("Europe/Tallinn")
    as_of = datetime.fromisoformat(r["as_of"])
    assert start <= as_of <= end  # not 23:59:59 of today, which is still to come
    clean(s)


@pytest.mark.parametrize("command", ["expire", "birthdays", "daily"])
def test_a_dry_run_reports_the_real_figures_and_writes_nothing(make_shop, command):
    s = make_shop(programme(DAILY))
    enroll(s, "anna", "2026-01-01", "--birthday", "1990-03-01")
    buy(s, "anna", "40", "2026-03-05")  # gone 2026-03-15
    before = s.snapshot()
    dry = s.json(command, "--as-of", "2026-03-16", "--dry-run")
    assert s.snapshot() == before
    assert dry["dry_run"] is True
    real = s.json(command, "--as-of", "2026-03-16")
    assert real["dry_run"] is False
    assert {**dry, "dry_run": False} == real
    if command == "expire":  # 40 on 03-15; the birthday bonus is not paid by `expire`
        assert real["expired"] == [{"member": "anna", "date": "2026-03-15", "points": 40}]
    elif command == "birthdays":  # 2026-03-01, 15 days ago
        assert real["granted"] == [{"member": "anna", "name": "Anna", "birthday": "2026-03-01", "points": 25}]
    else:  # both, and the bonus's own expiry on 03-11
        assert real["expired"]["entries"] == [{"member": "anna", "date": "2026-03-11", "points": 25},
                                              {"member": "anna", "date": "2026-03-15", "points": 40}]
    clean(s)


def test_reports_as_of_a_day_ignore_later_dated_activity(make_shop):
    s = make_shop(programme(ROLLING.format(window="rolling-365")))
    enroll(s, "anna", "2025-01-01", "--birthday", "1990-02-25")
    enroll(s, "bob", "2025-01-01")
    buy(s, "anna", "120", "2025-02-20", "--order", "A0")  # Gold until 2026-02-20
    buy(s, "anna", "40", "2026-01-20", "--order", "A1")  # Gold x2: 80, gone 02-19
    buy(s, "bob", "60", "2026-02-01", "--order", "B1")  # 60, gone 03-03
    s.run("redeem", "anna", "30", "--date", "2026-02-05")
    s.run("daily", "--as-of", "2026-02-10")  # posts what is due by then (A0's points, gone 2025-03-22)
    day = "2026-02-10"
    views = [("show", "anna"), ("show", "bob"), ("balance",), ("history", "anna"), ("history", "bob"),
             ("tiers",), ("report",), ("expiring",), ("lapsed",)]

    def capture():
        out = {}
        for v in views:
            for fmt in ("table", "json", "csv"):
                r = s.invoke(*v, "--as-of", day, "--format", fmt)
                out[v, fmt] = (r.exit_code, r.stdout)
        return out

    before = capture()
    assert all(code == 0 for code, _ in before.values() if code != 2), before
    # later-dated activity: a purchase, a refund of an earlier order (40 of A1's 50 left taken back), a late
    # daily run (A1's last 10 expire on 02-19, A0 leaves the window on 02-20, anna's birthday on 02-25, B1's 60
    # expire on 03-03), a redemption and an adjustment
    buy(s, "bob", "50", "2026-02-15", "--order", "B2")
    assert s.json("refund", "A1", "--amount", "20.00", "--date", "2026-02-16")["points_taken_back"] == 40
    r = s.json("daily", "--as-of", "2026-03-10")
    assert r["tier_changes"] == [{"member": "anna", "date": "2026-02-20", "from": "Gold", "to": "Bronze"}]
    s.run("redeem", "bob", "10", "--date", "2026-03-10")
    s.run("adjust", "anna", "5", "--reason", "goodwill", "--date", "2026-03-10")
    assert capture() == before
    assert s.json("show", "anna", "--as-of", day)["points"] == 50  # 80 - 30
    assert s.json("show", "anna", "--as-of", "2026-03-10")["points"] == 30  # 50 - 40 - 10 expired + 25 + 5
    clean(s)



def three_lots_one_expired(make_shop):
    s = make_shop(expiry(30))
    enroll(s, "anna")
    enroll(s, "bob")
    buy(s, "anna", "100", "2026-01-31", "--order", "A1")  # 100, gone 2026-03-02
    buy(s, "bob", "50", "2026-02-20", "--order", "B1")  # 50, gone 2026-03-22
    s.run("redeem", "anna", "30", "--date", "2026-02-10")  # 70 left to expire on 03-02
    return s


def test_a_report_as_of_a_day_does_not_depend_on_when_expire_ran(make_shop):
    s = three_lots_one_expired(make_shop)
    day = "2026-03-05"
    views = [("show", "anna"), ("balance",), ("history", "anna"), ("tiers",), ("report",), ("expiring",)]

    def capture():
        out = {(v, fmt): s.run(*v, "--as-of", day, "--format", fmt).stdout for v in views for fmt in ("table", "json")}
        return out

    unposted = capture()
    assert s.json("expire", "--as-of", day)["expired"] == [{"member": "anna", "date": "2026-03-02", "points": 70}]
    assert capture() == unposted
    assert s.json("balance", "--as-of", day) == [
        {"member": "anna", "name": "Anna", "points": 0, "tier": "Member"},  # 100 - 30 - 70
        {"member": "bob", "name": "Bob", "points": 50, "tier": "Member"}]
    r = s.json("report", "--as-of", day)
    # issued 150, redeemed 30, expired 70, outstanding 150 - 30 - 70 = 50
    assert (r["points_issued"], r["points_redeemed"], r["points_expired"], r["outstanding_points"]) == (150, 30, 70, 50)
    clean(s)


def test_show_json_as_of_a_day_does_not_depend_on_when_expire_ran(make_shop):
    s = three_lots_one_expired(make_shop)
    unposted = s.run("show", "anna", "--as-of", "2026-03-05", "--format", "json").stdout
    s.run("expire", "--as-of", "2026-03-05")
    assert s.run("show", "anna", "--as-of", "2026-03-05", "--format", "json").stdout == unposted
