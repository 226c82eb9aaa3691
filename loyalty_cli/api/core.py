"""The `Ledger`'s unit of work and the values its methods take.

One programme, one engine; every method runs in one transaction of the store
(`_session`): a write takes the write lock, records the ledger's currency,
commits on success and rolls back on any exception, and a `dry_run` does all
the work and then rolls it back, so it reports exactly what the real run
would write. The type of each argument is checked before a method runs
(api/arguments.py, against its annotations); what a value says is checked
here, once, with the CLI's words (the message of a refusal is the CLI's
`Error:` line): amounts are `str`, `Decimal` or `int` (a `float` is refused:
it is not exact), points are `int` or digit strings, moments are `datetime`,
`date` or ISO strings, held to the same checks whichever they are.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, overload

from loyalty_cli.api.arguments import checker, describe
from loyalty_cli.api.results import money
from loyalty_cli.domain.dates import check_day, from_object, now, parse_date, parse_datetime
from loyalty_cli.domain.money import parse_amount, parse_points
from loyalty_cli.errors import LedgerError, LoyaltyError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from loyalty_cli.domain.config import Programme

Moment = datetime | date | str
Amount = str | Decimal | int
Points = int | str

# how these read in a refusal of a wrong type (api/arguments.py)
describe(Moment, "a date, a datetime or an ISO string")
describe(Amount, "a str, Decimal or int (never a float: it is not exact)")
describe(Points, "a whole number (an int or a string of digits)")
describe(date | str, "a date or an ISO date string (YYYY-MM-DD)")
describe(str | os.PathLike[str], "a path (a str or os.PathLike)")


_CHANGES = "loyalty.changes"  # a pooled connection's count of changed rows when its last session ended


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A Ledger method, its arguments checked before it runs."""
    check = checker(fn)

    @functools.wraps(fn)
    def method(self: LedgerCore, *args: Any, **kwargs: Any) -> Any:
        self._open()
        check(self, *args, **kwargs)
        return fn(self, *args, **kwargs)

    return method


_THREAD = threading.local()  # .writing: the ledgers this thread has a write under way to


@contextmanager
def one_write(url: str) -> Iterator[None]:
    """A write to the ledger at `url` by this thread. Refused at once when the
    thread has one under way to it already (this one was started from inside
    it, from an import's `progress` callback, say, through this Ledger or
    another): it would wait on itself for the lock, and give up after 30 s
    blaming another process."""
    from loyalty_cli.store import db

    path = db.sqlite_file(url)
    key = os.path.realpath(path) if path is not None else db.describe(url)
    held: set[str] = _THREAD.__dict__.setdefault("writing", set())
    if key in held:
        raise LedgerError(f"a write to the ledger {db.describe(url)} is already under way in this thread, and "
                          f"this one was started inside it (from a callback such as an import's progress): "
                          f"make it after that write returns")
    held.add(key)
    try:
        yield
    finally:
        held.discard(key)


def record_currency(conn, value: str | None) -> None:
    """Record, sealed, the currency of a ledger that has none yet (meta
    "currency"), as `db.bind_currency` gave it (None: it has one)."""
    if value is None:
        return
    from loyalty_cli.ledger.posting import record
    from loyalty_cli.store.models import meta

    record(conn, meta, [{"key": "currency", "value": value}])


class _RollBack(Exception):
    """Raised at the end of a dry run to roll its transaction back."""


class LedgerCore:
    """The session and value handling every group of methods shares. Each
    public method of a subclass (the groups, and so the Ledger) has its
    arguments checked against its annotations before it runs
    (`__init_subclass__`, api/arguments.py)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, fn in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(fn):
                setattr(cls, name, _guarded(fn))

    def __init__(self, programme: Programme, url: str, engine: Engine, *, owns_engine: bool = True):
        self.programme = programme
        self.url = url
        self._engine = engine
        self._owns_engine = owns_engine
        self.commits = 0  # write transactions that committed a change
        # Hooks for a caller that reports on writes (the CLI): `on_write` when
        # a write (not a dry run) begins, `on_commit` when one committed a change.
        self.on_write: Callable[[], None] | None = None
        self.on_commit: Callable[[], None] | None = None

    # -- lifetime ---------------------------------------------------------

    _closed = False

    def close(self) -> None:
        """Release the ledger's connections (a Ledger that shares its engine
        keeps it). Closing again does nothing; any other method of a closed
        Ledger raises LedgerError."""
        if self._owns_engine and not self._closed:
            self._engine.dispose()
        self._closed = True

    def _open(self) -> None:
        """Refuse to work once closed (the engine may be gone, or shared with others)."""
        if self._closed:
            raise LedgerError("the ledger is closed (close() was called, or its `with` block ended): "
                              "open it again with loyalty_cli.open_ledger()")

    def __enter__(self):
        self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        from loyalty_cli.store.db import describe

        return f"<Ledger {self.programme.path} at {describe(self.url)}{' (closed)' if self._closed else ''}>"

    # -- the unit of work ---------------------------------------------------

    @contextmanager
    def _session(self, *, write: bool, dry_run: bool = False, checking: bool = False) -> Iterator[Connection]:
        """One transaction. A write that changed no row (a second `birthdays`,
        an import whose rows were all there) counts as no commit. `checking`
        (`check`) leaves the currency to the check itself. A ledger older
        than this loyalty is refused (`loyalty upgrade` migrates it)."""
        from loyalty_cli.ledger.members import phone_region
        from loyalty_cli.store import db

        prog = self.programme
        changed = False
        info: dict[str, Any] = {}
        try:
            with phone_region(prog.phone_region), one_write(self.url) if write else nullcontext(), \
                    db.transaction(self._engine, write=write) as conn:
                # rows changed on this connection since its last session ended
                info = conn.connection.info
                before = info.get(_CHANGES, 0)
                if not checking:
                    currency = db.bind_currency(conn, prog.currency.code, prog.currency.decimals)
                    if currency is not None and write:
                        record_currency(conn, currency)
                if write and not dry_run and self.on_write is not None:
                    self.on_write()
                try:
                    yield conn
                    if dry_run:
                        raise _RollBack
                    after = db.changes(conn)
                    changed = after is None or after != before
                finally:
                    info[_CHANGES] = db.changes(conn) or 0
        except _RollBack:
            return
        if write and changed:
            self.commits += 1
            if self.on_commit is not None:
                self.on_commit()

    # -- values -------------------------------------------------------------

    def _now(self) -> datetime:
        return now(self.programme.timezone)

    def _at(self, value: Moment | None, what: str = "--date") -> datetime:
        """When a write happened: now, or a moment not in the future."""
        current = self._now()
        if value is None:
            return current
        at = self._moment(value, what)
        if at > current:
            shown = value.strip() if isinstance(value, str) else value.isoformat()
            raise LoyaltyError(f"{what} {shown!r} is in the future (it is now {current:%Y-%m-%d %H:%M})")
        return at

    def _as_of(self, value: Moment | None, what: str = "--as-of") -> datetime:
        """The moment a report is as of: now, or the given one (a date means its end)."""
        if value is None:
            return self._now()
        return self._moment(value, what, end_of_day=True)

    def _moment(self, value: Moment, what: str, *, end_of_day: bool = False) -> datetime:
        """A moment as stored: a date, datetime or ISO string, held to the same
        range and daylight-saving checks whichever it is."""
        if isinstance(value, date):  # a datetime too
            return from_object(value, self.programme.timezone, what, end_of_day=end_of_day)
        if isinstance(value, str):
            return parse_datetime(value, self.programme.timezone, what, end_of_day=end_of_day)
        raise LoyaltyError(f"{what} must be a date, a datetime or an ISO string, not {type(value).__name__}")

    @staticmethod
    def _day(value: date | str | None, what: str) -> date | None:
        """A calendar day (a birthday, a code's validity): None or '' for none."""
        if value is None or value == "":
            return None
        if isinstance(value, date):  # a datetime's day, for a datetime
            return check_day(value, what)
        if isinstance(value, str):
            return parse_date(value, what)
        raise LoyaltyError(f"{what} must be a date or an ISO string, not {type(value).__name__}")

    def _amount(self, value: Amount | None, what: str = "amount") -> int | None:
        """An amount in the currency's minor units; a float is refused."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, Decimal, int)):
            kind = "a float, which is not exact" if isinstance(value, float) else f"a {type(value).__name__}"
            raise LoyaltyError(f"{what} {value!r} is {kind}: give it as a str or Decimal, e.g. '12.50'")
        text = format(value, "f") if isinstance(value, Decimal) and value.is_finite() else str(value)
        return parse_amount(text, self.programme.currency.decimals, what)

    @staticmethod
    def _points(value: Points | None, what: str = "points", *, signed: bool = False) -> int | None:
        """A whole number of points (more than 0 unless `signed`)."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise LoyaltyError(f"{what} {value!r} is not a whole number: points are whole numbers")
        return parse_points(str(value), what, signed=signed)

    @overload
    def _money(self, minor: int) -> Decimal: ...
    @overload
    def _money(self, minor: None) -> None: ...

    def _money(self, minor: int | None) -> Decimal | None:
        """Minor units as the Decimal a result holds (None stays None)."""
        return money(minor, self.programme.currency.decimals)
