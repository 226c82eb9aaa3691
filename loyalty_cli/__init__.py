"""loyalty: a command-line loyalty ledger for small shops.

Layout (data flows one way: cli -> ledger/reports -> db/models, with config,
rules and money as pure helpers):

    cli.py      click commands only: parse, call, render; maps errors to exit codes
    render.py   table / csv / json output from plain rows (rich only here)
    config.py   TOML -> validated, typed Programme (tomllib in, tomli-w out)
    money.py    currencies, exact parsing and formatting of amounts
    dates.py    --date / --as-of parsing in the programme's timezone
    rules.py    pure arithmetic of the programme: points, tiers, discounts, FIFO
    models.py   the tables (SQLModel metadata)
    db.py       engine, SQLite pragmas and triggers, transactions, schema versions
    ledger.py   write operations: enroll, edit, purchase, refund, redeem, adjust, award
    reports.py  read side: members, show, balance, history, tiers, check
"""

__version__ = "0.1.0"
