"""The programme report and the member lists that come with it: who has
points about to expire, who has lapsed.

A period is [start, end] by business date (`at`), start None meaning the
beginning of the ledger. Flows (sales, points issued, ...) count what happened
in the period; stocks (outstanding points, tier mix, lapsed members, points
expiring soon) are as of its end. Every figure is an aggregate query, so the
report stays fast on a large ledger. Money is minor units, points are ints,
rates are exact Decimals.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, String, and_, case, cast, func, literal, select

from loyalty_cli.domain import rules
from loyalty_cli.domain.config import Programme
from loyalty_cli.ledger.members import consent_as_of, consent_of
from loyalty_cli.queries import reports, standing
from loyalty_cli.store import db
from loyalty_cli.store.models import entries, members, purchases, refunded_purchases, refunds

ISSUED_KINDS = ("earn", "welcome", "award", "promo", "referral", "birthday")
TOP_PERCENT = 20


def _in(col, start: datetime | None, end: datetime):
    return and_(col >= start, col <= end) if start is not None else col <= end


def _month(col):
    # "YYYY-MM" of a date-time, on SQLite (stored as text) and PostgreSQL alike. Build it once per
    # query and use that one object in SELECT and GROUP BY: two builds bind their own parameters
    # ($1, $2 and $3, $4 on psycopg 3), and PostgreSQL then takes them for different expressions.
    return func.substr(cast(col, String), 1, 7)


def _per_member(conn: Connection, start: datetime | None, end: datetime, recent_from: datetime) -> list[tuple]:
    """One pass over the purchases up to `end`, grouped by member:
    (member, purchases in the period, amount rung up in it, purchases before
    it, purchases from `recent_from` on). Integers only, read as plain rows."""
    def count(cond):
        return func.sum(case((cond, 1), else_=0))

    in_period = _in(purchases.c.at, start, end)
    before = purchases.c.at < start if start is not None else literal(False)
    return db.plain_rows(conn, select(
        purchases.c.member_id, count(in_period), func.sum(case((in_period, purchases.c.amount), else_=0)),
        count(before), count(purchases.c.at >= recent_from))
        .where(purchases.c.at <= end).group_by(purchases.c.member_id))


def _refunded_by_member(conn: Connection, start: datetime | None, end: datetime) -> dict[str, int]:
    """member -> amount refunded in the period (a refund counts in the period it happened)."""
    return {m: int(back) for m, back in db.plain_rows(conn,
            select(purchases.c.member_id, func.sum(refunds.c.amount))
            .select_from(refunded_purchases)
            .where(_in(refunds.c.at, start, end)).group_by(purchases.c.member_id))}


def _points_by_month(conn: Connection, start: datetime | None, end: datetime) -> tuple[dict[str, int], dict]:
    """Points moved in the period by kind of entry, in total (counting the
    expiry due in the period that `expire` has not posted yet) and by month
    (as recorded), from one pass over the entries."""
    total: dict[str, int] = {}
    by_month: dict[tuple[str, str], int] = {}
    month = _month(entries.c.at)  # one expression in SELECT and GROUP BY: PostgreSQL matches them by their text
    for key, kind, pts in db.plain_rows(conn, select(month, entries.c.kind, func.sum(entries.c.points))
                                        .where(_in(entries.c.at, start, end)).group_by(month, entries.c.kind)):
        total[kind] = total.get(kind, 0) + int(pts)
        by_month[key, kind] = int(pts)
    due = sum(standing.due_totals(conn, end, since=start).values())
    if due:
        total["expire"] = total.get("expire", 0) - due
    return total, by_month


def _balances(conn: Connection, end: datetime) -> dict[str, int]:
    return reports.points_as_of(conn, end)


def _outstanding(conn: Connection, at: datetime) -> int:
    """Every member's points at `at`, summed: the cached balances less what
    is dated after `at` and the expiry due by then not posted yet."""
    cached = conn.execute(select(func.coalesce(func.sum(members.c.points), 0))).scalar_one()
    return int(cached) - sum(reports.not_yet(conn, at).values())


def _last_purchases(conn: Connection, end: datetime) -> dict[str, tuple[datetime, int]]:
    return {m: (last, int(n)) for m, last, n in conn.execute(
        select(purchases.c.member_id, func.max(purchases.c.at), func.count())
        .where(purchases.c.at <= end).group_by(purchases.c.member_id))}


def report(conn: Connection, prog: Programme, start: datetime | None, end: datetime, *,
           lapsed_days: int, shop_sales: int | None = None) -> dict:  # long: a few whole-ledger passes, then sums
    # Whole-ledger passes, each an aggregate in the database read as plain
    # rows: purchases per member, qualifying totals (tiers), entries per
    # month and kind, purchases per month, member ids. See benchmarks/README.md.
    cutoff = end.date() - timedelta(days=lapsed_days)
    recent_from = datetime.combine(cutoff + timedelta(days=1), time.min)  # a purchase from here on is not lapsed
    enrolled = conn.execute(select(func.count()).select_from(members).where(members.c.enrolled_at <= end)).scalar_one()
    new = conn.execute(select(func.count()).select_from(members)
                       .where(_in(members.c.enrolled_at, start, end))).scalar_one()

    per_member = _per_member(conn, start, end, recent_from)
    refunded = _refunded_by_member(conn, start, end)
    buyers = {m: int(amount) - refunded.get(m, 0) for m, n, amount, _, _ in per_member if n > 0}
    n_purchases = sum(n for _, n, _, _, _ in per_member)
    sales = sum(amount for _, _, amount, _, _ in per_member) - sum(refunded.values())
    first_time = sum(1 for _, n, _, earlier, _ in per_member if n > 0 and earlier == 0)
    repeaters = sum(1 for _, n, _, _, _ in per_member if n >= 2)
    recent = {m for m, _, _, _, r in per_member if r > 0}

    kinds, points_months = _points_by_month(conn, start, end)
    issued = sum(kinds.get(k, 0) for k in ISSUED_KINDS)
    redeemed = -kinds.get("redeem", 0) - kinds.get("restore", 0)
    expired = -kinds.get("expire", 0)
    taken_back = -kinds.get("refund", 0)
    adjusted = kinds.get("adjust", 0)
    outstanding = _outstanding(conn, end)
    opening = _outstanding(conn, start - timedelta(microseconds=1)) if start is not None else 0

    ranked = sorted(((v, m) for m, v in buyers.items()), key=lambda t: (-t[0], t[1]))
    top = ranked[:rules.top_count(len(ranked), TOP_PERCENT)]
    top_sales = sum(v for v, _ in top)

    soon = standing.expiring_within(conn, end, prog.warn_days)
    # Lapsed: enrolled by the cutoff day, and no purchase after it (up to `end`).
    ids = db.plain_rows(conn, select(members.c.id, case((members.c.enrolled_at < recent_from, 1), else_=0))
                        .where(members.c.enrolled_at <= end))
    lapsed = sum(1 for m, old in ids if old and m not in recent)
    _, level_of = standing.tier_standing(conn, prog, end)
    mix = {lv.name: 0 for lv in prog.levels}
    for lv, n in Counter(level_of(m) for m, _ in ids).items():
        mix[lv.name] += n

    months: dict[str, dict] = {}

    def month(key: str) -> dict:
        return months.setdefault(key, {"month": key, "purchases": 0, "sales": 0, "points_issued": 0,
                                       "points_redeemed": 0})

    discounts = paid_points = 0
    sold, back_in = _month(purchases.c.at), _month(refunds.c.at)
    for key, n, amount, discount, paid in db.plain_rows(conn, select(
            sold, func.count(), func.sum(purchases.c.amount), func.sum(purchases.c.discount),
            func.sum(purchases.c.points_paid)).where(_in(purchases.c.at, start, end)).group_by(sold)):
        month(key)["purchases"] += int(n)
        month(key)["sales"] += int(amount)
        discounts += int(discount)
        paid_points += int(paid)
    for key, back in db.plain_rows(conn, select(back_in, func.sum(refunds.c.amount))
                                   .where(_in(refunds.c.at, start, end)).group_by(back_in)):
        month(key)["sales"] -= int(back)
    for (key, kind), pts in points_months.items():
        if kind in ISSUED_KINDS:
            month(key)["points_issued"] += pts
        elif kind in ("redeem", "restore"):
            month(key)["points_redeemed"] -= pts

    return {
        "since": start, "until": end,
        "members": enrolled, "new_members": new, "active_members": len(buyers),
        "purchases": n_purchases, "first_time_purchases": first_time,
        "repeat_purchases": n_purchases - first_time,
        "sales": sales, "discounts": discounts, "paid_with_points": paid_points,
        "repeat_rate": rules.ratio(repeaters, len(buyers)), "repeat_members": repeaters,
        "shop_sales": shop_sales, "member_share": rules.ratio(sales, shop_sales) if shop_sales else None,
        "points_opening": opening, "points_issued": issued, "points_redeemed": redeemed,
        "points_expired": expired, "points_taken_back": taken_back, "points_adjusted": adjusted,
        "redemption_rate": rules.ratio(redeemed, issued),
        "outstanding_points": outstanding,
        "liability": rules.points_value(outstanding, prog.point_value, prog.currency.decimals),
        "expiring_points": sum(sum(per.values()) for per in soon.values()), "expiring_members": len(soon),
        "warn_days": prog.warn_days,
        "lapsed_members": lapsed, "lapsed_days": lapsed_days,
        "top_members": len(top), "top_percent": TOP_PERCENT, "top_sales": top_sales,
        "top_share": rules.ratio(top_sales, sales) if sales > 0 else None,
        "tiers": [{"tier": name, "members": n} for name, n in mix.items()],
        "months": [months[k] for k in sorted(months)],
    }


def lapsed_members(conn: Connection, prog: Programme, end: datetime, days: int,
                   marketing_only: bool = False, balances: dict[str, int] | None = None) -> list[dict]:
    """Members with no purchase in the `days` days up to `end` (so `days` or
    more days since their last purchase, or since enrolment if they never
    bought): the most valuable first, for a win-back mailing. Marketing
    consent is as it stood at `end` (names and contacts as they are now)."""
    cutoff = end.date() - timedelta(days=days)
    last = _last_purchases(conn, end)
    spent = _lifetime_spend(conn, end)
    balances = balances if balances is not None else _balances(conn, end)
    consent = consent_as_of(conn, end)
    q = select(members).where(members.c.enrolled_at < datetime.combine(cutoff + timedelta(days=1), time.min))
    out = []
    for r in conn.execute(q):
        marketing = consent_of(r, consent)[0]
        if marketing_only and not marketing:
            continue
        seen, n = last.get(r.id, (None, 0))
        since = seen.date() if seen is not None else r.enrolled_at.date()
        if since > cutoff:
            continue
        out.append({"member": r.id, "name": r.name, "email": r.email, "phone": r.phone,
                    "marketing": marketing, "enrolled": r.enrolled_at.date(),
                    "last_purchase": seen.date() if seen is not None else None,
                    "days_since": (end.date() - since).days, "purchases": n,
                    "spend": spent.get(r.id, 0), "points": balances.get(r.id, 0)})
    out.sort(key=lambda x: (-x["spend"], x["member"]))
    return out


def _lifetime_spend(conn: Connection, end: datetime) -> dict[str, int]:
    """Amount rung up less amount refunded, up to `end`, per member."""
    out = {m: int(v) for m, v in conn.execute(
        select(purchases.c.member_id, func.sum(purchases.c.amount)).where(purchases.c.at <= end)
        .group_by(purchases.c.member_id))}
    for m, v in conn.execute(
            select(purchases.c.member_id, func.sum(refunds.c.amount))
            .select_from(refunded_purchases)
            .where(refunds.c.at <= end).group_by(purchases.c.member_id)):
        out[m] = out.get(m, 0) - int(v)
    return out


def expiring_members(conn: Connection, prog: Programme, end: datetime, within: int,
                     marketing_only: bool = False) -> list[dict]:
    """Members with points that expire within `within` days after `end`, one
    row each, soonest first, for a reminder mailing: `expires`, the first day
    some of their points are gone (the last day to spend them is the day
    before), with `points_expiring`, only the points gone that day;
    `total_expiring`, all that expire within the window; and `expiring`, each
    day with its points (as `show` lists them). Consent as it stood at `end`."""
    soon = standing.expiring_within(conn, end, within)
    if not soon:
        return []
    balances = _balances(conn, end)
    consent = consent_as_of(conn, end)
    out = []
    for r in conn.execute(select(members)):
        per = soon.get(r.id)
        marketing = consent_of(r, consent)[0]
        if per is None or (marketing_only and not marketing):
            continue
        first = min(per)
        out.append({"member": r.id, "name": r.name, "email": r.email, "phone": r.phone,
                    "marketing": marketing, "points_expiring": per[first], "expires": first,
                    "last_day": first - timedelta(days=1), "total_expiring": sum(per.values()),
                    "expiring": [{"date": d, "points": p} for d, p in per.items()],
                    "points": balances.get(r.id, 0)})
    out.sort(key=lambda x: (x["expires"], -x["points_expiring"], x["member"]))
    return out


# --- the report per store ------------------------------------------------------
# What can be told per store is what happened on its purchases: sales (after the
# refunds of its purchases, counted where the purchase was rung up), purchases,
# discounts, the part paid with points, the members who bought there, and the
# points those purchases earned (earn, promo and referral entries carrying their
# order) or redeemed, and refunds took back. Members, outstanding points,
# liability, expiry, lapses and tiers belong to the programme, not to a store.

STORE_ZERO = {"purchases": 0, "sales": 0, "discounts": 0, "paid_with_points": 0, "active_members": 0,
              "repeat_members": 0, "points_issued": 0, "points_redeemed": 0, "points_taken_back": 0}


def stores(conn: Connection, end: datetime) -> list[str | None]:
    """The stores purchases were rung up at up to `end`, by code point; None
    (purchases without a store) last."""
    found = [s for (s,) in db.plain_rows(conn, select(purchases.c.store).distinct().where(purchases.c.at <= end))]
    return sorted(found, key=lambda s: (s is None, s or ""))


def by_store(conn: Connection, start: datetime | None, end: datetime) -> list[dict]:
    """The period's figures of every store known by `end` (see above), one
    dict each with `store` and its share of the period's sales, in the order of `stores`."""
    out: dict[str | None, dict[str, Any]] = {s: {"store": s, **STORE_ZERO} for s in stores(conn, end)}
    buyers: dict[str | None, Counter] = {}
    for s, m, n, amount, discount, paid, redeemed in db.plain_rows(conn, select(
            purchases.c.store, purchases.c.member_id, func.count(), func.sum(purchases.c.amount),
            func.sum(purchases.c.discount), func.sum(purchases.c.points_paid), func.sum(purchases.c.points_redeemed))
            .where(_in(purchases.c.at, start, end)).group_by(purchases.c.store, purchases.c.member_id)):
        f = out.setdefault(s, {"store": s, **STORE_ZERO})
        f["purchases"] += int(n)
        f["sales"] += int(amount)
        f["discounts"] += int(discount)
        f["paid_with_points"] += int(paid)
        f["points_redeemed"] += int(redeemed)
        buyers.setdefault(s, Counter())[m] += int(n)
    for s, back, points, restored in db.plain_rows(conn, select(
            purchases.c.store, func.sum(refunds.c.amount), func.sum(refunds.c.points),
            func.sum(refunds.c.points_restored)).select_from(refunded_purchases)
            .where(_in(refunds.c.at, start, end)).group_by(purchases.c.store)):
        f = out.setdefault(s, {"store": s, **STORE_ZERO})  # (a refund's purchase is always before it)
        f["sales"] -= int(back)
        f["points_taken_back"] += int(points)
        f["points_redeemed"] -= int(restored)
    for s, pts in db.plain_rows(conn, select(purchases.c.store, func.sum(entries.c.points))
                                .select_from(entries.join(purchases, purchases.c.order_id == entries.c.order_id))
                                .where(entries.c.kind.in_(ISSUED_KINDS), _in(entries.c.at, start, end))
                                .group_by(purchases.c.store)):
        out.setdefault(s, {"store": s, **STORE_ZERO})["points_issued"] += int(pts)
    total = sum(f["sales"] for f in out.values())
    for s, f in out.items():
        counts = buyers.get(s, Counter())
        f["active_members"] = len(counts)
        f["repeat_members"] = sum(1 for n in counts.values() if n >= 2)
        f["repeat_rate"] = rules.ratio(f["repeat_members"], f["active_members"])
        f["sales_share"] = rules.ratio(f["sales"], total) if total > 0 else None
    return list(out.values())


def store_months(conn: Connection, store: str, start: datetime | None, end: datetime) -> list[dict]:
    """A store's months of the period, as the report's months: purchases,
    sales after refunds, points its purchases issued and redeemed."""
    months: dict[str, dict] = {}

    def month(key: str) -> dict:
        return months.setdefault(key, {"month": key, "purchases": 0, "sales": 0, "points_issued": 0,
                                       "points_redeemed": 0})

    sold, back_in, moved = _month(purchases.c.at), _month(refunds.c.at), _month(entries.c.at)
    at_store = purchases.c.store == store
    for key, n, amount, redeemed in db.plain_rows(conn, select(
            sold, func.count(), func.sum(purchases.c.amount), func.sum(purchases.c.points_redeemed))
            .where(at_store, _in(purchases.c.at, start, end)).group_by(sold)):
        m = month(key)
        m["purchases"] += int(n)
        m["sales"] += int(amount)
        m["points_redeemed"] += int(redeemed)
    for key, back, restored in db.plain_rows(conn, select(
            back_in, func.sum(refunds.c.amount), func.sum(refunds.c.points_restored))
            .select_from(refunded_purchases).where(at_store, _in(refunds.c.at, start, end)).group_by(back_in)):
        month(key)["sales"] -= int(back)
        month(key)["points_redeemed"] -= int(restored)
    for key, pts in db.plain_rows(conn, select(moved, func.sum(entries.c.points))
                                  .select_from(entries.join(purchases, purchases.c.order_id == entries.c.order_id))
                                  .where(at_store, entries.c.kind.in_(ISSUED_KINDS), _in(entries.c.at, start, end))
                                  .group_by(moved)):
        month(key)["points_issued"] += int(pts)
    return [months[k] for k in sorted(months)]
