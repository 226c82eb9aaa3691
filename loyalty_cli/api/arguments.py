"""What a caller passes, checked against the annotations before a method runs.

One mechanism for the whole library: every public `Ledger` method (see
`LedgerCore.__init_subclass__`) and each public function (`open_ledger`,
`init`, ...) is wrapped by `checked`, which reads the function's parameter
annotations once (`typing.get_type_hints`) and, on every call, refuses a
value of the wrong type with a one-line LoyaltyError naming the argument
and what it must be, before the body runs, so nothing is written:

    member must be a str, not int 123
    marketing must be True or False, not str 'no'

Only the type is checked here; what a value says (an amount's digits, a
date's range, an unknown member) is the body's to refuse, in the CLI's words.
The command line passes only str, None, bool and the int of an IntRange, so
these checks never fire for it and its messages stay as they were.

A type alias whose members read badly one by one (`Moment`, `Amount`, ...)
is named in words with `describe`, next to its definition.
"""

from __future__ import annotations

import functools
import inspect
import io
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from loyalty_cli.errors import LoyaltyError

F = typing.TypeVar("F", bound=Callable[..., Any])


class Rule(NamedTuple):
    """How a value is checked against one annotation."""

    test: Callable[[Any], bool]
    says: str  # what the value must be: "a str", "True or False", ...


_NONE = Rule(lambda v: v is None, "None")
_LEAVES: dict[Any, Rule] = {
    type(None): _NONE,
    bool: Rule(lambda v: isinstance(v, bool), "True or False"),
    int: Rule(lambda v: isinstance(v, int) and not isinstance(v, bool), "an int"),
    str: Rule(lambda v: isinstance(v, str), "a str"),
    Decimal: Rule(lambda v: isinstance(v, Decimal), "a Decimal"),
    datetime: Rule(lambda v: isinstance(v, datetime), "a datetime"),
    date: Rule(lambda v: isinstance(v, date), "a date"),
    Any: Rule(lambda v: True, "anything"),
}
_NAMED: dict[Any, Rule] = {}  # aliases and protocols in words: by the union's members, or the type


def describe(hint: Any, says: str, test: Callable[[Any], bool] | None = None) -> None:
    """Name a type alias (a union) or a protocol in words for the refusals,
    e.g. `describe(Moment, "a date, a datetime or an ISO string")`; `test`
    replaces the default one (any member of the union, or isinstance)."""
    members = typing.get_args(hint) if _is_union(hint) else (hint,)
    key = frozenset(members)
    if test is None:
        test = _union([_rule(m) for m in members]).test if _is_union(hint) else _rule(hint).test
    _NAMED[key] = Rule(test, says)


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union


def _union(rules: list[Rule]) -> Rule:
    tests = [r.test for r in rules]
    words = [r.says for r in rules]
    if len(words) > 1:  # "a str or None"; "a date, a datetime or an ISO string, or None"
        words[-2:] = [f"{words[-2]}{',' if ' or ' in words[-2] else ''} or {words[-1]}"]
    says = ", ".join(words)
    return Rule(lambda v: any(t(v) for t in tests), says)


def _rule(hint: Any) -> Rule:
    """The rule for one resolved annotation."""
    named = _NAMED.get(frozenset(typing.get_args(hint)) if _is_union(hint) else frozenset((hint,)))
    if named is not None:
        return named
    if _is_union(hint):
        members = typing.get_args(hint)
        rest = [m for m in members if m is not type(None)]
        named = _NAMED.get(frozenset(rest))
        rules = [named] if named is not None else [_rule(m) for m in rest]
        return _union(rules + ([_NONE] if len(rest) < len(members) else []))
    if hint in _LEAVES:
        return _LEAVES[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        choices = args
        return Rule(lambda v: any(type(v) is type(c) and v == c for c in choices),
                    "one of " + ", ".join(repr(c) for c in choices))
    if origin is Mapping:
        key, value = _rule(args[0]), _rule(args[1])
        return Rule(lambda v: isinstance(v, Mapping) and all(key.test(k) and value.test(x) for k, x in v.items()),
                    f"a mapping of {key.says} to {value.says}")
    if origin is Iterable:
        item = _rule(args[0])
        return Rule(lambda v: _iterable_of(v, item.test), f"a list of {item.says}")
    if origin is Callable:
        return Rule(callable, "a function")
    if isinstance(origin, type):  # os.PathLike[str], tuple[str, ...]: the class is what can be checked
        return Rule(lambda v: isinstance(v, origin), f"a {origin.__name__}")
    if isinstance(hint, type):
        return Rule(lambda v: isinstance(v, hint), f"a {hint.__name__}")
    raise TypeError(f"no argument check for the annotation {hint!r}")


def _iterable_of(value: Any, test: Callable[[Any], bool]) -> bool:
    """An iterable that is not a mapping nor one string; a list, tuple or set
    is checked item by item (an iterator is not read here)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return False
    return not isinstance(value, (list, tuple, set, frozenset)) or all(test(v) for v in value)


def _mode(value: Any) -> str:
    mode = getattr(value, "mode", "")
    return mode if isinstance(mode, str) else ""


def binary_in(value: Any) -> bool:
    """A stream to read bytes from: has `read`, and is not a text stream."""
    return (callable(getattr(value, "read", None)) and not isinstance(value, io.TextIOBase)
            and (not _mode(value) or "b" in _mode(value)))


def text_out(value: Any) -> bool:
    """A stream to write text to: has `write`, and is not a binary stream."""
    return (callable(getattr(value, "write", None)) and not isinstance(value, (io.RawIOBase, io.BufferedIOBase))
            and "b" not in _mode(value))


_LEAVES[typing.IO[bytes]] = Rule(binary_in, "a binary stream")


# -- the check ------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A refused value in a message: its type, and the value itself when it is short and plain."""
    if value is None:
        return "None"
    kind = type(value).__name__
    if isinstance(value, (str, int, float, list, tuple, dict, set)):
        text = repr(value)
        return f"{kind} {text if len(text) <= 40 else text[:36] + ' ...'}"
    if isinstance(value, (Decimal, date)):
        return f"{kind} {str(value)!r}"
    return kind


def _plan(fn: Callable[..., Any]) -> dict[str, tuple[Rule, bool]]:
    """Each annotated parameter's rule, and whether it is *args (each item checked)."""
    sig = inspect.signature(fn)
    params = {k: v for k, v in fn.__annotations__.items() if k != "return"}
    holder = types.SimpleNamespace(__annotations__=params)
    hints = typing.get_type_hints(holder, globalns=fn.__globals__)
    return {name: (_rule(hint), sig.parameters[name].kind is inspect.Parameter.VAR_POSITIONAL)
            for name, hint in hints.items()}


def checker(fn: Callable[..., Any]) -> Callable[..., None]:
    """A function of `fn`'s arguments that raises LoyaltyError for the first
    one of the wrong type (the annotations are read on its first call, when
    every name they use is defined)."""
    sig = inspect.signature(fn)
    plan: dict[str, tuple[Rule, bool]] | None = None

    def check(*args: Any, **kwargs: Any) -> None:
        nonlocal plan
        if plan is None:
            plan = _plan(fn)
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError:
            return  # a wrong number of arguments: Python's own TypeError, from the call itself
        for name, value in bound.arguments.items():
            if name not in plan:
                continue
            rule, each = plan[name]
            for i, v in enumerate(value) if each else ((None, value),):
                if not rule.test(v):
                    label = name if i is None else f"{name}[{i}]"
                    raise LoyaltyError(f"{label} must be {rule.says}, not {_shown(v)}")

    return check


def checked(fn: F) -> F:
    """`fn`, its arguments checked against its annotations before it runs."""
    check = checker(fn)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return fn(*args, **kwargs)

    return typing.cast(F, run)
