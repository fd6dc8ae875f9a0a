"""Import time of ``carepaths`` against the libraries it wraps, measured in one run.

Each import runs in a fresh interpreter (so nothing is cached in-process), repeated
``--repeat`` times; the median wall time is reported with the ratio to the baseline
``import pymc`` (what a user pays anyway as soon as they fit) and to a bare interpreter.
Target (issue 2): ``import carepaths`` under 3 s.

Run: ``.venv/bin/python benchmarks/import_time.py``
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time

STATEMENTS = {
    "bare interpreter": "pass",
    "import carepaths": "import carepaths",
    "carepaths + load_spec": "import carepaths; carepaths.load_spec()",
    "import pandas, xarray": "import pandas, xarray",
    "import pymc (baseline)": "import pymc",
    "import dowhy": "import dowhy",
}


def time_statement(stmt: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", stmt], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or '?'}")
    results = {name: time_statement(stmt, args.repeat) for name, stmt in STATEMENTS.items()}
    base = results["import pymc (baseline)"]
    print(f"{'statement':28s} {'median s':>9s} {'x pymc':>7s}")
    for name, seconds in results.items():
        print(f"{name:28s} {seconds:9.3f} {seconds / base:7.2f}")
    verdict = "PASS" if results["import carepaths"] < 3.0 else "FAIL"
    print(f"target: import carepaths < 3 s -> {verdict}")


if __name__ == "__main__":
    main()
