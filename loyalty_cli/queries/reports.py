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
from loyalty_cli.ledger.members import consent_as_of, consent_of, find_member
from loyalty_cli.queries import standing
from loyalty_cli.store import db
from loyalty_cli.store.models import (
    entries,
    members,
    purchases,
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
    for m, due in standing.due_totals(conn, as_of, member_id).items():
        out[m] = out.get(m, 0) + due
    return out


def _spend_as_of(conn: Connection, member_id: str, as_of: datetime) -> int:
    spent = conn.execute(select(func.coalesce(func.sum(purchases.c.net), 0))
                         .where(purchases.c.member_id == member_id, purchases.c.at <= as_of)).scalar_one()
    back = conn.execute(select(func.coalesce(func.sum(refunds.c.net), 0))
                        .select_from(refunds.join(purchases, purchases.c.id == refunds.c.purchase_id))
                        .where(purchases.c.member_id == member_id, refunds.c.at <= as_of)).scalar_one()
    return int(spent) - int(back)


def balances(conn: Connection, prog: Programme, as_of: datetime,
             keys: list[str] | None = None, store: str | None = None) -> list[tuple[str, str, int, str]]:
    """(member, name, points, tier) of the named members, or of everyone by id
    (with `store`: everyone with a purchase at that store by `as_of`):
    tuples, not dicts, for the 340,000-row case."""
    if keys:
        rows = [(m.id, m.name, points_as_of(conn, as_of, m.id).get(m.id, 0))
                for m in (find_member(conn, k) for k in keys)]
        levels, _ = standing.levels_at(conn, prog, as_of, [r[0] for r in rows])
        return [(m, name, p, levels[m].name) for m, name, p in rows]
    # Everyone: cached balances, corrected to `as_of`, and each tier from the
    # qualifying totals, with no per-member query and no per-member dict
    # beyond the rows themselves (340,000 members, see benchmarks/README.md).
    q = select(members.c.id, members.c.name, members.c.points).where(members.c.enrolled_at <= as_of)
    if store is not None:
        q = q.where(members.c.id.in_(select(purchases.c.member_id)
                                     .where(purchases.c.store == store, purchases.c.at <= as_of)))
    rows = db.plain_rows(conn, q)
    rows.sort(key=itemgetter(0))
    later = not_yet(conn, as_of).get
    _, level_of = standing.tier_standing(conn, prog, as_of)
    return [(m, name, p - later(m, 0), level_of(m).name) for m, name, p in rows]


def member_list(conn: Connection, prog: Programme, as_of: datetime, tier: str | None = None,
                search: str | None = None) -> list[tuple]:
    """(member, name, email, phone, birthday, enrolled day, marketing, points,
    tier) of the members enrolled by `as_of`, by id: tuples, for long lists."""
    q = select(members).where(members.c.enrolled_at <= as_of).order_by(db.by_code_point(members.c.id))
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
    _, level_of = standing.tier_standing(conn, prog, as_of)
    consent = consent_as_of(conn, as_of)
    out = []
    for r in conn.execute(q):
        lv = level_of(r.id).name
        if wanted and lv != wanted:
            continue
        out.append((r.id, r.name, r.email, r.phone, r.birthday, r.enrolled_at.date(), consent_of(r, consent)[0],
                    points.get(r.id, 0), lv))
    return out


def _remaining(conn: Connection, member_id: str, as_of: datetime) -> list[rules.Lot]:
    return standing.lots(conn, member_id, created_by=as_of, as_of=as_of)


def show(conn: Connection, prog: Programme, key: str, as_of: datetime) -> dict:
    m = find_member(conn, key)
    level, total = standing.tier_of(conn, prog, m.id, as_of)
    nxt = rules.next_level(prog.levels, level)
    points = points_as_of(conn, as_of, m.id).get(m.id, 0)
    today = as_of.date()
    live = [lot for lot in _remaining(conn, m.id, as_of) if lot.expires_on is None or lot.expires_on > today]
    pending = sum(lot.remaining for lot in live if lot.available_on and lot.available_on > today)
    expiring = standing.expiring_within(conn, as_of, prog.warn_days, m.id).get(m.id, {})
    marketing, marketing_at = consent_of(m, consent_as_of(conn, as_of, m.id))
    return {
        "member": m.id, "name": m.name, "email": m.email, "phone": m.phone, "birthday": m.birthday,
        "enrolled": m.enrolled_at, "marketing": marketing, "marketing_at": marketing_at,
        "forgotten_at": m.forgotten_at, "points": points,
        "available": max(0, min(points, sum(lot.remaining for lot in live) - pending)),
        "pending": pending,
        "tier": level.name, "tier_basis": prog.tier_basis, "tier_window": prog.tier_window,
        "qualifying": total, "lifetime_spend": _spend_as_of(conn, m.id, as_of),
        "usual_store": usual_store(conn, m.id, as_of),
        "next_tier": nxt.name if nxt else None,
        "to_next_tier": max(0, nxt.min - total) if nxt else None,
        "next_tier_min": nxt.min if nxt else None, "tier_min": level.min,
        "expiring": [{"date": d, "points": p} for d, p in expiring.items()],
        "recent": history(conn, prog, m.id, as_of)[-RECENT:],
    }


def usual_store(conn: Connection, member_id: str, as_of: datetime) -> str | None:
    """The store of most of the member's purchases by `as_of` (of a tie, the
    one bought at last, then the first by code point); None when no purchase
    of theirs names a store."""
    rows = sorted(db.plain_rows(conn, select(purchases.c.store, func.count(), func.max(purchases.c.at))
                                .where(purchases.c.member_id == member_id, purchases.c.store.is_not(None),
                                       purchases.c.at <= as_of).group_by(purchases.c.store)))
    return max(rows, key=lambda r: (r[1], r[2]))[0] if rows else None


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
           for d in standing.due_expiry(conn, as_of, m.id)]
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
    totals, level_of = standing.tier_standing(conn, prog, as_of)
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
