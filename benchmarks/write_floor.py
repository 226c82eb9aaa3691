"""The write floor of an import: sqlite3.executemany of exactly the rows a
ledger import of N purchases must write (0.34 N members, N purchases, N earn
entries, into the real schema with its indexes and foreign keys), from tuples
built in advance, with no parsing or arithmetic. Whatever `loyalty import`
does, it cannot be faster than this.

    python benchmarks/write_floor.py 1000000
"""
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sqlalchemy import create_engine

from loyalty_cli.store import models

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
p = os.path.join(tempfile.mkdtemp(prefix="loyalty-floor-"), "floor.db")
for f in (p, p + "-wal", p + "-shm"):
    if os.path.exists(f):
        os.remove(f)
e = create_engine(f"sqlite:///{p}")
models.metadata.create_all(e, tables=models.V1_TABLES + models.V2_TABLES + models.V3_TABLES)
e.dispose()
con = sqlite3.connect(p, isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=FULL")
at = "2025-03-01 00:00:00.000000"
members = [(f"m{i}", f"m{i}", None, None, None, at, 0, None, 0) for i in range(N * 34 // 100)]
buys = [(f"o{i}", f"m{i % len(members)}", at, 1234, 0, 0, 0, 1234, 12, "floor", at) for i in range(N)]
earns = [(f"m{i % len(members)}", at, "earn", 12, f"o{i}", None, None, None, "2026-03-01", None, at) for i in range(N)]
t = time.perf_counter()
con.execute("BEGIN IMMEDIATE")
con.executemany("INSERT INTO members (id, name, email, phone, birthday, enrolled_at, marketing, marketing_at, points) "
                "VALUES (?,?,?,?,?,?,?,?,?)", members)
t1 = time.perf_counter()
con.executemany("INSERT INTO purchases (order_id, member_id, at, amount, discount, points_redeemed, points_paid, net, "
                "points_earned, rounding, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", buys)
t2 = time.perf_counter()
con.executemany("INSERT INTO entries (member_id, at, kind, points, order_id, action, note, reverses, expires_on, "
                "available_on, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", earns)
t3 = time.perf_counter()
con.execute("COMMIT")
t4 = time.perf_counter()
print(f"members {t1-t:.2f}s purchases {t2-t1:.2f}s entries {t3-t2:.2f}s commit {t4-t3:.2f}s total {t4-t:.2f}s")
