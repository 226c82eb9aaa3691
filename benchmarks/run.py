"""Every benchmark in one command: medians of interleaved runs, and ratios
against baselines timed in the same run (the machines are shared and noisy,
so only ratios and medians mean anything).

    python benchmarks/run.py                      # the issue's sizes: 1,000,000 entries, 340,000 members
    python benchmarks/run.py --rows 100000        # a quicker look
    python benchmarks/run.py --smoke              # tiny sizes, one round: what CI runs so this cannot rot
    python benchmarks/run.py --work /tmp/lb       # keep the files; later runs reuse the big ledger

What is timed (targets from issue 8 in brackets):

  start-up   `loyalty --help` vs `sqlite-utils --help` [<= 0.6x]; `loyalty show M --format json`
             [<= 1.15x] and `loyalty purchase M 1.00` [<= 1.25x] vs `python -c "import sqlmodel, click"`,
             the floor our stack sets
  scale      `show` and `purchase` on a ledger of --rows entries vs one of 1,000 [<= 1.1x]
  reports    `balance`, `tiers` and `report` over the big ledger, in-process (start-up excluded) [<= 1.5 s]
  import     `loyalty import purchases` of the big file vs csv + sqlite3.executemany (see import_bench.py)
  batch      --batch purchases through `loyalty batch` vs as many separate `loyalty purchase`
             processes (timed on a sample, multiplied out) [>= 50x faster]

sqlite-utils is installed into this environment when missing (pip), unless --no-install.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from import_bench import BASELINE, CONFIG  # noqa: E402  (the same programme and baseline as the import benchmark)

BIN = Path(sys.executable).parent
SMALL = 1_000

# Reports timed in one process after a warm-up, so start-up is excluded.
IN_PROCESS = textwrap.dedent("""
    import json, statistics, sys, time
    from click.testing import CliRunner
    from loyalty_cli.cli import cli
    rounds, config, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    runner = CliRunner()
    env = {"LOYALTY_CONFIG": config, "LOYALTY_FORMAT": "json"}
    out = {}
    for name in names:
        runner.invoke(cli, [name], env=env)  # imports done, caches warm: start-up is not what is measured
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            r = runner.invoke(cli, [name], env=env)
            times.append(time.perf_counter() - t)
            if r.exit_code != 0:
                raise SystemExit(f"{name}: exit {r.exit_code}: {r.output[-500:]}")
        out[name] = times
    print(json.dumps(out))
""")


def make_file(path: Path, rows: int, members: int, today: date, seed: int = 1) -> None:
    """A year of a till's export, in date order, ending yesterday (a live
    shop: most points have not expired yet)."""
    rnd = random.Random(seed)
    first = today - timedelta(days=365)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("member,amount,date,order\n")
        for i in range(rows):
            day = first + timedelta(days=i * 365 // rows)
            m = i if i < 10 else rnd.randrange(members)  # m0..m9 exist in every ledger
            f.write(f"m{m},{rnd.randrange(100, 20000) // 100}.{rnd.randrange(100):02d},"
                    f"{day.isoformat()},o{i}\n")


def timed(cmd: list[str], env: dict | None = None, stdin: str | None = None) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return wall


# Every command runs as a user's would: with Python's bytecode cache (this
# sandbox sets PYTHONDONTWRITEBYTECODE=1, which makes every start-up compile
# loyalty's sources again; pip-installed packages have their .pyc already).
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def interleaved(cmds: dict[str, tuple[list[str], dict | None]], rounds: int,
                warm: bool = True) -> dict[str, list[float]]:
    """Each round runs every command once, in turn, so that noise hits all
    alike; a first, untimed round fills the bytecode and disk caches."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd, env in cmds.values() if warm else ():
        timed(cmd, env or BASE_ENV)
    for _ in range(rounds):
        for name, (cmd, env) in cmds.items():
            times[name].append(timed(cmd, env or BASE_ENV))
    return times


def ledger(work: Path, name: str, rows: int, members: int, today: date, loyalty: list[str]) -> tuple[Path, dict]:
    """A ledger of `rows` purchases made by `loyalty import`; the import timed
    against the csv + sqlite3 baseline on the same file. Reused if present."""
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "loyalty.toml"
    config.write_text(CONFIG)
    env = {**BASE_ENV, "LOYALTY_CONFIG": str(config)}
    env.pop("LOYALTY_DB", None)
    data = folder / "purchases.csv"
    done = folder / "built.json"
    if done.exists():
        return config, json.loads(done.read_text())
    for f in folder.glob("*.db*"):
        f.unlink()
    make_file(data, rows, members, today)
    baseline = timed([sys.executable, "-c", BASELINE, str(data), str(folder / "baseline.db")])
    subprocess.run([*loyalty, "init"], env=env, check=True, capture_output=True)
    ours = timed([*loyalty, "import", "purchases", str(data), "--create-members"], env)
    info = {"rows": rows, "members": members, "import_s": ours, "baseline_s": baseline}
    done.write_text(json.dumps(info))
    return config, info


def sqlite_utils(install: bool) -> str | None:
    exe = BIN / "sqlite-utils"
    if not exe.exists() and install:
        print("installing sqlite-utils into this environment (pip) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "sqlite-utils"], check=False)
    return str(exe) if exe.exists() else None


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:  # long: the benchmark's steps, one after another
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="entries in the big ledger (purchases imported)")
    ap.add_argument("--members", type=int, default=None, help="default: rows x 0.34")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of each timing")
    ap.add_argument("--batch", type=int, default=10_000, help="purchases for the batch comparison")
    ap.add_argument("--sample", type=int, default=20, help="separate purchase processes timed for it")
    ap.add_argument("--work", default=None, help="folder for the files (kept; default: a temporary one)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one round (CI)")
    ap.add_argument("--no-install", action="store_true", help="do not pip install sqlite-utils when missing")
    ap.add_argument("--json", action="store_true", help="also print every figure as one JSON line")
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.rounds, args.batch, args.sample = 3_000, 1, 30, 2
    members = args.members or max(1, int(args.rows * 0.34))
    work = Path(args.work or tempfile.mkdtemp(prefix="loyalty-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    today = date.today()
    loyalty = [str(BIN / "loyalty")] if (BIN / "loyalty").exists() else [sys.executable, "-m", "loyalty_cli"]
    rows: list[tuple[str, str, float, str, float | None, str]] = []  # section, what, value, unit, ratio, target

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    say(f"building ledgers in {work} ...")
    small_cfg, _ = ledger(work, "small", SMALL, max(1, int(SMALL * 0.34)), today, loyalty)
    big_cfg, built = ledger(work, f"big-{args.rows}", args.rows, members, today, loyalty)
    env_small = {**BASE_ENV, "LOYALTY_CONFIG": str(small_cfg)}
    env_big = {**BASE_ENV, "LOYALTY_CONFIG": str(big_cfg)}
    for e in (env_small, env_big):
        e.pop("LOYALTY_DB", None)
        e.pop("LOYALTY_FORMAT", None)

    # --- start-up --------------------------------------------------------------
    say("start-up ...")
    su = sqlite_utils(not args.no_install and not args.smoke)
    floor = [sys.executable, "-c", "import sqlmodel, click"]
    cmds = {"floor": (floor, None), "loyalty --help": ([*loyalty, "--help"], None),
            "show": ([*loyalty, "show", "m1", "--format", "json"], env_small),
            "purchase": ([*loyalty, "purchase", "m1", "1.00"], env_small)}
    if su:
        cmds["sqlite-utils --help"] = ([su, "--help"], None)
    t = interleaved(cmds, args.rounds, warm=not args.smoke)
    f = median(t["floor"])
    rows.append(("start-up", 'python -c "import sqlmodel, click" (floor)', f, "s", 1.0, ""))
    if su:
        s = median(t["sqlite-utils --help"])
        rows.append(("start-up", "sqlite-utils --help (baseline)", s, "s", 1.0, ""))
        rows.append(("start-up", "loyalty --help", median(t["loyalty --help"]), "s",
                     median(t["loyalty --help"]) / s, "<= 0.6x sqlite-utils"))
    else:
        rows.append(("start-up", "loyalty --help (sqlite-utils not installed)", median(t["loyalty --help"]), "s",
                     None, "<= 0.6x sqlite-utils"))
    rows.append(("start-up", "loyalty show M --format json", median(t["show"]), "s", median(t["show"]) / f,
                 "<= 1.15x floor"))
    rows.append(("start-up", "loyalty purchase M 1.00", median(t["purchase"]), "s", median(t["purchase"]) / f,
                 "<= 1.25x floor"))

    # --- scale -----------------------------------------------------------------
    say("scale ...")
    cmds = {"show small": ([*loyalty, "show", "m1", "--format", "json"], env_small),
            "show big": ([*loyalty, "show", "m1", "--format", "json"], env_big),
            "purchase small": ([*loyalty, "purchase", "m1", "1.00"], env_small),
            "purchase big": ([*loyalty, "purchase", "m1", "1.00"], env_big)}
    t = interleaved(cmds, args.rounds, warm=not args.smoke)
    for what in ("show", "purchase"):
        a, b = median(t[f"{what} small"]), median(t[f"{what} big"])
        rows.append(("scale", f"{what}, {SMALL:,} entries (baseline)", a, "s", 1.0, ""))
        rows.append(("scale", f"{what}, {args.rows:,} entries", b, "s", b / a, "<= 1.1x"))

    # --- reports, in-process ------------------------------------------------------
    say("reports ...")
    out = subprocess.run([sys.executable, "-c", IN_PROCESS, str(args.rounds), str(big_cfg), "balance", "tiers",
                          "report"], env=env_big, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    reports = json.loads(out.stdout)
    for name, times in reports.items():
        rows.append(("reports", f"{name}, {args.rows:,} entries, {members:,} members, in-process", median(times),
                     "s", None, "<= 1.5 s"))

    # --- import --------------------------------------------------------------------
    rows.append(("import", f"csv + sqlite3.executemany, {args.rows:,} rows (baseline)", built["baseline_s"], "s",
                 1.0, ""))
    rows.append(("import", f"loyalty import purchases, {args.rows:,} rows", built["import_s"], "s",
                 built["import_s"] / built["baseline_s"], "see benchmarks/README.md"))

    # --- batch -----------------------------------------------------------------------
    say("batch ...")
    bfolder = work / "batch"
    if bfolder.exists():
        shutil.rmtree(bfolder)
    shutil.copytree(work / "small", bfolder, ignore=shutil.ignore_patterns("*.csv", "baseline.db*"))
    env_b = {**env_small, "LOYALTY_CONFIG": str(bfolder / "loyalty.toml")}
    import sqlite3
    con = sqlite3.connect(bfolder / "bench.db")
    ids = [m for (m,) in con.execute("SELECT id FROM members ORDER BY id")]  # sales spread over every member
    con.close()
    lines = "".join(f"purchase {ids[i % len(ids)]} 1.00 --order b{i}\n" for i in range(args.batch))
    one = [timed([*loyalty, "purchase", ids[(i * 7) % len(ids)], "1.00", "--order", f"s{i}"], env_b)
           for i in range(args.sample)]
    whole = timed([*loyalty, "batch", "-"], env_b, stdin=lines)
    separate = median(one) * args.batch
    rows.append(("batch", f"{args.batch:,} separate purchase processes (median of {args.sample} x {args.batch:,})",
                 separate, "s", 1.0, ""))
    rows.append(("batch", f"{args.batch:,} purchases through one `loyalty batch`", whole, "s",
                 separate / whole, ">= 50x faster"))

    # --- the table -----------------------------------------------------------------
    print(f"loyalty benchmarks: {args.rounds} interleaved round(s), medians; big ledger {args.rows:,} entries, "
          f"{members:,} members; {today.isoformat()}")
    width = max(len(r[1]) for r in rows)
    section = None
    for sec, what, value, unit, ratio, target in rows:
        if sec != section:
            print(f"\n{sec}")
            section = sec
        r = "" if ratio is None else (f"{ratio:8.2f}x" if sec != "batch" or ratio == 1.0 else f"{ratio:7.1f}x faster")
        print(f"  {what:<{width}}  {value:9.3f} {unit}  {r:<14} {target}")
    if args.json:
        print(json.dumps([{"section": r[0], "what": r[1], "value": round(r[2], 4), "unit": r[3],
                           "ratio": None if r[4] is None else round(r[4], 3), "target": r[5]} for r in rows]))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
