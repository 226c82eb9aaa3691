"""Standing: what a member holds as of a moment, read from the ledger. Their
lots (FIFO), what is available or pending, what expires when, qualifying
totals and the tier they give, the tier log and the last daily run. Writes
(ledger/operations.py) and reports (queries/) both read through these; nothing
here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable

from sqlalchemy import Connection, and_, func, select

from loyalty_cli.domain import rules
from loyalty_cli.domain.config import Level, Programme
from loyalty_cli.domain.dates import days_after, end_of
from loyalty_cli.store.db import by_code_point, plain_rows
from loyalty_cli.store.models import (
    allocations,
    entries,
    members,
    meta,
    purchases,
    refunded_purchases,
    refunds,
    tier_changes,
)


def lots(conn: Connection, member_id: str, *, created_by: datetime, as_of: datetime | None = None) -> list[rules.Lot]:
    """The member's credit entries with points left, created by `created_by`.
    With `as_of`, only spending recorded up to then is subtracted (for reports);
    without it, all spending is (for writes, which must never double-spend)."""
    spent = select(func.coalesce(func.sum(allocations.c.points), 0)).where(allocations.c.credit_id == entries.c.id)
    if as_of is not None:
        debit = entries.alias("debit")
        spent = (
            select(func.coalesce(func.sum(allocations.c.points), 0))
            .select_from(allocations.join(debit, debit.c.id == allocations.c.debit_id))
            .where(allocations.c.credit_id == entries.c.id, debit.c.at <= as_of)
        )
    q = select(
        entries.c.id,
        (entries.c.points - spent.scalar_subquery()).label("remaining"),
        entries.c.at,
        entries.c.expires_on,
        entries.c.available_on,
    ).where(entries.c.member_id == member_id, entries.c.points > 0, entries.c.at <= created_by)
    return [rules.Lot(r.id, r.remaining, r.at, r.expires_on, r.available_on)
            for r in conn.execute(q) if r.remaining > 0]


def _live(lot: rules.Lot, on: date) -> bool:
    return lot.expires_on is None or lot.expires_on > on


def _spendable(lot: rules.Lot, on: date) -> bool:
    return _live(lot, on) and (lot.available_on is None or lot.available_on <= on)


@dataclass(frozen=True)
class Available:
    balance: int
    available: int
    pending: int


def stamp(conn: Connection, member_id: str, at: datetime) -> datetime:
    """When a write dated with a bare day (00:00) happens: after everything
    already recorded for the member on that day, so `redeem --date D` can
    spend points earned at 09:15 on D, and nothing is ever spent before it
    was earned."""
    if at.time() != datetime.min.time():
        return at
    day_end = end_of(at.date())
    for table in (entries, purchases):
        latest = conn.execute(select(func.max(table.c.at)).where(
            table.c.member_id == member_id, table.c.at >= at, table.c.at <= day_end)).scalar()
        if latest is not None and latest > at:
            at = latest
    return at


def _balance(conn: Connection, member_id: str) -> int:
    return conn.execute(select(members.c.points).where(members.c.id == member_id)).scalar_one()


def availability(conn: Connection, member_id: str, at: datetime) -> Available:
    """Balance, spendable and pending points for a write at `at`."""
    balance = _balance(conn, member_id)
    live = [lot for lot in lots(conn, member_id, created_by=at) if _live(lot, at.date())]
    available = sum(lot.remaining for lot in live if _spendable(lot, at.date()))
    return Available(balance, available, sum(lot.remaining for lot in live) - available)


def recorded_now() -> datetime:
    """When a row is written, in UTC (the audit clock; `at` is the business
    date in the programme's timezone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _due_lots(conn: Connection, as_of: datetime, member_id: str | None):
    spent = select(func.coalesce(func.sum(allocations.c.points), 0)).where(
        allocations.c.credit_id == entries.c.id).scalar_subquery()
    q = (select(entries.c.member_id, entries.c.id, (entries.c.points - spent).label("remaining"),
                entries.c.at, entries.c.expires_on)
         .where(entries.c.expires_on <= as_of.date(), entries.c.points > 0, entries.c.at <= as_of)
         .order_by(by_code_point(entries.c.member_id), entries.c.expires_on, entries.c.at, entries.c.id))
    if member_id is not None:
        q = q.where(entries.c.member_id == member_id)
    return [r for r in conn.execute(q) if r.remaining > 0]


def due_totals(conn: Connection, as_of: datetime, member_id: str | None = None,
               since: datetime | None = None) -> dict[str, int]:
    """Per member, the points of `due_expiry` (only those dated from `since`
    on, when given), summed in the database: the fast path for reports."""
    spent = select(func.coalesce(func.sum(allocations.c.points), 0)).where(
        allocations.c.credit_id == entries.c.id).scalar_subquery()
    lots_q = (select(entries.c.member_id, (entries.c.points - spent).label("left"))
              .where(entries.c.expires_on <= as_of.date(), entries.c.points > 0, entries.c.at <= as_of))
    if member_id is not None:
        lots_q = lots_q.where(entries.c.member_id == member_id)
    if since is not None:  # dated max(expiry day 00:00, lot's date) >= since
        first_day = since.date() if since.time() == time.min else since.date() + timedelta(days=1)
        lots_q = lots_q.where((entries.c.expires_on >= first_day) | (entries.c.at >= since))
    # Summed here, not by GROUP BY: grouping by member made SQLite walk the
    # whole ledger in member order instead of the few lots the expiry index finds.
    out: dict[str, int] = {}
    for m, left in plain_rows(conn, lots_q):
        if left > 0:
            out[m] = out.get(m, 0) + int(left)
    return out


def expiring_within(conn: Connection, as_of: datetime, within: int,
                    member_id: str | None = None) -> dict[str, dict[date, int]]:
    """What expires when: per member, the points left at `as_of` (spending
    recorded by then counted) that are gone on each day from the day after
    `as_of` to `within` days after it, by that day. The one computation that
    `show`, `expiring` and `report` use, so they always agree."""
    debit = entries.alias("debit")
    spent = (select(func.coalesce(func.sum(allocations.c.points), 0))
             .select_from(allocations.join(debit, debit.c.id == allocations.c.debit_id))
             .where(allocations.c.credit_id == entries.c.id, debit.c.at <= as_of).scalar_subquery())
    day = as_of.date()
    q = (select(entries.c.member_id, (entries.c.points - spent).label("left"), entries.c.expires_on)
         .where(entries.c.points > 0, entries.c.at <= as_of, entries.c.expires_on > day,
                entries.c.expires_on <= days_after(day, within)))
    if member_id is not None:
        q = q.where(entries.c.member_id == member_id)
    out: dict[str, dict[date, int]] = {}
    for m, left, gone in conn.execute(q):
        if left > 0:
            per = out.setdefault(m, {})
            per[gone] = per.get(gone, 0) + int(left)
    return {m: dict(sorted(per.items())) for m, per in out.items()}


def due_expiry(conn: Connection, as_of: datetime, member_id: str | None = None) -> list[dict]:
    """The expiry due by `as_of` and not posted yet (of one member, or of
    everyone): what `expire_due` would post, without writing it. One item per
    member and moment, dated the start of the expiry day, or when the lot was
    made if it was born expired (points a refund gave back after their expiry).
    Reports add it to what is posted, so their figures as of a day never
    depend on when cron ran."""
    groups: dict[tuple[str, datetime], list] = {}
    for r in _due_lots(conn, as_of, member_id):
        when = max(datetime.combine(r.expires_on, time.min), r.at)
        groups.setdefault((r.member_id, when), []).append(r)
    out = []
    for (m, when), rows in sorted(groups.items()):
        earned = sorted({r.at.date() for r in rows})
        span = earned[0].isoformat() + (f" to {earned[-1].isoformat()}" if len(earned) > 1 else "")
        out.append({"member": m, "at": when, "date": when.date(), "points": sum(r.remaining for r in rows),
                    "note": f"expired: points earned {span}", "lots": [(r.id, r.remaining) for r in rows]})
    return out


# Credits other than purchase earnings that count as "points earned" for a
# points-based tier. Adjustments (corrections) and restored points do not.
EARNED_KINDS = ("welcome", "award", "promo", "referral", "birthday")


# A list of more members than this is not passed to SQL as parameters (SQLite
# takes at most 32,766): everyone's figures are read and the list picked out.
SCOPE_LIMIT = 500


def qualifying_totals(conn: Connection, prog: Programme, as_of: datetime,
                      member_id: str | list[str] | None = None) -> dict[str, int]:
    """Each member's qualifying total as of a moment: spend net of refunds (minor
    units) or points earned net of claw-backs, over the tier window. A refund
    counts against the window of the purchase it refunds. `member_id` is one
    member, a list of them, or None for everyone."""
    ids = [member_id] if isinstance(member_id, str) else member_id
    if ids is not None and len(ids) > SCOPE_LIMIT:  # cheaper read whole than passed as parameters
        wanted = set(ids)
        return {m: v for m, v in qualifying_totals(conn, prog, as_of, None).items() if m in wanted}
    start = rules.window_start(prog.tier_window, as_of.date())
    start_at = datetime.combine(start, datetime.min.time()) if start else None

    def in_window(col):
        cond = col <= as_of
        return and_(cond, col >= start_at) if start_at else cond

    spend_col = purchases.c.net if prog.tier_basis == "spend" else purchases.c.points_earned
    back_col = refunds.c.net if prog.tier_basis == "spend" else refunds.c.points
    q1 = select(purchases.c.member_id, func.sum(spend_col)).where(in_window(purchases.c.at))
    q2 = (select(purchases.c.member_id, func.sum(back_col))
          .select_from(refunded_purchases)
          .where(in_window(purchases.c.at), refunds.c.at <= as_of))
    if ids is not None:
        q1, q2 = q1.where(purchases.c.member_id.in_(ids)), q2.where(purchases.c.member_id.in_(ids))
    totals: dict[str, int] = dict(plain_rows(conn, q1.group_by(purchases.c.member_id)))  # sums of NOT NULL ints
    for m, v in plain_rows(conn, q2.group_by(purchases.c.member_id)):
        totals[m] = totals.get(m, 0) - int(v or 0)
    if prog.tier_basis == "points":
        q3 = select(entries.c.member_id, func.sum(entries.c.points)).where(
            entries.c.kind.in_(EARNED_KINDS), in_window(entries.c.at))
        if ids is not None:
            q3 = q3.where(entries.c.member_id.in_(ids))
        for m, v in plain_rows(conn, q3.group_by(entries.c.member_id)):
            totals[m] = totals.get(m, 0) + int(v or 0)
    return totals


def tier_events(conn: Connection, prog: Programme, as_of: datetime,
                member_ids: list[str] | None = None) -> dict[str, list[tuple[datetime, int]]]:
    """What makes up each member's qualifying total, as (when, amount) events
    sorted by time: every purchase's spend (or points) net of the refunds
    recorded by `as_of`, counted at the purchase's own date, and for a points
    basis the other earnings."""
    spend = prog.tier_basis == "spend"
    back = (select(refunds.c.purchase_id, func.sum(refunds.c.net if spend else refunds.c.points).label("back"))
            .where(refunds.c.at <= as_of).group_by(refunds.c.purchase_id).subquery())
    value = (purchases.c.net if spend else purchases.c.points_earned) - func.coalesce(back.c.back, 0)
    queries = [select(purchases.c.member_id, purchases.c.at, value)
               .select_from(purchases.outerjoin(back, back.c.purchase_id == purchases.c.id))
               .where(purchases.c.at <= as_of)]
    if not spend:
        queries.append(select(entries.c.member_id, entries.c.at, entries.c.points)
                       .where(entries.c.kind.in_(EARNED_KINDS), entries.c.at <= as_of))
    if member_ids is not None and len(member_ids) > SCOPE_LIMIT:  # cheaper read whole than passed as parameters
        wanted = set(member_ids)
        return {m: ev for m, ev in tier_events(conn, prog, as_of, None).items() if m in wanted}
    events: dict[str, list[tuple[datetime, int]]] = {}
    for q in queries:
        if member_ids is not None:
            q = q.where(q.selected_columns[0].in_(member_ids))
        for m, at, v in conn.execute(q):
            events.setdefault(m, []).append((at, int(v)))
    for evs in events.values():
        evs.sort(key=lambda e: e[0])
    return events


def peak_totals(conn: Connection, prog: Programme, as_of: datetime,
                member_id: str | list[str] | None = None) -> dict[str, int]:
    """Each member's highest qualifying total up to `as_of` (for downgrade =
    false). A refunded purchase never reached a tier, and a back-dated
    purchase counts at its own date."""
    events = tier_events(conn, prog, as_of, [member_id] if isinstance(member_id, str) else member_id)
    return {m: rules.peak_total(ev, prog.tier_window) for m, ev in events.items()}


def tier_of(conn: Connection, prog: Programme, member_id: str, as_of: datetime) -> tuple[Level, int]:
    """The tier a member holds at `as_of`, and their qualifying total then.
    With downgrade = false the tier is that of the highest total ever reached."""
    total = qualifying_totals(conn, prog, as_of, member_id).get(member_id, 0)
    if not prog.downgrade:
        peak = peak_totals(conn, prog, as_of, member_id).get(member_id, 0)
        return rules.tier_for(prog.levels, max(total, peak)), total
    return rules.tier_for(prog.levels, total), total


def tier_standing(conn: Connection, prog: Programme, as_of: datetime,
                  member_ids: list[str] | None = None) -> tuple[dict[str, int], Callable[[str], Level]]:
    """Qualifying totals at `as_of` (of everyone, or of `member_ids`), and a
    function giving a member's tier: from their total or, with downgrade =
    false, the highest total they reached. No dict of every member's level,
    so reports over a whole ledger pay only for the members they show."""
    totals = qualifying_totals(conn, prog, as_of, member_ids)
    basis = totals
    if not prog.downgrade:
        peaks = peak_totals(conn, prog, as_of, member_ids)
        basis = {m: max(totals.get(m, 0), peaks.get(m, 0)) for m in totals.keys() | peaks.keys()}
    level, get = rules.level_finder(prog.levels), basis.get
    return totals, lambda m: level(get(m, 0))


def levels_at(conn: Connection, prog: Programme, as_of: datetime,
              member_ids: list[str] | None = None) -> tuple[dict[str, Level], dict[str, int]]:
    """The tier every member (or each of `member_ids`) holds at `as_of`, and
    their qualifying totals, in a few queries."""
    totals, level_of = tier_standing(conn, prog, as_of, member_ids)
    if member_ids is None:
        member_ids = [m for (m,) in plain_rows(conn, select(members.c.id))]
    return {m: level_of(m) for m in member_ids}, totals


def recorded_tiers(conn: Connection, prog: Programme, at: datetime,
                   member_ids: list[str] | None = None) -> dict[str, str]:
    """The tier each member's log of tier changes says they hold at `at`
    (the lowest tier for a member with no change recorded)."""
    q = (select(tier_changes.c.member_id, tier_changes.c.to_tier).where(tier_changes.c.at <= at)
         .order_by(tier_changes.c.at, tier_changes.c.id))
    if member_ids is not None:
        q = q.where(tier_changes.c.member_id.in_(member_ids))
    return {m: tier for m, tier in conn.execute(q)}


DAILY_MARK = "daily_through"  # meta key: the as-of moment of the last `daily` run


def last_daily_run(conn: Connection) -> datetime | None:
    value = conn.execute(select(meta.c.value).where(meta.c.key == DAILY_MARK)).scalar()
    return datetime.fromisoformat(value) if value else None


def review_start(last_change: datetime | None, daily_mark: datetime | None) -> datetime | None:
    """From when a member's tier log may lack changes that time alone caused:
    after their last recorded change and after the last daily run (which
    reviewed everyone up to its moment)."""
    known = [t for t in (last_change, daily_mark) if t is not None]
    return max(known) if known else None
