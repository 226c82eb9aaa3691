"""Administration: init, backup, check, program — and their results."""

from __future__ import annotations

from loyalty_cli.api.core import LedgerCore


class AdminAPI(LedgerCore):
    pass
