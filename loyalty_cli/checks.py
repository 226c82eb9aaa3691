"""The integrity checks behind `loyalty check`, as beancount and hledger do
it: each rule is a small function ``(conn, prog) -> [problems]`` over the
ledger as recorded, naming the member, entry, order or code and what was
expected and found; ``check`` runs them all. Nothing here writes.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from loyalty_cli.domain import rules
from loyalty_cli.domain.config import Programme
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
)

# ---------------------------------------------------------------------------
# check: each rule is a small function (conn, prog) -> [problems]
# ---------------------------------------------------------------------------


def _check_schema(conn: Connection, prog: Programme) -> list[str]:
    v = db.schema_version(conn)
    if v == db.SCHEMA_VERSION:
        return []
    return [f"schema: version {v}, expected {db.SCHEMA_VERSION} (run `loyalty upgrade`)"]


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
    for m, cached in conn.execute(select(members.c.id, members.c.points).order_by(db.by_code_point(members.c.id))):
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
    for m, given in conn.execute(select(members.c.id, members.c.marketing).order_by(db.by_code_point(members.c.id))):
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
    earlier), the chains are also proved to still hold that head."""
    problems = _check_schema(conn, prog)
    if problems:
        return problems + _check_sqlite(conn, prog)
    for fn in CHECKS:
        if fn is _check_chain and head is not None:
            from loyalty_cli.store import chain

            problems.extend(chain.verify(conn, head))
        else:
            problems.extend(fn(conn, prog))
    return problems
