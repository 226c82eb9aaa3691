"""Import and export — and their results."""

from __future__ import annotations

from loyalty_cli.api.core import LedgerCore


class IOAPI(LedgerCore):
    pass
