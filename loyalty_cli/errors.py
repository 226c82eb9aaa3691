"""The one exception type the core raises for anything a user typed or fed in.

The CLI turns it into ``Error: <message>`` on stderr and exit code 1; nothing
else in the package needs to know how it is shown.
"""


class LoyaltyError(Exception):
    """Refused or invalid input. ``str(err)`` is the whole one-line message."""


class ConfigError(LoyaltyError):
    """The programme file is missing, unreadable or invalid."""


class LedgerError(LoyaltyError):
    """The ledger cannot be opened, is not ours, or is busy."""
