"""Pure domain: money, dates, the programme file and the arithmetic of its
rules. No database, no terminal: everything here is a function of its
arguments."""
