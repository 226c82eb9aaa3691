"""The time-driven rules: expire, birthdays, daily — and their results.

Each runs as of a moment (`as_of`): now by default, or the end of a past day
(today's date means now; a future day is refused, since nothing may be
written for a moment that has not come). Each is one write transaction and
idempotent: running it again as of the same moment writes nothing. With
`dry_run=True` it does all the work and rolls it back, so the result says
exactly what a real run would write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from loyalty_cli.api.core import LedgerCore, Moment
from loyalty_cli.api.results import Result, internal, row
from loyalty_cli.errors import LoyaltyError


@row
class ExpiredPoints(NamedTuple):
    """Points of a member that expired on a day."""

    member: str
    date: date
    points: int


@row
class BirthdayBonus(NamedTuple):
    """A birthday bonus credited (dated on the birthday)."""

    member: str
    name: str
    birthday: date
    points: int


@row(json_keys={"from_": "from"})
class TierChange(NamedTuple):
    """A tier change that time alone brought about, on the day it happened.
    In JSON `from_` is "from" (a Python keyword cannot name a field)."""

    member: str
    date: date
    from_: str
    to: str


@dataclass(frozen=True)
class Expiry(Result):
    """`loyalty expire`: what expired (or would, in a dry run), member by member."""

    as_of: datetime
    dry_run: bool
    members: int
    points: int
    expired: tuple[ExpiredPoints, ...]


@dataclass(frozen=True)
class Birthdays(Result):
    """`loyalty birthdays`: the bonuses credited (or that would be)."""

    as_of: datetime
    dry_run: bool
    members: int
    points: int
    granted: tuple[BirthdayBonus, ...]
    bonus: int = internal(0)  # the programme's birthday_bonus (0: it has none)


@dataclass(frozen=True)
class DailyBirthdays(Result):
    """`daily`'s birthday bonuses: the members, their points, each bonus."""

    members: int
    points: int
    granted: tuple[BirthdayBonus, ...]


@dataclass(frozen=True)
class DailyExpiry(Result):
    """`daily`'s expiry: the members, their points, each expiry posted."""

    members: int
    points: int
    entries: tuple[ExpiredPoints, ...]


@dataclass(frozen=True)
class DailyRun(Result):
    """`loyalty daily`: birthday bonuses, expiry, pending points that became
    spendable, and the tier changes time brought since the previous run
    (`previous_run`: None on the first)."""

    as_of: datetime
    previous_run: datetime | None
    dry_run: bool
    birthdays: DailyBirthdays
    expired: DailyExpiry
    released_points: int
    tier_changes: tuple[TierChange, ...]



def _expired(posted: list[dict]) -> tuple[ExpiredPoints, ...]:
    return tuple(ExpiredPoints(e["member"], e["date"], e["points"]) for e in posted)


def _granted(granted: list[dict]) -> tuple[BirthdayBonus, ...]:
    return tuple(BirthdayBonus(g["member"], g["name"], g["birthday"], g["points"]) for g in granted)


class DailyAPI(LedgerCore):
    def _run_as_of(self, value: Moment | None) -> datetime:
        """The moment a time-driven write runs as of: now, or the end of a
        past day (today's date means now: nothing is written for a future moment)."""
        current = self._now()
        if value is None:
            return current
        at = self._moment(value, "--as-of", end_of_day=True)
        if at.date() > current.date():
            shown = value.strip() if isinstance(value, str) else value.isoformat()
            raise LoyaltyError(f"--as-of {shown!r} is in the future (today is {current:%Y-%m-%d})")
        return min(at, current)

    def expire(self, *, as_of: Moment | None = None, dry_run: bool = False) -> Expiry:
        """Post the expiry of points whose time has come by `as_of`: points
        earned on day D with [expiry] days = N are gone on day D+N; each expiry
        is dated on its own day, so a late run writes what daily runs would have."""
        from loyalty_cli.ledger import daily

        with self._session(write=True, dry_run=dry_run) as conn:
            r = daily.expire(conn, self._run_as_of(as_of))
        return Expiry(as_of=r["as_of"], dry_run=dry_run, members=r["members"], points=r["points"],
                      expired=_expired(r["expired"]))

    def birthdays(self, *, as_of: Moment | None = None, dry_run: bool = False) -> Birthdays:
        """Credit the birthday bonus to members whose birthday has come, once
        per member per year, dated on the birthday, by a run on the day or up
        to 30 days later (29 February counts as 28 February in other years)."""
        from loyalty_cli.ledger import daily

        prog = self.programme
        with self._session(write=True, dry_run=dry_run) as conn:
            r = daily.birthdays(conn, prog, self._run_as_of(as_of))
        return Birthdays(as_of=r["as_of"], dry_run=dry_run, members=r["members"], points=r["points"],
                         granted=_granted(r["granted"]), bonus=prog.birthday_bonus)

    def daily(self, *, as_of: Moment | None = None, dry_run: bool = False) -> DailyRun:
        """Everything time-driven, in one transaction, for cron: birthday
        bonuses, expiry, pending points that became spendable and the tier
        review (changes time alone brought, each recorded on its day).
        Idempotent; a run after missed days catches up as if none were missed."""
        from loyalty_cli.ledger import daily as timed

        with self._session(write=True, dry_run=dry_run) as conn:
            r = timed.run(conn, self.programme, self._run_as_of(as_of))
        b, e = r["birthdays"], r["expired"]
        return DailyRun(
            as_of=r["as_of"], previous_run=r["previous_run"], dry_run=dry_run,
            birthdays=DailyBirthdays(b["members"], b["points"], _granted(b["granted"])),
            expired=DailyExpiry(e["members"], e["points"], _expired(e["expired"])),
            released_points=r["released_points"],
            tier_changes=tuple(TierChange(c["member"], c["date"], c["from"], c["to"]) for c in r["tier_changes"]))
