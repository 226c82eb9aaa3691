"""Time `loyalty import purchases` against a baseline timed in the same run.

The baseline is the floor for this job: the same CSV read with the csv module
and inserted with sqlite3.executemany into an indexed table, in one
transaction. Runs are interleaved (baseline, loyalty, baseline, ...) because
the machines are shared and noisy; the report gives medians, the ratio of the
medians, and each command's peak memory (max RSS).

    python benchmarks/import_bench.py                 # 1,000,000 rows, ~340,000 members, 3 rounds
    python benchmarks/import_bench.py --rows 2000 --rounds 1    # smoke run (CI does this)

Targets (issue 5): loyalty <= 2.5x the baseline's time, <= 200 MB peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CONFIG = textwrap.dedent("""
    [program]
    name = "Bench"
    currency = "EUR"
    timezone = "UTC"

    [ledger]
    database = "bench.db"

    [expiry]
    days = 365

    [tiers]
    basis = "spend"
    window = "rolling-365"

    [[tiers.levels]]
    name = "Bronze"
    min = "0"

    [[tiers.levels]]
    name = "Silver"
    min = "200"
    multiplier = 1.25

    [[tiers.levels]]
    name = "Gold"
    min = "500"
    multiplier = 1.5
    discount_percent = 5
""")

BASELINE = textwrap.dedent("""
    import csv, sqlite3, sys
    con = sqlite3.connect(sys.argv[2], isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE purchases (member TEXT, amount TEXT, date TEXT, order_id TEXT)")
    con.execute("CREATE UNIQUE INDEX ix_order ON purchases (order_id)")
    con.execute("BEGIN")
    with open(sys.argv[1], newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        next(rows)
        con.executemany("INSERT INTO purchases VALUES (?, ?, ?, ?)", rows)
    con.execute("COMMIT")
""")

# Run a command and print its wall time and peak RSS (KiB), from a fresh process
# so that one run's memory never shows in another's.
MEASURE = textwrap.dedent("""
    import resource, subprocess, sys, time, json
    t = time.perf_counter()
    p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"rc": p.returncode, "wall": wall, "rss_kib": rss_kib,
                      "stderr": p.stderr[-2000:]}))
""")


def make_file(path: Path, rows: int, members: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("member,amount,date,order\n")
        for i in range(rows):
            day = i * 365 // rows  # a year of trading, in date order like a till's export
            month, dom = divmod(day, 31)
            f.write(f"m{rnd.randrange(members)},{rnd.randrange(100, 20000) // 100}.{rnd.randrange(100):02d},"
                    f"2025-{min(month, 11) + 1:02d}-{min(dom, 27) + 1:02d},o{i}\n")


def measure(cmd: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result['stderr']}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--members", type=int, default=None, help="default: rows x 0.34")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default=None, help="folder for the files (default: a temporary one)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    members = args.members or max(1, int(args.rows * 0.34))
    work = Path(args.work or tempfile.mkdtemp(prefix="loyalty-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"purchases-{args.rows}.csv"
    if not data.exists():
        t = time.perf_counter()
        make_file(data, args.rows, members)
        print(f"built {data} ({args.rows} rows, {members} members) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    (work / "loyalty.toml").write_text(CONFIG)
    loyalty = [sys.executable, "-m", "loyalty_cli"]
    env_config = str(work / "loyalty.toml")
    base_t, ours_t, base_m, ours_m = [], [], [], []
    for r in range(args.rounds):
        for f in work.glob("b.db*"):
            f.unlink()
        b = measure([sys.executable, "-c", BASELINE, str(data), str(work / "b.db")])
        for f in work.glob("bench.db*"):
            f.unlink()
        subprocess.run([*loyalty, "--version"], check=True, capture_output=True)
        subprocess.run([*loyalty, "init", "--config", env_config], check=True, capture_output=True)
        o = measure([*loyalty, "import", "purchases", str(data), "--create-members", "--config", env_config])
        base_t.append(b["wall"])
        ours_t.append(o["wall"])
        base_m.append(b["rss_kib"])
        ours_m.append(o["rss_kib"])
        print(f"round {r + 1}: baseline {b['wall']:.2f} s, loyalty {o['wall']:.2f} s", file=sys.stderr)
    check = subprocess.run([*loyalty, "check", "--config", env_config], capture_output=True, text=True)
    figures = {
        "rows": args.rows, "members": members, "rounds": args.rounds,
        "baseline_median_s": round(statistics.median(base_t), 2),
        "loyalty_median_s": round(statistics.median(ours_t), 2),
        "ratio": round(statistics.median(ours_t) / statistics.median(base_t), 2),
        "baseline_peak_mb": round(max(base_m) / 1024, 1),
        "loyalty_peak_mb": round(max(ours_m) / 1024, 1),
        "check_clean": check.returncode == 0 and check.stdout == "",
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"rows {figures['rows']}, members {figures['members']}, {figures['rounds']} interleaved rounds")
        print(f"  baseline (csv + sqlite3.executemany): median {figures['baseline_median_s']} s, "
              f"peak {figures['baseline_peak_mb']} MB")
        print(f"  loyalty import purchases:            median {figures['loyalty_median_s']} s, "
              f"peak {figures['loyalty_peak_mb']} MB")
        print(f"  ratio {figures['ratio']}x (target <= 2.5x); peak memory target <= 200 MB; "
              f"check {'clean' if figures['check_clean'] else 'FAILED'}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
