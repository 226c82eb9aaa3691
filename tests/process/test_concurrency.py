"""Two tills at once: real `loyalty` processes started together against one
ledger, an SQLite file or a PostgreSQL database. Writers serialise on BEGIN
IMMEDIATE (SQLite) or the ledger's write lock (PostgreSQL, an advisory lock
taken at BEGIN): every purchase lands, nobody spends a point twice, a
single-use code is used once, and nobody sees "database is locked" or a raw
"duplicate key"."""

import os
import subprocess
import sys

import pytest

from loyalty_cli.store.db import SCHEMA_VERSION
from tests import pg
from tests.conftest import BASE_TOML, _with_database, programme_file

pytestmark = [pytest.mark.process, pytest.mark.backends("sqlite", "postgresql")]  # real processes, both backends

PROCS = 8


def _start(shop, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_CONFIG"] = str(shop.config)
    return subprocess.Popen([sys.executable, "-m", "loyalty_cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _all(procs):
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append((p.returncode, stdout, stderr))
    return out


def test_parallel_purchases_all_land(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    procs = [_start(shop, "purchase", "anna", f"{i + 1}.00", "--order", f"o{i}", "--date", "2026-01-02")
             for i in range(PROCS)]
    results = _all(procs)
    assert [rc for rc, _, _ in results] == [0] * PROCS, results
    assert not any("locked" in err for _, _, err in results)
    # 1 + 2 + ... + 8 = 36 points, one entry per order.
    assert shop.json("balance", "anna")[0]["points"] == 36
    assert shop.sql("SELECT count(*) FROM entries") == [(PROCS,)]
    assert shop.run("check").stdout == ""


@pytest.mark.backends("sqlite")  # on PostgreSQL: its FIFO-gated twin, test_crash_and_races.py::test_adjustments_and_redemptions_racing_on_one_member_never_double_spend
def test_parallel_redemptions_never_overdraw(make_shop):
    shop = make_shop(BASE_TOML)
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("adjust", "anna", "100", "--reason", "opening balance", "--date", "2026-01-01")
    procs = [_start(shop, "redeem", "anna", "30", "--date", "2026-01-02") for _ in range(PROCS)]
    results = _all(procs)
    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] != 0]
    assert len(winners) == 3, results  # 3 x 30 = 90 <= 100 < 4 x 30
    for rc, _, err in losers:
        assert rc == 1 and err.startswith("Error: cannot redeem 30 points"), err
        assert "Traceback" not in err and "locked" not in err
    assert shop.json("balance", "anna")[0]["points"] == 10
    assert shop.run("check").stdout == ""


def test_same_order_id_from_two_tills_lands_once(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    procs = [_start(shop, "purchase", "anna", "10.00", "--order", "same", "--date", "2026-01-02")
             for _ in range(4)]
    results = _all(procs)
    assert sorted(rc for rc, _, _ in results) == [0, 1, 1, 1], results
    assert all("already recorded" in err for rc, _, err in results if rc == 1)
    assert shop.sql("SELECT count(*) FROM purchases") == [(1,)]


PROMO_TOML = programme_file("referral")


@pytest.mark.backends("sqlite")  # on PostgreSQL: its FIFO-gated twin, test_crash_and_races.py::test_eight_tills_racing_one_single_use_code_use_it_once
def test_a_single_use_code_is_used_once_by_eight_tills(shop):
    for i in range(PROCS):
        shop.run("enroll", f"m{i}", "--name", f"M{i}", "--date", "2026-01-01")
    code = shop.run("promo", "create", "--percent", "10", "--max-uses", "1", "--date", "2026-01-01").stdout.strip()
    procs = [_start(shop, "purchase", f"m{i}", "30.00", "--code", code, "--date", "2026-01-02")
             for i in range(PROCS)]
    results = _all(procs)
    assert sorted(rc for rc, _, _ in results) == [0] + [1] * (PROCS - 1), results
    assert all("used up" in err for rc, _, err in results if rc == 1)
    assert not any("locked" in err or "Traceback" in err for _, _, err in results)
    assert shop.sql("SELECT count(*) FROM promo_uses") == [(1,)]
    assert shop.sql("SELECT count(*) FROM purchases") == [(1,)]  # a refused code writes nothing
    assert shop.run("check").stdout == ""


def test_max_uses_is_never_exceeded_by_eight_tills(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("promo", "create", "THREE", "--points", "5", "--max-uses", "3", "--date", "2026-01-01")
    procs = [_start(shop, "purchase", "anna", "1.00", "--code", "three", "--date", "2026-01-02")
             for _ in range(PROCS)]
    results = _all(procs)
    assert sorted(rc for rc, _, _ in results) == [0] * 3 + [1] * (PROCS - 3), results
    assert shop.sql("SELECT count(*) FROM promo_uses") == [(3,)]
    # 3 purchases x (1 earned + 5 bonus)
    assert shop.json("balance", "anna")[0]["points"] == 18
    assert shop.run("check").stdout == ""


def test_a_referral_is_paid_once_when_eight_first_purchases_race(make_shop):
    shop = make_shop(PROMO_TOML)
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    code = shop.json("referral", "anna")["code"]
    shop.run("enroll", "bob", "--name", "Bob", "--referral", code, "--date", "2026-01-02")
    procs = [_start(shop, "purchase", "bob", "25.00", "--date", "2026-01-03") for _ in range(PROCS)]
    results = _all(procs)
    assert [rc for rc, _, _ in results] == [0] * PROCS, results
    assert shop.sql("SELECT member_id, points FROM entries WHERE kind = 'referral' ORDER BY member_id") == [
        ("anna", 200), ("bob", 100)]
    assert shop.sql("SELECT count(*) FROM referral_rewards") == [(1,)]
    assert shop.run("check").stdout == ""


DAILY_TOML = programme_file("birthday_and_expiry")


def test_eight_daily_runs_at_once_write_each_expiry_and_bonus_once(make_shop):
    shop = make_shop(DAILY_TOML)
    for i in range(4):
        shop.run("enroll", f"m{i}", "--name", f"M{i}", "--birthday", "1990-02-20", "--date", "2026-01-01")
        shop.run("purchase", f"m{i}", "10.00", "--date", "2026-01-05")  # 10 points, gone on 2026-02-04
    procs = [_start(shop, "daily", "--as-of", "2026-02-25") for _ in range(PROCS)]
    results = _all(procs)
    assert [rc for rc, _, _ in results] == [0] * PROCS, results
    assert not any("locked" in err or "Traceback" in err for _, _, err in results)
    assert shop.sql("SELECT kind, count(*), sum(points) FROM entries WHERE kind IN ('expire', 'birthday') "
                    "GROUP BY kind ORDER BY kind") == [("birthday", 4, 100), ("expire", 4, -40)]
    assert [b["points"] for b in shop.json("balance", "--as-of", "2026-02-25")] == [25] * 4
    assert shop.run("check").stdout == ""


def test_a_till_and_the_daily_run_at_once_lose_nothing(make_shop):
    shop = make_shop(DAILY_TOML)
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("purchase", "anna", "40.00", "--date", "2026-01-05")  # 40 points, gone on 2026-02-04
    procs = [_start(shop, "daily", "--as-of", "2026-02-10")] + [
        _start(shop, "purchase", "anna", "1.00", "--order", f"o{i}", "--date", "2026-02-10") for i in range(PROCS - 1)]
    results = _all(procs)
    assert [rc for rc, _, _ in results] == [0] * PROCS, results
    # The 40 expire exactly once, whoever posts it; the 7 purchases earn 7.
    assert shop.sql("SELECT sum(points) FROM entries WHERE kind = 'expire'") == [(-40,)]
    assert shop.json("balance", "anna", "--as-of", "2026-02-10")[0]["points"] == 7
    assert shop.run("check").stdout == ""


def test_eight_purchases_without_an_order_id_get_eight_order_ids(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    procs = [_start(shop, "purchase", "anna", "1.00", "--date", "2026-01-02") for _ in range(PROCS)]
    results = _all(procs)
    assert [rc for rc, _, _ in results] == [0] * PROCS, results
    orders = [o for (o,) in shop.sql("SELECT order_id FROM purchases")]
    assert len(orders) == len(set(orders)) == PROCS, orders
    assert shop.run("check").stdout == ""


def test_four_inits_at_once_set_the_ledger_up_once(shop, backend):
    if backend == "postgresql":  # an empty database, as a shop's administrator made it
        shop.url = pg.new_database()
        shop.config.write_text(_with_database(BASE_TOML, shop.url), encoding="utf-8")
    else:
        shop.db.unlink()
    results = _all([_start(shop, "init") for _ in range(4)])
    assert sorted(rc for rc, _, _ in results) == [0, 1, 1, 1], results
    assert sum("Created ledger" in err for _, _, err in results) == 1, results
    for rc, _, err in results:
        if rc == 1:
            assert err.startswith("Error: already set up") and len(err.strip().splitlines()) == 1, err
    assert shop.sql("SELECT count(*) FROM schema_version") == [(SCHEMA_VERSION,)]
    assert shop.run("check").stdout == ""
