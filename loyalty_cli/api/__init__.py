"""The library API: `open_ledger(config, db=None)` gives a `Ledger` (see api/ledger.py)."""

from loyalty_cli.api.ledger import Ledger, open_ledger

__all__ = ["Ledger", "open_ledger"]
