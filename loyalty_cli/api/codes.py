"""Codes: promo create/list/show/disable, referral — and their results."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from loyalty_cli.api.core import Amount, LedgerCore, Moment, Points
from loyalty_cli.api.results import Result, Rows, internal, row
from loyalty_cli.errors import LoyaltyError

Count = int | str


@dataclass(frozen=True)
class NewCode(Result):
    """One of the codes `promo create --count` made."""

    code: str


@dataclass(frozen=True)
class PromoCreated(Result):
    """`loyalty promo create`: `code` is the code made, or with `count` a
    tuple of NewCode (`codes` has the codes as text either way)."""

    code: str | tuple[NewCode, ...]
    codes: tuple[str, ...] = internal()
    description: str = internal()  # the effect in words: "10% off", "50 bonus points"


@row
class PromoCode(NamedTuple):
    """A row of `loyalty promo list`: a code's rules, uses and status as of a
    moment. `value` is the effect's value as the code holds it: a percent or
    multiplier as decimal text, an amount with the currency's decimals, or
    points ("10", "5.00", "50", "1.5")."""

    code: str
    effect: str  # percent | amount | points | multiplier
    value: str
    description: str
    min_purchase: Decimal
    starts: dt.date | None
    expires: dt.date | None
    max_uses: int | None
    per_member: int | None
    first_purchase: bool
    tier: str | None
    member: str | None
    batch: str | None  # the batch a --count code was made in
    created: dt.datetime
    disabled: dt.datetime | None
    uses: int
    status: str  # active | disabled | not yet valid | expired | used up
    limits: str


class PromoCodes(Rows[PromoCode]):
    """`loyalty promo list`: the codes, oldest first."""


@dataclass(frozen=True)
class PromoUse(Result):
    """A purchase that used a promo code."""

    date: dt.datetime
    member: str
    order: str
    amount: Decimal
    discount: Decimal
    bonus_points: int


@dataclass(frozen=True)
class PromoDetail(Result):
    """`loyalty promo show`: a code's rules (as in PromoCode) and every use."""

    code: str
    effect: str
    value: str
    description: str
    min_purchase: Decimal
    starts: dt.date | None
    expires: dt.date | None
    max_uses: int | None
    per_member: int | None
    first_purchase: bool
    tier: str | None
    member: str | None
    batch: str | None
    created: dt.datetime
    disabled: dt.datetime | None
    uses: int
    status: str
    limits: str
    used: tuple[PromoUse, ...]


@dataclass(frozen=True)
class PromoDisabled(Result):
    """`loyalty promo disable`: the code, as it is shown (the command prints no JSON)."""

    code: str


@dataclass(frozen=True)
class Referee(Result):
    """A member someone referred: pending until their qualifying first purchase."""

    member: str
    name: str | None
    joined: dt.date
    status: str  # pending | rewarded
    rewarded_on: dt.date | None


@dataclass(frozen=True)
class Referral(Result):
    """`loyalty referral`: the member's referral code and whom they referred."""

    member: str
    name: str | None
    code: str
    referred: tuple[str, ...]
    referrals: tuple[Referee, ...]


def _uses(value: Count, what: str) -> int:
    """--max-uses, --per-member, --count: a whole number above 0 (a count, not points)."""
    from loyalty_cli.domain.money import parse_whole

    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise LoyaltyError(f"{what} {value!r} is not a whole number")
    n = parse_whole(value, what)
    if n <= 0:
        raise LoyaltyError(f"{what} must be more than 0")
    return n


class CodesAPI(LedgerCore):
    def promo_create(self, code: str | None = None, *, percent: Amount | None = None, amount: Amount | None = None,
                     points: Points | None = None, multiplier: Amount | None = None,
                     min_purchase: Amount | None = None, starts: dt.date | str | None = None,
                     expires: dt.date | str | None = None, max_uses: Count | None = None,
                     per_member: Count | None = None, first_purchase: bool = False, tier: str | None = None,
                     member: str | None = None, count: Count | None = None,
                     date: Moment | None = None) -> PromoCreated:
        """Create promo code `code` (generated when None), or with `count`
        that many generated single-use codes, with exactly one effect:
        `percent` off, `amount` off, bonus `points` or a points `multiplier`
        (numbers as str, Decimal or int; never float). Limits: `min_purchase`
        (before discounts), `starts` and `expires` (first and last valid day),
        `max_uses` in all, `per_member`, `first_purchase` only, `tier` and up,
        `member` only. `date` is when it was made (default now)."""
        from loyalty_cli.ledger import codes

        effects = {k: v for k, v in (("percent", percent), ("amount", amount), ("points", points),
                                      ("multiplier", multiplier)) if v is not None}
        if len(effects) != 1:
            raise LoyaltyError("give exactly one effect: --percent, --amount, --points or --multiplier")
        (effect, raw), = effects.items()
        prog = self.programme
        with self._session(write=True) as conn:
            value = self._effect_value(effect, raw)
            rules = codes.make_rules(
                prog, conn, effect=effect, value=value,
                min_purchase=self._amount(min_purchase, "--min-purchase") or 0,
                starts=self._day(starts, "--starts"), expires=self._day(expires, "--expires"),
                max_uses=None if max_uses is None else _uses(max_uses, "--max-uses"),
                per_member=None if per_member is None else _uses(per_member, "--per-member"),
                first_purchase=first_purchase, tier=tier, member=member)
            made = codes.create_promo(conn, rules, at=self._at(date), code=code,
                                      count=None if count is None else _uses(count, "--count"))
        return PromoCreated(code=made[0] if count is None else tuple(NewCode(c) for c in made), codes=tuple(made),
                            description=rules.effect.describe(prog.currency.decimals, prog.currency.code))

    def _effect_value(self, effect: str, raw: Amount | int) -> str:
        """An effect's value in the form a code stores: an amount in minor
        units, points, or a percent or multiplier as decimal text."""
        from loyalty_cli.domain.money import parse_decimal

        if effect == "amount":
            return str(self._amount(raw, "--amount"))
        if effect == "points":
            return str(self._points(raw, "--points"))  # type: ignore[arg-type]  # a Decimal is refused there
        if isinstance(raw, bool) or not isinstance(raw, (str, Decimal, int)):
            kind = "a float, which is not exact" if isinstance(raw, float) else f"a {type(raw).__name__}"
            raise LoyaltyError(f"--{effect} {raw!r} is {kind}: give it as a str or Decimal, e.g. '1.5'")
        return str(parse_decimal(format(raw, "f") if isinstance(raw, Decimal) else raw, f"--{effect}"))

    def promo_list(self, *, active: bool = False, as_of: Moment | None = None) -> PromoCodes:
        """Every promo code made by `as_of` (default now), oldest first, with
        its effect, limits, uses and status then; only the usable ones with `active`."""
        from loyalty_cli.ledger import codes

        with self._session(write=False) as conn:
            rows = codes.promo_list(conn, self.programme, self._as_of(as_of), active_only=active)
        return PromoCodes(tuple(PromoCode(**self._promo_fields(r)) for r in rows))

    def promo_show(self, code: str, *, as_of: Moment | None = None) -> PromoDetail:
        """A promo code's rules, status and every use by `as_of` (default now);
        `code` as typed (case, spaces and hyphens do not matter)."""
        from loyalty_cli.ledger import codes

        with self._session(write=False) as conn:
            r = codes.promo_show(conn, self.programme, code, self._as_of(as_of))
        used = tuple(PromoUse(date=u["date"], member=u["member"], order=u["order"],
                              amount=Decimal(u["amount"]), discount=Decimal(u["discount"]),
                              bonus_points=u["bonus_points"])
                     for u in r["used"])
        return PromoDetail(**self._promo_fields(r), used=used)

    def promo_disable(self, code: str, *, date: Moment | None = None) -> PromoDisabled:
        """Disable a promo code for good (its past uses stay). There is no
        confirmation here: the caller has decided."""
        from loyalty_cli.ledger import codes

        with self._session(write=True) as conn:
            shown = codes.disable(conn, code, self._at(date))
        return PromoDisabled(shown)

    def referral(self, member: str) -> Referral:
        """The member's referral code (made, and so written, on the first
        request) and whom they referred, each pending or rewarded."""
        from loyalty_cli.ledger import operations

        with self._session(write=True) as conn:
            r = operations.referral(conn, self.programme, member, at=self._now())
        return Referral(member=r["member"], name=r["name"], code=r["code"], referred=tuple(r["referred"]),
                        referrals=tuple(Referee(**x) for x in r["referrals"]))

    # -- reading codes back ---------------------------------------------------

    @staticmethod
    def _promo_fields(r: dict) -> dict:
        """A code's rules as the result's fields (ledger/codes.py shows amounts
        with the currency's decimals: read back exactly, as Decimal)."""
        return {**{k: r[k] for k in PromoCode._fields}, "min_purchase": Decimal(r["min_purchase"])}
