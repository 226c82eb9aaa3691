"""The time-driven rules: expiry, birthday bonuses, the tier review, and the
daily run that does them all.

Each rule is idempotent and dated by the calendar, not by when it ran: an
expiry is posted at the start of its expiry day, a birthday bonus on the
birthday, a tier change on the day a window let go of a purchase. So a run
after missed days writes what daily runs would have written (except a
birthday bonus more than BIRTHDAY_GRACE_DAYS late, which no run pays), and
running twice writes nothing new. Everything runs inside the caller's one write
transaction.
"""

from __future__ import annotations

from calendar import isleap
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select, true

from loyalty_cli.domain.config import Programme
from loyalty_cli.ledger import operations, tiers
from loyalty_cli.ledger.posting import amend, record
from loyalty_cli.queries import standing
from loyalty_cli.store.db import by_code_point
from loyalty_cli.store.models import birthday_bonuses, entries, members, meta, purchases, tier_changes

# A birthday bonus is paid by a run on the birthday or up to this many days
# after it, and never later: by `birthdays` and `daily` alike, however long
# ago the previous run was, so turning the bonus on (or a cron that was off
# for two months) does not pay birthdays long past.
BIRTHDAY_GRACE_DAYS = 30


def expire(conn: Connection, as_of: datetime) -> dict:
    posted = operations.expire_due(conn, as_of)
    return {"as_of": as_of, "members": len({p["member"] for p in posted}),
            "points": sum(p["points"] for p in posted), "expired": posted}


# --- birthdays ----------------------------------------------------------------


def birthday_in(born: date, year: int) -> date:
    """The birthday in `year`; 29 February is kept on 28 February in other years."""
    if born.month == 2 and born.day == 29 and not isleap(year):
        return date(year, 2, 28)
    return born.replace(year=year)


def due_birthdays(born: date, enrolled: date, first: date, on: date) -> list[date]:
    """The birthdays from `first` to `on` whose bonus may be due: on or after
    enrolment and after the day of birth itself."""
    days = [birthday_in(born, year) for year in range(first.year, on.year + 1)]
    return [d for d in days if first <= d <= on and d >= enrolled and d > born]


def birthdays_payable(born: date, enrolled: date, on: date) -> list[date]:
    """The rule: the birthdays a run on day `on` may pay, those of the last
    BIRTHDAY_GRACE_DAYS days (the day itself included)."""
    return due_birthdays(born, enrolled, on - timedelta(days=BIRTHDAY_GRACE_DAYS), on)


def birthdays(conn: Connection, prog: Programme, as_of: datetime) -> dict:
    """Credit the birthday bonus to every member whose birthday has come,
    once per member per year, dated on the birthday itself, by a run within
    BIRTHDAY_GRACE_DAYS after it (`birthdays_payable`). A forgotten member
    has no birthday any more, and earns nothing new."""
    granted: list[dict] = []
    if prog.birthday_bonus:
        paid = {(m, y) for m, y in conn.execute(select(birthday_bonuses.c.member_id, birthday_bonuses.c.year))}
        rows = conn.execute(select(members.c.id, members.c.name, members.c.birthday, members.c.enrolled_at)
                            .where(members.c.birthday.is_not(None), members.c.enrolled_at <= as_of,
                                   members.c.forgotten_at.is_(None))
                            .order_by(by_code_point(members.c.id))).all()
        for r in rows:
            for day in birthdays_payable(r.birthday, r.enrolled_at.date(), as_of.date()):
                if (r.id, day.year) in paid:
                    continue
                at = max(datetime.combine(day, time.min), r.enrolled_at)
                operations.birthday_bonus(conn, prog, r.id, at, day.year)
                paid.add((r.id, day.year))
                granted.append({"member": r.id, "name": r.name, "birthday": day, "points": prog.birthday_bonus})
    return {"as_of": as_of, "members": len({g["member"] for g in granted}),
            "points": sum(g["points"] for g in granted), "granted": granted}


# --- tiers --------------------------------------------------------------------


def _members_to_review(conn: Connection, prog: Programme, since: datetime | None,
                       until: datetime) -> list[str]:
    """The members whose tier window may have let go of something in
    (since, until]: with a calendar-year window everyone with a purchase (or
    earning) if a 1 January falls in it; with a rolling one those with a
    purchase (or earning) whose day + 365 does."""
    if not prog.downgrade or prog.tier_window == "lifetime":
        return []  # totals only fall by refunds, which record their own change
    span = timedelta(days=365)
    calendar = prog.tier_window == "calendar-year"
    if calendar:
        first = since.year + 1 if since is not None else None
        if first is not None and first > until.year:
            return []  # no 1 January in (since, until]
        end = until
    else:
        end = datetime.combine(until.date() - span, time.max)  # its day + 365 is on or before `until`
    low = datetime.combine(since.date() - span, time.min) if since is not None and not calendar else None
    sources: list[tuple[Any, Any, Any]] = [(purchases.c.member_id, purchases.c.at, true())]
    if prog.tier_basis == "points":
        sources.append((entries.c.member_id, entries.c.at, entries.c.kind.in_(standing.EARNED_KINDS)))
    ids: set[str] = set()
    for member, at, kind in sources:
        q = select(member).distinct().where(at <= end, kind)
        if low is not None:  # its day + 365 is after `since`
            q = q.where(at >= low)
        ids.update(conn.execute(q).scalars())
    return sorted(ids)


def _sync(conn: Connection, prog: Programme, at: datetime) -> list[dict]:
    """Record, at `at`, every member whose tier then differs from the log."""
    levels, _ = standing.levels_at(conn, prog, at)
    logged = standing.recorded_tiers(conn, prog, at)
    base = prog.levels[0].name
    out = []
    for m in sorted(levels):
        before, after = logged.get(m, base), levels[m].name
        if before != after:
            record(conn, tier_changes, [{"member_id": m, "at": at, "from_tier": before, "to_tier": after}])
            out.append({"member": m, "date": at.date(), "from": before, "to": after})
    return out


def review_tiers(conn: Connection, prog: Programme, since: datetime | None, until: datetime) -> list[dict]:
    """Record the tier changes that time alone brought about in (since, until]:
    each on the day its window let go, by the one tier review that writes use
    (`tiers.review_members`, where a refund counts in the window of the
    purchase it refunds), then any difference left at `until`."""
    found = tiers.review_members(conn, prog, _members_to_review(conn, prog, since, until), until)
    changes = [{"member": m, "date": at.date(), "from": before, "to": after}
               for m, at, before, after in sorted(found, key=lambda c: (c[1], c[0]))]
    return changes + _sync(conn, prog, until)


# --- pending points and the daily run -----------------------------------------


def released(conn: Connection, since: datetime | None, until: datetime) -> int:
    """Pending points that became spendable on a day in (since, until] (only
    `until`'s day on the first run) and are still unspent."""
    first = since.date() + timedelta(days=1) if since is not None else until.date()
    lots = conn.execute(select(entries.c.member_id).where(
        entries.c.available_on >= first, entries.c.available_on <= until.date(),
        entries.c.points > 0, entries.c.at <= until).distinct()).scalars().all()
    total = 0
    for m in lots:
        total += sum(lot.remaining for lot in standing.lots(conn, m, created_by=until)
                     if lot.available_on is not None and first <= lot.available_on <= until.date()
                     and (lot.expires_on is None or lot.expires_on > until.date()))
    return total


def _mark(conn: Connection, as_of: datetime, previous: datetime | None) -> None:
    if previous is None:
        record(conn, meta, [{"key": standing.DAILY_MARK, "value": as_of.isoformat()}])
    elif as_of > previous:
        amend(conn, meta, standing.DAILY_MARK, value=as_of.isoformat())


def run(conn: Connection, prog: Programme, as_of: datetime) -> dict:
    """Everything time-driven, as of `as_of`: birthday bonuses, then expiry
    (so a bonus already past its expiry goes too), pending points released,
    and the tier review since the last run."""
    previous = standing.last_daily_run(conn)
    bdays = birthdays(conn, prog, as_of)
    expired = expire(conn, as_of)
    freed = released(conn, previous, as_of)
    changes = review_tiers(conn, prog, previous, as_of)
    _mark(conn, as_of, previous)
    return {"as_of": as_of, "previous_run": previous, "birthdays": bdays, "expired": expired,
            "released_points": freed, "tier_changes": changes}
