"""Reports: balance, history, tiers, report, expiring, lapsed — and their results.

Every report is read in one read transaction, as of a moment (`as_of`:
default now; a date means the end of that day), so the same ledger and the
same `as_of` give the same result. The lists a report can make long (a
member's history, everyone's balance) are `Rows` of NamedTuples.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from loyalty_cli.api.core import Amount, LedgerCore, Moment
from loyalty_cli.api.results import Result, Rows, internal, row
from loyalty_cli.errors import LoyaltyError

if TYPE_CHECKING:
    from sqlalchemy import Connection

# --- balance -----------------------------------------------------------------


@row
class Balance(NamedTuple):
    """A member's points and tier as of a moment."""

    member: str
    name: str
    points: int
    tier: str


class Balances(Rows[Balance]):
    """`loyalty balance`: a Balance per member, by id."""


# --- history -----------------------------------------------------------------


@row
class HistoryEntry(NamedTuple):
    """One line of a member's history: an entry of the ledger, an expiry due
    but not posted yet (as it will be posted), or a tier change (kind
    "tier", 0 points, the change in `note`). `balance` is the running balance."""

    date: date
    at: datetime
    kind: str
    points: int
    balance: int
    order: str | None
    note: str | None


class History(Rows[HistoryEntry]):
    """`loyalty history`: a member's lines, oldest first."""


# --- tiers -------------------------------------------------------------------


@row
class TierLevel(NamedTuple):
    """A tier's line of the tier report. `min` and `total` are an amount
    (Decimal) when tiers are by spend, points (int) when by points."""

    tier: str
    min: Decimal | int
    members: int
    total: Decimal | int
    share_percent: Decimal


@row
class TierGap(NamedTuple):
    """A member close to their next tier: `total` so far, `to_next_tier` to go."""

    member: str
    name: str
    tier: str
    next_tier: str
    total: Decimal | int
    to_next_tier: Decimal | int


@dataclass(frozen=True)
class Tiers(Result):
    """`loyalty tiers`: members and qualifying total per tier, and the members
    closest to their next tier (at most ten)."""

    as_of: datetime
    basis: str
    window: str
    members: int
    tiers: tuple[TierLevel, ...]
    closest: tuple[TierGap, ...]
    currency: str = internal()  # the programme's currency code, for the table's headers


# --- report ------------------------------------------------------------------


@row
class TierCount(NamedTuple):
    """Members in a tier at the end of the report's period."""

    tier: str
    members: int


@row
class Month(NamedTuple):
    """A month of the report's period ("YYYY-MM"): purchases, sales after
    refunds, points issued and redeemed."""

    month: str
    purchases: int
    sales: Decimal
    points_issued: int
    points_redeemed: int


@dataclass(frozen=True)
class Report(Result):
    """`loyalty report`: the programme's figures for a period [since, until]
    (since None: the ledger's beginning). Flows count what happened in the
    period; stocks (outstanding points, liability, tiers, lapsed, expiring)
    are as of its end. Rates are exact Decimals (None when undefined)."""

    since: datetime | None
    until: datetime
    members: int
    new_members: int
    active_members: int
    purchases: int
    first_time_purchases: int
    repeat_purchases: int
    sales: Decimal
    discounts: Decimal
    paid_with_points: Decimal
    repeat_rate: Decimal | None
    repeat_members: int
    shop_sales: Decimal | None
    member_share: Decimal | None
    points_opening: int
    points_issued: int
    points_redeemed: int
    points_expired: int
    points_taken_back: int
    points_adjusted: int
    redemption_rate: Decimal | None
    outstanding_points: int
    liability: Decimal
    expiring_points: int
    expiring_members: int
    warn_days: int
    lapsed_members: int
    lapsed_days: int
    top_members: int
    top_percent: int
    top_sales: Decimal
    top_share: Decimal | None
    tiers: tuple[TierCount, ...]
    months: tuple[Month, ...]
    programme: str = internal()  # the programme's name, for the table's title
    currency: str = internal()  # its currency code


# --- the report per store ------------------------------------------------------


@row
class StoreFigures(NamedTuple):
    """A store's figures for the report's period (`store` None: purchases rung
    up without one): its purchases, sales after the refunds of its purchases,
    their discounts and the part paid with points; the members who bought
    there (active) and those who bought there twice or more (repeat); the
    points its purchases issued (earned, promo, referral) and redeemed, and
    those its refunds took back; its share of the period's sales."""

    store: str | None
    purchases: int
    sales: Decimal
    discounts: Decimal
    paid_with_points: Decimal
    active_members: int
    repeat_members: int
    repeat_rate: Decimal | None
    points_issued: int
    points_redeemed: int
    points_taken_back: int
    sales_share: Decimal | None


@dataclass(frozen=True)
class StoresReport(Rows[StoreFigures]):
    """`loyalty report --by store`: a StoreFigures per store that has a
    purchase by the period's end, by code point, purchases without a store last."""

    since: datetime | None = internal(None)
    until: datetime | None = internal(None)
    currency: str = internal("")


@dataclass(frozen=True)
class StoreReport(Result):
    """`loyalty report --store S`: the store's figures for the period (as a
    StoreFigures) and its months. Members, outstanding points, liability,
    expiry, lapses and tiers are the programme's, not a store's: `report`
    without --store gives them."""

    store: str
    since: datetime | None
    until: datetime
    purchases: int
    sales: Decimal
    discounts: Decimal
    paid_with_points: Decimal
    active_members: int
    repeat_members: int
    repeat_rate: Decimal | None
    points_issued: int
    points_redeemed: int
    points_taken_back: int
    sales_share: Decimal | None
    months: tuple[Month, ...]
    programme: str = internal()
    currency: str = internal()


# --- expiring and lapsed ------------------------------------------------------


@row
class ExpiryDay(NamedTuple):
    """Points of a member that expire on a day."""

    date: date
    points: int


@row
class ExpiringMember(NamedTuple):
    """A member with points about to expire: `expires` is the first day some
    are gone (`last_day` the last day to spend them), `points_expiring` the
    points gone that day, `total_expiring` all that expire within the window,
    `expiring` each day with its points. `marketing`: consent as of the report."""

    member: str
    name: str
    email: str | None
    phone: str | None
    marketing: bool
    points_expiring: int
    expires: date
    last_day: date
    total_expiring: int
    expiring: tuple[ExpiryDay, ...]
    points: int


@dataclass(frozen=True)
class Expiring(Rows[ExpiringMember]):
    """`loyalty expiring`: soonest first."""

    within: int = internal(0)  # the window, in days


@row
class LapsedMember(NamedTuple):
    """A member with no purchase for the lapse (`last_purchase` None: never
    bought; `days_since` counts from enrolment then). `spend` is the amount
    rung up less refunds, lifetime."""

    member: str
    name: str
    email: str | None
    phone: str | None
    marketing: bool
    enrolled: date
    last_purchase: date | None
    days_since: int
    purchases: int
    spend: Decimal
    points: int


@dataclass(frozen=True)
class Lapsed(Rows[LapsedMember]):
    """`loyalty lapsed`: the biggest spenders first."""

    lapsed_days: int = internal(0)


def _days(value: int, what: str, low: int) -> int:
    """A whole number of days in low..36500 (the CLI's range)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 36500:
        raise LoyaltyError(f"{what} {value!r} is not a whole number of days from {low} to 36500")
    return value


def _shown(value: Moment) -> str:
    """A moment as the caller gave it, for a message."""
    return value.strip() if isinstance(value, str) else value.isoformat()


class ReportsAPI(LedgerCore):
    def balance(self, member: str, *, as_of: Moment | None = None) -> Balance:
        """One member's points and tier (`member`: id, e-mail or phone)."""
        return self.balances(member, as_of=as_of)[0]

    def balances(self, *members: str, as_of: Moment | None = None, store: str | None = None) -> Balances:
        """Points and tier of the named members, or of every member when none
        is named, as of `as_of` (default now; a date means its end); `store`:
        of every member who bought at that store by then (their points and
        tier are the programme's, earned wherever)."""
        from loyalty_cli.queries import reports

        if store is not None and members:
            raise LoyaltyError("--store lists the members who bought at a store: name no member with it")
        with self._session(write=False) as conn:
            name = self._store(conn, store) if store is not None else None
            rows = reports.balances(conn, self.programme, self._as_of(as_of), list(members) or None, store=name)
        return Balances(tuple(map(Balance._make, rows)))

    def history(self, member: str, *, since: Moment | None = None, as_of: Moment | None = None) -> History:
        """A member's ledger entries up to `as_of`, oldest first, each with the
        running balance; with tier changes, and expiry that is due but not
        posted yet shown as it will be posted. `since` keeps only the lines
        from that moment on (the running balance still counts them all)."""
        from loyalty_cli.queries import reports

        with self._session(write=False) as conn:
            start = self._moment(since, "--since") if since else None
            rows = reports.history(conn, self.programme, member, self._as_of(as_of), since=start)
        return History(tuple(HistoryEntry(r["date"], r["at"], r["kind"], r["points"], r["balance"], r["order"],
                                          r["note"]) for r in rows))

    def tiers(self, *, as_of: Moment | None = None) -> Tiers:
        """The tier report as of `as_of`: per tier its members, their share and
        their qualifying total; and the ten members closest to their next tier."""
        from loyalty_cli.queries import reports

        prog = self.programme
        with self._session(write=False) as conn:
            r = reports.tiers(conn, prog, self._as_of(as_of))
        q = self._money if prog.tier_basis == "spend" else int
        return Tiers(
            as_of=r["as_of"], basis=r["basis"], window=r["window"], members=r["members"],
            tiers=tuple(TierLevel(t["tier"], q(t["min"]), t["members"], q(t["total"]), t["share_percent"])
                        for t in r["tiers"]),
            closest=tuple(TierGap(c["member"], c["name"], c["tier"], c["next_tier"], q(c["total"]),
                                  q(c["to_next_tier"])) for c in r["closest"]),
            currency=prog.currency.code)

    def report(self, *, since: Moment | None = None, until: Moment | None = None, lapsed_days: int = 90,
               shop_sales: Amount | None = None, as_of: Moment | None = None) -> Report:
        """The programme's figures for the period from `since` (default: the
        ledger's beginning) to `until` (default and at most: `as_of`, itself
        default now). `lapsed_days`: no purchase for this many days is lapsed;
        `shop_sales`: all the shop's sales in the period, for the members' share."""
        from loyalty_cli.queries import figures

        prog = self.programme
        days = _days(lapsed_days, "--lapsed-days", 1)
        with self._session(write=False) as conn:
            start, end = self._period(since, until, as_of)
            total = self._amount(shop_sales, "--shop-sales")
            r = figures.report(conn, prog, start, end, lapsed_days=days, shop_sales=total)
        m = self._money
        return Report(**{
            **r, "sales": m(r["sales"]), "discounts": m(r["discounts"]), "paid_with_points": m(r["paid_with_points"]),
            "shop_sales": m(r["shop_sales"]), "liability": m(r["liability"]), "top_sales": m(r["top_sales"]),
            "tiers": tuple(TierCount(t["tier"], t["members"]) for t in r["tiers"]),
            "months": tuple(Month(x["month"], x["purchases"], m(x["sales"]), x["points_issued"], x["points_redeemed"])
                            for x in r["months"]),
            "programme": prog.name, "currency": prog.currency.code})

    def _period(self, since: Moment | None, until: Moment | None,
                as_of: Moment | None) -> tuple[datetime | None, datetime]:
        """A report's period: from `since` (None: the beginning) to `until`, at most `as_of`."""
        end = self._as_of(as_of)
        if until is not None:
            end = min(end, self._as_of(until, "--until"))
        start = None
        if since:
            start = self._moment(since, "--since")
            if start > end:
                raise LoyaltyError(f"--since {_shown(since)} is after the end of the period ({end:%Y-%m-%d})")
        return start, end

    @staticmethod
    def _store(conn: Connection, store: str) -> str:
        """A store as kept (trimmed), refused when no purchase of the ledger names it."""
        from loyalty_cli.ledger.operations import check_place
        from loyalty_cli.queries import figures

        name = check_place(store, "--store")
        known = figures.stores(conn, datetime.max)
        if name not in known:
            named = ", ".join(s for s in known if s is not None) or "none"
            raise LoyaltyError(f"no purchase was rung up at store {name!r} (stores: {named})")
        return name

    def _store_figures(self, f: dict) -> StoreFigures:
        m = self._money
        return StoreFigures(f["store"], f["purchases"], m(f["sales"]), m(f["discounts"]), m(f["paid_with_points"]),
                            f["active_members"], f["repeat_members"], f["repeat_rate"], f["points_issued"],
                            f["points_redeemed"], f["points_taken_back"], f["sales_share"])

    def report_by_store(self, *, since: Moment | None = None, until: Moment | None = None,
                        as_of: Moment | None = None, store: str | None = None) -> StoresReport:
        """The report's figures that belong to a store (StoreFigures), one row
        per store with a purchase by the period's end, for the period as in
        `report`; purchases without a store are the row whose store is None.
        `store`: that store's row only (its share still of every store's sales)."""
        from loyalty_cli.queries import figures

        with self._session(write=False) as conn:
            name = self._store(conn, store) if store is not None else None
            start, end = self._period(since, until, as_of)
            rows = figures.by_store(conn, start, end)
            if name is not None:
                rows = [f for f in rows if f["store"] == name]
        return StoresReport(tuple(self._store_figures(f) for f in rows), since=start, until=end,
                            currency=self.programme.currency.code)

    def store_report(self, store: str, *, since: Moment | None = None, until: Moment | None = None,
                     as_of: Moment | None = None) -> StoreReport:
        """One store's figures for the period (as `report_by_store`'s row) and
        its months. A store no purchase of the ledger names is refused."""
        from loyalty_cli.queries import figures

        with self._session(write=False) as conn:
            name = self._store(conn, store)
            start, end = self._period(since, until, as_of)
            row = next((f for f in figures.by_store(conn, start, end) if f["store"] == name),
                       {"store": name, **figures.STORE_ZERO, "repeat_rate": None, "sales_share": None})
            months = figures.store_months(conn, name, start, end)
        m = self._money
        return StoreReport(**{**self._store_figures(row)._asdict(), "store": name}, since=start, until=end,
                           months=tuple(Month(x["month"], x["purchases"], m(x["sales"]), x["points_issued"],
                                              x["points_redeemed"]) for x in months),
                           programme=self.programme.name, currency=self.programme.currency.code)

    def expiring(self, *, within: int | None = None, marketing_only: bool = False,
                 as_of: Moment | None = None) -> Expiring:
        """Members with points that expire within `within` days after `as_of`
        (default: the programme's warn_days), soonest first; `marketing_only`
        keeps those who consented to marketing (as of `as_of`)."""
        from loyalty_cli.queries import figures

        prog = self.programme
        days = prog.warn_days if within is None else _days(within, "--within", 0)
        with self._session(write=False) as conn:
            rows = figures.expiring_members(conn, prog, self._as_of(as_of), days, marketing_only)
        return Expiring(tuple(
            ExpiringMember(r["member"], r["name"], r["email"], r["phone"], r["marketing"], r["points_expiring"],
                           r["expires"], r["last_day"], r["total_expiring"],
                           tuple(ExpiryDay(e["date"], e["points"]) for e in r["expiring"]), r["points"])
            for r in rows), within=days)

    def lapsed(self, *, lapsed_days: int = 90, marketing_only: bool = False, as_of: Moment | None = None) -> Lapsed:
        """Members with no purchase in the `lapsed_days` days up to `as_of`
        (or, if they never bought, enrolled that long ago), the biggest
        spenders first: a win-back list."""
        from loyalty_cli.queries import figures

        days = _days(lapsed_days, "--lapsed-days", 1)
        with self._session(write=False) as conn:
            rows = figures.lapsed_members(conn, self.programme, self._as_of(as_of), days, marketing_only)
        m = self._money
        return Lapsed(tuple(
            LapsedMember(r["member"], r["name"], r["email"], r["phone"], r["marketing"], r["enrolled"],
                         r["last_purchase"], r["days_since"], r["purchases"], m(r["spend"]), r["points"])
            for r in rows), lapsed_days=days)
