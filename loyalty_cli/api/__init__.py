"""The library API: `open_ledger(config, db=None)` gives a `Ledger` (see api/ledger.py);
`init(config, ...)` writes a programme file and creates its ledger (api/admin.py)."""

from loyalty_cli.api.admin import init
from loyalty_cli.api.ledger import Ledger, open_ledger

__all__ = ["Ledger", "init", "open_ledger"]
