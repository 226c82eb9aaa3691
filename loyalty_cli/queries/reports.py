"""The read side: every figure a report prints, computed from the ledger as of
a moment. Results are plain dicts and lists (money in minor units, points as
ints); rendering them is the CLI's business.

Everything here filters by ``at <= as_of``, so the same ledger and the same
``--as-of`` give the same answer however much is recorded later for later dates.
"""

from __future__ import annotations

import heapq
import re
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, func, select

from loyalty_cli.domain import rules
from loyalty_cli.domain.config import Programme
from loyalty_cli.ledger import operations
from loyalty_cli.ledger.members import consent_as_of, consent_of, find_member
from loyalty_cli.store import db
from loyalty_cli.store.models import (
    allocations,
    consent_changes,
    entries,
    members,
    promo_codes,
    promo_uses,
    purchases,
    referral_rewards,
    referrals,
    refunds,
    tier_changes,
)

RECENT = 10  # history lines in `show`
LAST = 2**63  # sorts after every entry id
CLOSEST = 10  # members listed as closest to their next tier


def points_as_of(conn: Connection, as_of: datetime, member_id: str | None = None) -> dict[str, int]:
    """Each member's balance at `as_of`: their entries up to then, less the
    expiry due by then that `expire` has not posted yet (so the answer does
    not depend on when cron ran).

    For everyone at once it starts from the cached balances (`members.points`,
    the sum of all of a member's entries, kept in the transaction that writes
    them and confirmed by `check`) and takes off the entries dated after
    `as_of`: one pass over the ledger, and none of the 340,000-group sum."""
    if member_id:
        q = (select(entries.c.member_id, func.sum(entries.c.points))
             .where(entries.c.at <= as_of, entries.c.member_id == member_id).group_by(entries.c.member_id))
        out = {m: int(v) for m, v in conn.execute(q)}
    else:
        out = dict(db.plain_rows(conn, select(members.c.id, members.c.points)))
    for m, v in not_yet(conn, as_of, member_id).items():
        out[m] -= v
    return out


def not_yet(conn: Connection, as_of: datetime, member_id: str | None = None) -> dict[str, int]:
    """For everyone: what a cached balance holds that a balance at `as_of`
    does not, namely the entries dated after `as_of` (none, for now) and the
    expiry due by `as_of` that `expire` has not posted yet. For one member
    (whose entries up to `as_of` points_as_of sums itself) only the due expiry."""
    out: dict[str, int] = {}
    if member_id is None:
        later = (select(entries.c.member_id, func.sum(entries.c.points)).where(entries.c.at > as_of)
                 .group_by(entries.c.member_id))
        out = {m: int(v) for m, v in db.plain_rows(conn, later)}
    for m, due in operations.due_totals(conn, as_of, member_id).items():
        out[m] = out.get(m, 0) + due
    return out


def _spend_as_of(conn: Connection, member_id: str, as_of: datetime) -> int:
    spent = conn.execute(select(func.coalesce(func.sum(purchases.c.net), 0))
                         .where(purchases.c.member_id == member_id, purchases.c.at <= as_of)).scalar_one()
    back = conn.execute(select(func.coalesce(func.sum(refunds.c.net), 0))
                        .select_from(refunds.join(purchases, purchases.c.id == refunds.c.purchase_id))
                        .where(purchases.c.member_id == member_id, refunds.c.at <= as_of)).scalar_one()
    return int(spent) - int(back)


def balances(conn: Connection, prog: Programme, as_of: datetime, keys: list[str] | None = None) -> list[dict]:
    if keys:
        rows = [(m.id, m.name, points_as_of(conn, as_of, m.id).get(m.id, 0))
                for m in (find_member(conn, k) for k in keys)]
        levels, _ = operations.levels_at(conn, prog, as_of, [r[0] for r in rows])
        return [{"member": m, "name": name, "points": p, "tier": levels[m].name} for m, name, p in rows]
    # Everyone: cached balances, corrected to `as_of`, and each tier from the
    # qualifying totals, with no per-member query and no per-member dict
    # beyond the rows themselves (340,000 members, see benchmarks/README.md).
    rows = db.plain_rows(conn, select(members.c.id, members.c.name, members.c.points)
                         .where(members.c.enrolled_at <= as_of))
    rows.sort(key=itemgetter(0))
    later = not_yet(conn, as_of).get
    _, level_of = operations.tier_standing(conn, prog, as_of)
    return [{"member": m, "name": name, "points": p - later(m, 0), "tier": level_of(m).name} for m, name, p in rows]


def member_list(conn: Connection, prog: Programme, as_of: datetime, tier: str | None = None,
                search: str | None = None) -> list[dict]:
    q = select(members).where(members.c.enrolled_at <= as_of).order_by(members.c.id)
    if search:
        def like(text: str) -> str:  # % and _ are what the user typed, not wildcards
            return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"

        term = like(search.strip().lower())
        cond = (func.lower(members.c.id).like(term, escape="\\") | func.lower(members.c.name).like(term, escape="\\")
                | members.c.email.like(term, escape="\\"))
        digits = re.sub(r"[\s().\-/]", "", search)  # phones are stored as + and digits
        if digits:
            cond = cond | members.c.phone.like(like(digits), escape="\\")
        q = q.where(cond)
    wanted = prog.level(tier).name if tier else None
    points = points_as_of(conn, as_of)
    _, level_of = operations.tier_standing(conn, prog, as_of)
    consent = consent_as_of(conn, as_of)
    out = []
    for r in conn.execute(q):
        lv = level_of(r.id).name
        if wanted and lv != wanted:
            continue
        out.append({"member": r.id, "name": r.name, "email": r.email, "phone": r.phone,
                    "birthday": r.birthday, "enrolled": r.enrolled_at, "marketing": consent_of(r, consent)[0],
                    "points": points.get(r.id, 0), "tier": lv})
    return out


def _remaining(conn: Connection, member_id: str, as_of: datetime) -> list[rules.Lot]:
    return operations.lots(conn, member_id, created_by=as_of, as_of=as_of)


def show(conn: Connection, prog: Programme, key: str, as_of: datetime) -> dict:
    m = find_member(conn, key)
    level, total = operations.tier_of(conn, prog, m.id, as_of)
    nxt = rules.next_level(prog.levels, level)
    points = points_as_of(conn, as_of, m.id).get(m.id, 0)
    today = as_of.date()
    live = [lot for lot in _remaining(conn, m.id, as_of) if lot.expires_on is None or lot.expires_on > today]
    pending = sum(lot.remaining for lot in live if lot.available_on and lot.available_on > today)
    expiring = operations.expiring_within(conn, as_of, prog.warn_days, m.id).get(m.id, {})
    marketing, marketing_at = consent_of(m, consent_as_of(conn, as_of, m.id))
    return {
        "member": m.id, "name": m.name, "email": m.email, "phone": m.phone, "birthday": m.birthday,
        "enrolled": m.enrolled_at, "marketing": marketing, "marketing_at": marketing_at,
        "forgotten_at": m.forgotten_at, "points": points,
        "available": max(0, min(points, sum(lot.remaining for lot in live) - pending)),
        "pending": pending,
        "tier": level.name, "tier_basis": prog.tier_basis, "tier_window": prog.tier_window,
        "qualifying": total, "lifetime_spend": _spend_as_of(conn, m.id, as_of),
        "next_tier": nxt.name if nxt else None,
        "to_next_tier": max(0, nxt.min - total) if nxt else None,
        "next_tier_min": nxt.min if nxt else None, "tier_min": level.min,
        "expiring": [{"date": d, "points": p} for d, p in expiring.items()],
        "recent": history(conn, prog, m.id, as_of)[-RECENT:],
    }


def history(conn: Connection, prog: Programme, key: str, as_of: datetime, since: datetime | None = None) -> list[dict]:
    m = find_member(conn, key)
    q = (select(entries).where(entries.c.member_id == m.id, entries.c.at <= as_of)
         .order_by(entries.c.at, entries.c.id))
    changes = conn.execute(select(tier_changes).where(tier_changes.c.member_id == m.id, tier_changes.c.at <= as_of)
                           .order_by(tier_changes.c.at, tier_changes.c.id)).all()
    # A tier change shows after the entries of its moment (it is their consequence).
    # Expiry due by `as_of` but not posted yet shows as it will be posted (after
    # everything recorded so far), so history as of a day never depends on
    # when cron ran.
    due = [(d["at"], 0, LAST, {"kind": "expire", "points": -d["points"], "order": None,
                               "note": d["note"], "id": None})
           for d in operations.due_expiry(conn, as_of, m.id)]
    timeline = sorted([(e.at, 0, e.id, {"kind": e.kind, "points": e.points, "order": e.order_id, "note": e.note,
                                        "id": e.id}) for e in conn.execute(q)]
                      + due
                      + [(c.at, 1, c.id, {"kind": "tier", "points": 0, "order": None,
                                          "note": f"{c.from_tier} → {c.to_tier}", "id": None}) for c in changes],
                      key=lambda t: t[:3])
    rows, running = [], 0
    for at, _, _, row in timeline:
        running += row["points"]
        if since is None or at >= since:
            rows.append({"date": at.date(), "at": at, **row, "balance": running})
    return rows


def tiers(conn: Connection, prog: Programme, as_of: datetime) -> dict:
    ids = db.plain_rows(conn, select(members.c.id, members.c.name).where(members.c.enrolled_at <= as_of))
    totals, level_of = operations.tier_standing(conn, prog, as_of)
    per: dict[str, dict[str, Any]] = {lv.name: {"tier": lv.name, "min": lv.min, "members": 0, "total": 0}
                                      for lv in prog.levels}
    following = {lv: rules.next_level(prog.levels, lv) for lv in prog.levels}
    gaps = []  # (points or spend to the next tier, member, name, level, total, next level)
    for m, name in ids:
        lv, total = level_of(m), totals.get(m, 0)
        row = per[lv.name]
        row["members"] += 1
        row["total"] += total
        nxt = following[lv]
        if nxt is not None:
            gaps.append((nxt.min - total, m, name, lv, total, nxt))
    closest = [{"member": m, "name": name, "tier": lv.name, "next_tier": nxt.name, "total": total,
                "to_next_tier": gap}
               for gap, m, name, lv, total, nxt in heapq.nsmallest(CLOSEST, gaps, key=lambda g: g[:2])]
    n = len(ids)
    out = list(per.values())
    for row in out:
        row["share_percent"] = rules.percent_share(row["members"], n)
    return {"as_of": as_of, "basis": prog.tier_basis, "window": prog.tier_window, "members": n,
            "tiers": out, "closest": closest}


# ---------------------------------------------------------------------------
# check: each rule is a small function (conn, prog) -> [problems]
# ---------------------------------------------------------------------------


def _check_schema(conn: Connection, prog: Programme) -> list[str]:
    v = db.schema_version(conn)
    if v == db.SCHEMA_VERSION:
        return []
    return [f"schema: version {v}, expected {db.SCHEMA_VERSION} (run `loyalty init` to upgrade the ledger)"]


def _check_currency(conn: Connection, prog: Programme) -> list[str]:
    have = db.ledger_currency(conn)
    want = f"{prog.currency.code}:{prog.currency.decimals}"
    if have is not None and have != want:
        return [f"currency: the ledger keeps amounts in {have.split(':')[0]}, the programme says {prog.currency.code}"]
    return []


def _check_sqlite(conn: Connection, prog: Programme) -> list[str]:
    return [f"sqlite: {line}" for line in db.sqlite_integrity(conn)]


def _check_balances(conn: Connection, prog: Programme) -> list[str]:
    sums = {m: int(v) for m, v in conn.execute(
        select(entries.c.member_id, func.sum(entries.c.points)).group_by(entries.c.member_id))}
    out = []
    for m, cached in conn.execute(select(members.c.id, members.c.points).order_by(members.c.id)):
        if sums.get(m, 0) != cached:
            out.append(f"member {m}: balance is {cached}, but the entries sum to {sums.get(m, 0)}")
    return out


def _check_allocations(conn: Connection, prog: Programme) -> list[str]:
    """Every allocation links a debit to a credit of the same member; no credit
    is spent beyond its points; every debit but a refund's claw-back is fully
    covered (nothing spent beyond the balance); a redemption only spent points
    that existed before it, were no longer pending and had not expired on its day.
    Each rule is one aggregate query returning only the offending rows."""
    out = []
    credit, debit = entries.alias("credit"), entries.alias("debit")
    linked = allocations.join(credit, credit.c.id == allocations.c.credit_id).join(
        debit, debit.c.id == allocations.c.debit_id)
    for r in conn.execute(select(allocations.c.id, debit.c.id.label("did"), credit.c.id.label("cid"))
                          .select_from(linked)
                          .where((credit.c.points <= 0) | (debit.c.points >= 0)
                                 | (credit.c.member_id != debit.c.member_id))):
        out.append(f"allocation {r.id}: links entry {r.did} to entry {r.cid}, which is not a credit "
                   "of the same member")
    used = func.sum(allocations.c.points)
    for r in conn.execute(select(entries.c.id, entries.c.points, used.label("used"))
                          .select_from(entries.join(allocations, allocations.c.credit_id == entries.c.id))
                          .group_by(entries.c.id, entries.c.points).having(used > entries.c.points)):
        out.append(f"entry {r.id}: {r.used} points spent from a credit of {r.points}")
    covered = func.coalesce(func.sum(allocations.c.points), 0)
    for d in conn.execute(select(entries.c.id, entries.c.kind, entries.c.points, covered.label("covered"))
                          .select_from(entries.outerjoin(allocations, allocations.c.debit_id == entries.c.id))
                          .where(entries.c.points < 0)
                          .group_by(entries.c.id, entries.c.kind, entries.c.points)
                          .having((covered > -entries.c.points)
                                  | ((covered < -entries.c.points) & (entries.c.kind != "refund")))):
        if d.covered > -d.points:
            out.append(f"entry {d.id}: debit of {-d.points} covered by {d.covered} points")
        else:
            out.append(f"entry {d.id}: {d.kind} of {-d.points} points but only {d.covered} were available "
                       "(spent beyond the balance)")
    # Dates compare with date-times as "that day at 00:00" on SQLite and PostgreSQL alike.
    for r in conn.execute(select(debit.c.id.label("did"), credit.c.id.label("cid"), debit.c.at)
                          .select_from(linked)
                          .where(debit.c.kind == "redeem",
                                 (credit.c.at > debit.c.at) | (credit.c.available_on > debit.c.at)
                                 | (credit.c.expires_on <= debit.c.at))):
        out.append(f"entry {r.did}: redemption on {r.at:%Y-%m-%d} spent points of entry {r.cid} "
                   "that were not available then")
    for r in conn.execute(select(debit.c.id.label("did"), credit.c.id.label("cid"), debit.c.at)
                          .select_from(linked)
                          .where(debit.c.kind == "expire",
                                 credit.c.expires_on.is_(None) | (credit.c.expires_on > debit.c.at))):
        out.append(f"entry {r.did}: expiry on {r.at:%Y-%m-%d} took points of entry {r.cid} "
                   "that had not expired then")
    return out


def _check_purchases(conn: Connection, prog: Programme) -> list[str]:
    out = []
    earned = {o: int(v) for o, v in conn.execute(
        select(entries.c.order_id, func.sum(entries.c.points)).where(entries.c.kind == "earn")
        .group_by(entries.c.order_id))}
    back = {p: (int(a), int(n)) for p, a, n in conn.execute(
        select(refunds.c.purchase_id, func.sum(refunds.c.amount), func.sum(refunds.c.net))
        .group_by(refunds.c.purchase_id))}
    for p in conn.execute(select(purchases)):
        if p.net != p.amount - p.discount - p.points_paid or p.net < 0:
            out.append(f"order {p.order_id}: net {p.net} is not amount {p.amount} - discount {p.discount} "
                       f"- paid with points {p.points_paid}")
        if earned.get(p.order_id, 0) != p.points_earned:
            out.append(f"order {p.order_id}: earned {p.points_earned} points, but its entries credit "
                       f"{earned.get(p.order_id, 0)}")
        a, n = back.get(p.id, (0, 0))
        if a > p.amount or n > p.net:
            out.append(f"order {p.order_id}: refunded {a} of an amount of {p.amount}")
    return out


def _check_codes(conn: Connection, prog: Programme) -> list[str]:
    """No promo code used beyond max_uses or per_member."""
    out = []
    n = func.count(promo_uses.c.id)
    for r in conn.execute(select(promo_codes.c.code, promo_codes.c.max_uses, n.label("n"))
                          .select_from(promo_codes.join(promo_uses, promo_uses.c.promo_id == promo_codes.c.id))
                          .where(promo_codes.c.max_uses.is_not(None))
                          .group_by(promo_codes.c.id, promo_codes.c.code, promo_codes.c.max_uses)
                          .having(n > promo_codes.c.max_uses)):
        out.append(f"promo code {r.code}: used {r.n} times, the limit is {r.max_uses}")
    for r in conn.execute(select(promo_codes.c.code, promo_codes.c.per_member, promo_uses.c.member_id, n.label("n"))
                          .select_from(promo_codes.join(promo_uses, promo_uses.c.promo_id == promo_codes.c.id))
                          .where(promo_codes.c.per_member.is_not(None))
                          .group_by(promo_codes.c.id, promo_codes.c.code, promo_codes.c.per_member,
                                    promo_uses.c.member_id)
                          .having(n > promo_codes.c.per_member)):
        out.append(f"promo code {r.code}: used {r.n} times by member {r.member_id}, "
                   f"the limit is {r.per_member} per member")
    return out


def _check_referrals(conn: Connection, prog: Programme) -> list[str]:
    """Referral points only for rewarded referrals: at most one payment to
    each referee, and one to the referrer for each friend."""
    paid = {m: int(v) for m, v in conn.execute(
        select(entries.c.member_id, func.count()).where(entries.c.kind == "referral").group_by(entries.c.member_id))}
    allowed: dict[str, int] = {}
    for referee, referrer in conn.execute(
            select(referrals.c.referee_id, referrals.c.referrer_id)
            .select_from(referrals.join(referral_rewards, referral_rewards.c.referee_id == referrals.c.referee_id))):
        if prog.referee_points:
            allowed[referee] = allowed.get(referee, 0) + 1
        if prog.referrer_points:
            allowed[referrer] = allowed.get(referrer, 0) + 1
    return [f"member {m}: {n} referral payments, but only {allowed.get(m, 0)} rewarded referrals"
            for m, n in sorted(paid.items()) if n > allowed.get(m, 0)]


# The pool of lots each kind of debit may draw on (see operations._debit).
_POOLS = {"redeem": "spendable", "adjust": "live", "refund": "all"}


def _check_fifo(conn: Connection, prog: Programme) -> list[str]:
    """Earnings are spent in order: soonest-expiring first, then oldest (a
    refund first takes back its own order's points). Each debit's allocations
    must be exactly what that rule gives over the lots that existed, with the
    points they had left, when the debit was written (allocation ids are
    write order)."""
    out = []
    first_alloc = func.min(allocations.c.id)
    debits = conn.execute(
        select(entries.c.id, entries.c.member_id, entries.c.kind, entries.c.points, entries.c.at,
               entries.c.order_id, first_alloc.label("first"))
        .select_from(entries.join(allocations, allocations.c.debit_id == entries.c.id))
        .where(entries.c.kind.in_(tuple(_POOLS)), allocations.c.credit_id < entries.c.id)
        .group_by(entries.c.id, entries.c.member_id, entries.c.kind, entries.c.points, entries.c.at,
                  entries.c.order_id)
        .order_by(entries.c.id)).all()
    for d in debits:
        spent_before = (select(func.coalesce(func.sum(allocations.c.points), 0))
                        .where(allocations.c.credit_id == entries.c.id, allocations.c.id < d.first)
                        .scalar_subquery())
        q = select(entries.c.id, (entries.c.points - spent_before).label("remaining"), entries.c.at,
                   entries.c.expires_on, entries.c.available_on, entries.c.kind, entries.c.order_id).where(
            entries.c.member_id == d.member_id, entries.c.points > 0, entries.c.id < d.id)
        pool = _POOLS[d.kind]
        if pool != "all":
            q = q.where(entries.c.at <= d.at)
        day = d.at.date()
        candidates, own = [], set()
        for r in conn.execute(q):
            if r.remaining <= 0:
                continue
            if pool != "all" and r.expires_on is not None and r.expires_on <= day:
                continue
            if pool == "spendable" and r.available_on is not None and r.available_on > day:
                continue
            candidates.append(rules.Lot(r.id, r.remaining, r.at, r.expires_on, r.available_on))
            if pool == "all" and r.order_id == d.order_id and r.kind in ("earn", "promo"):
                own.add(r.id)
        plan, short = rules.consume([lot for lot in candidates if lot.id in own], -d.points)
        more, _ = rules.consume([lot for lot in candidates if lot.id not in own], short)
        # written with the debit: lots older than it (later credits that paid a debt it left are newer)
        actual = [tuple(a) for a in conn.execute(select(allocations.c.credit_id, allocations.c.points)
                                                 .where(allocations.c.debit_id == d.id, allocations.c.credit_id < d.id)
                                                 .order_by(allocations.c.id))]
        if actual != plan + more:
            out.append(f"entry {d.id}: {d.kind} of {-d.points} points took {_lots_text(actual)}, but the "
                       f"soonest-expiring, oldest points then were {_lots_text(plan + more)} (member {d.member_id})")
    return out


def _lots_text(plan: list[tuple[int, int]]) -> str:
    return ", ".join(f"{p} from entry {lot}" for lot, p in plan) or "nothing"


def _check_consent(conn: Connection, prog: Programme) -> list[str]:
    """Each member's marketing consent is the latest change in its history
    (none: no consent), which every as-of read relies on."""
    latest = {m: bool(given) for m, given in conn.execute(
        select(consent_changes.c.member_id, consent_changes.c.marketing)
        .order_by(consent_changes.c.at, consent_changes.c.id))}
    out = []
    for m, given in conn.execute(select(members.c.id, members.c.marketing).order_by(members.c.id)):
        if bool(given) != latest.get(m, False):
            yes = lambda v: "yes" if v else "no"  # noqa: E731
            out.append(f"member {m}: marketing consent is {yes(given)}, but its consent history says "
                       f"{yes(latest.get(m, False))}")
    return out


def _check_chain(conn: Connection, prog: Programme) -> list[str]:
    from loyalty_cli.store import chain

    return chain.verify(conn)


CHECKS = [_check_sqlite, _check_currency, _check_chain, _check_balances, _check_allocations, _check_fifo,
          _check_purchases, _check_codes, _check_referrals, _check_consent]


def check(conn: Connection, prog: Programme, head: str | None = None) -> list[str]:
    """Every problem found; an out-of-date schema is reported alone (the other
    checks need the current tables). With `head` (as `chain.head` gave it
    earlier), also that the ledger still holds that head."""
    problems = _check_schema(conn, prog)
    if problems:
        return problems + _check_sqlite(conn, prog)
    for fn in CHECKS:
        problems.extend(fn(conn, prog))
    if head is not None:
        from loyalty_cli.store import chain

        problems.extend(p for p in chain.verify(conn, head) if p not in problems)
    return problems
