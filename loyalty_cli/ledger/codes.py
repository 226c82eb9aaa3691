"""Promo codes and referral codes: making them, reading them back from what a
cashier types, and deciding whether a code may be used.

Generated codes are drawn with `secrets` from Crockford's base32 alphabet,
which has no I, L, O or U, so nothing can be misread. Every code is matched on
a normalised key: upper case, spaces and hyphens dropped, and the look-alikes
O -> 0 and I, L -> 1 folded, so "abcd-efgh", "ABCD EFGH" and "ABCDEFGH" are one
code and a typed O or I still finds a generated 0 or 1. Points never move
here: ledger.py calls these functions inside its transaction and does that.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import Connection, func, select

from loyalty_cli.domain.config import MAX_RATE, Level, Programme
from loyalty_cli.domain.money import format_amount, shown
from loyalty_cli.domain.rules import Effect
from loyalty_cli.errors import LoyaltyError
from loyalty_cli.ledger.members import active_member, find_member, normalise_email
from loyalty_cli.ledger.posting import amend, record
from loyalty_cli.store.db import by_code_point
from loyalty_cli.store.models import promo_codes, promo_uses, purchases, referral_codes, referrals

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: 5 bits a character
PROMO_LENGTH = 10  # 50 bits
REFERRAL_LENGTH = 8  # 40 bits
EFFECTS = ("percent", "amount", "points", "multiplier")
MAX_COUNT = 100_000

# ASCII letters only are upper-cased: str.upper() would turn "ſ" (long s)
# into S and "ı" (dotless i) into I, so a code typed with them would match
# another; codes are ASCII, so a non-ASCII character simply never matches.
_FOLD = str.maketrans({**{chr(c): chr(c - 32) for c in range(ord("a"), ord("z") + 1)},
                       "o": "0", "i": "1", "l": "1", "O": "0", "I": "1", "L": "1"})
_CUSTOM = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{1,30}[A-Za-z0-9]")


def normalise(text: str) -> str:
    """The key a code is matched on."""
    return re.sub(r"[\s-]", "", text).translate(_FOLD)


def generate(length: int) -> str:
    """A random code, shown in groups of four or five for reading aloud."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(length))
    half = (length + 1) // 2
    return f"{raw[:half]}-{raw[half:]}"


def _custom(text: str) -> str:
    s = " ".join(text.split())
    if not _CUSTOM.fullmatch(s):
        raise LoyaltyError(
            f"code {text!r} is not valid: use 3 to 32 letters, digits, spaces or hyphens, "
            "starting and ending with a letter or digit")
    return s.upper().replace(" ", "-")


# ---------------------------------------------------------------------------
# promo codes
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PromoRules:
    effect: Effect
    min_purchase: int = 0
    starts: date | None = None
    expires: date | None = None
    max_uses: int | None = None
    per_member: int | None = None
    first_purchase: bool = False
    tier: str | None = None
    member: str | None = None


def make_rules(prog: Programme, conn: Connection, *, effect: str, value: str, min_purchase: int = 0,
               starts: date | None = None, expires: date | None = None, max_uses: int | None = None,
               per_member: int | None = None, first_purchase: bool = False, tier: str | None = None,
               member: str | None = None) -> PromoRules:
    """Validate a code's rules (effect values are already parsed by the caller
    into the stored form: percent/multiplier as decimal text, amount in minor
    units, points as an integer)."""
    if effect not in EFFECTS:
        raise LoyaltyError(f"unknown effect {effect!r}")
    if effect == "percent" and not Decimal(0) < Decimal(value) <= Decimal(100):
        raise LoyaltyError(f"--percent must be more than 0 and at most 100, got {value}")
    if effect == "multiplier" and not Decimal(0) < Decimal(value) <= MAX_RATE:
        raise LoyaltyError(f"--multiplier must be more than 0 and at most {MAX_RATE}, got {shown(value)}")
    if effect in ("amount", "points") and int(value) <= 0:
        raise LoyaltyError(f"--{effect} must be more than 0")
    if starts and expires and expires < starts:
        raise LoyaltyError(f"--expires {expires} is before --starts {starts}")
    for name, n in (("--max-uses", max_uses), ("--per-member", per_member)):
        if n is not None and n < 1:
            raise LoyaltyError(f"{name} must be at least 1")
    return PromoRules(
        effect=Effect(effect, value), min_purchase=min_purchase, starts=starts, expires=expires,
        max_uses=max_uses, per_member=per_member, first_purchase=first_purchase,
        tier=prog.level(tier).name if tier else None,
        member=active_member(conn, member).id if member else None,
    )


def create_promo(conn: Connection, r: PromoRules, *, at: datetime, code: str | None = None,
                 count: int | None = None) -> list[str]:
    """Create one code (given or generated) or `count` generated single-use codes."""
    if count is not None:
        if code is not None:
            raise LoyaltyError("give either a CODE or --count, not both")
        if not 1 <= count <= MAX_COUNT:
            raise LoyaltyError(f"--count must be from 1 to {MAX_COUNT}")
        if r.max_uses not in (None, 1):
            raise LoyaltyError("codes made with --count are single-use; leave out --max-uses")
        r = PromoRules(**{**r.__dict__, "max_uses": 1})
    display = [_custom(code)] if code is not None else None
    if display and len(normalise(display[0])) < 3:
        raise LoyaltyError(f"code {code!r} is too short")
    if display and _promo_by_key(conn, normalise(display[0])) is not None:
        raise LoyaltyError(f"promo code {display[0]} already exists")
    batch = generate(6) if count else None
    made: list[str] = []
    taken: set[str] = set()
    for _ in range(count or 1):
        if display:
            text = display[0]
        else:
            text = generate(PROMO_LENGTH)
            while normalise(text) in taken or _promo_by_key(conn, normalise(text)) is not None:
                text = generate(PROMO_LENGTH)  # 2^50 codes: practically never taken
        taken.add(normalise(text))
        made.append(text)
    rows = [{
        "code": text, "key": normalise(text), "effect": r.effect.kind, "value": r.effect.value,
        "min_purchase": r.min_purchase, "starts": r.starts, "expires": r.expires, "max_uses": r.max_uses,
        "per_member": r.per_member, "first_purchase": r.first_purchase, "tier": r.tier, "member_id": r.member,
        "batch": batch, "created_at": at,
    } for text in made]
    for i in range(0, len(rows), 1000):
        record(conn, promo_codes, rows[i:i + 1000])
    return made


def _promo_by_key(conn: Connection, key: str):
    return conn.execute(select(promo_codes).where(promo_codes.c.key == key)).first()


def find_promo(conn: Connection, text: str):
    row = _promo_by_key(conn, normalise(text))
    if row is None:
        raise LoyaltyError(f"unknown promo code {text.strip()!r}")
    return row


def uses(conn: Connection, promo_id: int, member_id: str | None = None, as_of: datetime | None = None) -> int:
    q = select(func.count()).select_from(promo_uses).where(promo_uses.c.promo_id == promo_id)
    if member_id is not None:
        q = q.where(promo_uses.c.member_id == member_id)
    if as_of is not None:
        q = q.where(promo_uses.c.at <= as_of)
    return conn.execute(q).scalar_one()


def status(conn: Connection, row, on: datetime, count_all: bool = False) -> str:
    """active, disabled, not yet valid, expired or used up, as of a moment
    (with `count_all`, uses recorded for later dates count too)."""
    day = on.date()
    if row.disabled_at is not None and row.disabled_at <= on:
        return "disabled"
    if row.starts and day < row.starts:
        return "not yet valid"
    if row.expires and day > row.expires:
        return "expired"
    if row.max_uses is not None and uses(conn, row.id, as_of=None if count_all else on) >= row.max_uses:
        return "used up"
    return "active"


def check_promo(conn: Connection, prog: Programme, text: str, member, amount: int, level: Level,
                at: datetime):
    """The promo code row if `member` may use it on this purchase; otherwise a
    LoyaltyError that names the reason."""
    row = find_promo(conn, text)
    code = row.code
    if row.created_at.date() > at.date():
        raise LoyaltyError(f"promo code {code} did not exist yet on {at:%Y-%m-%d} (created {row.created_at:%Y-%m-%d})")
    # Limits count every use recorded, whatever its date: a back-dated purchase
    # must not find a single-use code "not yet used".
    st = status(conn, row, at, count_all=True)
    if st == "disabled":
        raise LoyaltyError(f"promo code {code} is disabled")
    if st == "not yet valid":
        raise LoyaltyError(f"promo code {code} is not valid yet: it starts on {row.starts}")
    if st == "expired":
        raise LoyaltyError(f"promo code {code} expired on {row.expires}")
    if st == "used up":
        n = row.max_uses
        raise LoyaltyError(f"promo code {code} is used up ({n} use{'s' if n != 1 else ''})")
    if row.member_id is not None and row.member_id != member.id:
        raise LoyaltyError(f"promo code {code} is not for member {member.id}")
    if row.tier is not None:
        need = next((lv for lv in prog.levels if lv.name == row.tier), None)
        if need is not None and prog.levels.index(level) < prog.levels.index(need):
            raise LoyaltyError(f"promo code {code} is for {row.tier} members and up; {member.id} is {level.name}")
    if row.first_purchase:
        before = conn.execute(select(func.count()).select_from(purchases)
                              .where(purchases.c.member_id == member.id, purchases.c.at <= at)).scalar_one()
        if before:
            raise LoyaltyError(f"promo code {code} is for a first purchase only, and {member.id} has bought before")
    if row.per_member is not None:
        used = uses(conn, row.id, member.id)
        if used >= row.per_member:
            raise LoyaltyError(f"promo code {code} was already used {used} time{'s' if used != 1 else ''} by "
                               f"{member.id}; the limit is {row.per_member} per member")
    if amount < row.min_purchase:
        dec = prog.currency.decimals
        raise LoyaltyError(f"promo code {code} needs a purchase of at least {format_amount(row.min_purchase, dec)}; "
                           f"this one is {format_amount(amount, dec)}")
    return row


def record_use(conn: Connection, row, member_id: str, purchase_id: int, at: datetime, discount: int,
               bonus: int) -> None:
    record(conn, promo_uses, [dict(promo_id=row.id, member_id=member_id, purchase_id=purchase_id, at=at,
                                   discount=discount, bonus_points=bonus)])


def disable(conn: Connection, text: str, at: datetime) -> str:
    row = find_promo(conn, text)
    if row.disabled_at is not None:
        raise LoyaltyError(f"promo code {row.code} is already disabled (since {row.disabled_at:%Y-%m-%d})")
    amend(conn, promo_codes, row.id, disabled_at=at)
    return row.code


def effect_of(row) -> Effect:
    return Effect(row.effect, row.value)


# ---------------------------------------------------------------------------
# referral codes
# ---------------------------------------------------------------------------


def referral_code(conn: Connection, member_id: str, at: datetime) -> str:
    """The member's referral code, made on first request."""
    code = conn.execute(select(referral_codes.c.code).where(referral_codes.c.member_id == member_id)).scalar()
    if code is not None:
        return code
    code = generate(REFERRAL_LENGTH)
    while conn.execute(select(referral_codes.c.key).where(referral_codes.c.key == normalise(code))).first():
        code = generate(REFERRAL_LENGTH)
    record(conn, referral_codes, [dict(member_id=member_id, code=code, key=normalise(code), created_at=at)])
    return code


def referrer_of_code(conn: Connection, text: str) -> str:
    member_id = conn.execute(select(referral_codes.c.member_id)
                             .where(referral_codes.c.key == normalise(text))).scalar()
    if member_id is None:
        raise LoyaltyError(f"unknown referral code {text.strip()!r}")
    return member_id


def _mailbox(email: str) -> str:
    """anna+shop@example.com and anna@example.com reach the same person (the
    +tag is dropped; an address that starts with + keeps its whole local
    part, so +a@ and +b@ are not taken for one mailbox). Compared in the form
    `normalise_email` stores (an address stored by an older version is
    brought to it first), so a look-alike such as a KELVIN SIGN for K is
    another mailbox."""
    try:
        email = normalise_email(email)
    except LoyaltyError:
        pass  # not an address today: compared as stored
    local, _, domain = email.partition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


def _same_phone(a: str, b: str) -> bool:
    """The same number, or the same number with and without its country code
    (+372 5555 1234 and 5555 1234): one ends with the other's 7+ digits."""
    a, b = a.lstrip("+"), b.lstrip("+")
    short, long = sorted((a, b), key=len)
    return a == b or (len(short) >= 7 and long.endswith(short))


def same_person(a, b) -> str | None:
    """Why members `a` and `b` (rows, or anything with id, email and phone)
    look like one person, or None: the same member, the same mailbox or the
    same phone. The one test of "the same person" for every referral check."""
    if a.id == b.id:
        return "the same member"
    if a.email and b.email and _mailbox(a.email) == _mailbox(b.email):
        return "the same e-mail"
    if a.phone and b.phone and _same_phone(a.phone, b.phone):
        return "the same phone"
    return None


def attach_referral(conn: Connection, referee, referrer, at: datetime) -> None:
    """Record that `referee` joined on `referrer`'s code. Refuses a member
    referring themself (the same member, e-mail or phone)."""
    why = same_person(referee, referrer)
    if why == "the same member":
        raise LoyaltyError("a member cannot refer themself")
    if why == "the same e-mail":
        raise LoyaltyError(f"a member cannot refer themself: the e-mail is the referrer's ({referrer.id})")
    if why == "the same phone":
        raise LoyaltyError(f"a member cannot refer themself: the phone is the referrer's ({referrer.id})")
    if conn.execute(select(referrals.c.referee_id).where(referrals.c.referee_id == referee.id)).first():
        raise LoyaltyError(f"member {referee.id} has already been referred")
    record(conn, referrals, [dict(referee_id=referee.id, referrer_id=referrer.id, at=at)])


def check_identity(conn: Connection, member, *, email, phone) -> None:
    """Refuse a change of `member`'s e-mail or phone (to `email`, `phone`:
    the values it would have) that would make them look like the member who
    referred them, or like a member they referred: "a member cannot refer
    themself" holds whenever an identity changes, not only at enrolment,
    whether the referral is still pending or was paid."""
    after = SimpleNamespace(id=member.id, email=email, phone=phone)
    linked = [(r.referrer_id, "referred") for r in conn.execute(
        select(referrals.c.referrer_id).where(referrals.c.referee_id == member.id))]
    linked += [(r.referee_id, "was referred by") for r in conn.execute(
        select(referrals.c.referee_id).where(referrals.c.referrer_id == member.id)
        .order_by(by_code_point(referrals.c.referee_id)))]
    for other_id, relation in linked:
        other = find_member(conn, other_id)
        why = same_person(after, other)
        if why is not None and why != "the same member":
            what = "e-mail" if why == "the same e-mail" else "phone"
            value = email if what == "e-mail" else phone
            raise LoyaltyError(f"{what} {value} is that of member {other.id}, who {relation} {member.id}: "
                               "a member cannot refer themself")




# ---------------------------------------------------------------------------
# reading codes back
# ---------------------------------------------------------------------------


def limits_of(row, decimals: int) -> list[str]:
    out = []
    if row.min_purchase:
        out.append(f"min {format_amount(row.min_purchase, decimals)}")
    if row.starts:
        out.append(f"from {row.starts}")
    if row.expires:
        out.append(f"until {row.expires}")
    if row.max_uses is not None:
        out.append("single use" if row.max_uses == 1 else f"{row.max_uses} uses")
    if row.per_member is not None:
        out.append(f"{row.per_member} per member")
    if row.first_purchase:
        out.append("first purchase")
    if row.tier:
        out.append(f"{row.tier} and up")
    if row.member_id:
        out.append(f"only {row.member_id}")
    return out


def _describe(conn: Connection, prog: Programme, row, as_of: datetime) -> dict:
    dec, cur = prog.currency.decimals, prog.currency.code
    return {
        "code": row.code, "effect": row.effect,
        "value": format_amount(int(row.value), dec) if row.effect == "amount" else row.value,
        "description": Effect(row.effect, row.value).describe(dec, cur),
        "min_purchase": format_amount(row.min_purchase, dec), "starts": row.starts, "expires": row.expires,
        "max_uses": row.max_uses, "per_member": row.per_member, "first_purchase": bool(row.first_purchase),
        "tier": row.tier, "member": row.member_id, "batch": row.batch, "created": row.created_at,
        "disabled": row.disabled_at, "uses": uses(conn, row.id, as_of=as_of), "status": status(conn, row, as_of),
        "limits": ", ".join(limits_of(row, dec)),
    }


def promo_list(conn: Connection, prog: Programme, as_of: datetime, active_only: bool = False) -> list[dict]:
    rows = conn.execute(select(promo_codes).where(promo_codes.c.created_at <= as_of)
                        .order_by(promo_codes.c.created_at, promo_codes.c.id)).all()
    out = [_describe(conn, prog, r, as_of) for r in rows]
    return [r for r in out if r["status"] == "active"] if active_only else out


def promo_show(conn: Connection, prog: Programme, text: str, as_of: datetime) -> dict:
    row = find_promo(conn, text)
    doc = _describe(conn, prog, row, as_of)
    q = (select(promo_uses, purchases.c.order_id, purchases.c.amount)
         .select_from(promo_uses.join(purchases, purchases.c.id == promo_uses.c.purchase_id))
         .where(promo_uses.c.promo_id == row.id, promo_uses.c.at <= as_of).order_by(promo_uses.c.at, promo_uses.c.id))
    dec = prog.currency.decimals
    doc["used"] = [{"date": u.at, "member": u.member_id, "order": u.order_id,
                    "amount": format_amount(u.amount, dec), "discount": format_amount(u.discount, dec),
                    "bonus_points": u.bonus_points} for u in conn.execute(q)]
    return doc
