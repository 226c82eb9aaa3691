"""The programme report and its member lists (`report`, `expiring`, `lapsed`),
end to end through the real CLI on a real ledger.

Every expected figure is either worked out by hand in the comment beside it
(spec.md, "Reports" and the `report` JSON keys) or, in the randomised test,
recomputed in plain Python from the raw tables (`shop.sql`), never with the
product's own code. Today is 2026-11-22; every date given is in the past.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pytest

from tests.conftest import clean
from tests.conftest import programme as shared_programme

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run


def programme(body: str = "", currency: str = "EUR") -> str:
    return shared_programme(body, currency, name="Report Shop")


def enroll(shop, member: str, date: str, *extra: str) -> None:
    shop.run("enroll", member, "--name", member.title(), "--date", date, *extra)


def buy(shop, member: str, amount: str, date: str, *extra: str) -> dict:
    return shop.json("purchase", member, amount, "--date", date, *extra)


def report(shop, *args: str) -> dict:
    return shop.json("report", *args)


# ---------------------------------------------------------------------------
# (1) one scenario, every key worked out by hand
# ---------------------------------------------------------------------------

SCENARIO = programme("""
    [earning]
    points_per_unit = 1
    welcome_bonus = 10

    [redemption]
    point_value = "0.0125"

    [expiry]
    days = 45
    warn_days = 30

    [[tiers.levels]]
    name = "Bronze"
    min = "0"

    [[tiers.levels]]
    name = "Silver"
    min = "100"
    """)


def build_scenario(s) -> None:
    """Four members, January to March 2026. Lots (credits) and when they
    expire (45 days after they were earned):

        a1 anna welcome  10  01-05  exp 02-19     b1 ben welcome  10  01-10  exp 02-24
        a2 anna earn A1 120  01-12  exp 02-26     b2 ben earn B1  40  01-20  exp 03-06
        c1 cara welcome  10  02-03  exp 03-20     b3 ben earn B2  20  02-10  exp 03-27
        a3 anna earn A2  48  02-05  exp 03-22     b4 ben promo     5  02-10  exp 03-27
        a4 anna adjust   15  02-20  exp 04-06     b5 ben earn B4  15  03-20  exp 05-04
        d1 dan welcome   10  03-15  exp 04-29     d2 dan earn D1  30  03-16  exp 04-30
    """
    s.run("promo", "create", "BONUS5", "--points", "5", "--date", "2026-01-01")
    enroll(s, "anna", "2026-01-05")  # +10 welcome (a1)
    enroll(s, "ben", "2026-01-10")  # +10 welcome (b1)
    r = buy(s, "anna", "120.00", "2026-01-12", "--order", "A1")
    assert (r["points_earned"], r["tier"]) == (120, "Silver")  # at Bronze x1; 120.00 >= 100 after
    buy(s, "ben", "40.00", "2026-01-20", "--order", "B1")  # +40 (b2)
    # ---- the period of the report starts 2026-02-01 ----
    enroll(s, "cara", "2026-02-03")  # +10 welcome (c1); cara never buys
    r = buy(s, "anna", "50.00", "2026-02-05", "--order", "A2", "--redeem", "100")
    # 100 points x 0.0125 = 1.25 paid with points; net 48.75 -> 48 points (Silver x1).
    # FIFO by expiry: 10 from a1 (exp 02-19), 90 from a2 (exp 02-26) -> a2 has 30 left
    assert (r["paid_with_points"], r["net"], r["points_earned"], r["points"]) == ("1.25", "48.75", 48, 78)
    r = buy(s, "ben", "20.00", "2026-02-10", "--order", "B2", "--code", "BONUS5")  # +20 earn, +5 promo
    assert r["points"] == 75  # 10 + 40 + 20 + 5
    r = s.json("refund", "B1", "--amount", "10.00", "--date", "2026-02-15")
    # 40 x 10.00/40.00 = 10 taken back, from B1's own lot (b2 has 30 left)
    assert (r["points_taken_back"], r["points"]) == (10, 65)
    s.run("adjust", "anna", "15", "--reason", "goodwill", "--date", "2026-02-20")  # +15 (a4)
    s.run("adjust", "ben", "-3", "--reason", "double scan", "--date", "2026-02-21")  # -3 from b1 (exp 02-24): 7 left
    r = s.json("expire", "--as-of", "2026-02-28")
    # a2: 30 left, gone 02-26; b1: 7 left, gone 02-24 (a1 is empty)
    assert (r["points"], r["members"]) == (37, 2)
    r = buy(s, "ben", "0.00", "2026-03-02", "--order", "B3")  # a visit: a purchase that earns nothing
    assert r["points_earned"] == 0
    enroll(s, "dan", "2026-03-15")  # +10 welcome (d1)
    buy(s, "dan", "30.00", "2026-03-16", "--order", "D1")  # +30 (d2)
    r = buy(s, "ben", "15.00", "2026-03-20", "--order", "B4")
    # the purchase first posts ben's due expiry: b2's 30, dated 03-06; then +15 (b5).
    # ben's spend 40.00 - 10.00 + 20.00 + 0.00 = 50.00: Bronze, x1
    assert (r["points_earned"], r["points"]) == (15, 40)  # 65 - 3 - 7 - 30 + 15
    r = s.json("expire", "--as-of", "2026-03-31")
    # c1 10 (03-20), a3 48 (03-22), b3 + b4 25 (03-27)
    assert (r["points"], r["members"]) == (83, 3)


def test_scenario_every_report_key(make_shop):
    s = make_shop(SCENARIO)
    build_scenario(s)
    r = report(s, "--since", "2026-02-01", "--until", "2026-03-31", "--lapsed-days", "30",
               "--shop-sales", "500.00")
    assert r == {
        "since": "2026-02-01T00:00:00",
        "until": "2026-03-31T23:59:59",
        "members": 4,  # anna, ben, cara, dan
        "new_members": 2,  # cara 02-03, dan 03-15
        "active_members": 3,  # anna, ben, dan (cara never bought)
        "purchases": 5,  # A2, B2, B3 (0.00 counts), D1, B4
        "first_time_purchases": 1,  # dan; anna and ben first bought in January
        "repeat_purchases": 4,  # 5 - 1
        "sales": "105.00",  # 50.00 + 20.00 + 0.00 + 30.00 + 15.00 - 10.00 (B1 refunded 02-15)
        "discounts": "0.00",  # no tier discount; the promo gave points
        "paid_with_points": "1.25",  # A2's 100 points x 0.0125
        "repeat_rate": "0.3333",  # ben alone bought twice or more (3 times): 1 / 3
        "repeat_members": 1,
        "shop_sales": "500.00",
        "member_share": "0.2100",  # 105.00 / 500.00
        "points_opening": 180,  # before 02-01: a1 10 + a2 120 + b1 10 + b2 40
        "points_issued": 138,  # welcome c1 10 + d1 10; earn 48 + 20 + 30 + 15; promo 5
        "points_redeemed": 100,  # A2
        "points_expired": 150,  # 30 + 7 (02-28 run) + 30 (posted by B4) + 10 + 48 + 25 (03-31 run)
        "points_taken_back": 10,  # B1's refund
        "points_adjusted": 12,  # +15 - 3
        "redemption_rate": "0.7246",  # 100 / 138 = 0.72463..
        "outstanding_points": 70,  # 180 + 138 - 100 - 150 - 10 + 12: anna a4 15, ben b5 15, dan 40, cara 0
        "liability": "0.87",  # 70 x 0.0125 = 0.875, rounded down
        "expiring_points": 55,  # in (03-31, 04-30]: a4 15 (04-06), d1 10 (04-29), d2 30 (04-30, the last day in)
        "expiring_members": 2,  # anna, dan (ben's b5 goes 05-04)
        "warn_days": 30,
        "lapsed_members": 2,  # no purchase since 03-01: anna (last 02-05), cara (never; enrolled 02-03)
        "lapsed_days": 30,
        "top_members": 1,  # ceil(20% of 3)
        "top_percent": 20,
        "top_sales": "50.00",  # anna 50.00 > dan 30.00 > ben 20.00 + 0.00 + 15.00 - 10.00 = 25.00
        "top_share": "0.4762",  # 50 / 105 = 0.476190..
        "tiers": [{"tier": "Bronze", "members": 3},  # ben 65.00, cara 0, dan 30.00
                  {"tier": "Silver", "members": 1}],  # anna 120.00 + 48.75 net
        "months": [
            # A2, B2; 50.00 + 20.00 - 10.00; 10 (c1) + 48 + 20 + 5; A2's 100
            {"month": "2026-02", "purchases": 2, "sales": "60.00", "points_issued": 83, "points_redeemed": 100},
            # B3, D1, B4; 0.00 + 30.00 + 15.00; 10 (d1) + 30 + 15
            {"month": "2026-03", "purchases": 3, "sales": "45.00", "points_issued": 55, "points_redeemed": 0},
        ],
    }
    # the whole ledger to the same end: nothing before, everything counted
    whole = report(s, "--until", "2026-03-31")
    assert whole == {
        **whole,
        "since": None, "members": 4, "new_members": 4, "active_members": 3,
        "purchases": 7,  # + A1, B1
        "first_time_purchases": 3,  # anna, ben, dan
        "repeat_purchases": 4, "repeat_members": 2, "repeat_rate": "0.6667",  # anna (2), ben (4) of 3
        "sales": "265.00",  # 120.00 + 40.00 + 115.00 - 10.00
        "shop_sales": None, "member_share": None,
        "points_opening": 0, "points_issued": 318,  # 180 + 138
        "points_redeemed": 100, "points_expired": 150, "points_taken_back": 10, "points_adjusted": 12,
        "redemption_rate": "0.3145",  # 100 / 318 = 0.31446..
        "outstanding_points": 70, "liability": "0.87",
        "lapsed_members": 0, "lapsed_days": 90,  # nobody enrolled by 2025-12-31
        "top_members": 1, "top_sales": "170.00",  # anna 120.00 + 50.00
        "top_share": "0.6415",  # 170 / 265 = 0.64150..
    }
    assert [m["month"] for m in whole["months"]] == ["2026-01", "2026-02", "2026-03"]
    # January: A1, B1; 160.00; welcome 10 + 10, earn 120 + 40
    assert whole["months"][0] == {"month": "2026-01", "purchases": 2, "sales": "160.00", "points_issued": 180,
                                  "points_redeemed": 0}
    clean(s)


# ---------------------------------------------------------------------------
# (2) a random ledger, the report recomputed from the raw tables
# ---------------------------------------------------------------------------

RANDOM_PROG = programme("""
    [earning]
    points_per_unit = 1
    welcome_bonus = 5

    [redemption]
    point_value = "0.01"

    [expiry]
    days = 20
    warn_days = 10

    [[tiers.levels]]
    name = "Bronze"
    min = "0"

    [[tiers.levels]]
    name = "Silver"
    min = "150"
    multiplier = 1.5

    [[tiers.levels]]
    name = "Gold"
    min = "400"
    multiplier = 2
    discount_percent = 5
    """)
RANDOM_LEVELS = [("Bronze", 0), ("Silver", 15000), ("Gold", 40000)]  # min spend, minor units
RANDOM_POINT_VALUE = Decimal("0.01")
RANDOM_WARN_DAYS = 10
ISSUED = ("earn", "welcome", "award", "promo", "referral", "birthday")


def cents(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def rate(part: int, whole: int) -> str | None:
    if whole == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def _dt(text) -> datetime:
    return datetime.fromisoformat(str(text))


def random_ledger(s, seed: int) -> dict:
    """About 60 days (2026-01-01 .. 2026-03-01) of random enrolments,
    purchases (some paid partly with points, some 0.00), full and partial
    refunds, redemptions, signed adjustments and expiry runs. A write the
    ledger refuses (not enough points, already refunded, before enrolment)
    is fine: exit 1, never a traceback."""
    rng = random.Random(seed)
    enrolled: dict[str, datetime] = {}
    orders: list[tuple[str, datetime]] = []
    done = {"enroll": 0, "purchase": 0, "refund": 0, "redeem": 0, "adjust": 0, "expire": 0}
    for day in range(60):
        d = date(2026, 1, 1) + timedelta(days=day)
        moments = sorted(rng.choice([time(0, 0), time(23, 59), time(rng.randint(8, 20), rng.randint(0, 59))])
                         for _ in range(rng.randint(0, 4)))
        for t in moments:
            at = datetime.combine(d, t)
            when = at.strftime("%Y-%m-%dT%H:%M")
            known = [m for m, e in enrolled.items() if e <= at]
            op = "enroll" if len(known) < 3 else rng.choices(
                ["enroll", "purchase", "refund", "redeem", "adjust", "expire"], [2, 10, 3, 2, 2, 1])[0]
            if op == "enroll":
                m = f"m{len(enrolled) + 1:02d}"
                args = ["enroll", m, "--name", m.upper(), "--date", when]
                args += ["--marketing"] if rng.random() < 0.5 else []
                enrolled[m] = at
            elif op == "purchase":
                m = rng.choice(known)
                amount = 0 if rng.random() < 0.08 else rng.randint(1, 15000)
                order = f"O{len(orders) + 1}"
                args = ["purchase", m, cents(amount), "--order", order, "--date", when]
                if rng.random() < 0.25:
                    args += ["--redeem", str(rng.randint(5, 60))]
            elif op == "refund":
                if not orders:
                    continue
                order, _ = rng.choice(orders)
                args = ["refund", order, "--date", when]
                if rng.random() < 0.6:
                    args += ["--amount", cents(rng.randint(1, 3000))]
            elif op == "redeem":
                args = ["redeem", rng.choice(known), str(rng.randint(1, 40)), "--date", when]
            elif op == "adjust":
                pts = rng.choice([-1, 1]) * rng.randint(1, 25)
                args = ["adjust", rng.choice(known), str(pts), "--reason", "random", "--date", when]
            else:
                args = ["expire", "--as-of", d.isoformat()]
            r = s.invoke(*args)
            assert r.exit_code in (0, 1), f"{args}: {r.exit_code}\n{r.stdout}\n{r.stderr}"
            assert "Traceback" not in r.stdout + r.stderr
            if r.exit_code == 0:
                done[op] += 1
                if op == "purchase":
                    orders.append((args[4], at))
            elif op == "enroll":
                del enrolled[args[1]]
    return done


def expected_report(s, since: date | None, until: date, *, lapsed_days: int = 90,
                    shop_sales: int | None = None) -> dict:
    """The report's figures from the raw tables, by the definitions of the
    Reports section, in plain Python."""
    start = datetime.combine(since, time.min) if since else None
    end = datetime.combine(until, time(23, 59, 59))

    def inside(at: datetime) -> bool:
        return (start is None or at >= start) and at <= end

    members = {m: _dt(at) for m, at in s.sql("SELECT id, enrolled_at FROM members")}
    purch = [(pid, m, _dt(at), amount, discount, paid, net) for pid, m, at, amount, discount, paid, net in
             s.sql("SELECT id, member_id, at, amount, discount, points_paid, net FROM purchases")]
    owner = {p[0]: p[1] for p in purch}
    refs = [(owner[pid], _dt(at), amount, net) for pid, at, amount, net in
            s.sql("SELECT purchase_id, at, amount, net FROM refunds")]
    ents = [(eid, m, _dt(at), kind, pts, date.fromisoformat(exp) if exp else None) for eid, m, at, kind, pts, exp in
            s.sql("SELECT id, member_id, at, kind, points, expires_on FROM entries")]
    entry_at = {e[0]: e[2] for e in ents}
    allocs = s.sql("SELECT debit_id, credit_id, points FROM allocations")

    in_period = [p for p in purch if inside(p[2])]
    count: dict[str, int] = {}
    sales_of: dict[str, int] = {}
    for _, m, _, amount, *_ in in_period:
        count[m] = count.get(m, 0) + 1
        sales_of[m] = sales_of.get(m, 0) + amount
    for m, at, amount, _ in refs:
        if inside(at):
            sales_of[m] = sales_of.get(m, 0) - amount
    sales = sum(sales_of.values())
    first: dict[str, datetime] = {}
    for _, m, at, *_ in purch:
        first[m] = min(first.get(m, at), at)
    by_kind: dict[str, int] = {}
    for _, _, at, kind, pts, _ in ents:
        if inside(at):
            by_kind[kind] = by_kind.get(kind, 0) + pts
    issued = sum(by_kind.get(k, 0) for k in ISSUED)
    redeemed = -by_kind.get("redeem", 0) - by_kind.get("restore", 0)
    outstanding = sum(e[4] for e in ents if e[2] <= end)

    day = end.date()
    soon: dict[str, int] = {}
    for eid, m, at, _, pts, exp in ents:
        if pts > 0 and at <= end and exp is not None and day < exp <= day + timedelta(days=RANDOM_WARN_DAYS):
            left = pts - sum(p for debit, credit, p in allocs if credit == eid and entry_at[debit] <= end)
            if left > 0:
                soon[m] = soon.get(m, 0) + left

    cutoff = day - timedelta(days=lapsed_days)
    lapsed = 0
    for m, joined in members.items():
        if joined > end:
            continue
        bought = [p[2] for p in purch if p[1] == m and p[2] <= end]
        if (max(bought).date() if bought else joined.date()) <= cutoff:
            lapsed += 1

    active = sorted(count, key=lambda m: (-sales_of[m], m))
    top = active[:math.ceil(len(active) / 5)]
    top_sales = sum(sales_of[m] for m in top)

    spend: dict[str, int] = {}
    for _, m, at, _, _, _, net in purch:
        if at <= end:
            spend[m] = spend.get(m, 0) + net
    for m, at, _, net in refs:
        if at <= end:
            spend[m] = spend.get(m, 0) - net
    mix = {name: 0 for name, _ in RANDOM_LEVELS}
    for m, joined in members.items():
        if joined <= end:
            mix[[name for name, low in RANDOM_LEVELS if spend.get(m, 0) >= low][-1]] += 1

    months: dict[str, dict] = {}

    def month(at: datetime) -> dict:
        key = at.strftime("%Y-%m")
        return months.setdefault(key, {"month": key, "purchases": 0, "sales": 0, "points_issued": 0,
                                       "points_redeemed": 0})

    for _, _, at, amount, *_ in in_period:
        month(at)["purchases"] += 1
        month(at)["sales"] += amount
    for _, at, amount, _ in refs:
        if inside(at):
            month(at)["sales"] -= amount
    for _, _, at, kind, pts, _ in ents:
        if inside(at) and kind in ISSUED:
            month(at)["points_issued"] += pts
        elif inside(at) and kind in ("redeem", "restore"):
            month(at)["points_redeemed"] -= pts

    repeaters = sum(1 for n in count.values() if n >= 2)
    first_time = sum(1 for at in first.values() if inside(at))
    return {
        "since": start.isoformat() if start else None, "until": end.isoformat(),
        "members": sum(1 for at in members.values() if at <= end),
        "new_members": sum(1 for at in members.values() if inside(at)),
        "active_members": len(count), "purchases": len(in_period),
        "first_time_purchases": first_time, "repeat_purchases": len(in_period) - first_time,
        "sales": cents(sales), "discounts": cents(sum(p[4] for p in in_period)),
        "paid_with_points": cents(sum(p[5] for p in in_period)),
        "repeat_rate": rate(repeaters, len(count)), "repeat_members": repeaters,
        "shop_sales": cents(shop_sales) if shop_sales is not None else None,
        "member_share": rate(sales, shop_sales) if shop_sales else None,
        "points_opening": sum(e[4] for e in ents if e[2] < start) if start else 0,
        "points_issued": issued, "points_redeemed": redeemed,
        "points_expired": -by_kind.get("expire", 0), "points_taken_back": -by_kind.get("refund", 0),
        "points_adjusted": by_kind.get("adjust", 0),
        "redemption_rate": rate(redeemed, issued),
        "outstanding_points": outstanding,
        "liability": cents(int((Decimal(outstanding) * RANDOM_POINT_VALUE * 100).to_integral_value(ROUND_FLOOR))),
        "expiring_points": sum(soon.values()), "expiring_members": len(soon), "warn_days": RANDOM_WARN_DAYS,
        "lapsed_members": lapsed, "lapsed_days": lapsed_days,
        "top_members": len(top), "top_percent": 20, "top_sales": cents(top_sales),
        # a share of no (or of negative) sales means nothing: null
        "top_share": rate(top_sales, sales) if sales > 0 else None,
        "tiers": [{"tier": name, "members": n} for name, n in mix.items()],
        "months": [{**months[k], "sales": cents(months[k]["sales"])} for k in sorted(months)],
    }


WINDOWS = [
    (None, "2026-01-31", 90, None),
    ("2026-01-10", "2026-01-25", 7, "1234.56"),
    ("2026-02-01", "2026-02-28", 14, None),
    ("2026-01-15", "2026-03-01", 30, "99999.99"),
    ("2026-02-14", "2026-02-14", 1, None),  # a single day
    (None, "2026-03-15", 20, None),  # everything, and some days after it
    ("2026-03-02", "2026-03-20", 10, "0"),  # after the last activity
]


def window_args(since, until, lapsed_days, shop_sales) -> list[str]:
    args = (["--since", since] if since else []) + ["--until", until, "--lapsed-days", str(lapsed_days)]
    return args + (["--shop-sales", shop_sales] if shop_sales is not None else [])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_ledger_matches_figures_from_the_raw_tables(make_shop, seed):
    s = make_shop(RANDOM_PROG)
    done = random_ledger(s, seed)
    # the ledger is rich enough to mean something
    assert done["purchase"] >= 30 and done["refund"] >= 3 and done["enroll"] >= 3
    assert done["redeem"] + done["adjust"] >= 3
    kinds = {k for (k,) in s.sql("SELECT DISTINCT kind FROM entries")}
    assert {"welcome", "earn", "redeem", "refund", "adjust", "expire"} <= kinds
    # Some points have expired without an `expire` run having posted it yet.
    # A report counts that expiry all the same: its figures as of a day do not
    # depend on when cron ran. Post it all, and the raw tables hold every figure.
    unposted = [report(s, *window_args(*w)) for w in WINDOWS]
    posted = s.json("expire", "--as-of", "2026-03-20")
    assert posted["points"] > 0
    for w, before in zip(WINDOWS, unposted):
        since, until, lapsed_days, shop_sales = w
        got = report(s, *window_args(*w))
        want = expected_report(s, date.fromisoformat(since) if since else None, date.fromisoformat(until),
                               lapsed_days=lapsed_days,
                               shop_sales=int(Decimal(shop_sales) * 100) if shop_sales is not None else None)
        assert got == want, w
        assert before == got, w
        # the flows of points add up to the stock at the end
        assert (got["points_opening"] + got["points_issued"] - got["points_redeemed"] - got["points_expired"]
                - got["points_taken_back"] + got["points_adjusted"]) == got["outstanding_points"]
    clean(s)


# ---------------------------------------------------------------------------
# (3) the edges of the period
# ---------------------------------------------------------------------------

EDGES = programme("""
    [earning]
    points_per_unit = 1

    [expiry]
    days = 45
    warn_days = 1
    """)


def test_period_edges(make_shop):
    s = make_shop(EDGES)
    enroll(s, "carl", "2026-01-01")
    buy(s, "carl", "10.00", "2026-01-15T12:00", "--order", "C1")  # 10 points, gone 2026-03-01
    buy(s, "carl", "20.00", "2026-02-15T12:00", "--order", "C2")  # 20 points, gone 2026-04-01
    enroll(s, "anna", "2026-01-01")
    enroll(s, "eve", "2026-02-28T23:59")  # the last minute before the period
    buy(s, "anna", "1.00", "2026-02-28T23:59", "--order", "P0")  # the last minute before: out
    enroll(s, "ben", "2026-03-01T00:00")  # the first moment of the period: in
    buy(s, "anna", "2.00", "2026-03-01T00:00", "--order", "P1")  # in
    buy(s, "ben", "4.00", "2026-03-31T23:59", "--order", "P2")  # the last minute of the period: in
    s.run("refund", "P0", "--date", "2026-03-31T23:59")  # in: 1.00 and 1 point back
    buy(s, "ben", "8.00", "2026-04-01T00:00", "--order", "P3")  # the day after: out
    s.run("refund", "P2", "--amount", "1.00", "--date", "2026-04-01T00:00")  # out
    enroll(s, "dave", "2026-04-01T00:00")  # out
    r = s.json("expire", "--as-of", "2026-04-01")
    assert r["expired"] == [{"member": "carl", "date": "2026-03-01", "points": 10},  # at 00:00 of the first day: in
                            {"member": "carl", "date": "2026-04-01", "points": 20}]  # the day after: out

    r = report(s, "--since", "2026-03-01", "--until", "2026-03-31")
    assert (r["since"], r["until"]) == ("2026-03-01T00:00:00", "2026-03-31T23:59:59")
    assert r == {
        **r,
        "members": 4,  # carl, anna, eve, ben; not dave
        "new_members": 1,  # ben at 00:00 on the first day; eve a minute too early
        "purchases": 2, "active_members": 2,  # P1 at 00:00, P2 at 23:59
        "first_time_purchases": 1, "repeat_purchases": 1,  # ben's P2 is his first; anna's P1 is not hers
        "repeat_members": 0, "repeat_rate": "0.0000",
        "sales": "5.00",  # 2.00 + 4.00 - 1.00 (P0's refund at 23:59 on the last day)
        "points_opening": 31,  # carl 10 + 20, anna 1
        "points_issued": 6, "points_redeemed": 0, "redemption_rate": "0.0000",
        "points_expired": 10,  # carl's C1, at 00:00 on 03-01
        "points_taken_back": 1, "points_adjusted": 0,
        "outstanding_points": 26,  # 31 + 6 - 10 - 1: carl 20, anna 2, ben 4
        # carl's 20 go on 04-01, the one day of warn_days after 03-31; their expiry
        # posted at 00:00 on 04-01 is after the end and spends nothing here
        "expiring_points": 20, "expiring_members": 1,
        # ben 4.00 (P2's refund is the day after) > anna 2.00 - 1.00 (P0's refund) = 1.00
        "top_members": 1, "top_sales": "4.00",
        "top_share": "0.8000",  # 4.00 / 5.00
        "months": [{"month": "2026-03", "purchases": 2, "sales": "5.00", "points_issued": 6, "points_redeemed": 0}],
    }

    def flows(*args):
        x = report(s, *args)
        return (x["until"], x["new_members"], x["purchases"], x["sales"], x["points_issued"], x["points_expired"],
                x["points_taken_back"])

    # single days at each edge
    assert flows("--since", "2026-02-28", "--until", "2026-02-28") == (
        "2026-02-28T23:59:59", 1, 1, "1.00", 1, 0, 0)  # eve, P0
    assert flows("--since", "2026-03-01", "--until", "2026-03-01") == (
        "2026-03-01T23:59:59", 1, 1, "2.00", 2, 10, 0)  # ben, P1, C1's expiry
    assert flows("--since", "2026-03-31", "--until", "2026-03-31") == (
        "2026-03-31T23:59:59", 0, 1, "3.00", 4, 0, 1)  # P2 4.00 less P0's 1.00
    assert flows("--since", "2026-04-01", "--until", "2026-04-01") == (
        "2026-04-01T23:59:59", 1, 1, "7.00", 8, 20, 1)  # dave, P3 8.00 less 1.00 of P2 (4 x 1/4 points), C2's expiry
    # inside, touching neither edge
    assert flows("--since", "2026-03-02", "--until", "2026-03-30") == ("2026-03-30T23:59:59", 0, 0, "0.00", 0, 0, 0)
    # a start one minute late drops what happened at 00:00
    assert flows("--since", "2026-03-01T00:01", "--until", "2026-03-31") == (
        "2026-03-31T23:59:59", 0, 1, "3.00", 4, 0, 1)
    # the end is the earlier of --until (end of day) and --as-of
    assert flows("--since", "2026-03-01", "--until", "2026-03-31", "--as-of", "2026-03-15") == (
        "2026-03-15T23:59:59", 1, 1, "2.00", 2, 10, 0)
    assert flows("--since", "2026-03-01", "--until", "2026-03-15", "--as-of", "2026-03-31") == (
        "2026-03-15T23:59:59", 1, 1, "2.00", 2, 10, 0)
    assert flows("--since", "2026-03-01", "--as-of", "2026-03-31T23:58") == (
        "2026-03-31T23:58:00", 1, 1, "2.00", 2, 10, 0)  # P2 and the refund at 23:59 are a minute later

    empty = report(s, "--since", "2026-03-02", "--until", "2026-03-30")
    assert empty == {**empty, "active_members": 0, "repeat_rate": None, "redemption_rate": None, "top_members": 0,
                     "top_sales": "0.00", "top_share": None, "months": [],
                     "points_opening": 23,  # 31 + 2 (P1) - 10 (C1 gone on 03-01)
                     "outstanding_points": 23}  # nothing moved in between
    clean(s)


# ---------------------------------------------------------------------------
# (4) as of a past day, a report never changes
# ---------------------------------------------------------------------------


def test_as_of_report_is_unchanged_by_later_activity(make_shop):
    s = make_shop(SCENARIO)
    build_scenario(s)
    a = ("--as-of", "2026-03-31")
    views = {
        "whole": ("report", *a),
        "period": ("report", "--since", "2026-02-01", "--lapsed-days", "30", "--shop-sales", "500.00", *a),
        "inner": ("report", "--since", "2026-03-01", "--until", "2026-03-15", *a),
        "csv": ("report", "--since", "2026-02-01", "--format", "csv", *a),
        "table": ("report", "--since", "2026-02-01", "--format", "table", *a),
        "expiring": ("expiring", "--format", "json", *a),
        "expiring 60": ("expiring", "--within", "60", "--format", "json", *a),
        "lapsed": ("lapsed", "--lapsed-days", "30", "--format", "json", *a),
    }

    def look() -> dict:
        return {k: s.run(*v).stdout for k, v in views.items()}

    before = look()
    # --until without --as-of ends the period at the same moment
    assert report(s, "--until", "2026-03-31") == report(s, *a)
    assert report(s, *a)["expiring_points"] == 55  # see the scenario

    # April onwards
    buy(s, "anna", "30.00", "2026-04-02", "--order", "A3", "--redeem", "15")  # spends a4, which expires 04-06
    s.run("refund", "B4", "--date", "2026-04-03")  # a March purchase
    r = s.json("refund", "A2", "--date", "2026-04-04")  # gives back points of lots long expired
    assert r["points_restored"] == 100
    s.run("adjust", "dan", "-10", "--reason", "correction", "--date", "2026-04-05")
    enroll(s, "erin", "2026-04-06")
    buy(s, "erin", "500.00", "2026-04-06", "--order", "E1")
    s.run("expire", "--as-of", "2026-05-31")
    s.run("daily", "--as-of", "2026-06-01")

    assert look() == before
    later = report(s, "--as-of", "2026-06-01")
    assert (later["members"], later["purchases"]) == (5, 9)  # the later activity is there
    clean(s)


def test_report_counts_expiry_that_no_run_has_posted(make_shop):
    # README: a figure as of a day never depends on when cron ran
    s = make_shop(programme("""
        [earning]
        points_per_unit = 1

        [expiry]
        days = 30
        warn_days = 30
        """))
    enroll(s, "anna", "2026-01-01")
    buy(s, "anna", "100.00", "2026-01-10")  # 100 points, gone 2026-02-09
    s.run("redeem", "anna", "40", "--date", "2026-01-20")
    early = report(s, "--as-of", "2026-02-08")
    # the day before they go: 60 left, all expiring within 30 days
    assert early == {**early, "outstanding_points": 60, "points_expired": 0, "expiring_points": 60,
                     "expiring_members": 1, "liability": "0.60"}
    late = report(s, "--as-of", "2026-02-15")
    assert late == {**late, "outstanding_points": 0, "points_expired": 60, "expiring_points": 0,
                    "expiring_members": 0, "liability": "0.00", "points_issued": 100, "points_redeemed": 40}
    s.run("expire", "--as-of", "2026-02-15")
    assert s.sql("SELECT at, points FROM entries WHERE kind = 'expire'") == [("2026-02-09 00:00:00.000000", -60)]
    assert report(s, "--as-of", "2026-02-15") == late
    assert report(s, "--as-of", "2026-02-08") == early
    clean(s)


# ---------------------------------------------------------------------------
# (5) who has points about to expire, who has lapsed
# ---------------------------------------------------------------------------

EXPIRING_COLUMNS = ["member", "name", "email", "phone", "points_expiring", "expires", "last_day", "total_expiring",
                    "points", "marketing"]
LAPSED_COLUMNS = ["member", "name", "email", "phone", "last_purchase", "days_since", "purchases", "spend", "points",
                  "marketing"]


def columns(rows: list[dict], cols: list[str]) -> list[tuple]:
    return [tuple(r[c] for c in cols) for r in rows]


def test_expiring_list(make_shop):
    s = make_shop(programme("""
        [earning]
        points_per_unit = 1

        [expiry]
        days = 30
        warn_days = 14
        """))
    enroll(s, "anna", "2026-02-01", "--marketing", "--email", "anna@example.com")
    enroll(s, "ben", "2026-02-01", "--email", "ben@example.com")
    enroll(s, "cara", "2026-02-01", "--marketing")
    enroll(s, "dan", "2026-02-01", "--marketing")
    buy(s, "cara", "20.00", "2026-02-08")  # 20, gone 03-10
    buy(s, "anna", "40.00", "2026-02-09")  # 40, gone 03-11
    s.run("redeem", "anna", "15", "--date", "2026-02-20")  # from the 02-09 lot: 25 left
    buy(s, "ben", "30.00", "2026-02-22")  # 30, gone 03-24
    buy(s, "anna", "10.00", "2026-02-23")  # 10, gone 03-25
    buy(s, "dan", "50.00", "2026-02-25")  # 50, gone 03-27
    s.run("expire", "--as-of", "2026-03-11")  # cara's 20 (03-10) and anna's 25 (03-11) posted

    def listed(*args: str) -> list[tuple]:
        return columns(s.json("expiring", *args), EXPIRING_COLUMNS)

    a = ("--as-of", "2026-03-10")
    anna = ("anna", "Anna", "anna@example.com", None)
    ben = ("ben", "Ben", "ben@example.com", None)
    # (03-10, 03-24]: cara's lot is gone on the day itself, dan's on day 17
    assert listed(*a) == [
        (*anna, 25, "2026-03-11", "2026-03-10", 25, 35, True),  # balance 40 - 15 + 10
        (*ben, 30, "2026-03-24", "2026-03-23", 30, 30, False),  # exactly warn_days (14) after: in
    ]
    assert listed(*a, "--within", "14") == listed(*a)
    assert listed(*a, "--marketing-only") == [(*anna, 25, "2026-03-11", "2026-03-10", 25, 35, True)]
    assert listed(*a, "--within", "0") == []
    assert listed(*a, "--within", "1") == [(*anna, 25, "2026-03-11", "2026-03-10", 25, 35, True)]
    # day 15 brings anna's second lot: the soonest day shows with only its own points (issue 14: not
    # all 35 on 03-11), the total within the window beside it, and each day in `expiring`, as `show` says
    assert listed(*a, "--within", "15") == [
        (*anna, 25, "2026-03-11", "2026-03-10", 35, 35, True),
        (*ben, 30, "2026-03-24", "2026-03-23", 30, 30, False),
    ]
    assert listed(*a, "--within", "16") == listed(*a, "--within", "15")
    wide = {r["member"]: r for r in s.json("expiring", *a, "--within", "15")}
    assert wide["anna"]["expiring"] == [{"date": "2026-03-11", "points": 25}, {"date": "2026-03-25", "points": 10}]
    assert wide["ben"]["expiring"] == [{"date": "2026-03-24", "points": 30}]
    assert [r[0] for r in listed(*a, "--within", "17")] == ["anna", "ben", "dan"]
    assert listed(*a, "--within", "17", "--marketing-only") == [
        (*anna, 25, "2026-03-11", "2026-03-10", 35, 35, True),
        ("dan", "Dan", None, None, 50, "2026-03-27", "2026-03-26", 50, 50, True),
    ]
    # a day later anna's 25 are gone: ben's 03-24 is now the soonest
    assert listed("--as-of", "2026-03-11") == [
        (*ben, 30, "2026-03-24", "2026-03-23", 30, 30, False),
        (*anna, 10, "2026-03-25", "2026-03-24", 10, 10, True),  # 03-25 = 03-11 + 14: in
    ]
    csv_out = s.run("expiring", "--format", "csv", *a).stdout
    assert csv_out.splitlines() == [
        ",".join(EXPIRING_COLUMNS),
        "anna,Anna,anna@example.com,,25,2026-03-11,2026-03-10,25,35,yes",
        "ben,Ben,ben@example.com,,30,2026-03-24,2026-03-23,30,30,no",
    ]
    assert s.run("expiring", "--format", "csv", *a, "--within", "0").stdout.splitlines() == [
        ",".join(EXPIRING_COLUMNS)]
    # the report and `show` agree (warn_days = 14): one computation of what expires when
    r = report(s, *a)
    assert (r["expiring_points"], r["expiring_members"], r["warn_days"]) == (55, 2, 14)
    assert s.json("show", "anna", *a)["expiring"] == [{"date": "2026-03-11", "points": 25}]
    for row in s.json("expiring", *a):
        assert row["expiring"] == s.json("show", row["member"], *a)["expiring"]
    assert s.json("show", "anna", "--as-of", "2026-03-11")["expiring"] == [{"date": "2026-03-25", "points": 10}]
    clean(s)


def test_lapsed_list(make_shop):
    s = make_shop(programme("[earning]\npoints_per_unit = 1\n"))
    enroll(s, "anna", "2026-01-01", "--marketing", "--email", "anna@example.com")
    enroll(s, "ben", "2026-01-01")
    enroll(s, "eve", "2026-01-01")
    buy(s, "eve", "50.00", "2026-01-15")
    buy(s, "anna", "100.00", "2026-04-01", "--order", "A1")
    enroll(s, "cara", "2026-05-31", "--marketing")  # never buys
    buy(s, "anna", "20.00", "2026-05-31")
    enroll(s, "dan", "2026-06-01")  # never buys
    buy(s, "ben", "300.00", "2026-06-01")
    s.run("refund", "A1", "--amount", "5.00", "--date", "2026-06-10")  # 5 points back
    enroll(s, "frank", "2026-07-01")
    buy(s, "eve", "999.00", "2026-07-05")

    def listed(*args: str) -> list[tuple]:
        return columns(s.json("lapsed", *args), LAPSED_COLUMNS)

    a = ("--as-of", "2026-06-30")
    anna = ("anna", "Anna", "anna@example.com", None, "2026-05-31", 30, 2, "115.00", 115, True)  # 100 + 20 - 5
    eve = ("eve", "Eve", None, None, "2026-01-15", 166, 1, "50.00", 50, False)  # 07-05 is after the as-of
    cara = ("cara", "Cara", None, None, None, 30, 0, "0.00", 0, True)  # 30 days since she enrolled
    # no purchase since 05-31 (06-30 - 30): anna's last is that very day; ben (06-01)
    # and dan (enrolled 06-01) are a day short; frank enrolled after the as-of
    assert listed(*a, "--lapsed-days", "30") == [anna, eve, cara]  # biggest spend first
    assert listed(*a, "--lapsed-days", "30", "--marketing-only") == [anna, cara]
    assert listed(*a, "--lapsed-days", "31") == [eve]
    # 29 days: since 06-01, so ben (bought 06-01) and dan (enrolled 06-01) are in too
    wider = listed(*a, "--lapsed-days", "29")
    assert wider[:3] == [("ben", "Ben", None, None, "2026-06-01", 29, 1, "300.00", 300, False), anna, eve]
    assert set(wider[3:]) == {cara, ("dan", "Dan", None, None, None, 29, 0, "0.00", 0, False)}  # 0.00 each
    assert listed(*a) == [eve]  # default 90 days: since 2026-04-01
    r = report(s, *a, "--lapsed-days", "30")
    assert (r["lapsed_members"], r["lapsed_days"]) == (3, 30)
    assert report(s, *a)["lapsed_members"] == 1
    assert s.run("lapsed", "--format", "csv", *a, "--lapsed-days", "30").stdout.splitlines() == [
        ",".join(LAPSED_COLUMNS),
        "anna,Anna,anna@example.com,,2026-05-31,30,2,115.00,115,yes",
        "eve,Eve,,,2026-01-15,166,1,50.00,50,no",
        "cara,Cara,,,,30,0,0.00,0,yes",
    ]
    # a month on: eve bought again; everyone else has lapsed
    later = listed("--as-of", "2026-07-31", "--lapsed-days", "30")
    assert [x[0] for x in later[:2]] == ["ben", "anna"]  # 300.00, 115.00
    assert {x[0] for x in later[2:]} == {"cara", "dan", "frank"}  # 0.00 each; frank enrolled 07-01, 30 days
    assert [x[5] for x in later[:2]] == [60, 61]
    clean(s)


# ---------------------------------------------------------------------------
# (6) refusals: one line, exit 1 (2 for click's usage errors), nothing written
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, code, contains",
    [
        (["report", "--since", "2026-03-02", "--until", "2026-03-01"], 1, "--since"),
        (["report", "--since", "2026-03-02", "--as-of", "2026-03-01"], 1, "--since"),
        (["report", "--since", "2026-02-30"], 1, "--since"),
        (["report", "--since", "01/03/2026"], 1, "--since"),
        (["report", "--until", "yesterday"], 1, "--until"),
        (["report", "--until", "2026-03-32"], 1, "--until"),
        (["report", "--as-of", "2026-13-01"], 1, "--as-of"),
        (["report", "--as-of", ""], 1, "--as-of"),
        (["report", "--as-of", "2026-03-31", "--shop-sales", "abc"], 1, "--shop-sales"),
        (["report", "--as-of", "2026-03-31", "--shop-sales", "-5"], 1, "--shop-sales"),
        (["report", "--as-of", "2026-03-31", "--shop-sales", "1e3"], 1, "--shop-sales"),
        (["report", "--as-of", "2026-03-31", "--shop-sales", "12.345"], 1, "--shop-sales"),
        (["report", "--as-of", "2026-03-31", "--shop-sales", "NaN"], 1, "--shop-sales"),
        (["report", "--as-of", "2026-03-31", "--shop-sales", "1,000.00"], 1, "--shop-sales"),
        (["report", "--as-of", "2026-03-31", "--shop-sales", ""], 1, "--shop-sales"),
        (["report", "--lapsed-days", "0"], 2, "--lapsed-days"),
        (["report", "--lapsed-days", "-1"], 2, "--lapsed-days"),
        (["report", "--lapsed-days", "abc"], 2, "--lapsed-days"),
        (["report", "--format", "xml"], 2, "--format"),
        (["expiring", "--within", "-1"], 2, "--within"),
        (["expiring", "--within", "x"], 2, "--within"),
        (["expiring", "--as-of", "2026-02-30"], 1, "--as-of"),
        (["lapsed", "--lapsed-days", "0"], 2, "--lapsed-days"),
        (["lapsed", "--as-of", "31.03.2026"], 1, "--as-of"),
    ],
)
def test_refusals(make_shop, args, code, contains):
    s = make_shop(SCENARIO)
    enroll(s, "anna", "2026-01-05")
    buy(s, "anna", "12.50", "2026-01-12")
    before = s.snapshot()
    s.fail(*args, code=code, contains=contains)
    assert s.snapshot() == before


def test_shop_sales_edge_values(make_shop):
    s = make_shop(SCENARIO)
    enroll(s, "anna", "2026-01-05")
    buy(s, "anna", "12.50", "2026-01-12")
    a = ("--as-of", "2026-03-31")
    r = report(s, *a, "--shop-sales", "0")
    assert (r["shop_sales"], r["member_share"]) == ("0.00", None)  # no denominator
    r = report(s, *a, "--shop-sales", "37.5")
    assert (r["shop_sales"], r["member_share"]) == ("37.50", "0.3333")  # 12.50 / 37.50
    r = report(s, *a, "--shop-sales", "8")
    assert (r["shop_sales"], r["member_share"]) == ("8.00", "1.5625")  # 12.50 / 8.00: the figure is what it is


# ---------------------------------------------------------------------------
# (7) table and CSV output
# ---------------------------------------------------------------------------


def test_table_output_has_the_bar_sections(make_shop):
    s = make_shop(SCENARIO)
    build_scenario(s)
    r = s.run("report", "--since", "2026-02-01", "--until", "2026-03-31", "--shop-sales", "500.00")
    out = r.stdout
    assert "\x1b[" not in out  # piped: plain text, no colour
    lines = out.splitlines()
    assert lines[0] == "Report Shop: 2026-02-01 to 2026-03-31"
    for title in ("Tier mix", "Sales by month", "Points issued vs redeemed"):
        assert title in lines
    assert "█" in out

    def section(title: str) -> list[str]:
        start = lines.index(title) + 1
        end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
        return lines[start:end]

    def bar_length(line: str) -> int:
        return line.count("█")

    tiers = {ln.split()[0]: ln for ln in section("Tier mix")[1:]}
    assert set(tiers) == {"Bronze", "Silver"}
    assert bar_length(tiers["Bronze"]) == 3 * bar_length(tiers["Silver"]) > 0  # 3 members : 1
    months = {ln.split()[0]: ln for ln in section("Sales by month")[1:]}
    assert set(months) == {"2026-02", "2026-03"}
    assert "60.00" in months["2026-02"] and "45.00" in months["2026-03"]
    assert 3 * bar_length(months["2026-02"]) == 4 * bar_length(months["2026-03"]) > 0  # 60.00 : 45.00
    points = {ln.split()[0]: ln for ln in section("Points issued vs redeemed")[1:]}
    assert set(points) == {"2026-02", "2026-03"}
    assert points["2026-02"].split()[1] == "83" and points["2026-03"].split()[1] == "55"
    summary = "\n".join(lines[:lines.index("Tier mix")])
    for text in ("105.00", "500.00", "1.25", "0.87"):  # sales, shop sales, paid with points, liability
        assert text in summary

    # a period with no activity says so instead of drawing nothing
    quiet = s.run("report", "--since", "2026-06-01", "--until", "2026-06-30").stdout
    assert "Sales by month" in quiet and "(no sales in the period)" in quiet
    assert "Points issued vs redeemed" in quiet and "Tier mix" in quiet
    clean(s)


def test_csv_output_is_the_flat_figures(make_shop):
    import csv
    import io

    s = make_shop(SCENARIO)
    build_scenario(s)
    args = ("--since", "2026-02-01", "--until", "2026-03-31", "--lapsed-days", "30", "--shop-sales", "500.00")
    rows = list(csv.reader(io.StringIO(s.run("report", *args, "--format", "csv").stdout)))
    assert rows[0] == ["figure", "value"]
    got = dict(rows[1:])
    assert len(got) == len(rows) - 1  # each figure once
    flat = {k: v for k, v in report(s, *args).items() if not isinstance(v, (list, dict))}
    assert set(got) == set(flat)  # every flat figure, no tiers or months
    assert "tiers" not in got and "months" not in got
    assert {k: got[k] for k in ("members", "purchases", "sales", "repeat_rate", "member_share", "points_issued",
                                "redemption_rate", "outstanding_points", "liability", "expiring_points",
                                "lapsed_members", "top_share")} == {
        "members": "4", "purchases": "5", "sales": "105.00", "repeat_rate": "0.3333", "member_share": "0.2100",
        "points_issued": "138", "redemption_rate": "0.7246", "outstanding_points": "70", "liability": "0.87",
        "expiring_points": "55", "lapsed_members": "2", "top_share": "0.4762"}
    assert got["since"].startswith("2026-02-01") and got["until"].startswith("2026-03-31")


def test_report_in_a_currency_without_decimals(make_shop):
    s = make_shop(programme("""
        [earning]
        points_per_unit = "0.01"

        [redemption]
        point_value = "0.5"
        """, currency="JPY"))
    enroll(s, "anna", "2026-01-01")
    enroll(s, "ben", "2026-01-01")
    buy(s, "anna", "2099", "2026-01-02")  # 20.99 -> 20 points
    buy(s, "ben", "3399", "2026-01-03")  # 33.99 -> 33 points
    r = report(s, "--as-of", "2026-01-20", "--shop-sales", "10000")
    assert r == {**r, "sales": "5498", "discounts": "0", "paid_with_points": "0", "shop_sales": "10000",
                 "member_share": "0.5498",  # 5498 / 10000
                 "outstanding_points": 53, "liability": "26",  # 53 x 0.5 = 26.5 yen, rounded down
                 "top_members": 1, "top_sales": "3399", "top_share": "0.6182"}  # 3399 / 5498 = 0.61822..
    s.fail("report", "--as-of", "2026-01-20", "--shop-sales", "10000.5", contains="--shop-sales")
    assert columns(s.json("lapsed", "--as-of", "2026-06-30"), ["member", "spend"]) == [("ben", "3399"),
                                                                                        ("anna", "2099")]
    clean(s)


@pytest.mark.parametrize("warn_days, args", [
    (30, ["expiring", "--as-of", "9998-12-31", "--within", "36500"]),
    (36500, ["report", "--as-of", "9998-12-31"]),
    (36500, ["expiring", "--as-of", "9998-12-31"]),
])
def test_largest_accepted_window_at_the_last_accepted_day(make_shop, warn_days, args):
    # --within and warn_days accept up to 36500 days and --as-of accepts dates up
    # to 9998-12-31 (dates.py: "far enough from datetime's limits that windows and
    # offsets never overflow"); every combination they accept must answer (0) or be
    # refused with one line (1), never end in an internal error.
    s = make_shop(programme(f"[expiry]\ndays = 30\nwarn_days = {warn_days}\n"))
    r = s.invoke(*args)
    assert r.exit_code in (0, 1), r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stdout + r.stderr
    if r.exit_code == 1:
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("Error: ")


def test_as_of_reads_use_the_marketing_consent_of_that_day(make_shop):
    # issue 14: `show bob --as-of 2026-05-01` said "no" when it was "yes" then, and a past
    # mailing list (`lapsed --as-of D --marketing-only`) could not be made again
    s = make_shop(programme("[earning]\npoints_per_unit = 1\n\n[expiry]\ndays = 30\n"))
    enroll(s, "bob", "2026-01-01", "--marketing", "--email", "bob@example.com")
    enroll(s, "cara", "2026-01-01")
    s.run("edit", "cara", "--marketing", "--date", "2026-03-01")
    buy(s, "bob", "10.00", "2026-05-25")  # 10 points, gone 06-24
    s.run("edit", "bob", "--no-marketing", "--date", "2026-06-01")

    def consent(when: str) -> dict:
        return {m["member"]: m["marketing"] for m in s.json("members", "--as-of", when)}

    bob = s.json("show", "bob", "--as-of", "2026-05-01")
    assert (bob["marketing"], bob["marketing_at"]) == (True, "2026-01-01T00:00:00")
    assert "yes, since 2026-01-01" in s.run("show", "bob", "--as-of", "2026-05-01").stdout
    now = s.json("show", "bob")
    assert (now["marketing"], now["marketing_at"]) == (False, "2026-06-01T00:00:00")
    assert consent("2026-02-01") == {"bob": True, "cara": False}
    assert consent("2026-05-01") == {"bob": True, "cara": True}
    assert consent("2026-06-01") == {"bob": False, "cara": True}

    def mailing(when: str) -> list[str]:
        return [r["member"] for r in s.json("lapsed", "--as-of", when, "--lapsed-days", "30", "--marketing-only")]

    assert mailing("2026-02-15") == ["bob"]
    assert mailing("2026-05-01") == ["bob", "cara"]
    assert mailing("2026-07-15") == ["cara"]
    assert [r["member"] for r in s.json("expiring", "--as-of", "2026-05-31", "--marketing-only")] == ["bob"]
    assert s.json("expiring", "--as-of", "2026-06-02", "--marketing-only") == []
    assert [r["marketing"] for r in s.json("expiring", "--as-of", "2026-06-02")] == [False]
    # the same as-of, the same answer, however much is recorded later
    before = s.run("lapsed", "--as-of", "2026-05-01", "--lapsed-days", "30", "--marketing-only", "--format", "csv").stdout
    s.run("edit", "cara", "--no-marketing", "--date", "2026-08-01")
    assert s.run("lapsed", "--as-of", "2026-05-01", "--lapsed-days", "30", "--marketing-only",
                 "--format", "csv").stdout == before
    assert s.sql("SELECT member_id, at, marketing, via FROM consent_changes ORDER BY id") == [
        ("bob", "2026-01-01 00:00:00.000000", 1, "enroll"),
        ("cara", "2026-03-01 00:00:00.000000", 1, "edit"),
        ("bob", "2026-06-01 00:00:00.000000", 0, "edit"),
        ("cara", "2026-08-01 00:00:00.000000", 0, "edit")]
    clean(s)


def test_a_consent_change_dated_before_the_latest_one_is_refused(make_shop):
    # the history is kept in date order, so the latest write is the consent of every later day
    s = make_shop(programme(""))
    enroll(s, "bob", "2026-01-01", "--marketing")
    s.run("edit", "bob", "--no-marketing", "--date", "2026-06-01")
    s.run("edit", "bob", "--marketing", "--date", "2026-06-10")
    before = s.snapshot()
    s.fail("edit", "bob", "--no-marketing", "--date", "2026-05-01", contains="last changed on 2026-06-10 00:00")
    s.fail("forget", "bob", "--yes", "--date", "2026-06-05", contains="last changed on 2026-06-10 00:00")
    assert s.snapshot() == before
    s.run("edit", "bob", "--name", "Bob Kask", "--date", "2026-05-01")  # other data: no consent change
    clean(s)
