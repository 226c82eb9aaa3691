"""Power cuts and crowded tills, with real `python -m loyalty_cli` processes.

Crashes: a purchase, a redemption, a refund or the nightly `daily` run is
SIGKILLed (kill -9, as a power cut would) at a random moment, some early in
start-up and some while the ledger is open. After every kill `check` is silent
and the ledger is exactly as it was before the command or exactly as the
uninterrupted command leaves it (computed by running the same command
in-process on a copy of the ledger taken just before): never half of it.
Running the interrupted work again ends where an uninterrupted run ends.

Races: eight processes let at one ledger at the same moment (each waits,
imports done, for its programme file on a FIFO; see _race), on an SQLite file
and on a PostgreSQL database alike, beyond test_concurrency.py: a single-use
code, purchases paying with points beyond the balance, `daily`
against purchases of the members it expires, two overlapping imports against
single purchases, and adjustments against redemptions. Every exit is 0 or 1,
a refusal is one `Error:` line, nobody sees "locked" or a traceback, and
`check` is silent afterwards.

The randomness is seeded (see the SEED_* constants), so a failing sequence of
kill modes and delays replays; where exactly a kill lands still depends on the
machine, so the assertions hold for wherever it landed.

Ledger rows are read with explicit columns, and without ids, hashes or
recorded_at times: two runs of the same commands agree on those facts only.
"""

from __future__ import annotations

import collections
import errno
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest

from tests.conftest import clean, copy_ledger, programme, programme_file, same_ledger

pytestmark = pytest.mark.process  # every test here runs real processes

# Sizes are kept small so that the file runs in about a minute on a small
# machine (every process pays ~1.3 s of imports); CRASH_TEST_PURCHASES=60
# CRASH_TEST_DAILY_ATTEMPTS=10 make a longer soak, CRASH_TEST_SEED=N another
# seeded sequence of kill modes and delays.
N_PURCHASES = int(os.environ.get("CRASH_TEST_PURCHASES", "6"))
DAILY_ATTEMPTS = int(os.environ.get("CRASH_TEST_DAILY_ATTEMPTS", "3"))
_SEED = int(os.environ.get("CRASH_TEST_SEED", "0"))
SEED_PURCHASES = 20260101 + _SEED
SEED_DAILY = 20260228 + _SEED
SEED_REDEEM = 20260315 + _SEED
SEED_UPGRADE = 20261202 + _SEED

# ---------------------------------------------------------------------------
# real processes
# ---------------------------------------------------------------------------


def _env(shop) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_CONFIG"] = str(shop.config)
    return env


def _start(shop, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "loyalty_cli", *map(str, args)], env=_env(shop), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(p: subprocess.Popen) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


def _run(shop, *args) -> tuple[int, str, str]:
    return _finish(_start(shop, *args))


def _race(shop, commands) -> list[tuple[int, str, str]]:
    """Run every command as its own process, and let them all at the ledger at
    the same moment. Start-up (~1.3 s of imports) would otherwise spread the
    processes over seconds; so each reads its programme file from a FIFO of
    its own (a command imports everything before it reads the programme), and
    once every process waits on its FIFO, all are filled and closed at once."""
    text = shop.config.read_bytes()
    gates = [shop.folder / f"gate-{i}.toml" for i in range(len(commands))]
    procs = []
    for gate, c in zip(gates, commands):
        os.mkfifo(gate, 0o600)
        env = _env(shop)
        env["LOYALTY_CONFIG"] = str(gate)  # [ledger] database is relative to its folder: the shop's
        procs.append(subprocess.Popen([sys.executable, "-m", "loyalty_cli", *map(str, c)], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    fds: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 120
        while len(fds) < len(procs):
            for i, (p, gate) in enumerate(zip(procs, gates)):
                if i in fds:
                    continue
                assert p.poll() is None, f"{commands[i]} ended before it read its programme: {_finish(p)}"
                try:  # succeeds once the process has the FIFO open for reading
                    fds[i] = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        raise
            assert time.monotonic() < deadline, "the processes never read their programme file"
            time.sleep(0.01)
        for fd in fds.values():
            os.write(fd, text)
    except BaseException:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
        raise
    finally:
        for fd in fds.values():
            os.close(fd)  # EOF: every process goes on, all at once
        for gate in gates:
            gate.unlink()
    return [_finish(p) for p in procs]


def _sane(res, what="") -> None:
    """Exit 0 or 1; a refusal is one `Error:` line; never a traceback, never "locked"."""
    rc, out, err = res
    assert rc in (0, 1), f"{what}: exit {rc}\n{out}\n{err}"
    assert "Traceback" not in out + err, f"{what}:\n{out}\n{err}"
    assert "locked" not in (out + err).lower(), f"{what}:\n{out}\n{err}"
    if rc == 1:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), f"{what}: {err!r}"


def _holds(pid: int, target: str) -> bool:
    """Whether process `pid` has the file `target` open (Linux /proc)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            pass
    return False


class Killer:
    """Runs a real loyalty process and SIGKILLs it at a seeded random moment:

    - "early": after a random delay from the start, mostly during start-up
      (Python still importing, the ledger not yet opened);
    - "late": once the process has the ledger file open (polled in /proc),
      after a random delay in `late`: inside its transaction, or after its
      commit while it prints;
    - "spare": not killed at all.

    `tally` counts what happened, for the assertions and the summary line."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rnd = random.Random(seed)
        self.tally: collections.Counter = collections.Counter()

    def run(self, shop, *args, weights=(1, 3, 1), early=(0.0, 0.7), late=(0.0, 0.12)):
        mode = self.rnd.choices(("early", "late", "spare"), weights)[0]
        delay = self.rnd.uniform(*(early if mode == "early" else late))
        target = os.path.realpath(shop.db)
        p = _start(shop, *args)
        if mode == "early":
            time.sleep(delay)
        elif mode == "late":
            deadline = time.monotonic() + 60
            while p.poll() is None and time.monotonic() < deadline:
                if _holds(p.pid, target):
                    break
                time.sleep(0.005)
            time.sleep(delay)
        phase = None
        if mode != "spare" and p.poll() is None:
            if _holds(p.pid, target):
                phase = "with the ledger open"
            else:
                phase = "after the ledger closed" if mode == "late" else "in start-up"
            os.kill(p.pid, signal.SIGKILL)
        res = _finish(p)
        killed = res[0] == -signal.SIGKILL
        self.tally["runs"] += 1
        if killed:
            self.tally["kills"] += 1
            self.tally[f"kills {phase}"] += 1
        return res, killed

    def summary(self, name: str) -> str:
        return f"{name} (seed {self.seed}): " + ", ".join(f"{k} {v}" for k, v in sorted(self.tally.items()))


# ---------------------------------------------------------------------------
# the ledger's facts
# ---------------------------------------------------------------------------

# Every fact an uninterrupted command decides, without ids (a killed process
# may have used ids in a transaction that never committed), hashes or
# recorded_at (wall-clock times of the write).
STATE = {
    "members": "SELECT id, name, points FROM members",
    "purchases": "SELECT order_id, member_id, at, amount, discount, points_redeemed, points_paid, net, "
                 "points_earned, rounding FROM purchases",
    "refunds": "SELECT p.order_id, r.at, r.amount, r.net, r.points, r.points_restored "
               "FROM refunds r JOIN purchases p ON p.id = r.purchase_id",
    "entries": "SELECT member_id, at, kind, points, order_id, action, note, expires_on, available_on FROM entries",
    "allocations": "SELECT d.member_id, d.at, d.kind, d.order_id, d.points, c.at, c.kind, c.order_id, a.points "
                   "FROM allocations a JOIN entries d ON d.id = a.debit_id JOIN entries c ON c.id = a.credit_id",
    "tier_changes": "SELECT member_id, at, from_tier, to_tier FROM tier_changes",
    "birthday_bonuses": "SELECT b.member_id, b.year, e.at, e.points FROM birthday_bonuses b "
                        "JOIN entries e ON e.id = b.entry_id",
    "meta": "SELECT key, value FROM meta",
}


def _state(db) -> dict:
    """The facts of a ledger: an SQLite file's path, or a Shop (either backend)."""
    if not isinstance(db, Path):
        return {t: sorted(db.sql(q), key=repr) for t, q in STATE.items()}
    con = sqlite3.connect(db)
    try:
        return {t: sorted(con.execute(q).fetchall(), key=repr) for t, q in STATE.items()}
    finally:
        con.close()


def _diff(a: dict, b: dict) -> str:
    out = []
    for t in a:
        if a[t] != b[t]:
            only_a = [r for r in a[t] if r not in b[t]]
            only_b = [r for r in b[t] if r not in a[t]]
            out.append(f"{t}: only in first {only_a[:5]}, only in second {only_b[:5]}")
    return "\n".join(out)


def _killed_step(shop, scratch, killer: Killer, *args, **kill_args) -> tuple[bool, bool]:
    """Run one write command as a process that may be SIGKILLed. Returns
    (applied, killed). Asserts that the ledger is clean and holds exactly the
    state before the command or exactly the state the uninterrupted command
    gives (the same command run in-process on a copy of the ledger)."""
    copy_ledger(shop.db, scratch.db)
    scratch.run(*args)
    before, after = _state(shop.db), _state(scratch.db)
    assert before != after, f"{args} changes nothing; the test proves nothing"
    res, killed = killer.run(shop, *args, **kill_args)
    if not killed:
        _sane(res, " ".join(args))
        assert res[0] == 0, res
    clean(shop)
    now = _state(shop.db)
    assert now in (before, after), (
        f"`{' '.join(args)}` ({'killed' if killed else 'finished'}) left a half-done ledger:\n"
        f"vs before:\n{_diff(now, before)}\nvs done:\n{_diff(now, after)}")
    applied = now == after
    if not killed:
        assert applied
    else:
        killer.tally["kills after the commit" if applied else "kills that rolled back"] += 1
    return applied, killed


# ---------------------------------------------------------------------------
# 1. purchases killed at random moments, then the sequence again
# ---------------------------------------------------------------------------

EARN_TOML = programme("""
    [earning]
    points_per_unit = "1.5"
    welcome_bonus = 5
    """)
MEMBERS = ("anna", "bob", "carl", "dora")


def _purchases(n: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(order, member, amount, date-time): explicit times, so a purchase
    means the same whenever it lands."""
    rnd = random.Random(seed)
    return [(f"o{i:03d}", rnd.choice(MEMBERS), f"{rnd.randrange(100, 9000) / 100:.2f}",
             f"2026-01-{2 + i // 8:02d}T{10 + i % 8:02d}:{rnd.randrange(60):02d}") for i in range(n)]


def _earned(amount: str) -> int:
    return int((Decimal(amount) * Decimal("1.5")).to_integral_value(ROUND_FLOOR))


def _enrolled(make_shop, toml: str, members=MEMBERS):
    shop = make_shop(toml)
    for m in members:
        shop.run("enroll", m, "--name", m.title(), "--date", "2026-01-01")
    return shop


@pytest.mark.sqlite_only("kill -9 against SQLite's journal and WAL on the file; a PostgreSQL server rolls back a dead client's transaction itself")
def test_purchases_killed_at_random_moments_are_all_or_nothing_and_a_rerun_completes_them(make_shop):
    shop = _enrolled(make_shop, EARN_TOML)
    scratch = make_shop(EARN_TOML)
    seq = _purchases(N_PURCHASES, SEED_PURCHASES)
    killer = Killer(SEED_PURCHASES)

    recorded = set()
    for order, member, amount, when in seq:
        applied, _ = _killed_step(shop, scratch, killer, "purchase", member, amount, "--order", order, "--date", when)
        # Spelled out: the purchase row, its earn entry and the balance, or none of them.
        row = shop.sql("SELECT member_id, amount, points_earned FROM purchases WHERE order_id = ?", order)
        earn = shop.sql("SELECT member_id, points FROM entries WHERE order_id = ? AND kind = 'earn'", order)
        if applied:
            recorded.add(order)
            minor = int(Decimal(amount) * 100)
            assert row == [(member, minor, _earned(amount))] and earn == [(member, _earned(amount))]
        else:
            assert row == [] and earn == []
        for m in MEMBERS:
            want = 5 + sum(_earned(a) for o, mm, a, _ in seq if mm == m and o in recorded)
            assert shop.sql("SELECT points FROM members WHERE id = ?", m) == [(want,)]
    print(killer.summary("purchases"))
    assert killer.tally["kills"] >= N_PURCHASES // 4, killer.summary("purchases")

    # The whole sequence again, four tills at a time: what landed is refused,
    # the rest lands.
    def again(step):
        order, member, amount, when = step
        return step, _run(shop, "purchase", member, amount, "--order", order, "--date", when)

    with ThreadPoolExecutor(4) as pool:
        for (order, member, amount, when), res in pool.map(again, seq):
            _sane(res, order)
            if order in recorded:
                assert res[0] == 1 and f"order {order} is already recorded" in res[2], res
            else:
                assert res[0] == 0, res
    clean(shop)

    # An uninterrupted run on a fresh ledger ends the same, and so does the arithmetic by hand.
    fresh = _enrolled(make_shop, EARN_TOML)
    for order, member, amount, when in seq:
        fresh.run("purchase", member, amount, "--order", order, "--date", when)
    assert _state(shop.db) == _state(fresh.db), _diff(_state(shop.db), _state(fresh.db))
    assert shop.sql("SELECT id, points FROM members ORDER BY id") == sorted(
        (m, 5 + sum(_earned(a) for _, mm, a, _ in seq if mm == m)) for m in MEMBERS)
    assert shop.sql("SELECT count(*), sum(points_earned) FROM purchases") == [
        (N_PURCHASES, sum(_earned(a) for _, _, a, _ in seq))]
    assert shop.sql("SELECT kind, count(*), sum(points) FROM entries GROUP BY kind ORDER BY kind") == [
        ("earn", N_PURCHASES, sum(_earned(a) for _, _, a, _ in seq)), ("welcome", len(MEMBERS), 5 * len(MEMBERS))]


# ---------------------------------------------------------------------------
# 2. daily killed mid-run
# ---------------------------------------------------------------------------

DAILY_TOML = programme("""
    [earning]
    welcome_bonus = 10
    birthday_bonus = 25

    [expiry]
    days = 30

    [tiers]
    basis = "spend"
    window = "rolling-365"

    [[tiers.levels]]
    name = "Bronze"
    min = "0"

    [[tiers.levels]]
    name = "Silver"
    min = "150"
    """)
DAILY_MEMBERS = 80
AS_OF = "2026-02-28"


def _daily_ledger(shop, tmp_path) -> None:
    """Members enrolled in 2025 with birthdays in February; January purchases
    whose points are due to expire by AS_OF; big spenders of February 2025
    whose rolling window lets go in February 2026."""
    rnd = random.Random(SEED_DAILY)
    members = tmp_path / "members.csv"
    with open(members, "w") as f:
        f.write("member,name,birthday,enrolled\n")
        for i in range(DAILY_MEMBERS):
            f.write(f"m{i:04d},Member {i},19{60 + i % 40}-02-{1 + rnd.randrange(27):02d},2025-01-01\n")
    buys = tmp_path / "purchases.csv"
    with open(buys, "w") as f:
        f.write("member,amount,date,order\n")
        for i in range(DAILY_MEMBERS * 2):
            f.write(f"m{rnd.randrange(DAILY_MEMBERS):04d},{rnd.randrange(100, 6000) / 100:.2f},"
                    f"2026-01-{1 + rnd.randrange(25):02d},j{i}\n")
        for i in range(DAILY_MEMBERS // 4):
            f.write(f"m{rnd.randrange(DAILY_MEMBERS):04d},{rnd.randrange(15000, 30000) / 100:.2f},"
                    f"2025-02-{1 + rnd.randrange(27):02d},f{i}\n")
    shop.run("import", "members", str(members))
    shop.run("import", "purchases", str(buys))


def _kind_count(shop, kind: str) -> int:
    return shop.sql("SELECT count(*) FROM entries WHERE kind = ?", kind)[0][0]


@pytest.mark.sqlite_only("kill -9 against SQLite's journal and WAL on the file; a PostgreSQL server rolls back a dead client's transaction itself")
def test_daily_killed_mid_run_is_all_or_nothing_and_a_rerun_matches_an_uninterrupted_one(make_shop, tmp_path):
    shop = make_shop(DAILY_TOML)
    _daily_ledger(shop, tmp_path)
    clean(shop)
    # The uninterrupted run, on an identical copy.
    ref = make_shop(DAILY_TOML)
    copy_ledger(shop.db, ref.db)
    before = _state(shop.db)
    assert _state(ref.db) == before
    expired_before = _kind_count(shop, "expire")  # importing posts expiry that was due before each purchase
    started = time.monotonic()
    ref.run("daily", "--as-of", AS_OF)
    took = time.monotonic() - started
    done = _state(ref.db)
    expired, birthdays = _kind_count(ref, "expire"), _kind_count(ref, "birthday")
    assert expired - expired_before > DAILY_MEMBERS // 2 and birthdays == DAILY_MEMBERS, (expired, birthdays)
    assert ref.sql("SELECT count(*) FROM tier_changes WHERE to_tier = 'Bronze'")[0][0] > 0

    pristine = make_shop(DAILY_TOML)
    copy_ledger(shop.db, pristine.db)

    killer = Killer(SEED_DAILY)
    for _ in range(DAILY_ATTEMPTS):
        res, killed = killer.run(shop, "daily", "--as-of", AS_OF, weights=(1, 3, 0), early=(0.0, 0.7),
                                 late=(0.0, took * 1.2))
        clean(shop)
        now = _state(shop.db)
        # All of this run's expiry and birthday entries, or none.
        counts = (_kind_count(shop, "expire"), _kind_count(shop, "birthday"))
        assert counts in ((expired_before, 0), (expired, birthdays)), counts
        assert now in (before, done), f"vs before:\n{_diff(now, before)}\nvs done:\n{_diff(now, done)}"
        if not killed:
            _sane(res, "daily")
            assert res[0] == 0 and now == done, res
        if now == done:
            if killed:
                killer.tally["kills after the commit"] += 1
            copy_ledger(pristine.db, shop.db)  # it got through: start again from the same ledger
            assert _state(shop.db) == before
        else:
            killer.tally["kills that rolled back"] += 1
    print(killer.summary(f"daily ({took:.1f} s in-process)"))
    assert killer.tally["kills"] >= 1, killer.summary("daily")

    # Run it again, to the end: exactly the uninterrupted run's ledger.
    res = _run(shop, "daily", "--as-of", AS_OF, "--format", "json")
    _sane(res, "daily")
    assert res[0] == 0, res
    assert json.loads(res[1])["previous_run"] is None  # no killed run left its mark
    clean(shop)
    assert _state(shop.db) == done, _diff(_state(shop.db), done)


# ---------------------------------------------------------------------------
# 3. redeem and refund killed
# ---------------------------------------------------------------------------


@pytest.mark.sqlite_only("kill -9 against SQLite's journal and WAL on the file; a PostgreSQL server rolls back a dead client's transaction itself")
def test_redeem_and_refund_killed_are_all_or_nothing(make_shop):
    shop = _enrolled(make_shop, EARN_TOML, ("anna", "bob"))
    shop.run("purchase", "anna", "80.00", "--order", "o1", "--date", "2026-01-02")           # +120
    shop.run("purchase", "anna", "60.00", "--order", "o2", "--redeem", "100", "--date", "2026-01-03")
    shop.run("purchase", "bob", "45.50", "--order", "o3", "--date", "2026-01-03")            # +68
    start = make_shop(EARN_TOML)
    copy_ledger(shop.db, start.db)
    steps = [
        ("redeem", "anna", "40", "--date", "2026-01-04"),
        ("refund", "o2", "--date", "2026-01-05"),                      # earned points back, paid points restored
        ("refund", "o1", "--amount", "30.00", "--date", "2026-01-06"),
    ]
    scratch = make_shop(EARN_TOML)
    killer = Killer(SEED_REDEEM)
    for step in steps:
        applied, killed = _killed_step(shop, scratch, killer, *step, weights=(1, 4, 0))
        if not applied:
            shop.run(*step)  # the till rings it up again
        elif step[0] == "refund" and "--amount" not in step:
            shop.fail(*step, contains="already fully refunded")
    print(killer.summary("redeem/refund"))
    assert killer.tally["kills"] >= 1, killer.summary("redeem/refund")
    for step in steps:
        start.run(*step)
    clean(shop)
    assert _state(shop.db) == _state(start.db), _diff(_state(shop.db), _state(start.db))


# ---------------------------------------------------------------------------
# 3b. an upgrade killed
# ---------------------------------------------------------------------------


@pytest.mark.sqlite_only("kill -9 against SQLite's journal and WAL on the file; a PostgreSQL server rolls back a dead client's transaction itself")
def test_an_upgrade_killed_at_random_moments_leaves_the_old_ledger_or_the_upgraded_one(make_shop):
    """`loyalty upgrade` of a real version 1 ledger (tests/data/ledgers/v1.db),
    killed again and again: after each kill the ledger is version 1 as it was
    or fully upgraded, never between; run to the end, it checks clean with
    the balances the old loyalty printed."""
    from loyalty_cli.store.db import SCHEMA_VERSION

    ledgers = Path(__file__).parent.parent / "data" / "ledgers"
    want = {r["member"]: r["points"] for r in json.loads((ledgers / "v1.balance.json").read_text())}
    shop = make_shop(programme(name="Old Shop"))
    killer = Killer(SEED_UPGRADE)
    v1_tables = ("members", "purchases", "refunds", "entries", "allocations", "tier_changes")

    def rows(db):  # every row of version 1's tables, as stored
        con = sqlite3.connect(db)
        try:
            return {t: con.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in v1_tables}
        finally:
            con.close()

    original = rows(ledgers / "v1.db")
    for _ in range(8):
        for f in shop.folder.glob("loyalty.db*"):
            f.unlink()
        copy_ledger(ledgers / "v1.db", shop.db)
        res, killed = killer.run(shop, "upgrade", weights=(0, 1, 0), late=(0.0, 0.8))
        if not killed:
            _sane(res, "upgrade")
        con = sqlite3.connect(shop.db)
        try:
            version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        finally:
            con.close()
        assert version in (1, SCHEMA_VERSION), f"an upgrade left schema version {version}"
        if version == 1:
            assert rows(shop.db) == original, "a killed upgrade changed the old ledger"
            killer.tally["kills that rolled back"] += 1
            assert _run(shop, "upgrade")[0] == 0
        elif killed:
            killer.tally["kills after the commit"] += 1
        clean(shop)
        assert {r["member"]: r["points"] for r in shop.json("balance", "--as-of", "2025-06-01")} == want
    print(killer.summary("upgrade"))
    assert killer.tally["kills that rolled back"] >= 1, killer.summary("upgrade")


# ---------------------------------------------------------------------------
# 4. races: eight processes at once
# ---------------------------------------------------------------------------

PROCS = 8

@pytest.mark.backends("sqlite", "postgresql")
def test_eight_tills_racing_one_single_use_code_use_it_once(make_shop):
    shop = _enrolled(make_shop, EARN_TOML, [f"m{i}" for i in range(PROCS)])
    shop.run("promo", "create", "ONCE", "--percent", "10", "--max-uses", "1", "--date", "2026-01-01")
    results = _race(shop, [("purchase", f"m{i}", "30.00", "--code", "once", "--date", "2026-01-02")
                           for i in range(PROCS)])
    for res in results:
        _sane(res, "purchase --code")
    assert sorted(r[0] for r in results) == [0] + [1] * (PROCS - 1), results
    assert all("used up" in err for rc, _, err in results if rc == 1), results
    assert shop.sql("SELECT count(*) FROM promo_uses") == [(1,)]
    assert shop.sql("SELECT count(*) FROM purchases") == [(1,)]
    clean(shop)


PENDING_TOML = programme("""
    [earning]
    pending_days = 7
    """)


@pytest.mark.backends("sqlite", "postgresql")
def test_eight_purchases_paying_with_points_never_overdraw(make_shop):
    shop = _enrolled(make_shop, PENDING_TOML, ("anna",))
    shop.run("adjust", "anna", "120", "--reason", "opening balance", "--date", "2026-01-01")
    results = _race(shop, [("purchase", "anna", "10.00", "--redeem", "50", "--order", f"r{i}", "--date", "2026-01-02")
                           for i in range(PROCS)])
    for res in results:
        _sane(res, "purchase --redeem")
    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] == 1]
    # 2 x 50 <= 120 < 3 x 50; the points a purchase earns stay pending for 7 days.
    assert len(winners) == 2 and len(losers) == PROCS - 2, results
    for _, _, err in losers:
        assert err.startswith("Error: cannot redeem 50 points") and "only 20 available" in err, err
    clean(shop)
    assert shop.sql("SELECT count(*), sum(points_redeemed), sum(points_earned) FROM purchases") == [(2, 100, 18)]
    assert shop.sql("SELECT points FROM members WHERE id = 'anna'") == [(120 - 100 + 18,)]
    assert shop.sql("SELECT count(*), sum(points) FROM entries WHERE kind = 'redeem'") == [(2, -100)]


DAILY_RACE_TOML = programme_file("birthday_and_expiry")


@pytest.mark.backends("sqlite", "postgresql")
def test_daily_racing_seven_purchases_of_the_members_it_expires(make_shop):
    shop = make_shop(DAILY_RACE_TOML)
    for i in range(PROCS):
        shop.run("enroll", f"m{i}", "--name", f"M{i}", "--birthday", f"1990-02-{10 + i:02d}", "--date", "2025-12-01")
        shop.run("purchase", f"m{i}", f"{10 + i}.00", "--order", f"jan{i}", "--date", "2026-01-05")  # gone 2026-02-04
    ref = make_shop(DAILY_RACE_TOML)
    same_ledger(shop, ref)
    buys = [("purchase", f"m{i}", "5.00", "--order", f"feb{i}", "--date", "2026-02-20") for i in range(PROCS - 1)]
    results = _race(shop, [("daily", "--as-of", "2026-02-20")] + buys)
    for res in results:
        _sane(res, "daily/purchase")
    assert [r[0] for r in results] == [0] * PROCS, results
    clean(shop)
    # Each member's expiry posted once (by daily or by the member's purchase),
    # each birthday paid once, every purchase landed.
    assert shop.sql("SELECT kind, count(*), sum(points) FROM entries GROUP BY kind ORDER BY kind") == [
        ("birthday", PROCS, 25 * PROCS), ("earn", PROCS + PROCS - 1, sum(10 + i for i in range(PROCS)) + 5 * (PROCS - 1)),
        ("expire", PROCS, -sum(10 + i for i in range(PROCS)))]
    assert shop.sql("SELECT id, points FROM members ORDER BY id") == [
        (f"m{i}", 25 + (5 if i < PROCS - 1 else 0)) for i in range(PROCS)]
    # The same facts as the commands one after the other.
    ref.run("daily", "--as-of", "2026-02-20")
    for b in buys:
        ref.run(*b)
    assert _state(shop) == _state(ref), _diff(_state(shop), _state(ref))


@pytest.mark.backends("sqlite", "postgresql")
def test_two_overlapping_imports_racing_six_purchases_land_every_order_once(make_shop, tmp_path):
    members = [f"m{i}" for i in range(6)]
    shop = _enrolled(make_shop, EARN_TOML, members)
    rnd = random.Random(6)
    rows = [(f"i{k:03d}", members[k % 6], f"{rnd.randrange(100, 5000) / 100:.2f}",
             f"2026-01-{2 + k // 10:02d} {10 + k % 10:02d}:00") for k in range(90)]
    files = []
    for name, part in (("a.csv", rows[:60]), ("b.csv", rows[30:])):
        f = tmp_path / name
        f.write_text("order,member,amount,date\n" + "".join(",".join(r) + "\n" for r in part))
        files.append(f)
    singles = [(f"s{k}", members[k], f"{7 + k}.00") for k in range(6)]
    results = _race(shop, [("import", "purchases", files[0], "--format", "json"),
                           ("import", "purchases", files[1], "--format", "json")]
                    + [("purchase", m, a, "--order", o, "--date", "2026-01-20") for o, m, a in singles])
    for res in results:
        _sane(res, "import/purchase")
    assert [r[0] for r in results] == [0] * PROCS, results
    docs = [json.loads(r[1]) for r in results[:2]]
    assert sorted((d["added"], d["skipped"]) for d in docs) == [(30, 30), (60, 0)], docs
    clean(shop)
    every = rows + [(o, m, a, None) for o, m, a in singles]
    assert shop.sql("SELECT order_id, count(*) FROM purchases GROUP BY order_id ORDER BY order_id") == sorted(
        (r[0], 1) for r in every)
    assert shop.sql("SELECT order_id, count(*) FROM entries WHERE kind = 'earn' GROUP BY order_id "
                    "ORDER BY order_id") == sorted((r[0], 1) for r in every)
    assert shop.sql("SELECT id, points FROM members ORDER BY id") == sorted(
        (m, 5 + sum(_earned(r[2]) for r in every if r[1] == m)) for m in members)


@pytest.mark.backends("sqlite", "postgresql")
def test_adjustments_and_redemptions_racing_on_one_member_never_double_spend(make_shop):
    shop = _enrolled(make_shop, EARN_TOML, ("anna",))                     # welcome: 5
    shop.run("purchase", "anna", "63.50", "--order", "o1", "--date", "2026-01-02")  # +95 = 100
    results = _race(shop, [("adjust", "anna", "-30", "--reason", f"till {i}", "--date", "2026-01-03")
                           if i % 2 else ("redeem", "anna", "30", "--date", "2026-01-03") for i in range(PROCS)])
    for res in results:
        _sane(res, "adjust/redeem")
    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] == 1]
    assert len(winners) == 3 and len(losers) == PROCS - 3, results  # 3 x 30 <= 100 < 4 x 30
    for _, _, err in losers:
        assert (err.startswith("Error: cannot redeem 30 points") and "10 available" in err
                or err.startswith("Error: cannot take 30 points") and "balance is 10" in err), err
    clean(shop)
    assert shop.sql("SELECT points FROM members WHERE id = 'anna'") == [(10,)]
    assert shop.sql("SELECT count(*), sum(points) FROM entries WHERE points < 0") == [(3, -90)]
    assert shop.sql("SELECT sum(a.points) FROM allocations a JOIN entries d ON d.id = a.debit_id") == [(90,)]
