"""The benchmarks run (tiny), so they cannot rot. No timing is asserted here:
speed is measured by running them for real (see benchmarks/README.md)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_benchmark_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "import_bench.py"), "--rows", "300",
                          "--rounds", "1", "--work", str(tmp_path), "--json"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["rows"] == 300 and figures["check_clean"] is True
    assert figures["baseline_median_s"] > 0 and figures["loyalty_median_s"] > 0
