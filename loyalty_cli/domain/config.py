"""The programme file: TOML in, a validated, typed, immutable Programme out.

Only ``[program]`` is required; every other key has a neutral default (no
bonuses, no expiry, one tier, no referral rewards). Unknown keys are errors,
because they are nearly always typos. Every error names the file, the key and
what is wrong. ``sample_config.toml`` documents each key in ``SCHEMA``; a test
keeps the two in step.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from loyalty_cli.domain.money import currency_decimals, parse_amount, parse_decimal, shown
from loyalty_cli.errors import ConfigError, LoyaltyError

ROUNDINGS = ("floor", "half-up", "ceil")
TIER_BASES = ("spend", "points")
TIER_WINDOWS = ("lifetime", "calendar-year", "rolling-365")
ACTION_PERIODS = ("day", "week", "month", "year", "ever")

# Every key the file may hold, by section, with its default (None = required or
# no default). The loader below enforces exactly these keys.
SCHEMA: dict[str, dict[str, Any]] = {
    "program": {"name": None, "currency": "EUR", "timezone": "UTC", "phone_region": None},
    "ledger": {"database": "loyalty.db"},
    "earning": {
        "points_per_unit": 1,
        "rounding": "floor",
        "min_purchase": "0",
        "welcome_bonus": 0,
        "birthday_bonus": 0,
        "pending_days": 0,
    },
    "earning.actions.<name>": {"points": None, "limit": None, "per": "ever"},
    "redemption": {"point_value": "0.01", "min_points": 0, "max_share": 1.0},
    "rewards": {"name": None, "points": None, "description": ""},
    "expiry": {"days": 0, "warn_days": 30},
    "tiers": {"basis": "spend", "window": "lifetime", "downgrade": True},
    "tiers.levels": {"name": None, "min": None, "multiplier": 1.0, "discount_percent": 0},
    "referral": {"referrer_points": 0, "referee_points": 0, "min_purchase": "0"},
}


@dataclass(frozen=True)
class Currency:
    code: str
    decimals: int


@dataclass(frozen=True)
class Action:
    name: str
    points: int
    limit: int | None
    per: str


@dataclass(frozen=True)
class Reward:
    name: str
    points: int
    description: str = ""


@dataclass(frozen=True)
class Level:
    name: str
    min: int  # minor units of spend, or points, depending on the tier basis
    multiplier: Decimal
    discount_percent: Decimal


@dataclass(frozen=True)
class Programme:
    path: Path
    name: str
    currency: Currency
    timezone: str
    database: str
    phone_region: str | None = None  # ISO 3166 region of phone numbers typed without +country code
    points_per_unit: Decimal = Decimal(1)
    rounding: str = "floor"
    min_purchase: int = 0
    welcome_bonus: int = 0
    birthday_bonus: int = 0
    pending_days: int = 0
    actions: dict[str, Action] = field(default_factory=dict)
    point_value: Decimal = Decimal("0.01")
    min_points: int = 0
    max_share: Decimal = Decimal(1)
    rewards: tuple[Reward, ...] = ()
    expiry_days: int = 0
    warn_days: int = 30
    tier_basis: str = "spend"
    tier_window: str = "lifetime"
    downgrade: bool = True
    levels: tuple[Level, ...] = ()
    referrer_points: int = 0
    referee_points: int = 0
    referral_min_purchase: int = 0

    def reward(self, name: str) -> Reward:
        for r in self.rewards:
            if name_key(r.name) == name_key(name):
                return r
        known = ", ".join(r.name for r in self.rewards) or "none are configured"
        raise LoyaltyError(f"unknown reward {name!r} (rewards: {known})")

    def level(self, name: str) -> Level:
        for lv in self.levels:
            if name_key(lv.name) == name_key(name):
                return lv
        raise LoyaltyError(f"unknown tier {name!r} (tiers: {', '.join(lv.name for lv in self.levels)})")

    def action(self, name: str) -> Action:
        for a in self.actions.values():
            if name_key(a.name) == name_key(name):
                return a
        known = ", ".join(sorted(self.actions)) or "none are configured in [earning.actions]"
        raise LoyaltyError(f"unknown action {shown(name.strip())} (actions: {known})")

    def database_url(self, override: str | None = None) -> str:
        """The ledger as an SQLAlchemy URL. A flag/env path is relative to the
        working directory; the config's path is relative to the config file."""
        if override:
            return _as_url(override, Path.cwd(), "--db")
        return _as_url(self.database, self.path.parent, f"{self.path}: [ledger] database")


_USERINFO_PASSWORD = re.compile(r"(://[^/?#@:]*:)[^/?#@]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def hide_password(text: str) -> str:
    """A ledger's URL (or path) as it may be shown: a password in it, before
    the host (`user:PASSWORD@`) or as a `password=` query parameter, becomes
    `***`. Everything else is kept as written; a path is returned as it is."""
    if "://" not in text:
        return text
    return _QUERY_PASSWORD.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1***@", text))


def name_key(name: str) -> str:
    """What a reward, tier or action name is matched on, here and in the
    file's duplicate check alike: NFKC-normalised and case-folded, so
    "Free Coffee", "free coffee" and "ｆｒｅｅ ｃｏｆｆｅｅ" are one name."""
    import unicodedata

    return unicodedata.normalize("NFKC", " ".join(name.split())).casefold()


def ledger_url(target: str, what: str) -> str:
    """A ledger named on the command line (a path, relative to the working
    folder, or a URL) as an SQLAlchemy URL; `what` names it in errors."""
    return _as_url(target, Path.cwd(), what)


def _as_url(target: str, base: Path, what: str) -> str:
    if "://" in target:
        if "\x00" in target:
            raise LoyaltyError(f"{what} {hide_password(target)!r} holds a NUL byte")
        return target
    p = expand_path(target, what)
    if not p.is_absolute():
        p = base / p
    from loyalty_cli.store.db import sqlite_url  # quoted: `shop?.db` and `50%.db` are file names

    return sqlite_url(p)


def expand_path(text: str | Path, what: str) -> Path:
    """A path typed or configured: `~` and `~user` lead to a home folder (an
    unknown user is refused, never taken as a folder called `~user`); a NUL
    byte, which no file name can hold, is refused."""
    text = str(text)
    if "\x00" in text:
        raise LoyaltyError(f"{what} {text!r} holds a NUL byte, which no file name can hold")
    if not text.startswith("~"):
        return Path(text)
    import os.path

    expanded = os.path.expanduser(text)
    if expanded.startswith("~"):
        user = text[1:].split("/", 1)[0]
        why = f"there is no user {user!r} on this machine" if user else "the home folder is not known (HOME is not set)"
        raise LoyaltyError(f"{what} {text!r}: {why}; a path starting with ~ means a home folder")
    return Path(expanded)


# Upper bounds far beyond any real programme, so that no figure can overflow.
MAX_POINTS = 10**9  # a bonus, a reward's price, a limit
MAX_DAYS = 36_500  # expiry, warnings, pending: a hundred years
MAX_RATE = Decimal(10**6)  # points per unit, multipliers


def _shown(key: str) -> str:
    """A key as written in a message: plain when it is a plain word, quoted
    otherwise (a key may hold a newline, which must not split the message)."""
    return key if re.fullmatch(r"[\w.# -]*", key) else repr(key)


class _Section:
    """One TOML table being read: typed getters that record which keys were
    used, and a final check that refuses the rest."""

    def __init__(self, file: Path, name: str, data: Any, schema: str | None = None):
        self.file, self.name = file, name
        self.defaults: dict[str, Any] = SCHEMA.get(schema or name, {})
        if not isinstance(data, dict):
            self.fail(None, f"must be a table, got {type(data).__name__}")
        self.data: dict = data
        self.seen: set[str] = set()

    def fail(self, key: str | None, why: str) -> NoReturn:
        where = f"[{_shown(self.name)}]" + (f" {_shown(key)}" if key else "")
        raise ConfigError(f"{self.file}: {where}: {why}")

    _SCHEMA_DEFAULT = object()

    def raw(self, key: str, default: Any = _SCHEMA_DEFAULT):
        """The value of `key`, or its default from SCHEMA (None: required)."""
        self.seen.add(key)
        if default is self._SCHEMA_DEFAULT:
            default = self.defaults.get(key)
        return self.data.get(key, default)

    def text(self, key: str, choices: tuple[str, ...] = ()) -> str:
        v = self.raw(key)
        if v is None:
            self.fail(key, "is required")
        if not isinstance(v, str):
            self.fail(key, f"must be a string, got {_value(v)}")
        if choices and v not in choices:
            self.fail(key, f"must be one of {', '.join(choices)} (got {_value(v)})")
        if not choices and not v.strip():
            self.fail(key, "must not be empty")
        return v

    def whole(self, key: str, minimum: int = 0, maximum: int = MAX_POINTS) -> int:
        v = self.raw(key)
        if v is None:
            self.fail(key, "is required")
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(key, f"must be a whole number, got {_value(v)}")
        if v < minimum:
            self.fail(key, f"must be at least {minimum}, got {_value(v)}")
        if v > maximum:
            self.fail(key, f"must be at most {maximum}, got {_value(v)}")
        return v

    def flag(self, key: str) -> bool:
        v = self.raw(key)
        if not isinstance(v, bool):
            self.fail(key, f"must be true or false, got {_value(v)}")
        return v

    def decimal(self, key: str, maximum: Decimal = MAX_RATE) -> Decimal:
        v = self.raw(key)
        if isinstance(v, TomlFloat):  # exactly as written, under the same limits as "1.5" in quotes
            try:
                v = _float_text(v)
            except ValueError as e:
                self.fail(key, str(e))
        try:
            d = parse_decimal(v, "value")
        except LoyaltyError as e:
            self.fail(key, str(e).removeprefix("value: "))
        if d > maximum:
            self.fail(key, f"must be at most {maximum}, got {_value(v)}")
        return d

    def money(self, key: str, decimals: int) -> int:
        v = self.raw(key)
        if v is None:
            self.fail(key, "is required")
        if isinstance(v, bool) or not isinstance(v, (int, float, str, TomlFloat)):
            self.fail(key, f"must be an amount such as \"20.00\", got {_value(v)}")
        if isinstance(v, TomlFloat):
            try:
                v = _float_text(v)
            except ValueError as e:
                self.fail(key, str(e))
        if isinstance(v, int) and v.bit_length() > 128:  # never str() an integer of thousands of digits
            self.fail(key, f"is too long for a number, got {_value(v)}")
        try:
            return parse_amount(repr(v) if isinstance(v, float) else str(v), decimals, "value")
        except LoyaltyError as e:
            self.fail(key, str(e).replace("value ", "", 1))

    def table(self, key: str) -> dict:
        v = self.raw(key, {})
        if not isinstance(v, dict):
            self.fail(key, f"must be a table, got {_value(v)}")
        return v

    def array(self, key: str) -> list:
        v = self.raw(key, [])
        if not isinstance(v, list):
            self.fail(key, "must be an array of tables ([[...]])")
        return v

    def done(self):
        unknown = [k for k in self.data if k not in self.seen]
        if unknown:
            k = unknown[0]
            import difflib  # only when there is a typo to explain

            hint = difflib.get_close_matches(k, list(self.seen), n=1)
            self.fail(k, "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else ""))


class TomlFloat:
    """A TOML float as the file writes it (tomllib's parse_float): read exactly
    from its text, never through a binary float that would round it."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        if len(self.text) <= 40:
            return self.text
        return f"{self.text[:28]}…{self.text[-8:]} ({len(self.text):,} characters)"


def loads(text: str) -> dict:
    """TOML text as data, floats kept as their text (TomlFloat)."""
    return tomllib.loads(text, parse_float=TomlFloat)


def _float_text(v: TomlFloat) -> str:
    """A TOML float as a plain decimal string for the exact parsers; ValueError
    saying why for an exponent or a value that is not finite."""
    t = v.text.replace("_", "").lstrip("+")
    if t.lstrip("-").lower() in ("inf", "nan"):
        raise ValueError(f"must be a finite number, got {v!r}")
    if "e" in t.lower():
        raise ValueError(f"write it without an exponent (digits and a decimal point, e.g. 0.001), got {v!r}")
    return t


def _value(v) -> str:
    """A TOML value as the file would spell it, for messages."""
    if isinstance(v, (date, datetime, time)):
        return v.isoformat()
    if isinstance(v, int) and not isinstance(v, bool):
        return shown(v) if abs(v) >= 10**30 else str(v)  # no 5,000-digit number in a message
    if isinstance(v, str):
        return shown(v, 80)
    try:
        r = repr(v)
    except ValueError:  # an array or table holding an integer of thousands of digits
        return f"{'an array' if isinstance(v, list) else 'a table' if isinstance(v, dict) else 'a value'} " \
               "holding a number of thousands of digits"
    return r if len(r) <= 80 else f"{r[:60]}… ({len(r):,} characters)"


def require_path(path: str | Path) -> Path:
    """The programme file's path, `~` expanded; refuses an empty one."""
    if not str(path).strip():
        raise ConfigError("--config is empty (LOYALTY_CONFIG set to nothing?); give the programme file's path")
    try:
        return expand_path(path, "--config")
    except LoyaltyError as e:
        raise ConfigError(str(e)) from None


def load(path: str | Path) -> Programme:
    """Read and validate a programme file."""
    file = require_path(path)
    try:
        text = file.read_bytes().decode("utf-8-sig")  # an editor's BOM is no error
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: no programme file here; run `loyalty init` to write one, or pass --config"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{file}: is a folder, not a programme file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: is not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"{file}: cannot be read ({e.strerror})") from None
    try:
        data = loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: not valid TOML: {e}") from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise ConfigError(f"{file}: nested too deeply (arrays or tables inside each other thousands of times); "
                          "not a programme file") from None
    except ValueError:  # an integer of more than 4300 digits, which Python refuses to convert
        raise ConfigError(f"{file}: holds a number of thousands of digits, too long to be a setting") from None
    return parse(data, file)


def _phone_region(prog: _Section) -> str | None:
    """[program] phone_region: an ISO 3166 region code ("EE"), or none (the
    key left out, or ""): then phone numbers are kept as typed."""
    v = prog.raw("phone_region")
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        prog.fail("phone_region", f"must be a string such as \"EE\", got {_value(v)}")
    import phonenumbers  # only for a programme that names a phone region

    code = v.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        prog.fail("phone_region", f"{_value(v)} is not a region code (a two-letter ISO 3166 code such as EE, FI, GB)")
    return code


def parse(data: dict, file: Path) -> Programme:  # noqa: C901 -- long: one section after another, in SCHEMA's order, each a few checks
    top = _Section(file, "top level", data)
    if "program" not in data:
        raise ConfigError(f"{file}: [program]: section is required (with at least name = \"...\")")

    prog = _Section(file, "program", top.table("program"))
    name = prog.text("name")
    code = prog.text("currency")
    try:
        decimals = currency_decimals(code)
    except LoyaltyError as e:
        prog.fail("currency", str(e))
    tz = prog.text("timezone")
    from loyalty_cli.domain.dates import zone

    try:
        zone(tz)
    except LoyaltyError as e:
        prog.fail("timezone", str(e))
    phone_region = _phone_region(prog)
    prog.done()

    led = _Section(file, "ledger", top.table("ledger"))
    database = led.text("database")
    if "\x00" in database:
        led.fail("database", f"{hide_password(database)!r} holds a NUL byte, which no file name can hold")
    led.done()

    earn = _Section(file, "earning", top.table("earning"))
    points_per_unit = earn.decimal("points_per_unit")
    rounding = earn.text("rounding", ROUNDINGS)
    min_purchase = earn.money("min_purchase", decimals)
    welcome = earn.whole("welcome_bonus")
    birthday = earn.whole("birthday_bonus")
    pending = earn.whole("pending_days", maximum=MAX_DAYS)
    actions: dict[str, Action] = {}
    for aname, spec in earn.table("actions").items():
        a = _Section(file, f"earning.actions.{aname}", spec, "earning.actions.<name>")
        twin = next((x for x in actions if name_key(x) == name_key(aname)), None)
        if twin is not None:
            a.fail(None, f"the same name as [earning.actions.{_shown(twin)}] (names ignore case)")
        limit = a.raw("limit")
        if limit is not None:
            limit = a.whole("limit", minimum=1)
        actions[aname] = Action(
            name=aname,
            points=a.whole("points", minimum=1),
            limit=limit,
            per=a.text("per", ACTION_PERIODS),
        )
        a.done()
    earn.done()

    red = _Section(file, "redemption", top.table("redemption"))
    point_value = red.decimal("point_value")
    if point_value == 0:
        red.fail("point_value", "must be more than 0")
    min_points = red.whole("min_points")
    max_share = red.decimal("max_share", maximum=Decimal(1))
    red.done()

    rewards: list[Reward] = []
    for i, spec in enumerate(top.array("rewards"), 1):
        r = _Section(file, f"rewards #{i}", spec, "rewards")
        reward = Reward(r.text("name"), r.whole("points", minimum=1), r.raw("description"))
        if not isinstance(reward.description, str):
            r.fail("description", "must be a string")
        if any(name_key(x.name) == name_key(reward.name) for x in rewards):
            r.fail("name", f"duplicate reward name {reward.name!r}")
        rewards.append(reward)
        r.done()

    exp = _Section(file, "expiry", top.table("expiry"))
    expiry_days = exp.whole("days", maximum=MAX_DAYS)
    warn_days = exp.whole("warn_days", maximum=MAX_DAYS)
    exp.done()

    tiers = _Section(file, "tiers", top.table("tiers"))
    basis = tiers.text("basis", TIER_BASES)
    window = tiers.text("window", TIER_WINDOWS)
    downgrade = tiers.flag("downgrade")
    levels: list[Level] = []
    for i, spec in enumerate(tiers.array("levels"), 1):
        lv = _Section(file, f"tiers.levels #{i}", spec, "tiers.levels")
        lname = lv.text("name")
        if basis == "spend":
            lmin = lv.money("min", decimals)
        else:
            lmin = lv.whole("min")
        level = Level(
            name=lname,
            min=lmin,
            multiplier=lv.decimal("multiplier"),
            discount_percent=lv.decimal("discount_percent", maximum=Decimal(100)),
        )
        if any(name_key(x.name) == name_key(lname) for x in levels):
            lv.fail("name", f"duplicate tier name {lname!r}")
        if levels and level.min <= levels[-1].min:
            lv.fail("min", f"must be greater than the previous tier's min ({levels[-1].name})")
        if not levels and level.min != 0:
            lv.fail("min", "the first tier must start at 0, so that every member has a tier")
        levels.append(level)
        lv.done()
    tiers.done()
    if not levels:
        levels = [Level("Member", 0, Decimal(1), Decimal(0))]

    ref = _Section(file, "referral", top.table("referral"))
    referrer = ref.whole("referrer_points")
    referee = ref.whole("referee_points")
    ref_min = ref.money("min_purchase", decimals)
    ref.done()
    top.done()

    return Programme(
        path=file,
        name=name,
        currency=Currency(code, decimals),
        timezone=tz,
        database=database,
        phone_region=phone_region,
        points_per_unit=points_per_unit,
        rounding=rounding,
        min_purchase=min_purchase,
        welcome_bonus=welcome,
        birthday_bonus=birthday,
        pending_days=pending,
        actions=actions,
        point_value=point_value,
        min_points=min_points,
        max_share=max_share,
        rewards=tuple(rewards),
        expiry_days=expiry_days,
        warn_days=warn_days,
        tier_basis=basis,
        tier_window=window,
        downgrade=downgrade,
        levels=tuple(levels),
        referrer_points=referrer,
        referee_points=referee,
        referral_min_purchase=ref_min,
    )


def _toml_string(text: str) -> str:
    """`text` as a TOML basic string, quoted and escaped by tomli-w."""
    import tomli_w

    return tomli_w.dumps({"v": text}).split(" = ", 1)[1].strip()


def starter(name: str = "My Shop", currency: str = "EUR", timezone: str = "UTC") -> str:  # long: a template
    """The TOML that `loyalty init` writes: a small, working programme, with
    rewards and tiers as arrays of tables ([[rewards]], [[tiers.levels]]), so
    that a block from the README or sample_config.toml can be appended as it
    is (an inline array cannot be extended by a later table)."""
    currency_decimals(currency)  # refuse an unknown code before writing anything
    return f"""# loyalty programme, written by `loyalty init`.
# Every key is documented, with its default, in sample_config.toml (`loyalty init
# --sample --config sample.toml` writes a copy); run `loyalty check` after editing
# and `loyalty program` to see the rules in force.

[program]
name = {_toml_string(name)}
currency = {_toml_string(currency)}
timezone = {_toml_string(timezone)}

[ledger]
database = "loyalty.db"

[earning]
points_per_unit = 1
rounding = "floor"
min_purchase = "0"
welcome_bonus = 50
birthday_bonus = 100
pending_days = 0

[earning.actions]
review = {{ points = 20, limit = 1, per = "year" }}

[redemption]
point_value = "0.01"
min_points = 100
max_share = 0.5

[expiry]
days = 365
warn_days = 30

[tiers]
basis = "spend"
window = "rolling-365"
downgrade = true

[[tiers.levels]]
name = "Bronze"
min = "0"
multiplier = 1.0

[[tiers.levels]]
name = "Silver"
min = "200"
multiplier = 1.25

[[tiers.levels]]
name = "Gold"
min = "500"
multiplier = 1.5
discount_percent = 5

[referral]
referrer_points = 200
referee_points = 100
min_purchase = "20"

[[rewards]]
name = "Free coffee"
points = 150
"""


SAMPLE_NAME = "sample_config.toml"


def sample_text() -> str:
    """sample_config.toml as shipped inside the package (`loyalty init --sample`)."""
    from importlib.resources import files

    return files("loyalty_cli").joinpath(SAMPLE_NAME).read_text(encoding="utf-8")


def with_program(text: str, **values: str) -> str:
    """A programme file's text with [program] name/currency/timezone replaced
    by `values` (the others, and every comment, as they are)."""
    return _with_values(text, "program", ("name", "currency", "timezone"), values)


def with_database(text: str, database: str) -> str:
    """A programme file's text with [ledger] database replaced (`init --db`
    writes the ledger it made into the file it writes)."""
    return _with_values(text, "ledger", ("database",), {"database": database})


def _with_values(text: str, section_name: str, keys: tuple[str, ...], values: dict[str, str]) -> str:
    lines = text.splitlines(keepends=True)
    section = None
    pattern = re.compile(r"(\s*)(" + "|".join(keys) + r")(\s*=\s*)(\"[^\"]*\")(.*)$")
    for i, line in enumerate(lines):
        head = re.match(r"\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if head:
            section = head.group(1).strip()
            continue
        m = pattern.match(line.rstrip("\n"))
        if section == section_name and m and values.get(m.group(2)) is not None:
            lines[i] = f"{m.group(1)}{m.group(2)}{m.group(3)}{_toml_string(values[m.group(2)])}{m.group(5)}\n"
    return "".join(lines)
