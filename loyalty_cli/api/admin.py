"""Administration: init, backup, check, program — and their results.

`init` makes a ledger, so it is a function of the module (`loyalty_cli.init`),
not a method: it writes the programme file and creates (or upgrades) the
ledger it names, and returns what it did; `open_ledger` then opens them. The
others are methods of the `Ledger`. `check` and `backup` report problems in
their result (an empty `problems` is a sound ledger) rather than raising:
finding a problem is what they are for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from loyalty_cli.api.arguments import checked
from loyalty_cli.api.core import LedgerCore, one_write, record_currency
from loyalty_cli.api.results import Result, internal, money, row
from loyalty_cli.errors import LoyaltyError

if TYPE_CHECKING:
    from loyalty_cli.domain.config import Programme

# ---------------------------------------------------------------------------
# init
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup(Result):
    """What `init` did: the programme file it wrote (or kept) and the ledger
    it created, upgraded or found current."""

    config: str
    written: bool  # False: an existing programme file was kept (no --force)
    kept_as: str | None  # --force: where the file it replaced was kept (FILE.bak, FILE.bak.1, ...)
    ledger: str  # the ledger's path, or its URL without a password
    state: Literal["created", "current"]  # an older ledger is refused: `upgrade` migrates
    schema_version: int  # the ledger's, now


@checked
def init(config: str | os.PathLike[str] = "loyalty.toml", *, db: str | os.PathLike[str] | None = None,
         force: bool = False, name: str | None = None, currency: str | None = None, timezone: str | None = None,
         sample: bool = False, record_db: bool = True) -> Setup:  # long: steps undone together when one fails
    """Write a starter programme file `config` and create its ledger (`db`, a
    path or an SQLAlchemy URL; default the file's [ledger] database).

    An existing programme file is kept unless `force`, which keeps the old
    one as FILE.bak (or FILE.bak.1, ...); an existing ledger is never
    overwritten or emptied, a ledger older than this loyalty is refused
    (`upgrade` migrates it), and a set-up that is already complete is refused. The starter has `name`, `currency` and
    `timezone` (default "My Shop", EUR, UTC); `sample` writes the commented
    sample programme instead, with those of the three that are given. A
    `db` path is written into the new file as its [ledger] database, so
    that `open_ledger(config)` finds it, unless `record_db` is false (the
    CLI's LOYALTY_DB). A failure leaves neither file half-written: a ledger
    this call created is removed again."""
    from loyalty_cli.domain import config as cfg
    from loyalty_cli.domain.dates import zone
    from loyalty_cli.domain.money import currency_decimals
    from loyalty_cli.store import db as dbm

    db = os.fspath(db) if db is not None else None
    path = cfg.require_path(os.fspath(config))
    keep = path.exists() and not force
    if path.is_dir():
        raise LoyaltyError(f"{path} is a folder, not a programme file")
    if path.exists() and not keep and not os.access(path, os.W_OK):
        raise LoyaltyError(f"cannot write {path}: permission denied")
    if not keep:
        code = ("EUR" if currency is None else currency).upper()
        currency_decimals(code)
        zone("UTC" if timezone is None else timezone)
        if not path.parent.is_dir():
            raise LoyaltyError(f"cannot write {path}: folder {path.parent} does not exist")
        if sample:
            given = {k: v for k, v in (("name", name), ("currency", currency and currency.upper()),
                                       ("timezone", timezone)) if v is not None}
            text = cfg.with_program(cfg.sample_text(), **given)
        else:
            text = cfg.starter("My Shop" if name is None else name, code, "UTC" if timezone is None else timezone)
        if db and record_db and "://" not in db and not db.startswith("sqlite:"):
            text = cfg.with_database(text, _relative_to(cfg.expand_path(db, "--db"), path.parent))
        prog = cfg.parse(cfg.loads(text), path)  # what we write must load
    else:
        prog = cfg.load(path)
    url = prog.database_url(db)
    where = dbm.describe(url)

    def settle(conn, state):  # in the transaction that creates or upgrades the ledger
        if state == "current" and keep:
            raise LoyaltyError(f"already set up: {path} and ledger {where} exist (--force rewrites the programme file)")
        record_currency(conn, dbm.bind_currency(conn, prog.currency.code, prog.currency.decimals))

    # Two files, written so that a failure leaves neither half: the programme
    # file goes to a temporary name beside it first (so an unwritable folder
    # is found before the ledger exists), the ledger is created or upgraded
    # in one transaction, and only then is the programme file put in place.
    # A ledger this run created is removed again if anything after it fails.
    partial = None if keep else _write_beside(path, text)
    # Several inits may race for one new file: only the one whose exclusive
    # create made it may remove it, and only while it holds nobody's tables
    # or its own creation committed (a racer's ledger is never removed).
    ledger_file = dbm.sqlite_file(url)
    made = created = False
    kept = None
    try:
        if ledger_file is not None and not os.path.lexists(ledger_file) and ledger_file.parent.is_dir():
            made = dbm.claim_file(ledger_file)
        engine = dbm.engine_for(url, create=True)
        try:
            with one_write(url):  # not from inside a write to it by this thread: that would wait on itself
                state = dbm.create(engine, settle)
                created = state == "created"
        finally:
            engine.dispose()
        if partial is not None:
            kept = _keep_old(path)  # force: the file it replaces, as FILE.bak
            os.replace(partial, path.resolve() if path.is_symlink() else path)
            partial = None
    except BaseException:
        if made and ledger_file is not None and (created or not dbm.holds_tables(ledger_file)):
            for p in (ledger_file, *(Path(f"{ledger_file}{x}") for x in ("-wal", "-shm", "-journal"))):
                p.unlink(missing_ok=True)
        raise
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    return Setup(config=str(path), written=not keep, kept_as=None if kept is None else str(kept), ledger=where,
                 state=state, schema_version=dbm.SCHEMA_VERSION)  # type: ignore[arg-type]  # one of the two


# ---------------------------------------------------------------------------
# upgrade
# ---------------------------------------------------------------------------


@row
class UpgradeStep(NamedTuple):
    """One step of an upgrade: the schema version it brings the ledger to, and what it does."""

    version: int
    name: str


@dataclass(frozen=True)
class Upgraded(Result):
    """What `upgrade` did (or, with dry_run, would do): the ledger, its
    schema version before and after, each step, and the backup made first
    (SQLite; None on PostgreSQL, for a dry run and when nothing was to do)."""

    ledger: str
    from_version: int
    to_version: int
    steps: tuple[UpgradeStep, ...]
    backup: str | None
    dry_run: bool


@checked
def upgrade(config: str | os.PathLike[str] = "loyalty.toml", *, db: str | os.PathLike[str] | None = None,
            dry_run: bool = False) -> Upgraded:
    """Bring the ledger of the programme file `config` (or `db`, a path or an
    SQLAlchemy URL) to this loyalty's schema version: every pending
    migration, in one transaction, under the ledger's write lock. On SQLite
    a backup is made first, beside the file (LEDGER.before-upgrade-vN.bak,
    checked before the upgrade starts). A ledger already up to date is left
    as it is (no steps, no backup). `dry_run` names the steps and writes
    nothing. Every other command refuses a ledger older than this loyalty."""
    from loyalty_cli.domain import config as cfg
    from loyalty_cli.store import db as dbm

    prog = cfg.load(os.fspath(config))
    url = prog.database_url(os.fspath(db) if db is not None else None)
    engine = dbm.engine_for(url)
    try:
        with one_write(url):
            before, steps = dbm.upgrade(engine, dry_run=True)
            copy = None
            if steps and not dry_run:
                file = dbm.sqlite_file(url)
                if file is not None:
                    copy = _numbered(file.with_name(f"{file.name}.before-upgrade-v{before}.bak"))
                    dbm.backup(engine, copy, _sound_copy)
                before, steps = dbm.upgrade(engine)
    finally:
        engine.dispose()
    after = before if dry_run or not steps else steps[-1][0]
    return Upgraded(ledger=dbm.describe(url), from_version=before, to_version=after,
                    steps=tuple(UpgradeStep(v, n) for v, n in steps),
                    backup=None if copy is None else str(copy), dry_run=dry_run)


def _numbered(path: Path) -> Path:
    """`path`, or PATH.1, PATH.2, ... when it is taken (an earlier upgrade's backup is never replaced)."""
    n, target = 0, path
    while target.exists() or target.is_symlink():
        n += 1
        target = path.with_name(f"{path.name}.{n}")
    return target


def _sound_copy(path: Path) -> None:
    """The backup an upgrade makes first must be a sound SQLite file (it is of
    the old schema, so it is not opened as a ledger)."""
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()
    if result != [("ok",)]:
        raise LoyaltyError(f"the backup {path} made before the upgrade is not sound ({result[0][0]}); "
                           "nothing was upgraded")


def _relative_to(target: Path, folder: Path) -> str:
    """A ledger path as the programme file names it: relative to the file's
    folder when it lies inside it, else absolute."""
    target = Path(os.path.abspath(target))
    folder = Path(os.path.abspath(folder))
    return str(target.relative_to(folder)) if target.is_relative_to(folder) else str(target)


def _write_beside(path: Path, text: str) -> Path:
    """`text` in a new file beside `path` (same folder, so a rename puts it
    in place at once), with the mode of the file it will replace."""
    import stat as st

    target = path.resolve() if path.is_symlink() else path
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        mode = st.S_IMODE(target.stat().st_mode) if target.exists() else 0o666
        fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    except OSError as e:
        raise LoyaltyError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            os.chmod(partial, mode)  # the umask took bits off at open
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise LoyaltyError(f"cannot write {path}: {e.strerror}") from None
    return partial


def _keep_old(path: Path) -> Path | None:
    """Before `force` replaces a programme file: keep it as FILE.bak, or
    FILE.bak.1, .bak.2, ... when that exists. None when there was no file."""
    import shutil

    if not path.exists():
        return None
    target = path.with_name(path.name + ".bak")
    n = 0
    while target.exists() or target.is_symlink():
        n += 1
        target = path.with_name(f"{path.name}.bak.{n}")
    try:
        shutil.copy2(path, target)
    except OSError as e:
        raise LoyaltyError(f"cannot keep a copy of {path} as {target} ({e.strerror}); "
                           f"{path} was not replaced") from None
    return target


# ---------------------------------------------------------------------------
# backup, check
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup(Result):
    """`loyalty backup`: the copy written, its size, its entries and the head
    of its hash chain, and what checking the copy found (nothing, normally)."""

    path: str
    bytes: int
    entries: int
    head: str
    problems: tuple[str, ...]


# What a problem line can be about, when it takes two words ("promo code SPRING: ...")
_TWO_WORD_KINDS = {"promo code", "promo use", "tier change", "consent change", "referral code", "referral reward",
                   "birthday bonus"}


@dataclass(frozen=True)
class Problem(Result):
    """One problem `check` found: its kind (entry, member, order, promo code,
    schema, ...), subject ("entry 12") and message. `str()` is its line."""

    kind: str
    subject: str
    message: str
    line: str = internal()

    @classmethod
    def of(cls, text: str) -> Problem:
        subject, sep, message = text.partition(": ")
        if not sep:
            subject, message = "", text
        words = subject.split()
        kind = " ".join(words[:2]) if " ".join(words[:2]) in _TWO_WORD_KINDS else (words[0] if words else "ledger")
        return cls(kind, subject, message, text)

    def __str__(self) -> str:
        return self.line


@dataclass(frozen=True)
class Check(Result):
    """`loyalty check`: `ok` when no problem was found; `head` (with
    `print_head`, on a sound ledger) is the head of the hash chain."""

    ok: bool
    problems: tuple[Problem, ...]
    head: str | None


@dataclass(frozen=True)
class CopiedTable(Result):
    """One table of a copy, and its rows."""

    table: str
    rows: int


@dataclass(frozen=True)
class Copied(Result):
    """`loyalty copy`: the ledger copied (`source`) and where to (`target`),
    both without a password; rows per table, in the order copied; the head of
    the hash chain both hold. `dry_run`: nothing was written."""

    source: str
    target: str
    tables: tuple[CopiedTable, ...]
    rows: int
    head: str
    dry_run: bool


@checked
def backup_path(path: str | os.PathLike[str]) -> Path:
    """The file a backup is to be written to: `~` and `~user` expanded (an
    unknown user is refused)."""
    from loyalty_cli.domain.config import expand_path

    return expand_path(os.fspath(path), "backup PATH")


@checked
def check_head(text: str) -> tuple[int, int | None, str]:
    """A chain head as `check --print-head` printed it ("E.S:HASH", or an
    older loyalty's "E:HASH"), checked: (entries, seals or None, hash)."""
    from loyalty_cli.store import chain

    return chain.parse_head(text)


# ---------------------------------------------------------------------------
# program
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgramInfo(Result):
    """The programme: its name, currency, timezone, phone region, file and ledger."""

    name: str
    currency: str
    timezone: str
    phone_region: str | None
    config: str
    database: str
    decimals: int = internal()  # the currency's


@dataclass(frozen=True)
class EarningRules(Result):
    """[earning]: points per currency unit, rounding, minimum purchase, bonuses, pending days."""

    points_per_unit: Decimal
    rounding: str
    min_purchase: Decimal
    welcome_bonus: int
    birthday_bonus: int
    pending_days: int


@dataclass(frozen=True)
class ActionRule(Result):
    """An action of [earning.actions]: its points and how often a member may earn them."""

    name: str
    points: int
    limit: int | None
    per: str


@dataclass(frozen=True)
class RedemptionRules(Result):
    """[redemption]: what a point is worth, the fewest to redeem, the most of a sale."""

    point_value: Decimal
    min_points: int
    max_share: Decimal


@dataclass(frozen=True)
class RewardRule(Result):
    """A reward of the catalogue ([[rewards]]) and its price in points."""

    name: str
    points: int
    description: str


@dataclass(frozen=True)
class ExpiryRules(Result):
    """[expiry]: days until points expire, days of warning."""

    days: int
    warn_days: int


@dataclass(frozen=True)
class TierRule(Result):
    """A tier of [[tiers.levels]]: its threshold (spend or points, by the basis), multiplier and discount."""

    name: str
    min: Decimal | int  # spend (an amount) or points earned, by the tiers' basis
    multiplier: Decimal
    discount_percent: Decimal


@dataclass(frozen=True)
class TierRules(Result):
    """[tiers]: the basis, window, downgrades and each tier."""

    basis: str
    window: str
    downgrade: bool
    levels: tuple[TierRule, ...]


@dataclass(frozen=True)
class ReferralRules(Result):
    """[referral]: the points for referrer and referee, the qualifying purchase."""

    referrer_points: int
    referee_points: int
    min_purchase: Decimal


@dataclass(frozen=True)
class Program(Result):
    """`loyalty program`: the rules in force, section by section."""

    program: ProgramInfo
    earning: EarningRules
    actions: tuple[ActionRule, ...]
    redemption: RedemptionRules
    rewards: tuple[RewardRule, ...]
    expiry: ExpiryRules
    tiers: TierRules
    referral: ReferralRules

    @classmethod
    def of(cls, prog: Programme) -> Program:
        """The rules of a parsed programme file (no ledger needed)."""
        from loyalty_cli.domain.config import hide_password

        dec = prog.currency.decimals
        spend = prog.tier_basis == "spend"
        return cls(
            program=ProgramInfo(prog.name, prog.currency.code, prog.timezone, prog.phone_region, str(prog.path),
                                hide_password(prog.database), dec),
            earning=EarningRules(prog.points_per_unit, prog.rounding, money(prog.min_purchase, dec), prog.welcome_bonus,
                                 prog.birthday_bonus, prog.pending_days),
            actions=tuple(ActionRule(a.name, a.points, a.limit, a.per) for a in prog.actions.values()),
            redemption=RedemptionRules(prog.point_value, prog.min_points, prog.max_share),
            rewards=tuple(RewardRule(r.name, r.points, r.description) for r in prog.rewards),
            expiry=ExpiryRules(prog.expiry_days, prog.warn_days),
            tiers=TierRules(prog.tier_basis, prog.tier_window, prog.downgrade,
                            tuple(TierRule(lv.name, money(lv.min, dec) if spend else lv.min, lv.multiplier,
                                            lv.discount_percent) for lv in prog.levels)),
            referral=ReferralRules(prog.referrer_points, prog.referee_points, money(prog.referral_min_purchase, dec)),
        )


# ---------------------------------------------------------------------------
# the methods
# ---------------------------------------------------------------------------

class AdminAPI(LedgerCore):
    def backup(self, path: str | os.PathLike[str]) -> Backup:
        """Copy the ledger to `path` while it is in use: a consistent, compacted
        copy of one moment (SQLite's VACUUM INTO; a PostgreSQL ledger is
        copied into a new SQLite file, as `copy` does), readable by its owner
        only, never over an existing file. The copy is checked as `check` checks
        the ledger before it gets its name; its problems are the result's."""
        from loyalty_cli import checks
        from loyalty_cli.store import chain, copy
        from loyalty_cli.store import db as dbm

        target = backup_path(path)
        prog = self.programme
        pg = self._engine.dialect.name != "sqlite"

        def write(partial: Path) -> None:  # PostgreSQL: the copy, into a new SQLite file (checked by verify)
            with self._session(write=False) as conn:
                copy.copy(conn, self.url, dbm.sqlite_url(partial.resolve()))

        def verify(copy_path: Path) -> Backup:  # the copy, before it gets its name: it must open and be checked
            copy = dbm.engine_for(dbm.sqlite_url(copy_path.resolve()))
            try:
                with dbm.transaction(copy, write=False) as conn:
                    return Backup(path=str(target), bytes=copy_path.stat().st_size, entries=chain.last(conn)[0],
                                  head=chain.head(conn), problems=tuple(checks.check(conn, prog)))
            finally:
                copy.dispose()

        return dbm.backup(self._engine, target, verify, write if pg else None)

    def copy(self, to: str | os.PathLike[str], *, dry_run: bool = False) -> Copied:
        """Copy the whole ledger to `to` (an SQLAlchemy URL or an SQLite file's
        path), in one transaction there: an empty database, or a file that does
        not exist yet, gets the schema and every row, ids kept. Before it
        commits, each table's rows and the chain head must equal the source's
        and the copy must pass `check`; otherwise nothing is written. The
        source is read as one moment; writers may carry on. `dry_run`: check
        the target and say what would be copied. The programme file is not
        changed: point its [ledger] database at the copy to use it."""
        from loyalty_cli import checks
        from loyalty_cli.domain.config import ledger_url
        from loyalty_cli.store import copy
        from loyalty_cli.store import db as dbm

        url = ledger_url(os.fspath(to), "--to")
        prog = self.programme
        with self._session(write=False) as conn:
            done = copy.copy(conn, self.url, url, dry_run=dry_run, verify=lambda c: checks.check(c, prog))
        return Copied(source=dbm.describe(self.url), target=dbm.describe(url),
                      tables=tuple(CopiedTable(n, rows) for n, rows in done.tables),
                      rows=sum(rows for _, rows in done.tables), head=done.head, dry_run=dry_run)

    def check(self, *, head: str | None = None, print_head: bool = False) -> Check:
        """Check the ledger's integrity (schema, SQLite's own check, the hash
        chain, balances, lots, redemptions, expiry, purchases, codes,
        consent). With `head` (as `print_head` gave it earlier), also that
        the ledger still holds it. An older ledger is checked, not upgraded."""
        from loyalty_cli import checks
        from loyalty_cli.store import chain

        if head is not None:
            check_head(head)
        with self._session(write=False, checking=True) as conn:
            found = checks.check(conn, self.programme, head=head)
            top = chain.head(conn) if print_head and not found else None
        return Check(ok=not found, problems=tuple(Problem.of(p) for p in found), head=top)

    def program(self) -> Program:
        """The rules in force: earning, actions, redemption, rewards, expiry, tiers, referral."""
        return Program.of(self.programme)

    def complete(self, kind: Literal["member", "promo", "order"], prefix: str = "", *, limit: int = 200) -> list[str]:
        """What a shell completes to: the member ids (not forgotten), promo
        codes or order ids (the most recent first) that start with `prefix`."""
        from sqlalchemy import select

        from loyalty_cli.store import db as dbm
        from loyalty_cli.store.models import members, promo_codes, purchases

        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if kind == "order":  # the one being refunded is usually one of the latest
            q = (select(purchases.c.order_id).where(purchases.c.order_id.like(like, escape="\\"))
                 .order_by(purchases.c.at.desc(), purchases.c.id.desc()).limit(limit))
        else:
            col = members.c.id if kind == "member" else promo_codes.c.code
            q = select(col).where(col.like(like, escape="\\")).order_by(dbm.by_code_point(col)).limit(limit)
            if kind == "member":
                q = q.where(members.c.forgotten_at.is_(None))
        with self._session(write=False) as conn:
            return [v for (v,) in conn.execute(q)]
