"""Write operations on the ledger. Each runs inside one transaction that the
caller opened with ``db.transaction(engine, write=True)``; any LoyaltyError
raised here rolls the whole command back, so a refusal writes nothing.

Points move only through ``_credit`` and ``_debit``: they write the entry, its
allocations against lots (FIFO, soonest-expiring first) and the cached
balance together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable

from sqlalchemy import Connection, and_, func, insert, select, update

from loyalty_cli.domain import rules
from loyalty_cli.domain.config import Level, Programme
from loyalty_cli.domain.dates import days_after, end_of
from loyalty_cli.domain.money import format_amount
from loyalty_cli.errors import LoyaltyError
from loyalty_cli.ledger import codes
from loyalty_cli.ledger.members import (
    ID_PATTERN,
    active_member,
    check_birthday,
    clean_name,
    find_member,
    normalise_email,
    normalise_phone,
    record_consent,
    refuse_control,
)
from loyalty_cli.store import chain
from loyalty_cli.store.db import lock_member, plain_rows
from loyalty_cli.store.models import (
    allocations,
    birthday_bonuses,
    entries,
    members,
    meta,
    promo_uses,
    purchases,
    referral_rewards,
    referrals,
    refunded_purchases,
    refunds,
    tier_changes,
)

# ---------------------------------------------------------------------------
# members
# ---------------------------------------------------------------------------

_ORDER = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}")


def _unique(conn: Connection, column, value, what: str, except_id: str | None = None) -> None:
    from loyalty_cli.ledger.members import phone_forms  # a phone also as stored before [program] phone_region was set

    q = select(members.c.id).where(column.in_(phone_forms(value)) if column is members.c.phone else column == value)
    if except_id is not None:
        q = q.where(members.c.id != except_id)
    other = conn.execute(q).scalar()
    if other is not None:
        raise LoyaltyError(f"{what} {value} already belongs to member {other}")


def _next_member_id(conn: Connection) -> str:
    n = conn.execute(select(func.count()).select_from(members)).scalar_one() + 1001
    while conn.execute(select(members.c.id).where(members.c.id == str(n))).first() is not None:
        n += 1
    return str(n)


def enroll(
    conn: Connection,
    prog: Programme,
    *,
    at: datetime,
    name: str,
    member_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    birthday: date | None = None,
    marketing: bool = False,
    referral: str | None = None,
    via: str = "enroll",
) -> dict:
    if member_id is not None:
        member_id = member_id.strip()
        if not ID_PATTERN.fullmatch(member_id):
            raise LoyaltyError(
                f"member id {member_id!r} is not valid: use 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if conn.execute(select(members.c.id).where(func.lower(members.c.id) == member_id.lower())).first():
            raise LoyaltyError(f"member {member_id} already exists")
    else:
        member_id = _next_member_id(conn)
    values = {
        "id": member_id,
        "name": clean_name(name),
        "email": normalise_email(email) if email else None,
        "phone": normalise_phone(phone) if phone else None,
        "birthday": check_birthday(birthday, at.date()) if birthday else None,
        "enrolled_at": at,
        "marketing": marketing,
        "marketing_at": at if marketing else None,
        "points": 0,
    }
    if values["email"]:
        _unique(conn, members.c.email, values["email"], "e-mail")
    if values["phone"]:
        _unique(conn, members.c.phone, values["phone"], "phone")
    referrer = active_member(conn, codes.referrer_of_code(conn, referral)) if referral else None
    conn.execute(insert(members).values(**values))
    if marketing:
        record_consent(conn, member_id, at, True, via)
    if referrer is not None:
        codes.attach_referral(conn, find_member(conn, member_id), referrer, at)
    if prog.welcome_bonus:
        _credit(conn, prog, member_id, at, "welcome", prog.welcome_bonus, note="welcome bonus")
        _record_earned_tier(conn, prog, member_id, at)
    return {"member": member_id, "name": values["name"], "points": prog.welcome_bonus,
            "referred_by": referrer.id if referrer is not None else None}


def forget(conn: Connection, key: str, *, at: datetime) -> dict:
    """Erase a member's personal data: name, e-mail, phone, birthday and
    marketing consent. The member id and the entries stay, anonymous, so
    every total still balances (entries hold no personal data, and the hash
    chain does not cover the members table). Removing the old bytes from the
    file is `db.scrub`'s job, after this transaction commits. Forgetting a
    forgotten member again changes nothing (and scrubs again)."""
    m = find_member(conn, key)
    if m.forgotten_at is not None:
        return {"member": m.id, "forgotten_at": m.forgotten_at, "already": True, "erased": [], "points": m.points}
    _not_before_enrolment(m, at)
    at = stamp(conn, m.id, at)  # a bare date: after what is already recorded that day
    erased = [f for f in ("name", "email", "phone", "birthday") if getattr(m, f) is not None]
    if m.marketing:  # consent is withdrawn, and the withdrawal kept in the consent history
        at = record_consent(conn, m.id, at, False, "forget")
    conn.execute(update(members).where(members.c.id == m.id).values(
        name=None, email=None, phone=None, birthday=None, marketing=False,
        marketing_at=at if m.marketing else m.marketing_at, forgotten_at=at))
    return {"member": m.id, "forgotten_at": at, "already": False, "erased": erased, "points": m.points}


UNSET = object()


def edit(conn: Connection, prog: Programme, key: str, *, at: datetime, name=UNSET, email=UNSET,
         phone=UNSET, birthday=UNSET, marketing=UNSET) -> dict:
    """Change personal data. An empty string clears e-mail, phone or birthday."""
    m = active_member(conn, key)
    _not_before_enrolment(m, at)
    values: dict = {}
    if name is not UNSET:
        values["name"] = clean_name(name)
    if email is not UNSET:
        values["email"] = normalise_email(email) if email else None
        if values["email"]:
            _unique(conn, members.c.email, values["email"], "e-mail", except_id=m.id)
    if phone is not UNSET:
        values["phone"] = normalise_phone(phone) if phone else None
        if values["phone"]:
            _unique(conn, members.c.phone, values["phone"], "phone", except_id=m.id)
    if birthday is not UNSET:
        values["birthday"] = check_birthday(birthday, at.date()) if birthday else None
    if "email" in values or "phone" in values:  # no referral between two members that look like one person
        codes.check_identity(conn, m, email=values.get("email", m.email), phone=values.get("phone", m.phone))
    if marketing is not UNSET and bool(marketing) != bool(m.marketing):
        values["marketing"] = bool(marketing)
        # a bare date: after what is already recorded for the member that day, consent changes too
        values["marketing_at"] = record_consent(conn, m.id, stamp(conn, m.id, at), bool(marketing), "edit")
    if not values:
        raise LoyaltyError("nothing to change: give at least one of --name, --email, --phone, --birthday, "
                           "--marketing/--no-marketing")
    conn.execute(update(members).where(members.c.id == m.id).values(**values))
    return {"member": m.id, "changed": sorted(values.keys() - {"marketing_at"})}


# ---------------------------------------------------------------------------
# points: lots, credits and debits
# ---------------------------------------------------------------------------


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


def availability(conn: Connection, member_id: str, at: datetime) -> Available:
    """Balance, spendable and pending points for a write at `at`."""
    balance = _balance(conn, member_id)
    live = [lot for lot in lots(conn, member_id, created_by=at) if _live(lot, at.date())]
    available = sum(lot.remaining for lot in live if _spendable(lot, at.date()))
    return Available(balance, available, sum(lot.remaining for lot in live) - available)


def _balance(conn: Connection, member_id: str) -> int:
    return conn.execute(select(members.c.points).where(members.c.id == member_id)).scalar_one()


def recorded_now() -> datetime:
    """When a row is written, in UTC (the audit clock; `at` is the business
    date in the programme's timezone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _add_balance(conn: Connection, member_id: str, points: int) -> None:
    # look before the write: SQLite would turn an overflowing sum into a float
    rules.within_int64(_balance(conn, member_id) + points, f"member {member_id}'s balance would hold")
    conn.execute(update(members).where(members.c.id == member_id).values(points=members.c.points + points))


def check_balances(conn: Connection, added: dict[str, int]) -> None:
    """Refuse (before the write) points that would take a balance beyond 64 bits."""
    big = sorted(added)
    for i in range(0, len(big), 500):
        for m, points in conn.execute(select(members.c.id, members.c.points).where(members.c.id.in_(big[i:i + 500]))):
            rules.within_int64(points + added[m], f"member {m}'s balance would hold")


def _insert_entry(conn: Connection, member_id: str, at: datetime, kind: str, points: int, **extra) -> int:
    """Every entry is written here (or sealed the same way by the import's
    fast path): the next id and its link in the hash chain."""
    row = {"member_id": member_id, "at": at, "kind": kind, "points": points, "recorded_at": recorded_now(), **extra}
    chain.seal(conn, [row])
    conn.execute(insert(entries).values(**row))
    return row["id"]


_FRESH = object()


def _credit(conn: Connection, prog: Programme, member_id: str, at: datetime, kind: str, points: int, *,
            available_on: date | None = None, expires_on=_FRESH, **extra) -> int:
    """Add a lot, expiring `expiry.days` after `at` unless told otherwise.
    If the member owes points (a refund took back points already spent), the
    new lot pays that debt first."""
    if expires_on is _FRESH:
        expires_on = rules.expiry_date(at.date(), prog.expiry_days)
    entry_id = _insert_entry(conn, member_id, at, kind, points, expires_on=expires_on,
                             available_on=available_on, **extra)
    left = points
    for debit_id, owed in _open_debits(conn, member_id):
        take = min(owed, left)
        conn.execute(insert(allocations).values(debit_id=debit_id, credit_id=entry_id, points=take))
        left -= take
        if left == 0:
            break
    _add_balance(conn, member_id, points)
    return entry_id


def _open_debits(conn: Connection, member_id: str) -> list[tuple[int, int]]:
    """Debits not fully covered by lots (the member's debt), oldest first."""
    covered = select(func.coalesce(func.sum(allocations.c.points), 0)).where(
        allocations.c.debit_id == entries.c.id).scalar_subquery()
    q = (select(entries.c.id, (-entries.c.points - covered).label("open"))
         .where(entries.c.member_id == member_id, entries.c.points < 0).order_by(entries.c.at, entries.c.id))
    balance = _balance(conn, member_id)
    if balance >= 0:  # a debt leaves every lot empty, so it shows as a negative balance
        return []
    return [(r.id, r.open) for r in conn.execute(q) if r.open > 0]


def _debit(conn: Connection, member_id: str, at: datetime, kind: str, points: int, *,
           pool: str, first_lots: tuple[int, ...] = (), **extra) -> int:
    """Take `points` (> 0) from the member's lots, soonest-expiring first
    (`first_lots` before all others). `pool` says which lots may pay:
    "spendable" (a redemption: created by `at`, not pending, not expired),
    "live" (a correction: created by `at`, not expired), or "all" (a refund's
    claw-back: every lot with points left; what none covers becomes a debt
    that the next credits pay, so a debt means every lot is empty)."""
    if pool == "all":
        candidates = lots(conn, member_id, created_by=datetime.max)
    else:
        ok = _spendable if pool == "spendable" else _live
        candidates = [lot for lot in lots(conn, member_id, created_by=at) if ok(lot, at.date())]
    first = [lot for lot in candidates if lot.id in first_lots]
    plan, short = rules.consume(first, points)
    more, short = rules.consume([lot for lot in candidates if lot.id not in first_lots], short)
    if short and pool != "all":  # callers check first; this is the last line of defence
        raise LoyaltyError(f"not enough points: {points} needed, {points - short} available")
    entry_id = _insert_entry(conn, member_id, at, kind, -points, **extra)
    for lot_id, take in plan + more:
        conn.execute(insert(allocations).values(debit_id=entry_id, credit_id=lot_id, points=take))
    _add_balance(conn, member_id, -points)
    return entry_id


def _due_lots(conn: Connection, as_of: datetime, member_id: str | None):
    spent = select(func.coalesce(func.sum(allocations.c.points), 0)).where(
        allocations.c.credit_id == entries.c.id).scalar_subquery()
    q = (select(entries.c.member_id, entries.c.id, (entries.c.points - spent).label("remaining"),
                entries.c.at, entries.c.expires_on)
         .where(entries.c.expires_on <= as_of.date(), entries.c.points > 0, entries.c.at <= as_of)
         .order_by(entries.c.member_id, entries.c.expires_on, entries.c.at, entries.c.id))
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


def expire_due(conn: Connection, as_of: datetime, member_id: str | None = None) -> list[dict]:
    """Post the expiry due by `as_of` (see `due_expiry`) as `expire` entries
    whose allocations empty the expired lots, so nothing expires twice."""
    if member_id is None and conn.dialect.name != "sqlite":
        # Row locks first, so no other till spends from a lot while it expires.
        for m in sorted({r.member_id for r in _due_lots(conn, as_of, None)}):
            lock_member(conn, m)
    due = due_expiry(conn, as_of, member_id)
    for d in due:
        entry_id = _insert_entry(conn, d["member"], d["at"], "expire", -d["points"], note=d["note"])
        conn.execute(insert(allocations), [{"debit_id": entry_id, "credit_id": lot, "points": left}
                                           for lot, left in d["lots"]])
        _add_balance(conn, d["member"], -d["points"])
    return due


# ---------------------------------------------------------------------------
# tiers
# ---------------------------------------------------------------------------


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


def _review_member(conn: Connection, prog: Programme, member_id: str, until: datetime) -> None:
    """Record the tier changes that time alone brought the member since the
    log last looked (a window letting go of a purchase), each at its moment,
    so a write never compares with a stale tier."""
    if not prog.downgrade or prog.tier_window == "lifetime":
        return
    last = conn.execute(
        select(tier_changes.c.at, tier_changes.c.to_tier).where(tier_changes.c.member_id == member_id,
                                                                tier_changes.c.at <= until)
        .order_by(tier_changes.c.at.desc(), tier_changes.c.id.desc()).limit(1)).first()
    since = review_start(last.at if last else None, last_daily_run(conn))
    tracker = rules.TierTracker(prog, tier_events(conn, prog, until, [member_id]).get(member_id, []))
    current = last.to_tier if last else prog.levels[0].name
    for moment in tracker.moments(since, until):
        name = tracker.level(moment).name
        if name != current:
            conn.execute(insert(tier_changes).values(member_id=member_id, at=moment, from_tier=current, to_tier=name))
            current = name


def _record_earned_tier(conn: Connection, prog: Programme, member_id: str, at: datetime) -> None:
    """After a credit of a kind in EARNED_KINDS to `member_id` at `at`: with a
    points basis it raised their qualifying total, so record the tier change
    it caused then (`_record_tier`). Every write that credits such points to a
    member calls this (or `_record_tier`) for that member, whoever the
    command names: the referrer paid by a friend's purchase too."""
    if prog.tier_basis == "points":
        _record_tier(conn, prog, member_id, at)


def _record_tier(conn: Connection, prog: Programme, member_id: str, at: datetime) -> Level:
    """Record a tier change caused by a write at `at`, if there is one (after
    any that time alone caused before it)."""
    _review_member(conn, prog, member_id, at)
    level, _ = tier_of(conn, prog, member_id, at)
    last = conn.execute(
        select(tier_changes.c.to_tier).where(tier_changes.c.member_id == member_id, tier_changes.c.at <= at)
        .order_by(tier_changes.c.at.desc(), tier_changes.c.id.desc()).limit(1)
    ).scalar()
    previous = last if last is not None else prog.levels[0].name
    if level.name != previous:
        conn.execute(insert(tier_changes).values(member_id=member_id, at=at, from_tier=previous, to_tier=level.name))
    return level


# ---------------------------------------------------------------------------
# purchases, refunds, redemptions, adjustments, awards
# ---------------------------------------------------------------------------


def _check_order_id(order_id: str) -> str:
    order_id = order_id.strip()
    if not _ORDER.fullmatch(order_id):
        raise LoyaltyError(f"order id {order_id!r} is not valid: use 1 to 64 characters without spaces")
    return order_id


def _next_order_id(conn: Connection) -> str:
    n = (conn.execute(select(func.max(purchases.c.id))).scalar() or 0) + 1
    while conn.execute(select(purchases.c.id).where(purchases.c.order_id == f"P{n:06d}")).first():
        n += 1
    return f"P{n:06d}"


def _not_before_enrolment(m, at: datetime) -> None:
    if at.date() < m.enrolled_at.date():
        raise LoyaltyError(f"{at.date().isoformat()} is before member {m.id} enrolled "
                           f"({m.enrolled_at.date().isoformat()})")


def purchase(conn: Connection, prog: Programme, key: str, amount: int, *, at: datetime,
             order_id: str | None = None, redeem: int = 0, code: str | None = None,
             tier_discount: bool = True) -> dict:
    """Record a sale. `tier_discount=False` (an import of what a till or web
    shop already charged) prices it without the tier's standing discount; the
    tier's multiplier still applies to the points."""
    m = active_member(conn, key)
    lock_member(conn, m.id)
    _not_before_enrolment(m, at)
    at = stamp(conn, m.id, at)
    expire_due(conn, at, m.id)
    if order_id is not None:
        order_id = _check_order_id(order_id)
        prior = conn.execute(select(purchases.c.member_id, purchases.c.at)
                             .where(purchases.c.order_id == order_id)).first()
        if prior is not None:
            raise LoyaltyError(f"order {order_id} is already recorded (member {prior.member_id}, {prior.at:%Y-%m-%d})")
    else:
        order_id = _next_order_id(conn)
    level, _ = tier_of(conn, prog, m.id, at)
    promo = codes.check_promo(conn, prog, code, m, amount, level, at) if code else None
    available = availability(conn, m.id, at).available if redeem else None
    q = rules.quote_purchase(prog, amount, level if tier_discount else rules.without_discount(level), redeem, available,
                             codes.effect_of(promo) if promo is not None else None)
    inserted = conn.execute(insert(purchases).values(
        order_id=order_id, member_id=m.id, at=at, amount=q.amount, discount=q.discount,
        points_redeemed=q.points_redeemed, points_paid=q.points_paid, net=q.net,
        points_earned=q.points_earned, rounding=prog.rounding, recorded_at=recorded_now())).inserted_primary_key
    assert inserted is not None  # a one-row INSERT has its key
    purchase_id = inserted[0]
    if q.points_redeemed:
        _debit(conn, m.id, at, "redeem", q.points_redeemed, pool="spendable", order_id=order_id,
               note=f"paid {format_amount(q.points_paid, prog.currency.decimals)} of order {order_id}")
    pending_until = rules.available_date(at.date(), prog.pending_days)
    if q.points_earned:
        _credit(conn, prog, m.id, at, "earn", q.points_earned, order_id=order_id, available_on=pending_until)
    if promo is not None:
        if q.bonus_points:
            _credit(conn, prog, m.id, at, "promo", q.bonus_points, order_id=order_id, available_on=pending_until,
                    note=f"promo code {promo.code}")
        codes.record_use(conn, promo, m.id, purchase_id, at, q.discount, q.bonus_points)
    referral = _reward_referral(conn, prog, m.id, purchase_id, order_id, amount, at)
    after = _record_tier(conn, prog, m.id, at)
    balance = _balance(conn, m.id)
    return {
        "member": m.id, "order": order_id, "date": at, "amount": q.amount, "discount": q.discount,
        "points_paid": q.points_paid, "net": q.net, "tier_before": level.name,
        "multiplier": q.multiplier, "points_earned": q.points_earned, "code": promo.code if promo else None,
        "bonus_points": q.bonus_points, "points_redeemed": q.points_redeemed, "points": balance,
        "tier": after.name, "referral": referral,
    }


def _reward_referral(conn: Connection, prog: Programme, member_id: str, purchase_id: int, order_id: str,
                     amount: int, at: datetime) -> dict | None:
    """Pay a referral once: on the referee's first purchase that reaches
    referral.min_purchase. The reward row's key (the referee) makes a second
    payment impossible, even for two tills at once.

    Checked again at payment, as the two members stand then: if they look
    like one person (the same e-mail or phone, however that came about),
    nothing is paid and the referral stays pending (`paid` false, with the
    reason). A forgotten referrer earns nothing new: the friend is paid the
    referee points and the referral counts as rewarded, without the
    referrer's share."""
    ref = conn.execute(select(referrals).where(referrals.c.referee_id == member_id)).first()
    if ref is None or amount < prog.referral_min_purchase:
        return None
    if conn.execute(select(referral_rewards.c.referee_id).where(referral_rewards.c.referee_id == member_id)).first():
        return None
    referrer = find_member(conn, ref.referrer_id)
    why = codes.same_person(find_member(conn, member_id), referrer)
    if why is not None:
        return {"referrer": referrer.id, "referrer_points": 0, "referee_points": 0, "paid": False,
                "reason": f"{member_id} and the referrer {referrer.id} have {why}: a member cannot refer themself"}
    conn.execute(insert(referral_rewards).values(referee_id=member_id, purchase_id=purchase_id, at=at))
    gone = referrer.forgotten_at is not None
    if prog.referee_points:
        _credit(conn, prog, member_id, at, "referral", prog.referee_points, order_id=order_id,
                note=f"joined on {ref.referrer_id}'s referral")
    if prog.referrer_points and not gone:
        lock_member(conn, ref.referrer_id)
        _credit(conn, prog, ref.referrer_id, at, "referral", prog.referrer_points, order_id=order_id,
                note=f"referred {member_id}")
        _record_earned_tier(conn, prog, ref.referrer_id, at)  # the purchaser's is recorded by the purchase
    return {"referrer": ref.referrer_id, "referrer_points": 0 if gone else prog.referrer_points,
            "referee_points": prog.referee_points, "paid": True,
            "reason": f"the referrer {referrer.id} was forgotten on {referrer.forgotten_at:%Y-%m-%d}: "
                      "nothing for them" if gone else None}


def refund(conn: Connection, prog: Programme, order_id: str, *, at: datetime, amount: int | None = None) -> dict:
    """Refund all or part of an order: take back the points it earned and give
    back the points that paid for it, both in proportion to the refunded share
    of the order's amount, by the rounding in force when it was earned."""
    p = conn.execute(select(purchases).where(purchases.c.order_id == order_id.strip())).first()
    if p is None:
        raise LoyaltyError(f"unknown order {order_id!r}")
    lock_member(conn, p.member_id)
    if at.date() < p.at.date():
        raise LoyaltyError(f"refund date {at:%Y-%m-%d} is before the order's date ({p.at:%Y-%m-%d})")
    at = max(stamp(conn, p.member_id, at), p.at)  # a bare date on the order's own day: after the order
    expire_due(conn, at, p.member_id)
    done = conn.execute(select(func.coalesce(func.sum(refunds.c.amount), 0))
                        .where(refunds.c.purchase_id == p.id)).scalar_one()
    left = p.amount - done
    dec = prog.currency.decimals
    if p.amount == 0:
        raise LoyaltyError(f"order {p.order_id} has nothing to refund: its amount is {format_amount(0, dec)}")
    if left <= 0:
        raise LoyaltyError(f"order {p.order_id} is already fully refunded")
    if amount is None:
        amount = left
    if amount <= 0:
        raise LoyaltyError("refund amount must be more than 0")
    if amount > left:
        raise LoyaltyError(f"cannot refund {format_amount(amount, dec)}: only {format_amount(left, dec)} "
                           f"of order {p.order_id} is left to refund")

    def share(total: int, rounding: str) -> int:
        return (rules.proportional(total, done + amount, p.amount, rounding)
                - rules.proportional(total, done, p.amount, rounding))

    bonus = conn.execute(select(func.coalesce(func.sum(promo_uses.c.bonus_points), 0))
                         .where(promo_uses.c.purchase_id == p.id)).scalar_one()
    net_back = share(p.net, "floor")
    points_back = share(p.points_earned, p.rounding) + share(bonus, p.rounding)
    restore = share(p.points_redeemed, "floor")
    own = conn.execute(select(entries.c.id, entries.c.kind).where(
        entries.c.order_id == p.order_id, entries.c.kind.in_(("earn", "promo")),
        entries.c.member_id == p.member_id).order_by(entries.c.id)).all()
    take = points_back - _expired_share(conn, p, [e.id for e in own], points_back)
    conn.execute(insert(refunds).values(
        purchase_id=p.id, at=at, amount=amount, net=net_back, points=points_back,
        points_restored=restore, recorded_at=recorded_now()))
    if take:
        earn_id = next((e.id for e in own if e.kind == "earn"), None)
        _debit(conn, p.member_id, at, "refund", take, pool="all", first_lots=tuple(e.id for e in own),
               order_id=p.order_id, reverses=earn_id,
               note=f"refund of {format_amount(amount, dec)} of order {p.order_id}")
    if restore:
        _restore(conn, prog, p, at, restore)
        expire_due(conn, at, p.member_id)  # restored points keep their expiry, which may have passed
    after = _record_tier(conn, prog, p.member_id, at)
    balance = _balance(conn, p.member_id)
    return {"member": p.member_id, "order": p.order_id, "amount": amount, "refunded_total": done + amount,
            "order_amount": p.amount, "points_taken_back": take, "points_already_expired": points_back - take,
            "points_restored": restore,
            "points": balance, "tier": after.name}


def _expired_share(conn: Connection, p, own_lots: list[int], points_back: int) -> int:
    """How much of a claw-back of `points_back` the order's own points that
    already expired cover: expired points are gone once and are not taken
    back a second time. Earlier refunds of the order used up part of that."""
    if not own_lots or not points_back:
        return 0
    debit = entries.alias("debit")
    expired = conn.execute(
        select(func.coalesce(func.sum(allocations.c.points), 0))
        .select_from(allocations.join(debit, debit.c.id == allocations.c.debit_id))
        .where(allocations.c.credit_id.in_(own_lots), debit.c.kind == "expire")).scalar_one()
    claimed = conn.execute(select(func.coalesce(func.sum(refunds.c.points), 0))
                           .where(refunds.c.purchase_id == p.id)).scalar_one()
    taken = -conn.execute(select(func.coalesce(func.sum(entries.c.points), 0)).where(
        entries.c.order_id == p.order_id, entries.c.kind == "refund",
        entries.c.member_id == p.member_id)).scalar_one()
    return min(points_back, max(0, int(expired) - (int(claimed) - int(taken))))


def _restore(conn: Connection, prog: Programme, p, at: datetime, points: int) -> None:
    """Give back `points` of those that paid for order `p`, as the very lots
    they came from: each keeps its expiry and pending date, so a refund never
    extends the life of points."""
    redeem_id = conn.execute(select(entries.c.id).where(
        entries.c.order_id == p.order_id, entries.c.kind == "redeem", entries.c.member_id == p.member_id)).scalar()
    given = conn.execute(select(func.coalesce(func.sum(entries.c.points), 0)).where(
        entries.c.reverses == redeem_id, entries.c.kind == "restore")).scalar_one()
    spent = conn.execute(
        select(allocations.c.points, entries.c.expires_on, entries.c.available_on)
        .select_from(allocations.join(entries, entries.c.id == allocations.c.credit_id))
        .where(allocations.c.debit_id == redeem_id).order_by(allocations.c.id)).all()
    for lot in spent:
        skip = min(lot.points, given)  # what earlier partial refunds already gave back
        given -= skip
        give = min(lot.points - skip, points)
        if give:
            _credit(conn, prog, p.member_id, at, "restore", give, expires_on=lot.expires_on,
                    available_on=lot.available_on, order_id=p.order_id, reverses=redeem_id,
                    note=f"points that paid for refunded order {p.order_id}")
            points -= give


def redeem(conn: Connection, prog: Programme, key: str, *, at: datetime, points: int | None = None,
           reward: str | None = None, order_id: str | None = None) -> dict:
    m = active_member(conn, key)
    lock_member(conn, m.id)
    _not_before_enrolment(m, at)
    at = stamp(conn, m.id, at)
    expire_due(conn, at, m.id)
    note = None
    if reward is not None:
        r = prog.reward(reward)
        points, note = r.points, r.name
    elif points is None or points <= 0:
        raise LoyaltyError("give a positive number of points or --reward NAME")
    elif points < prog.min_points:
        raise LoyaltyError(f"cannot redeem {points} points: the minimum is {prog.min_points}")
    avail = availability(conn, m.id, at)
    if points > avail.available:
        pending = f", {avail.pending} more pending" if avail.pending else ""
        raise LoyaltyError(f"cannot redeem {points} points: member {m.id} has {avail.available} available{pending}")
    if order_id is not None:
        order_id = _check_order_id(order_id)
    _debit(conn, m.id, at, "redeem", points, pool="spendable", order_id=order_id, note=note)
    balance = _balance(conn, m.id)
    return {"member": m.id, "points_redeemed": points, "reward": note, "order": order_id, "points": balance}


def adjust(conn: Connection, prog: Programme, key: str, points: int, *, at: datetime, reason: str) -> dict:
    m = find_member(conn, key)
    lock_member(conn, m.id)
    _not_before_enrolment(m, at)
    at = stamp(conn, m.id, at)
    expire_due(conn, at, m.id)
    refuse_control(reason or "", "--reason")
    reason = " ".join((reason or "").split())
    if not reason:
        raise LoyaltyError("--reason must say why (it is kept in the ledger)")
    if points == 0:
        raise LoyaltyError("an adjustment of 0 points changes nothing")
    if points > 0:
        _credit(conn, prog, m.id, at, "adjust", points, note=reason)
    else:
        avail = availability(conn, m.id, at)
        live = avail.available + avail.pending
        if -points > live:
            expired = f", of which only {live} have not expired" if live != avail.balance else ""
            raise LoyaltyError(f"cannot take {-points} points from member {m.id}: "
                               f"the balance is {avail.balance}{expired}")
        _debit(conn, m.id, at, "adjust", -points, pool="live", note=reason)
    balance = _balance(conn, m.id)
    return {"member": m.id, "adjusted": points, "reason": reason, "points": balance}


def award(conn: Connection, prog: Programme, key: str, action: str, *, at: datetime) -> dict:
    m = active_member(conn, key)
    lock_member(conn, m.id)
    _not_before_enrolment(m, at)
    at = stamp(conn, m.id, at)
    expire_due(conn, at, m.id)
    a = prog.action(action)
    if a.limit is not None:
        q = select(func.count()).select_from(entries).where(
            entries.c.member_id == m.id, entries.c.kind == "award", entries.c.action == a.name)
        bounds = rules.period_bounds(a.per, at.date())
        if bounds is not None:
            start, end = (datetime.combine(d, datetime.min.time()) for d in bounds)
            q = q.where(entries.c.at >= start, entries.c.at < end)
        used = conn.execute(q).scalar_one()
        if used >= a.limit:
            period = "in all" if a.per == "ever" else f"per {a.per}"
            raise LoyaltyError(f"{a.name} was already awarded to member {m.id} {used} time(s); "
                               f"the limit is {a.limit} {period}")
    _credit(conn, prog, m.id, at, "award", a.points, action=a.name, note=a.name)
    _record_earned_tier(conn, prog, m.id, at)
    balance = _balance(conn, m.id)
    return {"member": m.id, "action": a.name, "points_awarded": a.points, "points": balance}


def birthday_bonus(conn: Connection, prog: Programme, member_id: str, at: datetime, year: int) -> None:
    """Credit the birthday bonus for `year`. The (member, year) key of
    birthday_bonuses refuses a second one, even from two runs at once."""
    lock_member(conn, member_id)
    entry_id = _credit(conn, prog, member_id, at, "birthday", prog.birthday_bonus, note=f"birthday bonus {year}")
    conn.execute(insert(birthday_bonuses).values(member_id=member_id, year=year, entry_id=entry_id))
    _record_earned_tier(conn, prog, member_id, at)


def referral(conn: Connection, prog: Programme, key: str, *, at: datetime) -> dict:
    """The member's referral code (made on first request) and whom they referred."""
    m = active_member(conn, key)
    code = codes.referral_code(conn, m.id, at)
    q = (select(referrals.c.referee_id, referrals.c.at, members.c.name, referral_rewards.c.at.label("rewarded"))
         .select_from(referrals.join(members, members.c.id == referrals.c.referee_id)
                      .outerjoin(referral_rewards, referral_rewards.c.referee_id == referrals.c.referee_id))
         .where(referrals.c.referrer_id == m.id).order_by(referrals.c.at, referrals.c.referee_id))
    rows = [{"member": r.referee_id, "name": r.name, "joined": r.at.date(),
             "status": "rewarded" if r.rewarded else "pending",
             "rewarded_on": r.rewarded.date() if r.rewarded else None} for r in conn.execute(q)]
    return {"member": m.id, "name": m.name, "code": code, "referred": [r["member"] for r in rows], "referrals": rows}
