"""Write operations on the ledger. Each runs inside one transaction that the
caller opened with ``db.transaction(engine, write=True)``; any LoyaltyError
raised here rolls the whole command back, so a refusal writes nothing.

Points move only through ``posting.post``, which writes the entry, its
allocations against lots and the cached balance together and asserts the
ledger's invariants. Here ``_credit``, ``_debit`` and ``expire_due`` plan
what to post: which debts a new lot pays, which lots (FIFO, soonest-expiring
first) a debit takes points from, which lots expire.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import Connection, func, select

from loyalty_cli.domain import rules
from loyalty_cli.domain.config import Level, Programme
from loyalty_cli.domain.money import format_amount
from loyalty_cli.errors import LoyaltyError
from loyalty_cli.ledger import codes, tiers
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
from loyalty_cli.ledger.posting import Posting, amend, post, record
from loyalty_cli.queries.standing import (
    _balance,
    _due_lots,
    _live,
    _spendable,
    availability,
    due_expiry,
    lots,
    recorded_now,
    stamp,
    tier_of,
)
from loyalty_cli.store.db import by_code_point, lock_member
from loyalty_cli.store.models import (
    allocations,
    birthday_bonuses,
    entries,
    members,
    promo_uses,
    purchases,
    referral_rewards,
    referrals,
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
    record(conn, members, [values])
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
    values = [getattr(m, f) for f in erased]  # for the store's check that no copy of them is left (db.scrub)
    if m.marketing:  # consent is withdrawn, and the withdrawal kept in the consent history
        at = record_consent(conn, m.id, at, False, "forget")
    amend(conn, members, m.id, name=None, email=None, phone=None, birthday=None, marketing=False,
          marketing_at=at if m.marketing else m.marketing_at, forgotten_at=at)
    return {"member": m.id, "forgotten_at": at, "already": False, "erased": erased, "points": m.points,
            "values": values}


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
    amend(conn, members, m.id, **values)
    return {"member": m.id, "changed": sorted(values.keys() - {"marketing_at"})}


# ---------------------------------------------------------------------------
# points: lots, credits and debits
# ---------------------------------------------------------------------------


_FRESH = object()


def credit_posting(prog: Programme, member_id: str, at: datetime, kind: str, points: int, *,
                   available_on: date | None = None, expires_on=_FRESH, pays: tuple[tuple[int, int], ...] = (),
                   **extra) -> Posting:
    """A credit of `points` (a new lot), expiring `expiry.days` after `at`
    unless told otherwise, paying the debts in `pays` ((debit id, points))."""
    if expires_on is _FRESH:
        expires_on = rules.expiry_date(at.date(), prog.expiry_days)
    return Posting(member_id, at, kind, points, pays, expires_on=expires_on, available_on=available_on, **extra)


def _credit(conn: Connection, prog: Programme, member_id: str, at: datetime, kind: str, points: int, *,
            available_on: date | None = None, expires_on=_FRESH, **extra) -> int:
    """Add a lot, expiring `expiry.days` after `at` unless told otherwise.
    If the member owes points (a refund took back points already spent), the
    new lot pays that debt first."""
    pays = []
    left = points
    for debit_id, owed in _open_debits(conn, member_id):
        take = min(owed, left)
        pays.append((debit_id, take))
        left -= take
        if left == 0:
            break
    return post(conn, [credit_posting(prog, member_id, at, kind, points, available_on=available_on,
                                      expires_on=expires_on, pays=tuple(pays), **extra)])[0]


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
    return post(conn, [Posting(member_id, at, kind, -points, tuple(plan + more), **extra)])[0]


def expiry_postings(due: list[dict]) -> list[Posting]:
    """The `expire` entries that post expiry due (`due_expiry`'s items): each
    empties the lots that expired, so nothing expires twice."""
    return [Posting(d["member"], d["at"], "expire", -d["points"], tuple(d["lots"]), note=d["note"]) for d in due]


def expire_due(conn: Connection, as_of: datetime, member_id: str | None = None) -> list[dict]:
    """Post the expiry due by `as_of` (see `due_expiry`) as `expire` entries
    whose allocations empty the expired lots, so nothing expires twice."""
    if member_id is None and conn.dialect.name != "sqlite":
        # Row locks first, so no other till spends from a lot while it expires.
        for m in sorted({r.member_id for r in _due_lots(conn, as_of, None)}):
            lock_member(conn, m)
    due = due_expiry(conn, as_of, member_id)
    post(conn, expiry_postings(due))
    return due


# ---------------------------------------------------------------------------
# tiers
# ---------------------------------------------------------------------------


def _review_member(conn: Connection, prog: Programme, member_id: str, until: datetime) -> None:
    """Record the tier changes that time alone brought the member before
    `until` (the one tier review: `tiers.review_members`)."""
    tiers.review_members(conn, prog, [member_id], until)


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
        record(conn, tier_changes, [{"member_id": member_id, "at": at, "from_tier": previous,
                                     "to_tier": level.name}])
    return level


# ---------------------------------------------------------------------------
# purchases, refunds, redemptions, adjustments, awards
# ---------------------------------------------------------------------------


def _check_order_id(order_id: str) -> str:
    order_id = order_id.strip()
    if not _ORDER.fullmatch(order_id):
        raise LoyaltyError(f"order id {order_id!r} is not valid: use 1 to 64 characters without spaces")
    return order_id


PLACE_LENGTH = 64  # the most characters a store or a till holds


def check_place(text: str, what: str) -> str:
    """A store or till as kept: trimmed, each run of spaces one space, 1 to
    64 characters without control characters (as a name), so "Old  Town "
    and "Old Town" are one store in every report."""
    refuse_control(text, what)
    s = " ".join(text.split())
    if not s:
        raise LoyaltyError(f"{what} must not be empty")
    if len(s) > PLACE_LENGTH:
        raise LoyaltyError(f"{what} is longer than {PLACE_LENGTH} characters")
    return s


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
             tier_discount: bool = True, store: str | None = None, till: str | None = None) -> dict:
    """Record a sale, at `store` and `till` when given. `tier_discount=False`
    (an import of what a till or web shop already charged) prices it without
    the tier's standing discount; the tier's multiplier still applies to the points."""
    store = check_place(store, "--store") if store is not None else None
    till = check_place(till, "--till") if till is not None else None
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
    (purchase_id,) = record(conn, purchases, [dict(
        order_id=order_id, member_id=m.id, at=at, amount=q.amount, discount=q.discount,
        points_redeemed=q.points_redeemed, points_paid=q.points_paid, net=q.net,
        points_earned=q.points_earned, rounding=prog.rounding, recorded_at=recorded_now(),
        store=store, till=till)])
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
        "tier": after.name, "referral": referral, "store": store, "till": till,
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
    record(conn, referral_rewards, [{"referee_id": member_id, "purchase_id": purchase_id, "at": at}])
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
    record(conn, refunds, [dict(purchase_id=p.id, at=at, amount=amount, net=net_back, points=points_back,
                                points_restored=restore, recorded_at=recorded_now())])
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
    record(conn, birthday_bonuses, [{"member_id": member_id, "year": year, "entry_id": entry_id}])
    _record_earned_tier(conn, prog, member_id, at)


def referral(conn: Connection, prog: Programme, key: str, *, at: datetime) -> dict:
    """The member's referral code (made on first request) and whom they referred."""
    m = active_member(conn, key)
    code = codes.referral_code(conn, m.id, at)
    q = (select(referrals.c.referee_id, referrals.c.at, members.c.name, referral_rewards.c.at.label("rewarded"))
         .select_from(referrals.join(members, members.c.id == referrals.c.referee_id)
                      .outerjoin(referral_rewards, referral_rewards.c.referee_id == referrals.c.referee_id))
         .where(referrals.c.referrer_id == m.id).order_by(referrals.c.at, by_code_point(referrals.c.referee_id)))
    rows = [{"member": r.referee_id, "name": r.name, "joined": r.at.date(),
             "status": "rewarded" if r.rewarded else "pending",
             "rewarded_on": r.rewarded.date() if r.rewarded else None} for r in conn.execute(q)]
    return {"member": m.id, "name": m.name, "code": code, "referred": [r["member"] for r in rows], "referrals": rows}
