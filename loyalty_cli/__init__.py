"""loyalty: a command-line loyalty ledger for small shops.

Layout: data flows one way, cli -> api -> ledger / queries / io -> store, with
domain (money, dates, config, rules) pure and used by all of them:

      __init__.py       version, and this layout
      __main__.py       python -m loyalty_cli
      errors.py         LoyaltyError and friends: refused input, exit code 1 (every layer raises them)
      checks.py         `loyalty check`: each integrity rule a small function (conn, prog) -> [problems]
      domain/           pure: no database, no terminal
        money.py        currencies, exact parsing and formatting of amounts, bounded whole numbers
        dates.py        --date / --as-of parsing in the programme's timezone (gaps, folds, 1900-9998)
        config.py       TOML -> validated, typed Programme (tomllib in); SCHEMA lists every key; the starter file
        rules.py        the arithmetic of the programme: points, tiers, discounts, FIFO
      store/            the only layer that knows the database
        models.py       the tables, on SQLModel's metadata
        db.py           engine, SQLite pragmas, transactions, the schema version check, upgrade, backup and scrub
    migrations/     the schema as frozen steps (README.md: how to add a revision)
      __init__.py   upgrade and pending: the steps a ledger still needs, run in one transaction
      legacy.py     schema versions 1-6 as loyalty built them before Alembic, frozen
      versions/     the Alembic revisions, one per schema version, never edited once released
        v06_baseline.py  version 6 (the schema before Alembic) as explicit DDL, SQLite's triggers
        v07_stores.py    a purchase's store and till
        v08_bigint.py    64-bit amounts, points and ids on PostgreSQL
        v09_checks.py    CHECK constraints (SQLite: the four tables rebuilt in batch mode)
        v10_postgresql_append_only.py  the append-only triggers on PostgreSQL
        v11_seals.py                   the seals over every table but entries
        chain.py        the hash chain over entries: sealing new entries, verifying, the head
        seals.py        the seals over every other table: canonical content, digests, verifying
        bulk.py         writes in bulk: executemany on SQLite, Core elsewhere; the cached balances in one statement
        copy.py         a whole ledger into another, empty database: `copy --to`, and `backup` of PostgreSQL
      api/              the library: open_ledger -> Ledger, methods named after the commands, frozen typed results
        __init__.py     Ledger, open_ledger, init; every result class, error and argument type, re-exported
        ledger.py       open_ledger, and the Ledger: every group of methods below in one class
        arguments.py    what callers pass, checked against each method's annotations before it runs
        core.py         the unit of work (one transaction per method, dry runs), and the values methods take
        results.py      Result and Rows: frozen results whose fields are the command's JSON keys; as_json
        members.py      enroll, edit, forget, members, show
        points.py       purchase, refund, redeem, adjust, award
        codes.py        promo codes and referral codes
        reports.py      balance, history, tiers, report, expiring, lapsed
        io.py           import purchases/members, export
        daily.py        expire, birthdays, daily
        admin.py        init, upgrade (functions: make, migrate the ledger), backup, copy, check, program, completion
      ledger/           operations, each inside one transaction of the store
        members.py      members' identity: normalising e-mail and phone, finding a member, consent history
        codes.py        promo and referral codes: generating, normalising, checking their rules
        posting.py      the one posting function: every point movement, sealed, written, its invariants asserted
        operations.py   writes: enroll, edit, forget, purchase, refund, redeem, adjust, award, referral, expiry
        daily.py        time-driven rules: expire, birthdays, the daily tier review, the daily run
        tiers.py        the tier review of writes and imports: the changes time alone caused, each on its day
      queries/          the read side, nothing here writes
        standing.py     a member's standing as of a moment: lots, availability, expiry due, tier totals, the tier log
        reports.py      members, show, balance, history, tiers
        figures.py      the programme report, and the expiring and lapsed lists
      io/
        importer.py     CSV import: streaming, mapping, merging an order's rows, idempotency keys, the fast path
        exporter.py     CSV/JSON export, streamed
      cli/              the command line: the only place that imports click or rich
        __init__.py     registers every command on the group; the one-line --help summaries
        app.py          the group, shared options, the Run a command opens its Ledger through, errors -> exit codes
        members.py      enroll, edit, forget, members, show
        points.py       purchase, refund, redeem, adjust, award
        codes.py        promo create/list/show/disable, referral
        reports.py      balance, history, tiers, report, expiring, lapsed
        io.py           import purchases/members, export
        daily.py        expire, birthdays, daily
        admin.py        init, upgrade, backup, copy, check, program, batch
        completion.py   loyalty completion, and what arguments complete to
        render.py       table / csv / json output from plain rows; escaping; fitting the terminal
        batch_runner.py `loyalty batch`: the click commands line by line in one process, sharing one Batch
"""

import typing as _typing

from loyalty_cli.errors import ConfigError, LedgerError, LoyaltyError

if _typing.TYPE_CHECKING:  # for type checkers; at run time __getattr__ imports them on first use
    from loyalty_cli.api import ImportRefused, Ledger, OptionConflict, RejectsNotWritten, init, open_ledger

__version__ = "0.1.0"
__all__ = ["open_ledger", "Ledger", "init", "LoyaltyError", "ConfigError", "LedgerError", "ImportRefused",
           "RejectsNotWritten", "OptionConflict", "__version__"]
# from loyalty_cli.api on first use: `loyalty --help` imports this package and
# should not pay for the library (every result class is in loyalty_cli.api too)
_API = ("open_ledger", "Ledger", "init", "ImportRefused", "RejectsNotWritten", "OptionConflict")


def __getattr__(name: str):
    """`open_ledger`, `Ledger`, `init` and the import's errors, imported on
    first use: `loyalty --help` imports this package and should not pay for
    the database layer."""
    if name in _API:
        import loyalty_cli.api as api

        return getattr(api, name)
    raise AttributeError(f"module 'loyalty_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    """What the package offers (`__all__`), its submodules once imported, and the module's dunders."""
    import types

    here = globals()
    return sorted({*__all__, *(n for n, v in here.items() if n.startswith("__") or
                               (isinstance(v, types.ModuleType) and not n.startswith("_")))})
