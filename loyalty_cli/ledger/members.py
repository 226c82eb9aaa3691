"""Members' personal data: normalising e-mail and phone, and finding a member
by id, e-mail or phone. Pure lookups; no points move here."""

from __future__ import annotations

import re
import unicodedata
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Iterator, Sequence

from sqlalchemy import Connection, Row, func, select

from loyalty_cli.errors import LoyaltyError
from loyalty_cli.ledger.posting import record
from loyalty_cli.store.models import consent_changes, members

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)})
_IDNA_DOTS = re.compile("[.\u3002\uff0e\uff61]")  # the label separators IDNA knows
_LDH = re.compile(rb"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


def _nfc_keeping_ascii_lookalikes(text: str) -> str:
    """NFC, except for the few characters that NFC would turn into ASCII
    (KELVIN SIGN -> K, GREEK QUESTION MARK -> ;, GREEK VARIA -> `): those are
    kept as typed, so no non-ASCII address ever becomes an ASCII one."""
    out: list[str] = []
    run: list[str] = []
    for ch in text:
        if not ch.isascii() and unicodedata.normalize("NFD", ch).isascii():
            out.append(unicodedata.normalize("NFC", "".join(run)))
            out.append(ch)
            run = []
        else:
            run.append(ch)
    out.append(unicodedata.normalize("NFC", "".join(run)))
    return "".join(out)


def _domain(text: str, domain: str) -> str:
    """The domain as DNS compares it, in its readable (Unicode) form: ASCII
    labels lower-cased; a label with other characters (or an xn-- one)
    through IDNA (Python's codec: nameprep folds case, width and
    compatibility forms, as a resolver would), then back to Unicode."""
    labels = []
    for label in _IDNA_DOTS.split(domain):
        if label.isascii() and not label.lower().startswith("xn--"):
            labels.append(label.translate(_ASCII_LOWER))
            continue
        try:
            ascii_form = label.encode("idna") if not label.isascii() else label.lower().encode("ascii")
            readable = ascii_form.decode("idna")
            if not _LDH.fullmatch(ascii_form) or readable.startswith("-") or readable.endswith("-"):
                raise UnicodeError("a host name label is letters, digits and inner hyphens")
            labels.append(readable.translate(_ASCII_LOWER))
        except UnicodeError:
            if label.isascii():  # a broken xn-- label: kept as typed (lower case), as before
                labels.append(label.translate(_ASCII_LOWER))
                continue
            raise LoyaltyError(f"e-mail {text!r} is not an e-mail address: {label!r} is not a valid "
                               "domain name label") from None
    return ".".join(labels)


def normalise_email(text: str) -> str:
    """The one form an e-mail address is stored, found and compared in (for
    uniqueness and the referral same-person check alike). The local part
    keeps its characters after NFC, with only ASCII letters lower-cased (so
    a KELVIN SIGN is never taken for K); the domain is compared as DNS does
    (`_domain`). Control and invisible format characters are refused."""
    s = text.strip()
    bad = next((ch for ch in s if unicodedata.category(ch) in ("Cc", "Cf", "Cs")), None)
    if bad is not None:
        raise LoyaltyError(f"e-mail {text!r} is not an e-mail address: it contains U+{ord(bad):04X} "
                           f"({unicodedata.name(bad, 'a control character').lower()})")
    if not _EMAIL.fullmatch(s):
        raise LoyaltyError(f"e-mail {text!r} is not an e-mail address")
    local, _, domain = s.partition("@")
    s = f"{_nfc_keeping_ascii_lookalikes(local).translate(_ASCII_LOWER)}@{_domain(text, domain)}"
    if not _EMAIL.fullmatch(s) or len(s) > 254:
        raise LoyaltyError(f"e-mail {text!r} is not an e-mail address")
    return s


# The programme's [program] phone_region ("EE"), for the phone numbers parsed
# while a command runs: the CLI sets it for each ledger session, so every
# lookup, enrolment, edit and import of that command normalises alike.
# None: no region, numbers are kept as typed (a leading + and the digits).
PHONE_REGION: ContextVar[str | None] = ContextVar("phone_region", default=None)



class _Ambient(Enum):
    """The default of a `region` argument: the PHONE_REGION in force (None is "no region")."""

    REGION = "ambient"


_AMBIENT = _Ambient.REGION


@contextmanager
def phone_region(region: str | None) -> Iterator[None]:
    token = PHONE_REGION.set(region)
    try:
        yield
    finally:
        PHONE_REGION.reset(token)


_PARSE_REASONS = {0: "its country code is unknown", 1: "it is not a phone number",
                  2: "too short after the international prefix", 3: "too short", 4: "too long"}
_LENGTH_REASONS = {1: "its country code is unknown", 2: "too short", 3: "too long", 4: "wrong length",
                   5: "wrong length"}


def normalise_phone(text: str, region: str | None | _Ambient = _AMBIENT) -> str:
    """A phone number as stored. Without a phone region: a leading + and the
    digits (spaces, dots, hyphens and brackets go), as typed. With one
    ([program] phone_region, e.g. "EE"): E.164 (+37251230003), a number
    without a country code being one of that region's, and a number that is
    not valid there refused with the reason."""
    if isinstance(region, _Ambient):
        region = PHONE_REGION.get()
    s = text.strip()
    # the + of the country code comes first, or inside the opening bracket: "(+372) 5123 0003"
    lead = re.match(r"\(?\s*\+", s)
    plus = lead is not None
    body = s[:lead.end() - 1] + s[lead.end():] if lead is not None else s
    if not re.fullmatch(r"[0-9 ().\-/]+", body):
        raise LoyaltyError(f"phone {text!r} is not a phone number (digits, with spaces, brackets, dots, hyphens "
                           f"or slashes between them, and a + before the country code)")
    if plus:
        s = "+" + body  # what phonenumbers reads: "+(372) ..." is not a number to it
    digits = re.sub(r"\D", "", body)
    if not 5 <= len(digits) <= 15:
        raise LoyaltyError(f"phone {text!r} is not a phone number (expected 5 to 15 digits)")
    if region is None:
        return ("+" if plus else "") + digits
    import phonenumbers  # only where a phone is parsed with a region

    try:
        number = phonenumbers.parse(s, region)
    except phonenumbers.NumberParseException as e:
        why = _PARSE_REASONS.get(e.error_type, "it is not a phone number")
        raise LoyaltyError(f"phone {text!r} is not a phone number ({why})") from None
    if not phonenumbers.is_valid_number(number):
        cc = number.country_code  # set by parse(); the stubs allow None
        where = phonenumbers.region_code_for_country_code(cc) if cc is not None else None
        where = region if where in (None, "ZZ") else where
        why = _LENGTH_REASONS.get(phonenumbers.is_possible_number_with_reason(number),
                                  "no such number in its numbering plan")
        raise LoyaltyError(f"phone {text!r} is not a valid {where} number ({why}; [program] phone_region is "
                           f"{region}: a number of another country needs its +country code)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_forms(phone: str, region: str | None | _Ambient = _AMBIENT) -> list[str]:
    """The forms the number `phone` (as normalise_phone returns it) may be
    stored in. With a phone region, a number stored before the region was set
    kept its digits as typed: without the country code (51230003), with it
    (+37251230003), or with 00 (0037251230003). All of them are the same
    member's number for lookups and for uniqueness."""
    if isinstance(region, _Ambient):
        region = PHONE_REGION.get()
    if region is None or not phone.startswith("+"):
        return [phone]
    import phonenumbers

    number = phonenumbers.parse(phone, None)
    nsn = phonenumbers.national_significant_number(number)
    cc = number.country_code
    forms = {phone, f"00{cc}{nsn}", f"{cc}{nsn}"}
    if cc == phonenumbers.country_code_for_region(region):
        national = re.sub(r"\D", "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
        forms |= {nsn, national}
    return sorted(forms)


def refuse_control(text: str, what: str) -> None:
    """Personal text kept in the ledger (a name, an adjustment's reason) holds
    no control character: not a NUL, a tab or a line break, not an escape that
    would drive a terminal that shows it later."""
    import unicodedata

    bad = next((ch for ch in text if unicodedata.category(ch) == "Cc"), None)
    if bad is not None:
        raise LoyaltyError(f"{what} holds a control character (U+{ord(bad):04X}"
                           f"{', ' + unicodedata.name(bad).lower() if unicodedata.name(bad, '') else ''}), "
                           "which it cannot hold; write it on one line without control characters")


def clean_name(text: str) -> str:
    refuse_control(text, "name")
    s = " ".join(text.split())
    if not s:
        raise LoyaltyError("name must not be empty")
    if len(s) > 200:
        raise LoyaltyError("name is longer than 200 characters")
    return s


def check_birthday(d: date, today: date) -> date:
    if d > today:
        raise LoyaltyError(f"birthday {d.isoformat()} is in the future")
    if d.year < 1900:
        raise LoyaltyError(f"birthday {d.isoformat()} is before 1900")
    return d


def find_member(conn: Connection, key: str):
    """A member by id, or by an e-mail or phone number that matches exactly one member."""
    key = key.strip()
    row = conn.execute(select(members).where(members.c.id == key)).first()
    if row is not None:
        return row
    candidates: Sequence[Row] = ()
    if "@" in key:
        try:
            candidates = conn.execute(select(members).where(members.c.email == normalise_email(key))).all()
        except LoyaltyError:
            pass
    elif re.fullmatch(r"\+?[0-9 ().\-/]{5,}", key):
        try:
            forms = phone_forms(normalise_phone(key))
        except LoyaltyError:
            forms = []
        if forms:
            candidates = conn.execute(select(members).where(members.c.phone.in_(forms))).all()
    if not candidates and key.isascii():
        # ids are ASCII ([A-Za-z0-9._-]), so only ASCII letters fold: str.lower()
        # would take "\u212aim" (KELVIN SIGN) for "kim"; a non-ASCII key never
        # matches an id.
        candidates = conn.execute(select(members).where(func.lower(members.c.id) == key.lower())).all()
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise LoyaltyError(f"{key!r} matches {len(candidates)} members; use the member id")
    raise LoyaltyError(f"unknown member {key!r} ({_suggestions(conn, key)})")


SEARCH_HINT = "`loyalty members --search TEXT` finds members by id, name, e-mail or phone"
_SUGGEST_ALL = 20_000  # members above which suggestions look only at those sharing a first letter


def _suggestions(conn: Connection, key: str) -> str:
    """Up to three members whose id, name (or a word of it) or e-mail is
    closest to `key`, and how to search."""
    import difflib

    q = select(members.c.id, members.c.name, members.c.email).where(members.c.forgotten_at.is_(None))
    k = key.casefold()
    if not k:
        return SEARCH_HINT
    if conn.execute(select(func.count()).select_from(members)).scalar_one() > _SUGGEST_ALL:
        like = k[:1].replace("%", "").replace("_", "") + "%"
        q = q.where(func.lower(members.c.id).like(like) | func.lower(members.c.name).like(like)
                    | func.lower(members.c.email).like(like))
    owners: dict[str, list] = {}
    for row in conn.execute(q):
        texts = [row.id, row.name or "", row.email or "", (row.email or "").split("@")[0], *(row.name or "").split()]
        for t in texts:
            if t:
                owners.setdefault(t.casefold(), []).append(row)
    shown: list[str] = []
    for match in difflib.get_close_matches(k, list(owners), n=12, cutoff=0.6):
        for row in owners[match]:
            text = f"{row.id} ({row.name})" if row.name and row.name != row.id else row.id
            if text not in shown and len(shown) < 3:
                shown.append(text)
    if not shown:
        return SEARCH_HINT
    return f"did you mean {', '.join(shown)}? {SEARCH_HINT}"


def forgotten_text(member_id: str, at) -> str:
    return (f"member {member_id} was forgotten on {at:%Y-%m-%d} (their personal data erased): "
            "nothing new can be recorded for them; enrol them again as a new member")


def active_member(conn: Connection, key: str):
    """`find_member`, refusing a forgotten member: new activity (purchases,
    redemptions, awards, edits, referrals) needs someone to be there. A
    forgotten member's refunds and adjustments still go through, so the
    shop can always settle what is already in the ledger."""
    m = find_member(conn, key)
    if m.forgotten_at is not None:
        raise LoyaltyError(forgotten_text(m.id, m.forgotten_at))
    return m


# ---------------------------------------------------------------------------
# marketing consent over time
# ---------------------------------------------------------------------------

# consent_changes.via: enroll, edit, import, forget, or upgrade (a ledger older than the consent history)


def consent_moment(conn: Connection, member_id: str, at: datetime) -> datetime:
    """When a consent change dated `at` happens. A bare date (00:00) means
    that day after everything already recorded for the member on it (the
    README's date rule, as `standing.stamp` for entries): after the latest
    consent change that day. An explicit time is taken as it is."""
    if at.time() != datetime.min.time():
        return at
    latest = conn.execute(select(func.max(consent_changes.c.at)).where(
        consent_changes.c.member_id == member_id, consent_changes.c.at >= at,
        consent_changes.c.at < at + timedelta(days=1))).scalar()
    return latest if latest is not None and latest > at else at


def record_consent(conn: Connection, member_id: str, at: datetime, given: bool, via: str) -> datetime:
    """Append a consent change (given or withdrawn) dated `at` (a bare date:
    after the member's other changes that day, `consent_moment`), and return
    the moment it was dated: the caller sets the cached
    `members.marketing`/`marketing_at` to it in the same transaction. A
    change dated before the member's latest one is refused: the history is
    kept in date order, so a read as of any day is the state the latest write
    left for that day."""
    at = consent_moment(conn, member_id, at)
    last = conn.execute(select(consent_changes.c.at).where(consent_changes.c.member_id == member_id)
                        .order_by(consent_changes.c.at.desc(), consent_changes.c.id.desc()).limit(1)).scalar()
    if last is not None and at < last:
        raise LoyaltyError(f"member {member_id}'s marketing consent was last changed on {last:%Y-%m-%d %H:%M}; "
                           f"a change dated {at:%Y-%m-%d %H:%M} would come before it (use a later --date)")
    record(conn, consent_changes, [dict(member_id=member_id, at=at, marketing=given, via=via,
                                        recorded_at=datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0))])
    return at


def consent_as_of(conn: Connection, as_of: datetime,
                  member_id: str | None = None) -> dict[str, tuple[bool, datetime | None]]:
    """(consent, since when) at `as_of` of the members whose consent changed
    after `as_of` (of one member, or of everyone): for the others the cached
    `members.marketing` and `marketing_at` are their consent at `as_of`
    already, since they are the latest change (`check` confirms it). So a
    list as of now reads no history at all."""
    later = select(consent_changes.c.member_id).where(consent_changes.c.at > as_of)
    if member_id is not None:
        later = later.where(consent_changes.c.member_id == member_id)
    changed = {m for (m,) in conn.execute(later.distinct())}
    if not changed:
        return {}
    out: dict[str, tuple[bool, datetime | None]] = {m: (False, None) for m in changed}
    q = (select(consent_changes.c.member_id, consent_changes.c.marketing, consent_changes.c.at)
         .where(consent_changes.c.at <= as_of).order_by(consent_changes.c.at, consent_changes.c.id))
    if member_id is not None:
        q = q.where(consent_changes.c.member_id == member_id)
    for m, given, at in conn.execute(q):
        if m in changed:
            out[m] = (bool(given), at)
    return out


def consent_of(row, corrections: dict[str, tuple[bool, datetime | None]]) -> tuple[bool, datetime | None]:
    """A member row's consent at the moment `corrections` (from
    `consent_as_of`) was made for."""
    return corrections.get(row.id, (bool(row.marketing), row.marketing_at))
