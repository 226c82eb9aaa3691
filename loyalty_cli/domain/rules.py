"""The arithmetic of the programme, as pure functions: no I/O, no clock.

Money is integer minor units; rates are Decimals; every function that rounds
says how, and rounds exactly once.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from calendar import monthrange
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache

from loyalty_cli.domain.config import Level, Programme
from loyalty_cli.domain.money import INT64_MAX, format_amount
from loyalty_cli.errors import LoyaltyError

_ROUNDING = {"floor": ROUND_FLOOR, "half-up": ROUND_HALF_UP, "ceil": ROUND_CEILING}
# Far beyond any amount x rate product, so only the final rounding rounds: an
# amount has at most 16 digits and each of the (at most three) rates at most
# 7 + MAX_RATE_DECIMALS = 16 (config bounds them), 64 in all.
_PRECISION = 100


def _round(value: Decimal, rounding: str) -> int:
    return int(value.to_integral_value(rounding=_ROUNDING[rounding]))


def earned_points(
    net_minor: int, decimals: int, points_per_unit: Decimal, multiplier: Decimal, rounding: str
) -> int:
    """round(net amount x points_per_unit x multiplier), rounded once."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        raw = Decimal(net_minor).scaleb(-decimals) * points_per_unit * multiplier
        return _round(raw, rounding)


def within_int64(value: int, what: str) -> int:
    """`value`, or a LoyaltyError naming `what` when it is beyond what the
    ledger can hold (a 64-bit integer): refused before anything is written,
    so SQLite never sees (and never overflows on) such a figure."""
    if not -INT64_MAX <= value <= INT64_MAX:
        raise LoyaltyError(f"{what} more than {INT64_MAX:,} points, the most the ledger can hold")
    return value


def percent_of(amount_minor: int, percent: Decimal) -> int:
    """A percentage of an amount, in minor units, rounded half-up (commercial rounding)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _round(Decimal(amount_minor) * percent / 100, "half-up")


def points_value(points: int, point_value: Decimal, decimals: int) -> int:
    """What `points` are worth when spent, in minor units, rounded down: a
    point is never worth more than point_value (rounding up would let one
    0.005 point pay a whole cent)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _round(Decimal(points) * point_value.scaleb(decimals), "floor")


def share_of(amount_minor: int, share: Decimal) -> int:
    """The largest part of an amount a share allows, in minor units (rounded down)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _round(Decimal(amount_minor) * share, "floor")


def proportional(total: int, part: int, whole: int, rounding: str) -> int:
    """round(total x part / whole): the share of `total` that `part` of `whole` stands for.
    Callers apply it to cumulative parts, so the shares always add up to `total`."""
    if whole == 0:
        return total if part else 0
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _round(Decimal(total) * part / whole, rounding)


def percent_share(part: int, whole: int) -> Decimal:
    """part / whole as a percentage with one decimal, half-up (0 when whole is 0)."""
    if whole == 0:
        return Decimal("0.0")
    return (Decimal(part * 100) / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def ratio(part: int, whole: int) -> Decimal | None:
    """part / whole with four decimals, half-up (None when whole is 0): the
    rates of the programme report, exact, never a float."""
    if whole == 0:
        return None
    return (Decimal(part) / whole).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def top_count(n: int, share_percent: int = 20) -> int:
    """How many make up the top `share_percent`% of n (rounded up, so the top
    20% of 3 members is 1)."""
    return -(-n * share_percent // 100)


# --- tiers -------------------------------------------------------------------


def tier_for(levels: tuple[Level, ...], total: int) -> Level:
    """The highest level whose min the qualifying total reaches."""
    held = levels[0]
    for lv in levels:
        if total >= lv.min:
            held = lv
    return held


def level_finder(levels: tuple[Level, ...]):
    """tier_for as a function of the total alone, by bisection over the
    levels' minimums (which config keeps strictly rising from 0): for
    classifying a whole ledger's members."""
    mins = [lv.min for lv in levels]

    def level(total: int) -> Level:
        return levels[max(0, bisect_right(mins, total) - 1)]

    return level


def next_level(levels: tuple[Level, ...], current: Level) -> Level | None:
    i = levels.index(current)
    return levels[i + 1] if i + 1 < len(levels) else None


@lru_cache(maxsize=4096)
def window_start(window: str, as_of: date) -> date | None:
    """First day counted by a tier window ending on `as_of` (None = since the start)."""
    if window == "lifetime":
        return None
    if window == "calendar-year":
        return date(as_of.year, 1, 1)
    if window == "rolling-365":
        return as_of - timedelta(days=364)  # the 365 days ending with as_of
    raise ValueError(window)


def peak_total(events: list[tuple[datetime, int]], window: str) -> int:
    """The highest qualifying total a member reached at any moment, for
    `downgrade = false`. `events` are (when, contribution) sorted by time: each
    purchase's spend (or points) net of its refunds, and other earnings. The
    total at a moment counts every event up to it within the window ending then."""
    times = [at for at, _ in events]
    prefix = [0]
    for _, value in events:
        prefix.append(prefix[-1] + value)
    peak = 0
    for i, at in enumerate(times):
        if i + 1 < len(times) and times[i + 1] == at:
            continue  # evaluate once every event of this moment is in
        start = window_start(window, at.date())
        first = 0 if start is None else bisect_left(times, datetime.combine(start, time.min))
        peak = max(peak, prefix[i + 1] - prefix[first])
    return peak


class TierTracker:
    """A member's qualifying total through time, in memory: `events` are
    (when, contribution) sorted by time (see `peak_total`), and `add` appends
    a later one. Used where a member's tier is needed at many moments."""

    def __init__(self, prog: Programme, events: list[tuple[datetime, int]]):
        self.prog = prog
        self.times = [at for at, _ in events]
        self.prefix = [0]
        for _, v in events:
            self.prefix.append(self.prefix[-1] + v)
        self.peak = peak_total(events, prog.tier_window) if not prog.downgrade else 0

    def total(self, at: datetime) -> int:
        end = bisect_right(self.times, at)
        start = window_start(self.prog.tier_window, at.date())
        first = 0 if start is None else bisect_left(self.times, datetime.combine(start, time.min))
        return self.prefix[end] - self.prefix[first]

    def level(self, at: datetime) -> Level:
        total = self.total(at)
        return tier_for(self.prog.levels, max(total, self.peak) if not self.prog.downgrade else total)

    def add(self, at: datetime, value: int) -> None:
        self.times.append(at)
        self.prefix.append(self.prefix[-1] + value)
        if not self.prog.downgrade:
            self.peak = max(self.peak, self.total(at))

    def moments(self, since: datetime | None, until: datetime) -> list[datetime]:
        """The moments in (since, until] when the window lets go of something,
        so that time alone may lower the tier: 1 January for a calendar-year
        window, midnight 365 days after each event's day for a rolling one.
        None with downgrade = false or a lifetime window."""
        if not self.prog.downgrade or self.prog.tier_window == "lifetime" or not self.times:
            return []
        if self.prog.tier_window == "calendar-year":
            first = since.year + 1 if since is not None else self.times[0].year + 1
            found = [datetime(y, 1, 1) for y in range(first, until.year + 1)]
        else:
            found = sorted({datetime.combine(at.date() + timedelta(days=365), time.min) for at in self.times})
        return [m for m in found if (since is None or m > since) and m <= until]


# --- points as lots ----------------------------------------------------------


@dataclass(frozen=True)
class Lot:
    """A credit entry with points still unspent."""

    id: int
    remaining: int
    at: datetime
    expires_on: date | None
    available_on: date | None


def lot_order(lot: Lot) -> tuple:
    """Soonest to expire first; never-expiring last; then oldest first."""
    return (lot.expires_on is None, lot.expires_on or date.max, lot.at, lot.id)


def consume(lots: list[Lot], points: int) -> tuple[list[tuple[int, int]], int]:
    """Take `points` from lots in FIFO order. Returns [(lot id, points taken)]
    and the shortfall that no lot could cover."""
    taken: list[tuple[int, int]] = []
    left = points
    for lot in sorted(lots, key=lot_order):
        if left == 0:
            break
        take = min(lot.remaining, left)
        if take > 0:
            taken.append((lot.id, take))
            left -= take
    return taken, left


def expiry_date(on: date, days: int) -> date | None:
    """The day points earned `on` expire (they are gone from that day on)."""
    return on + timedelta(days=days) if days > 0 else None


def available_date(on: date, pending_days: int) -> date | None:
    """The day purchase points earned `on` become spendable (None = at once)."""
    return on + timedelta(days=pending_days) if pending_days > 0 else None


def period_bounds(per: str, on: date) -> tuple[date, date] | None:
    """The calendar period (for an action's limit) containing `on`, as
    [start, end); None for "ever". Weeks are ISO weeks, starting on Monday."""
    if per == "ever":
        return None
    if per == "day":
        return on, on + timedelta(days=1)
    if per == "week":
        start = on - timedelta(days=on.weekday())
        return start, start + timedelta(days=7)
    if per == "month":
        start = on.replace(day=1)
        return start, month_end(on) + timedelta(days=1)
    if per == "year":
        return on.replace(month=1, day=1), date(on.year + 1, 1, 1)
    raise ValueError(per)


def month_end(d: date) -> date:
    return d.replace(day=monthrange(d.year, d.month)[1])


@dataclass(frozen=True)
class Effect:
    """What a promo code does to a purchase."""

    kind: str  # percent | amount | points | multiplier
    value: str  # as stored

    @property
    def percent(self) -> Decimal:
        return Decimal(self.value) if self.kind == "percent" else Decimal(0)

    @property
    def amount(self) -> int:
        return int(self.value) if self.kind == "amount" else 0

    @property
    def points(self) -> int:
        return int(self.value) if self.kind == "points" else 0

    @property
    def multiplier(self) -> Decimal:
        return Decimal(self.value) if self.kind == "multiplier" else Decimal(1)

    def describe(self, decimals: int, currency: str) -> str:
        if self.kind == "percent":
            return f"{self.value}% off"
        if self.kind == "amount":
            return f"{format_amount(self.amount, decimals)} {currency} off"
        if self.kind == "points":
            return f"{self.value} bonus points"
        return f"points ×{self.value}"


# --- a purchase --------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    amount: int  # minor units, as rung up
    discount: int  # minor units: the tier's standing discount, or a promo code's when larger
    points_redeemed: int
    points_paid: int  # minor units paid with those points
    net: int  # amount - discount - points_paid: what earns and counts as spend
    multiplier: Decimal  # the tier's, times a promo code's
    points_earned: int
    bonus_points: int = 0  # a promo code's bonus


def without_discount(level: Level) -> Level:
    """`level` without its standing discount: for amounts already charged
    (an import), which earn with the tier's multiplier but get no discount."""
    return level if not level.discount_percent else replace(level, discount_percent=Decimal(0))


def quote_purchase(
    prog: Programme, amount: int, level: Level, redeem: int = 0, available: int | None = None,
    promo: Effect | None = None,
) -> Quote:
    """Price a purchase for a member holding `level`, with an optional promo
    code: discount, points paid, net, points earned. Raises LoyaltyError when
    the redemption breaks a rule or the code's discount would not beat the
    tier's own (discounts do not stack; the better one applies)."""
    dec = prog.currency.decimals
    discount = percent_of(amount, level.discount_percent)
    if promo is not None and promo.kind in ("percent", "amount"):
        offered = percent_of(amount, promo.percent) if promo.kind == "percent" else min(promo.amount, amount)
        if offered <= discount:
            raise LoyaltyError(
                f"the promo code gives {format_amount(offered, dec)} off, no more than the {level.name} "
                f"discount of {format_amount(discount, dec)}; discounts do not stack, so it was not used")
        discount = offered
    payable = amount - discount
    paid = 0
    if redeem:
        if redeem < prog.min_points:
            raise LoyaltyError(f"cannot redeem {redeem} points: the minimum is {prog.min_points}")
        if available is not None and redeem > available:
            raise LoyaltyError(f"cannot redeem {redeem} points: only {available} available")
        paid = points_value(redeem, prog.point_value, dec)
        if paid == 0:
            raise LoyaltyError(f"cannot redeem {redeem} points: they are worth less than the smallest coin "
                               f"({format_amount(1, dec)}) at {prog.point_value} each")
        cap = share_of(payable, prog.max_share)
        if paid > cap:
            share = f"{(prog.max_share * 100).normalize():f}%"
            raise LoyaltyError(
                f"cannot redeem {redeem} points (worth {format_amount(paid, dec)}): points may pay "
                f"at most {share} of this purchase ({format_amount(cap, dec)})"
            )
    net = payable - paid
    multiplier = level.multiplier * (promo.multiplier if promo is not None else 1)
    earned = 0
    if net > 0 and net >= prog.min_purchase:
        earned = earned_points(net, dec, prog.points_per_unit, multiplier, prog.rounding)
    bonus = promo.points if promo is not None else 0
    within_int64(earned + bonus, f"a purchase of {format_amount(net, dec)} at ×{multiplier.normalize():f} "
                                 f"and {prog.points_per_unit.normalize():f} points per unit would earn")
    return Quote(amount, discount, redeem, paid, net, multiplier, earned, bonus)
