"""Time `loyalty import purchases` of one file by two installs of loyalty,
interleaved (before, after, before, after, ...), for a before/after figure
on a shared, noisy machine: each round runs both on the same file into a
fresh ledger, so load hits both alike. Reports each side's median, the
ratio after/before (of wall and of CPU time), and checks both results with `loyalty check`.

    python benchmarks/compare_import.py --before /tmp/old/.venv/bin/python --after .venv/bin/python
    python benchmarks/compare_import.py --before P1 --after P2 --rows 100000 --rounds 5

Each PYTHON is an interpreter with loyalty installed (a virtualenv of the
other checkout, e.g. made from `git worktree add /tmp/old main`).
The file, the programme and the peak-memory measure are import_bench.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from import_bench import CONFIG, make_file  # noqa: E402  (the same file and programme)

# Wall time, CPU time (user + system: steadier than wall time when other work
# shares the cores) and peak RSS of one command, from a fresh process.
MEASURE = textwrap.dedent("""
    import resource, subprocess, sys, time, json
    t = time.perf_counter()
    p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"rc": p.returncode, "wall": wall, "cpu": use.ru_utime + use.ru_stime,
                      "rss_kib": use.ru_maxrss, "stderr": p.stderr[-2000:]}))
""")


def measure(cmd: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result['stderr']}")
    return result


def _import(python: str, folder: Path, data: Path) -> dict:
    """A fresh ledger in `folder`, then the import, timed in its own process."""
    for f in folder.glob("bench.db*"):
        f.unlink()
    config = str(folder / "loyalty.toml")
    loyalty = [python, "-m", "loyalty_cli"]
    subprocess.run([*loyalty, "init", "--config", config], check=True, capture_output=True)
    return measure([*loyalty, "import", "purchases", str(data), "--create-members", "--config", config])


def _clean(python: str, folder: Path) -> bool:
    out = subprocess.run([python, "-m", "loyalty_cli", "check", "--config", str(folder / "loyalty.toml")],
                         capture_output=True, text=True)
    return out.returncode == 0 and out.stdout == ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="python of the install timed first in each round")
    ap.add_argument("--after", required=True, help="python of the install timed second in each round")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--members", type=int, default=None, help="default: rows x 0.34")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default=None, help="folder for the files (default: a temporary one)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    members = args.members or max(1, int(args.rows * 0.34))
    work = Path(args.work or tempfile.mkdtemp(prefix="loyalty-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()
    os.chdir(work)  # `python -m loyalty_cli` would find a checkout's loyalty_cli/ in the current folder first
    data = work / f"purchases-{args.rows}.csv"
    if not data.exists():
        make_file(data, args.rows, members)
    sides = {"before": args.before, "after": args.after}
    for name in sides:
        (work / name).mkdir(exist_ok=True)
        (work / name / "loyalty.toml").write_text(CONFIG)
        subprocess.run([sides[name], "-m", "loyalty_cli", "--version"], check=True, capture_output=True)
    times: dict[str, list[float]] = {name: [] for name in sides}
    cpus: dict[str, list[float]] = {name: [] for name in sides}
    peaks: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(args.rounds):
        for name, python in sides.items():
            o = _import(python, work / name, data)
            times[name].append(o["wall"])
            cpus[name].append(o["cpu"])
            peaks[name].append(o["rss_kib"] / 1024)
        print(f"round {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f} s (cpu {cpus[n][-1]:.2f} s)" for n in sides),
              file=sys.stderr)
    figures = {"rows": args.rows, "members": members, "rounds": args.rounds,
               "date": time.strftime("%Y-%m-%d %H:%M"),
               **{f"{n}_s": [round(t, 2) for t in times[n]] for n in sides},
               **{f"{n}_median_s": round(statistics.median(times[n]), 2) for n in sides},
               **{f"{n}_cpu_median_s": round(statistics.median(cpus[n]), 2) for n in sides},
               **{f"{n}_peak_mb": round(max(peaks[n]), 1) for n in sides},
               "ratio": round(statistics.median(times["after"]) / statistics.median(times["before"]), 3),
               "cpu_ratio": round(statistics.median(cpus["after"]) / statistics.median(cpus["before"]), 3),
               **{f"{n}_check_clean": _clean(sides[n], work / n) for n in sides}}
    if args.json:
        print(json.dumps(figures))
    else:
        for n in sides:
            clean = "clean" if figures[f"{n}_check_clean"] else "FAILED"
            print(f"  {n:<6} median {figures[f'{n}_median_s']} s of {figures[f'{n}_s']}, "
                  f"cpu median {figures[f'{n}_cpu_median_s']} s, peak {figures[f'{n}_peak_mb']} MB, check {clean}")
        print(f"  after / before: {figures['ratio']}x wall, {figures['cpu_ratio']}x cpu "
              f"({args.rows:,} rows, {members:,} members, {args.rounds} interleaved rounds)")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
