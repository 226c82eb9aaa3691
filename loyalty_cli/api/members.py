"""Members: enroll, edit, forget, members, show — and their results."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from loyalty_cli.api.core import LedgerCore, Moment
from loyalty_cli.api.results import Result, Rows, internal, row
from loyalty_cli.errors import LoyaltyError


@dataclass(frozen=True)
class Enrolment(Result):
    """`loyalty enroll`: the new member's id (generated when none was given),
    the welcome bonus credited, and who referred them."""

    member: str
    name: str
    points: int
    referred_by: str | None


@dataclass(frozen=True)
class Edit(Result):
    """`loyalty edit`: the fields that changed (the command prints no JSON)."""

    member: str
    changed: tuple[str, ...]


@dataclass(frozen=True)
class Forgotten(Result):
    """`loyalty forget`: what was erased, and whether the ledger file was
    scrubbed (False: another process kept an old copy open; run it again)."""

    member: str
    forgotten_at: dt.datetime
    already: bool  # forgotten before: nothing erased now, the file scrubbed again
    erased: tuple[str, ...]
    points: int
    scrubbed: bool


@row
class Member(NamedTuple):
    """A row of `loyalty members` (`name` and the rest are None once forgotten)."""

    member: str
    name: str | None
    email: str | None
    phone: str | None
    birthday: dt.date | None
    enrolled: dt.date
    marketing: bool
    points: int
    tier: str


class Members(Rows[Member]):
    """`loyalty members`: a Member per member, by id."""


@dataclass(frozen=True)
class ExpiringPoints(Result):
    """Points that expire on `date` (spendable until the day before)."""

    date: dt.date
    points: int


@dataclass(frozen=True)
class RecentEntry(Result):
    """A line of the member's history, with the running balance."""

    date: dt.date
    at: dt.datetime
    kind: str
    points: int
    order: str | None
    note: str | None
    balance: int


@dataclass(frozen=True)
class MemberView(Result):
    """`loyalty show`: a member at a glance as of a moment. The tier figures
    (`to_next_tier`, `qualifying_total`) are amounts (Decimal) when tiers go
    by spend and points (int) when they go by points. `usual_store`: where
    most of their purchases were rung up (of a tie, the latest); None when
    none names a store."""

    member: str
    name: str | None
    email: str | None
    phone: str | None
    birthday: dt.date | None
    enrolled: dt.datetime
    marketing: bool
    marketing_at: dt.datetime | None
    forgotten_at: dt.datetime | None
    points: int
    available: int
    pending: int
    tier: str
    tier_basis: str
    tier_window: str
    lifetime_spend: Decimal
    usual_store: str | None
    next_tier: str | None
    to_next_tier: Decimal | int | None
    expiring: tuple[ExpiringPoints, ...]
    qualifying_total: Decimal | int
    recent: tuple[RecentEntry, ...]
    # (qualifying total - this tier's min, next tier's min - this tier's min), in
    # minor units or points: how far along to the next tier (None at the top)
    progress: tuple[int, int] | None = internal()


class MembersAPI(LedgerCore):
    def enroll(self, member: str | None = None, *, name: str, email: str | None = None, phone: str | None = None,
               birthday: dt.date | str | None = None, marketing: bool = False, referral: str | None = None,
               date: Moment | None = None) -> Enrolment:
        """Enrol a new member with id `member` (generated when None: see the
        result's `member`). `birthday` is a date or YYYY-MM-DD; `marketing`
        records consent with its date; `referral` is the referral code of the
        member who brought them; the welcome bonus is credited at once."""
        from loyalty_cli.ledger import operations

        with self._session(write=True) as conn:
            at = self._at(date)
            r = operations.enroll(conn, self.programme, at=at, name=name, member_id=member, email=email,
                                  phone=phone, birthday=self._day(birthday, "--birthday"), marketing=marketing,
                                  referral=referral)
        return Enrolment(**r)

    def edit(self, member: str, *, name: str | None = None, email: str | None = None, phone: str | None = None,
             birthday: dt.date | str | None = None, marketing: bool | None = None,
             date: Moment | None = None) -> Edit:
        """Change a member's personal data: each of `name`, `email`, `phone`,
        `birthday` and `marketing` that is not None (an empty string clears
        the e-mail, phone or birthday). Points are never edited (see adjust)."""
        from loyalty_cli.ledger import operations

        changes: dict[str, Any] = {k: v for k, v in (("name", name), ("email", email), ("phone", phone))
                                   if v is not None}
        if birthday is not None:  # checked before the ledger is read, as the command always did
            changes["birthday"] = self._day(birthday, "--birthday")
        if marketing is not None:
            changes["marketing"] = marketing
        with self._session(write=True) as conn:
            r = operations.edit(conn, self.programme, member, at=self._at(date), **changes)
        return Edit(member=r["member"], changed=tuple(r["changed"]))

    def forget(self, member: str, *, date: Moment | None = None) -> Forgotten:
        """Erase a member's personal data for good (name, e-mail, phone,
        birthday, marketing consent): the id and every entry stay, anonymous.
        There is no confirmation here: the caller has decided. After the
        erase commits, the ledger file is vacuumed and its WAL emptied
        (`scrubbed`); forgetting a forgotten member scrubs again."""
        from loyalty_cli.ledger import operations
        from loyalty_cli.store import db

        with self._session(write=True) as conn:
            db.secure_delete(conn)
            r = operations.forget(conn, member, at=self._at(date))
        engine = db.engine_for(self.url)  # its own connection: VACUUM runs outside any transaction
        try:
            scrubbed = db.scrub(engine, r.get("values", ()))
        except LoyaltyError as e:  # the erase is committed: say so, and how to finish
            if engine.dialect.name != "sqlite":
                raise LoyaltyError(f"member {r['member']} was forgotten in the ledger (that stays written), but "
                                   f"{e}, then `loyalty forget {r['member']} --yes` again to check") from None
            raise LoyaltyError(
                f"member {r['member']} was forgotten, but the ledger file could not be scrubbed yet ({e}), so an "
                f"old copy of their personal data may remain in it; free some disk space (scrubbing needs room "
                f"for a second copy of the ledger) and run `loyalty forget {r['member']} --yes` again to "
                f"finish") from None
        finally:
            engine.dispose()
        return Forgotten(member=r["member"], forgotten_at=r["forgotten_at"], already=r["already"],
                         erased=tuple(r["erased"]), points=r["points"], scrubbed=scrubbed)

    def members(self, *, tier: str | None = None, search: str | None = None,
                as_of: Moment | None = None) -> Members:
        """Every member enrolled by `as_of` (default now), by id, with points
        and tier; only those in `tier`, or whose id, name, e-mail or phone
        contains `search`, when given."""
        from loyalty_cli.queries import reports

        with self._session(write=False) as conn:
            rows = reports.member_list(conn, self.programme, self._as_of(as_of), tier=tier, search=search)
        return Members(tuple(map(Member._make, rows)))

    def show(self, member: str, *, as_of: Moment | None = None) -> MemberView:
        """A member at a glance as of `as_of` (default now; a date means its
        end): profile, points (available, pending), tier and the way to the
        next one, points expiring soon and the recent history."""
        from loyalty_cli.queries import reports

        with self._session(write=False) as conn:
            r = reports.show(conn, self.programme, member, self._as_of(as_of))
        spend = self.programme.tier_basis == "spend"
        tier_figure = self._money if spend else (lambda v: v)
        nxt = r["next_tier_min"]
        return MemberView(
            member=r["member"], name=r["name"], email=r["email"], phone=r["phone"], birthday=r["birthday"],
            enrolled=r["enrolled"], marketing=r["marketing"], marketing_at=r["marketing_at"],
            forgotten_at=r["forgotten_at"], points=r["points"], available=r["available"], pending=r["pending"],
            tier=r["tier"], tier_basis=r["tier_basis"], tier_window=r["tier_window"],
            lifetime_spend=self._money(r["lifetime_spend"]), usual_store=r["usual_store"], next_tier=r["next_tier"],
            to_next_tier=None if r["to_next_tier"] is None else tier_figure(r["to_next_tier"]),
            expiring=tuple(ExpiringPoints(e["date"], e["points"]) for e in r["expiring"]),
            qualifying_total=tier_figure(r["qualifying"]),
            recent=tuple(RecentEntry(h["date"], h["at"], h["kind"], h["points"], h["order"], h["note"], h["balance"])
                         for h in r["recent"]),
            progress=None if nxt is None else (r["qualifying"] - r["tier_min"], nxt - r["tier_min"]))
