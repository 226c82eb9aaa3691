"""The whole-ledger reads (`balance` of everyone, `tiers`, `report`) take
faster roads than the one-member reads (`show`, `balance KEY`): cached
balances corrected to the moment, sums read as plain rows, tiers by
bisection, lists of members too long for SQL parameters read whole. These
tests hold the two roads to the same answers on a ledger that has everything
the fast road must correct for: entries dated after the moment asked about,
expiry due but not posted, refunds, tiers a rolling window takes away, and
more members than SCOPE_LIMIT."""

from __future__ import annotations

import pytest

from loyalty_cli.queries.standing import SCOPE_LIMIT
from tests.conftest import clean, copy_shop, programme, shop_template

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run

PROGRAMME = """
[expiry]
days = 60

[tiers]
basis = "spend"
window = "rolling-365"
downgrade = {downgrade}

[[tiers.levels]]
name = "Bronze"
min = "0"

[[tiers.levels]]
name = "Silver"
min = "100"

[[tiers.levels]]
name = "Gold"
min = "300"
"""

MEMBERS = SCOPE_LIMIT + 40
MOMENTS = ("2025-01-20", "2025-06-15", "2026-08-01")  # before, among and well after the purchases


@pytest.fixture(scope="module", params=["true", "false"], ids=["downgrade", "keep-tier"])
def busy_template(tmp_path_factory, request, backend):
    """Built once per programme and backend; each test gets a copy."""
    tmp_path = tmp_path_factory.mktemp("whole")
    shop = shop_template(tmp_path / "shop", programme(PROGRAMME.format(downgrade=request.param)), [], backend)
    people = tmp_path / "members.csv"
    people.write_text("member,name,enrolled\n" + "".join(f"m{i},Member {i},2025-01-0{1 + i % 9}\n"
                                                      for i in range(MEMBERS)))
    shop.run("import", "members", str(people))
    sales = tmp_path / "sales.csv"
    rows = []
    for i in range(MEMBERS):
        for k in range(i % 4):  # 0 to 3 purchases each, some big enough for a tier
            day = f"2025-{1 + (i + k) % 12:02d}-{10 + k:02d}"
            rows.append(f"m{i},{(i * 37 + k * 101) % 250 + 5}.{i % 100:02d},{day},o{i}-{k}\n")
    sales.write_text("member,amount,date,order\n" + "".join(rows))
    shop.run("import", "purchases", str(sales))
    for i in range(0, MEMBERS, 17):  # refunds, some of them in full
        if i % 4:
            shop.run("refund", f"o{i}-0", *([] if i % 2 else ["--amount", "1.00"]), "--date", "2025-12-20")
    shop.run("daily", "--as-of", "2025-09-01")  # some expiry posted, the rest only due
    assert not list(shop.folder.glob("loyalty.db-*")), "the template ledger is not checkpointed"
    return shop.folder


@pytest.fixture
def busy(busy_template, tmp_path):
    return copy_shop(busy_template, tmp_path / "busy")


def test_everyone_at_once_matches_each_member_alone(busy):
    clean(busy)
    for moment in MOMENTS:
        everyone = busy.json("balance", "--as-of", moment)
        ids = [r["member"] for r in everyone]
        assert len(ids) == MEMBERS and ids == sorted(ids)
        # More keys than SCOPE_LIMIT: their tiers are read for everyone and picked out.
        assert busy.json("balance", *ids, "--as-of", moment) == everyone
        for r in everyone[::61]:
            one = busy.json("show", r["member"], "--as-of", moment)
            assert (one["points"], one["tier"]) == (r["points"], r["tier"]), (moment, r)
        tiers = busy.json("tiers", "--as-of", moment)
        counts = {t["tier"]: t["members"] for t in tiers["tiers"]}
        assert counts == {name: sum(1 for r in everyone if r["tier"] == name) for name in ("Bronze", "Silver", "Gold")}
        report = busy.json("report", "--until", moment)
        assert report["outstanding_points"] == sum(r["points"] for r in everyone)
        assert {t["tier"]: t["members"] for t in report["tiers"]} == counts


def test_the_report_counts_what_the_member_lists_list(busy):
    for moment in MOMENTS:
        report = busy.json("report", "--until", moment, "--lapsed-days", "30")
        assert report["lapsed_members"] == len(busy.json("lapsed", "--lapsed-days", "30", "--as-of", moment))
    since = busy.json("report", "--since", "2025-03-01", "--until", "2025-12-31")
    before = busy.json("balance", "--as-of", "2025-02-28")
    assert since["points_opening"] == sum(r["points"] for r in before) > 0
