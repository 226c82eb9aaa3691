"""`open_ledger` and the `Ledger`: the library's one front door.

A `Ledger` is a programme file and its ledger, opened together. Its methods
are named after the commands (`purchase`, `balance`, `import_purchases`, ...),
take the same options as keyword arguments and return frozen results whose
attributes are the command's JSON keys. Each method is one transaction;
refusals raise `loyalty_cli.LoyaltyError` with the CLI's `Error:` line as
the message. The methods live with their results, a module per group of
commands (members, points, codes, reports, io, daily, admin).
"""

from __future__ import annotations

import os

from loyalty_cli.api.admin import AdminAPI
from loyalty_cli.api.arguments import checked
from loyalty_cli.api.codes import CodesAPI
from loyalty_cli.api.daily import DailyAPI
from loyalty_cli.api.io import IOAPI
from loyalty_cli.api.members import MembersAPI
from loyalty_cli.api.points import PointsAPI
from loyalty_cli.api.reports import ReportsAPI


class Ledger(MembersAPI, PointsAPI, CodesAPI, ReportsAPI, IOAPI, DailyAPI, AdminAPI):
    """A loyalty programme and its ledger. Use it as a context manager (or
    call `close()`), e.g.::

        with loyalty_cli.open_ledger("loyalty.toml") as ledger:
            sale = ledger.purchase("anna", "12.50", order="A1")
            print(sale.points_earned, ledger.balance("anna").points)

    `programme` is the parsed programme file; `url` the ledger's SQLAlchemy
    URL; `commits` counts the write transactions that committed a change.
    Two hooks, for a caller that reports on writes (the CLI does): `on_write`,
    called with no arguments when a write (not a dry run) begins, and
    `on_commit`, when a write has committed a change; both None by default.

    After `close()` (or the end of the `with` block) any method but `close`
    raises LedgerError.
    A write cannot start inside another write to the same ledger by the same
    thread (from an import's `progress` callback, say): LedgerError at once.
    """


def connect(url: str):
    """An engine for the ledger at `url` (a caller that keeps engines across
    Ledgers, as `batch` does, passes it to `Ledger(programme, url, engine,
    owns_engine=False)`)."""
    from loyalty_cli.store import db as store

    return store.engine_for(url)


@checked
def open_ledger(config: str | os.PathLike[str] = "loyalty.toml", db: str | os.PathLike[str] | None = None) -> Ledger:
    """Open the programme file `config` and its ledger: `db` (a path or an
    SQLAlchemy URL; default the file's [ledger] database, relative to it).

    Nothing is written until a write method is called. Raises ConfigError
    for a missing or invalid programme file and LedgerError for a ledger
    that is missing (run `loyalty init`), not a loyalty ledger, or busy.
    """
    from loyalty_cli.domain.config import load

    prog = load(os.fspath(config))
    url = prog.database_url(os.fspath(db) if db is not None else None)
    return Ledger(prog, url, connect(url))
