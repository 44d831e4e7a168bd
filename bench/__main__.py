"""Every benchmark at a modest size, then one table of what each measured against its floor.

    python -m bench [--smoke] [--only slots,bookings]

Each benchmark runs as its own process (`python -m bench.NAME ...`, output shown as it comes)
and its `summary:` lines (`bench/summary.py`) make the table's rows; each ratio is measured in
the same run as its floor. `--smoke` runs each at a tiny size (the test suite's smoke test):
it proves they work, its figures mean nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from bench.summary import Row, parse, table

# name -> (modest arguments, smoke arguments).
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "slots": (
        ["--runs", "20", "--requests", "50", "--concurrency", "8"],
        ["--runs", "1", "--requests", "2", "--concurrency", "1"],
    ),
    "bookings": (
        ["--requests", "1000", "--concurrency", "32", "--seconds", "5"],
        ["--requests", "20", "--concurrency", "4", "--no-pgbench"],
    ),
    "live": (
        ["--subscribers", "200", "--bookings", "20", "--backends", "postgresql"],
        ["--subscribers", "2", "--bookings", "2", "--backends", "postgresql"],
    ),
    "jobs": (
        ["--bookings", "50", "--paced", "10", "--rate", "10", "--modes", "inprocess"],
        ["--bookings", "3", "--paced", "2", "--rate", "20", "--modes", "inprocess"],
    ),
    "funnel": (
        ["--events", "100000", "--runs", "5"],
        ["--events", "1000", "--runs", "1"],
    ),
    "scaling": (
        ["--processes", "1,2,4", "--requests", "500", "--searches", "500"],
        ["--processes", "1,2", "--requests", "4", "--searches", "4", "--concurrency", "2"],
    ),
}


def run(name: str, arguments: list[str]) -> list[Row]:
    # Each benchmark serves on free ports of its own choosing: fixed ones met other processes.
    command = [sys.executable, "-m", f"bench.{name}", *arguments]
    began = time.monotonic()
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    print(f"({name}: {time.monotonic() - began:.0f} s)", flush=True)
    if process.wait() != 0:
        return [Row(name, f"failed (exit {process.returncode})", "-")]
    return parse(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: do they all work")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated names")
    args = parser.parse_args()
    rows: list[Row] = []
    for name in args.only.split(","):
        modest, smoke = BENCHES[name]
        rows += run(name, smoke if args.smoke else modest)
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(f"\nload average {load} ({os.cpu_count()} cores)\n{table(rows)}")
    if any(row.what.startswith("failed") for row in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
