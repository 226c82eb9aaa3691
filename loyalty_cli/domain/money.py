"""Currencies and exact money.

Amounts live as integers in the currency's minor units (cents for EUR, yen for
JPY, fils for KWD). Text from the user is parsed with a strict grammar, never
through float; Decimal is used only for rates (points per unit, multipliers,
percentages, point values) and every product is rounded once, explicitly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from loyalty_cli.errors import LoyaltyError

# ISO 4217 codes whose minor unit is not 2 digits.
_MINOR_UNITS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
# Active ISO 4217 codes with 2 decimals.
_TWO_DECIMALS = set(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL
    BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR
    ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP
    PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG
    YER ZAR ZMW ZWG""".split()
)

# Largest amount accepted: 12 digits before the point is far beyond any till.
_MAX_INTEGER_DIGITS = 12
# The most a number may be written with, leading zeros included: a till pads
# "0000012.50", nobody pads to thousands of digits (and Python refuses to turn
# more than 4300 digits into an int). Checked before anything is converted.
MAX_NUMBER_LENGTH = 32
# The largest integer the ledger can hold (SQLite and PostgreSQL BIGINT).
INT64_MAX = 2**63 - 1
# Decimals a rate may have: enough for any rate (0.005, 1.125), few enough
# that a product of rates stays exact (see rules._PRECISION).
MAX_RATE_DECIMALS = 9
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


def currency_decimals(code: str) -> int:
    """Decimals of an ISO 4217 currency; LoyaltyError for an unknown code."""
    if code in _MINOR_UNITS:
        return _MINOR_UNITS[code]
    if code in _TWO_DECIMALS:
        return 2
    raise LoyaltyError(f"unknown currency {code!r} (expected an ISO 4217 code such as EUR, USD, JPY)")


def shown(text: object, limit: int = 40) -> str:
    """User text quoted for a message, shortened in the middle when it is
    long (a message must stay one readable line)."""
    if isinstance(text, int) and not isinstance(text, bool) and text.bit_length() > 3 * limit:
        # never str() a number past 4300 digits (Python refuses); nobody reads the digits anyway
        if text.bit_length() < 14_000:
            return f"a number of {len(str(abs(text))):,} digits"
        return f"a number of about {int(text.bit_length() * 0.30103) + 1:,} digits"
    s = str(text)
    if len(s) <= limit:
        return repr(s)
    return f"{s[:limit - 12] + '…' + s[-8:]!r} ({len(s):,} characters)"


def _not_too_long(s: str, text: object, what: str) -> None:
    if len(s) > MAX_NUMBER_LENGTH:
        raise LoyaltyError(f"{what} {shown(text)} is too long for a number "
                           f"(at most {MAX_NUMBER_LENGTH} characters, leading zeros included)")


def parse_amount(text: str, decimals: int, what: str = "amount") -> int:
    """Parse '12.50' into minor units (1250 for 2 decimals). Refuses anything
    that is not a plain non-negative decimal with at most `decimals` places."""
    s = str(text).strip()
    _not_too_long(s, text, what)
    m = _AMOUNT.fullmatch(s)
    if m is None:
        raise LoyaltyError(f"{what} {shown(text)} is not an amount: {_why_not_amount(s, decimals)}")
    whole, frac = m.group(1), m.group(2) or ""
    if len(frac) > decimals:
        allowed = "no decimals" if decimals == 0 else f"at most {decimals} decimal{'s' if decimals > 1 else ''}"
        raise LoyaltyError(f"{what} {shown(text)} has too many decimals: the currency allows {allowed}")
    if len(whole.lstrip("0")) > _MAX_INTEGER_DIGITS:
        raise LoyaltyError(f"{what} {shown(text)} is too large (at most {_MAX_INTEGER_DIGITS} digits before the point)")
    return int(whole) * 10**decimals + (int(frac.ljust(decimals, "0")) if decimals else 0)


def _why_not_amount(s: str, decimals: int) -> str:
    low = s.lower()
    example = "12" if decimals == 0 else "12." + "5".ljust(decimals, "0")
    if not s:
        return "it is empty"
    if low.lstrip("+-") in {"nan", "inf", "infinity", "snan"}:
        return "not a finite number"
    if s.startswith("-"):
        return "negative amounts are not accepted (record a refund with `loyalty refund`)"
    if s.startswith("+"):
        return f"write it without a sign, e.g. {example}"
    if "e" in low and re.fullmatch(r"[0-9.]+e[-+]?[0-9]+", low):
        return f"exponents are not accepted, write it out, e.g. {example}"
    if "," in s or "_" in s or " " in s or "'" in s:
        return f"use a plain number with a decimal point and no thousands separators, e.g. {example}"
    return f"expected digits with an optional decimal point, e.g. {example}"


def format_amount(minor: int, decimals: int) -> str:
    """1250 -> '12.50'; negative amounts keep their sign."""
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    if decimals == 0:
        return f"{sign}{minor}"
    q, r = divmod(minor, 10**decimals)
    return f"{sign}{q}.{r:0{decimals}d}"


def parse_decimal(value: object, what: str, maximum: Decimal | None = None) -> Decimal:
    """A rate from config or the command line: int, TOML float or string.

    A TOML float is read back through its shortest repr, which is exactly what
    the file says (0.1 -> Decimal('0.1')), so no binary error enters the sums.
    At most `maximum` (when given) and MAX_RATE_DECIMALS decimals; text is
    bounded in length before it is converted.
    """
    if isinstance(value, bool):
        raise LoyaltyError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise LoyaltyError(f"{what}: must not be negative, got {shown(value)}")
        return _bounded_rate(Decimal(value), value, what, maximum)
    if isinstance(value, float):
        d = Decimal(repr(value))  # the shortest repr is exactly what the file says: 0.1, 1e-05
        if not d.is_finite():
            raise LoyaltyError(f"{what}: expected a finite number, got {value!r}")
        if d < 0:
            raise LoyaltyError(f"{what}: must not be negative, got {value!r}")
        return _bounded_rate(d, value, what, maximum)
    if isinstance(value, str):
        text = value.strip()
    else:
        kind = value.isoformat() if hasattr(value, "isoformat") else shown(value)  # a TOML date, say
        raise LoyaltyError(f"{what}: expected a number, got {kind}")
    if len(text) > MAX_NUMBER_LENGTH:
        raise LoyaltyError(f"{what}: {shown(value)} is too long for a number "
                           f"(at most {MAX_NUMBER_LENGTH} characters, leading zeros included)")
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        why = "must not be negative" if text.startswith("-") else "expected a decimal number such as 1.5"
        raise LoyaltyError(f"{what}: {why}, got {value!r}")
    try:
        return _bounded_rate(Decimal(text), value, what, maximum)
    except InvalidOperation:  # pragma: no cover - the regex already guarantees a number
        raise LoyaltyError(f"{what}: not a number: {value!r}") from None


def _bounded_rate(d: Decimal, value: object, what: str, maximum: Decimal | None) -> Decimal:
    if maximum is not None and d > maximum:
        raise LoyaltyError(f"{what}: must be at most {maximum}, got {shown(value)}")
    exponent = d.normalize().as_tuple().exponent  # an int: a rate here is finite (its letter 'n'/'F' is NaN/inf)
    if d != d.to_integral_value() and isinstance(exponent, int) and -exponent > MAX_RATE_DECIMALS:
        raise LoyaltyError(f"{what}: at most {MAX_RATE_DECIMALS} decimals, got {shown(value)}")
    return d


_WHOLE = re.compile(r"-?[0-9]+")
MAX_POINTS_DIGITS = 12


def parse_whole(text: object, what: str, *, signed: bool = False, maximum: int | None = None) -> int:
    """The one parser of whole numbers typed or fed in (points, counts, uses,
    days, a chain head's entry count): ASCII digits only, a leading '-' when
    `signed`; leading zeros are accepted and ignored ("007" is 7) but the
    text is at most MAX_NUMBER_LENGTH characters, and the value at most
    `maximum` (default: 12 digits). The length is checked before any
    conversion, so no text can reach Python's int-conversion limit."""
    s = str(text).strip()
    _not_too_long(s, text, what)
    if not _WHOLE.fullmatch(s) or (s.startswith("-") and not signed):
        sign = "a whole number (a leading - takes points away)" if signed else "a positive whole number"
        raise LoyaltyError(f"{what} {shown(text)} is not {sign}")
    if maximum is None and len(s.lstrip("-").lstrip("0")) > MAX_POINTS_DIGITS:
        raise LoyaltyError(f"{what} {shown(text)} is too large (at most {MAX_POINTS_DIGITS} digits)")
    value = int(s)
    if maximum is not None and abs(value) > maximum:
        raise LoyaltyError(f"{what} {shown(text)} is too large (at most {maximum:,})")
    return value


def parse_points(text: str, what: str = "points", *, signed: bool = False) -> int:
    """A whole number of points: digits only (a leading '-' when `signed`),
    at most 12 of them."""
    try:
        value = parse_whole(text, what, signed=signed)
    except LoyaltyError as e:
        if "is not a" in str(e):
            raise LoyaltyError(f"{e}: points are whole numbers") from None
        raise
    if value <= 0 and not signed:
        raise LoyaltyError(f"{what} must be more than 0")
    return value
