"""Reports: balance, history, tiers, report, expiring, lapsed — and their results."""

from __future__ import annotations

from typing import NamedTuple

from loyalty_cli.api.core import LedgerCore, Moment
from loyalty_cli.api.results import Rows


class Balance(NamedTuple):
    """A member's points and tier as of a moment."""

    member: str
    name: str
    points: int
    tier: str


class Balances(Rows[Balance]):
    """`loyalty balance`: a Balance per member, by id."""


class ReportsAPI(LedgerCore):
    def balance(self, member: str, *, as_of: Moment | None = None) -> Balance:
        """One member's points and tier (`member`: id, e-mail or phone)."""
        return self.balances(member, as_of=as_of)[0]

    def balances(self, *members: str, as_of: Moment | None = None) -> Balances:
        """Points and tier of the named members, or of every member when none
        is named, as of `as_of` (default now; a date means its end)."""
        from loyalty_cli.queries import reports

        with self._session(write=False) as conn:
            rows = reports.balances(conn, self.programme, self._as_of(as_of), list(members) or None)
        return Balances(tuple(Balance(r["member"], r["name"], r["points"], r["tier"]) for r in rows))
