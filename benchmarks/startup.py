"""Start-up time: ``import wot_labthing`` and ``wot-labthing --help`` in fresh interpreters.

    .venv/bin/python benchmarks/startup.py [--runs 15] [--python PATH]

Each figure is the median of ``--runs`` subprocess runs, after one warm-up run (so the
.pyc files exist and the OS file cache is warm, as on a second start). Wall is what a
user waits; CPU is user+system time of the child, which a busy machine inflates far
less than wall time. ``--python`` measures another venv, e.g. the main branch's
``/work/main/.venv/bin/python``, for a before/after comparison. Goals: import <= 0.4 s,
``--help`` <= 0.5 s.

Figures on the development machine (2 shared cores, Python 3.11), 15 runs, median, taken
while 7 other engineers loaded it (load average 5 to 9), so wall times are inflated, the
"before" ones most (its runs compete longer for the cores); CPU times much less:

    what                    before (main, 0f36d03)     after (h-fast, merged with main)
                            wall      CPU              wall      CPU
    import wot_labthing     4.04 s    1.67 s           0.25 s    0.20 s
    wot-labthing --help     8.98 s    2.66 s           0.32 s    0.21 s

Before: jsonschema[format-nongpl] imported rfc3987-syntax, which compiles a Lark
grammar at import (~1.2 s), and the package imported quart, hypercorn, httpx and
zeroconf eagerly. After: only the format packages our schemas need; the HTTP server,
client and discovery load on first use (PEP 562), and each CLI subcommand imports its
work when it runs (``--help`` builds the parsers only).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "import wot_labthing": ["-c", "import wot_labthing"],
    "wot-labthing --help": ["wot-labthing", "--help"],
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(python: str, args: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``python *args`` over ``runs`` runs."""
    command = [python, *args]
    if args[0] == "wot-labthing":  # the console script installed next to the interpreter
        command = [str(Path(python).parent / "wot-labthing"), *args[1:]]
    subprocess.run(command, check=True, capture_output=True)  # warm-up
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        cpu = _children_cpu()
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the venv")
    args = parser.parse_args()
    print(f"python: {args.python}; {args.runs} runs each, median; load {os.getloadavg()[0]:.1f}")
    print(f"{'what':<24}{'wall':>9}{'CPU':>9}{'goal':>8}")
    goals = {"import wot_labthing": 0.4, "wot-labthing --help": 0.5}
    for name, case in CASES.items():
        wall, cpu = measure(args.python, case, args.runs)
        print(f"{name:<24}{wall:>8.3f}s{cpu:>8.3f}s{goals[name]:>7.1f}s")


if __name__ == "__main__":
    main()
