"""The benchmarks run (tiny), so they cannot rot. No timing is asserted here:
speed is measured by running them for real (see benchmarks/README.md)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process  # every test here runs real processes

ROOT = Path(__file__).resolve().parents[2]


def test_import_benchmark_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "import_bench.py"), "--rows", "300",
                          "--rounds", "1", "--work", str(tmp_path), "--json"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["rows"] == 300 and figures["check_clean"] is True
    assert figures["baseline_median_s"] > 0 and figures["loyalty_median_s"] > 0


def test_the_benchmark_suite_smoke(tmp_path):
    """`benchmarks/run.py --smoke`: every section runs on tiny ledgers and
    prints its table (sqlite-utils is not installed for a smoke run)."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--no-install", "--work",
                          str(tmp_path), "--json"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    sections = {f["section"] for f in figures}
    assert sections == {"start-up", "scale", "reports", "import", "batch"}
    assert all(f["value"] > 0 for f in figures)
    assert "loyalty --help" in out.stdout and "through one `loyalty batch`" in out.stdout


def test_the_before_after_comparison_smoke(tmp_path):
    """`benchmarks/compare_import.py` with this install on both sides."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare_import.py"), "--before", sys.executable,
                          "--after", sys.executable, "--rows", "300", "--rounds", "1", "--work", str(tmp_path),
                          "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["rows"] == 300 and figures["before_check_clean"] is True and figures["after_check_clean"] is True
    assert figures["before_median_s"] > 0 and figures["after_cpu_median_s"] > 0
