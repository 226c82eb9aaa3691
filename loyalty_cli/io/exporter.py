"""Exports: the ledger's entries, the members or the purchases, as CSV or
JSON, streamed row by row from the database so memory stays flat however
large the ledger is."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from typing import Iterator, Protocol

from sqlalchemy import Connection, func, select

from loyalty_cli.domain.config import Programme
from loyalty_cli.domain.money import format_amount
from loyalty_cli.store.db import by_code_point
from loyalty_cli.store.models import entries, members, purchases, refunds

YIELD = 2000


def rows(conn: Connection, prog: Programme, what: str, *, since: datetime | None = None,
         marketing_only: bool = False, store: str | None = None) -> tuple[list[str], Iterator[dict]]:
    dec = prog.currency.decimals
    if what == "ledger":
        q = select(entries).order_by(entries.c.at, entries.c.id)
        if since is not None:
            q = q.where(entries.c.at >= since)
        cols = ["id", "date", "member", "kind", "points", "order", "note", "reverses", "expires_on", "available_on"]

        def shape(e):
            return {"id": e.id, "date": e.at, "member": e.member_id, "kind": e.kind, "points": e.points,
                    "order": e.order_id, "note": e.note, "reverses": e.reverses, "expires_on": e.expires_on,
                    "available_on": e.available_on}
    elif what == "members":
        q = select(members).order_by(members.c.enrolled_at, by_code_point(members.c.id))
        if since is not None:
            q = q.where(members.c.enrolled_at >= since)
        if marketing_only:
            q = q.where(members.c.marketing.is_(True))
        cols = ["member", "name", "email", "phone", "birthday", "enrolled", "marketing", "marketing_since", "points"]

        def shape(m):
            return {"member": m.id, "name": m.name, "email": m.email, "phone": m.phone, "birthday": m.birthday,
                    "enrolled": m.enrolled_at, "marketing": bool(m.marketing), "marketing_since": m.marketing_at,
                    "points": m.points}
    elif what == "purchases":
        back = (select(refunds.c.purchase_id, func.sum(refunds.c.amount).label("refunded"))
                .group_by(refunds.c.purchase_id).subquery())
        q = (select(purchases, func.coalesce(back.c.refunded, 0).label("refunded"))
             .select_from(purchases.outerjoin(back, back.c.purchase_id == purchases.c.id))
             .order_by(purchases.c.at, purchases.c.id))
        if since is not None:
            q = q.where(purchases.c.at >= since)
        if store is not None:
            q = q.where(purchases.c.store == store)
        cols = ["order", "member", "date", "amount", "discount", "paid_with_points", "net", "points_earned",
                "points_redeemed", "refunded", "store", "till"]

        def shape(p):
            return {"order": p.order_id, "member": p.member_id, "date": p.at, "amount": format_amount(p.amount, dec),
                    "discount": format_amount(p.discount, dec), "paid_with_points": format_amount(p.points_paid, dec),
                    "net": format_amount(p.net, dec), "points_earned": p.points_earned,
                    "points_redeemed": p.points_redeemed, "refunded": format_amount(p.refunded, dec),
                    "store": p.store, "till": p.till}
    else:  # pragma: no cover - click restricts the choice
        raise ValueError(what)

    def stream() -> Iterator[dict]:
        result = conn.execution_options(yield_per=YIELD).execute(q)
        for row in result:
            yield shape(row)

    return cols, stream()


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()


def _json(value):
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class TextOut(Protocol):
    """Where export writes: a text file, or the CLI's screen wrapper."""

    def write(self, text: str, /) -> object: ...


def write(out: TextOut, fmt: str, cols: list[str], items: Iterator[dict]) -> None:
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(cols)
        for item in items:
            w.writerow([_text(item[c]) for c in cols])
        return
    out.write("[")
    first = True
    for item in items:
        out.write("\n  " if first else ",\n  ")
        out.write(json.dumps({c: _json(item[c]) for c in cols}, ensure_ascii=False))
        first = False
    out.write("\n]\n" if not first else "]\n")
