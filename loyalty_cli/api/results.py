"""What the library returns: frozen, typed results whose attributes are the
JSON keys of the command that prints them.

A result is a frozen dataclass (`Result`), or for the rows of a long list a
`typing.NamedTuple` (cheaper to build 340,000 of) made a row type by `row`,
which gives it `to_json()` as well. Amounts are `Decimal` with
the currency's places, points are `int`, moments are `datetime` (naive, in
the programme's timezone) and days are `date`. `as_json` turns any of them
into the JSON document the CLI prints, so the names are chosen once, here, by
the fields: the CLI never picks a JSON key. A field declared with `internal()`
is for the caller only (a renderer's note, say) and is left out of the JSON.

Nothing here imports the database or the terminal.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar, overload


def internal(default: Any = dataclasses.MISSING) -> Any:
    """A field for the caller that is not one of the command's JSON keys."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"json": False})
    return dataclasses.field(default=default, metadata={"json": False})


@dataclass(frozen=True)
class Result:
    """Base of every result: frozen, with the command's JSON keys as fields."""

    def to_json(self) -> Any:
        """The command's JSON document (amounts and moments as strings)."""
        return {f.name: as_json(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.metadata.get("json", True)}


R = TypeVar("R")
T = TypeVar("T", bound=type)


@overload
def row(cls: T, /) -> T: ...
@overload
def row(*, json_keys: dict[str, str]) -> Callable[[T], T]: ...


def row(cls: Any = None, /, *, json_keys: dict[str, str] | None = None) -> Any:
    """Make a NamedTuple a row type: `to_json()`, as every result has, is the
    row as a JSON object. `json_keys` renames a field in the JSON, for a key
    Python cannot name a field (`@row(json_keys={"from_": "from"})`)."""
    def make(cls: T) -> T:
        named: Any = cls  # a NamedTuple class
        renamed = json_keys or {}
        assert set(renamed) <= set(named._fields), f"{cls.__name__} has no field {set(renamed) - set(named._fields)}"
        named._json_keys = tuple(renamed.get(f, f) for f in named._fields)
        named.to_json = _row_to_json
        return cls

    return make if cls is None else make(cls)


def _row_to_json(self: tuple) -> dict[str, Any]:
    """The row as the command's JSON object (amounts and moments as strings)."""
    return as_json(self)


@dataclass(frozen=True)
class Rows(Result, Generic[R]):
    """A result that is a list (balance, members, history, ...): a sequence of
    rows, printed in JSON as a list of objects."""

    rows: tuple[R, ...]

    def to_json(self) -> Any:
        rows: tuple[Any, ...] = self.rows
        kind: Any = type(rows[0]) if rows else None
        if kind is None or not hasattr(kind, "_json_keys") or any(type(r) is not kind for r in rows):
            return [as_json(r) for r in rows]
        # one row type (340,000 balances): each row zipped with its keys, and
        # only the fields whose type may need it converted
        keys, convert = kind._json_keys, _converted_fields(kind)
        if not convert:
            return [dict(zip(keys, r, strict=True)) for r in rows]
        out = []
        for r in rows:
            doc = dict(zip(keys, r, strict=True))
            for i in convert:
                if type(r[i]) not in _PLAIN:
                    doc[keys[i]] = as_json(r[i])
            out.append(doc)
        return out

    def __bool__(self) -> bool:
        return bool(self.rows)

    def __iter__(self) -> Iterator[R]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, i: int) -> R: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[R]: ...

    def __getitem__(self, i):
        return self.rows[i]


_PLAIN = frozenset({str, int, bool, type(None)})


@functools.cache
def _converted_fields(kind: type) -> tuple[int, ...]:
    """The fields of a row type whose annotation allows a value that as_json
    converts (anything beyond str, int, bool and None)."""
    hints = typing.get_type_hints(kind)
    out = []
    for i, name in enumerate(kind._fields):  # type: ignore[attr-defined]
        hint = hints.get(name, Any)
        args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        if not all(a in _PLAIN for a in args):
            out.append(i)
    return tuple(out)


def as_json(value: Any) -> Any:
    """A result, row or value as JSON-ready data: Decimal as its exact digits
    (never a float), datetime as ISO seconds, date as ISO."""
    if isinstance(value, Result):
        return value.to_json()
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple row: plain values pass as they are
        keys = getattr(value, "_json_keys", value._fields)
        return {k: v if type(v) in _PLAIN else as_json(v) for k, v in zip(keys, value, strict=True)}
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value


@overload
def money(minor: int, decimals: int) -> Decimal: ...
@overload
def money(minor: None, decimals: int) -> None: ...


def money(minor: int | None, decimals: int) -> Decimal | None:
    """Minor units as an exact Decimal with the currency's places (1250 -> 12.50)."""
    return None if minor is None else Decimal(minor).scaleb(-decimals)
