"""Points: purchase, refund, redeem, adjust, award — and their results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from loyalty_cli.api.core import Amount, LedgerCore, Moment, Points
from loyalty_cli.api.results import Result, internal


@dataclass(frozen=True)
class ReferralPaid(Result):
    """What a purchase did with the purchaser's pending referral."""

    referrer: str
    referrer_points: int
    referee_points: int
    paid: bool
    reason: str | None


@dataclass(frozen=True)
class Purchase(Result):
    """A sale recorded: what it earned, any promo code, points paid with, the new balance and tier."""

    member: str
    order: str
    date: datetime
    amount: Decimal
    discount: Decimal
    paid_with_points: Decimal
    net: Decimal
    multiplier: Decimal
    points_earned: int
    code: str | None
    bonus_points: int
    points_redeemed: int
    points: int
    tier: str
    referral: ReferralPaid | None
    store: str | None
    till: str | None
    tier_before: str = internal()


@dataclass(frozen=True)
class Refund(Result):
    """An order refunded in full or in part: the points taken back, those already expired or restored."""

    member: str
    order: str
    amount: Decimal
    refunded_total: Decimal
    order_amount: Decimal
    points_taken_back: int
    points_already_expired: int
    points_restored: int
    points: int
    tier: str


@dataclass(frozen=True)
class Redemption(Result):
    """Points spent, on a reward from the catalogue or as given."""

    member: str
    points_redeemed: int
    reward: str | None
    order: str | None
    points: int


@dataclass(frozen=True)
class Adjustment(Result):
    """Points added or taken away by hand, with the reason."""

    member: str
    adjusted: int
    reason: str
    points: int


@dataclass(frozen=True)
class Award(Result):
    """Points for an action of [earning.actions]."""

    member: str
    action: str
    points_awarded: int
    points: int


class PointsAPI(LedgerCore):
    def purchase(self, member: str, amount: Amount, *, order: str | None = None, redeem: Points | None = None,
                 code: str | None = None, date: Moment | None = None, store: str | None = None,
                 till: str | None = None) -> Purchase:
        """Record a sale of `amount` (str or Decimal, e.g. "12.50") to `member`
        (id, e-mail or phone): it earns points on the net amount at the
        member's tier. `order` is the till's order id (generated when None);
        `redeem` pays part of it with points; `code` applies a promo code;
        `date` is when it happened (default now; never in the future);
        `store` and `till` say where it was rung up (trimmed, 1 to 64
        characters; None: not said)."""
        from loyalty_cli.ledger import operations

        with self._session(write=True) as conn:  # the ledger is opened first, then the values are checked
            minor = self._amount(amount, "amount")
            assert minor is not None
            pts = self._points(redeem, "--redeem") or 0
            r = operations.purchase(conn, self.programme, member, minor, at=self._at(date), order_id=order,
                                    redeem=pts, code=code, store=store, till=till)
        ref = r["referral"]
        return Purchase(
            member=r["member"], order=r["order"], date=r["date"], amount=self._money(r["amount"]),
            discount=self._money(r["discount"]), paid_with_points=self._money(r["points_paid"]),
            net=self._money(r["net"]), multiplier=r["multiplier"], points_earned=r["points_earned"], code=r["code"],
            bonus_points=r["bonus_points"], points_redeemed=r["points_redeemed"], points=r["points"],
            tier=r["tier"], referral=ReferralPaid(**ref) if ref else None, store=r["store"], till=r["till"],
            tier_before=r["tier_before"])

    def refund(self, order: str, *, amount: Amount | None = None, date: Moment | None = None) -> Refund:
        """Refund all of order `order`, or `amount` of it: the points it earned
        are taken back in proportion, points that paid for it given back."""
        from loyalty_cli.ledger import operations

        with self._session(write=True) as conn:
            minor = self._amount(amount, "--amount")
            r = operations.refund(conn, self.programme, order, at=self._at(date), amount=minor)
        return Refund(**{**r, "amount": self._money(r["amount"]), "refunded_total": self._money(r["refunded_total"]),
                         "order_amount": self._money(r["order_amount"])})

    def redeem(self, member: str, points: Points | None = None, *, reward: str | None = None,
               order: str | None = None, date: Moment | None = None) -> Redemption:
        """Spend `points`, or the reward named `reward` from the catalogue
        (exactly one of the two); never more than the member has available."""
        from loyalty_cli.errors import LoyaltyError
        from loyalty_cli.ledger import operations

        if (points is None) == (reward is None):
            raise LoyaltyError("give either points or a reward")
        with self._session(write=True) as conn:
            pts = self._points(points, "POINTS")
            r = operations.redeem(conn, self.programme, member, at=self._at(date), points=pts, reward=reward,
                                  order_id=order)
        return Redemption(**r)

    def adjust(self, member: str, points: Points, *, reason: str, date: Moment | None = None) -> Adjustment:
        """Add (positive) or take away (negative) points by hand, with a reason."""
        from loyalty_cli.ledger import operations

        with self._session(write=True) as conn:
            pts = self._points(points, "POINTS", signed=True)
            assert pts is not None
            r = operations.adjust(conn, self.programme, member, pts, at=self._at(date), reason=reason)
        return Adjustment(**r)

    def award(self, member: str, action: str, *, date: Moment | None = None) -> Award:
        """Points for an action named in [earning.actions], within its limit."""
        from loyalty_cli.ledger import operations

        with self._session(write=True) as conn:
            r = operations.award(conn, self.programme, member, action, at=self._at(date))
        return Award(**r)
