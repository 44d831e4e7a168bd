"""Mutation run over the slot engine and the booking rules (mutmut): `python -m bench.mutants`.

    pip install -e '.[test,mutation]' && python -m bench.mutants [--jobs 2] [--keep]

Mutates the functions in TARGETS (configured in pyproject.toml `[tool.mutmut]`: the files, and
the test files that may kill them, all pure and database-free), runs the tests that reach each
mutant, and prints per module: mutants, killed (a test failed or the run timed out), survived,
judged equivalent (EQUIVALENT below, with why), untested, and the score
killed / (mutants - equivalent). Exits non-zero below 90 %. Not part of CI: a few minutes on
two cores. `mutmut show NAME` prints a mutant's diff; `mutmut browse` explores them.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What is mutated: mutmut names a mutant <module>.x_<function>__mutmut_<n> (a method:
# <module>.xǁ<Class>ǁ<method>__mutmut_<n>). The slot engine whole; of the booking rules the
# functions that decide without the database: the free-time check with its notice and window
# policies, the package ledger's arithmetic and checks, and what turns a service into an offer.
TARGETS = [
    "domain.slots.*",
    "domain.bookings.xǁ_Deskǁcheck__mutmut_*",
    "domain.slot_search.x_offer_of__mutmut_*",
    "domain.slot_search.x_choose_duration__mutmut_*",
    "domain.packages.x_ledger_line__mutmut_*",
    "domain.packages.x_cost__mutmut_*",
    "domain.packages.x_spend__mutmut_*",
    "domain.packages.x_month_bounds__mutmut_*",
    "domain.packages.x__check_credit__mutmut_*",
    "domain.packages.x__check_grant__mutmut_*",
]

# Survivors that change nothing a caller can observe, each with why. A name goes stale when its
# function changes (mutmut numbers mutants in order): the run says so, and they are re-judged.
EQUIVALENT: dict[str, str] = {}

KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def results() -> dict[str, str]:
    """Every selected mutant's status, from `mutmut results --all true`."""
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and any(fnmatch.fnmatchcase(name, target) for target in TARGETS):
            found[name] = status
    return found


def report(found: dict[str, str]) -> float:
    by_module: dict[str, Counter[str]] = {}
    for name, status in found.items():
        module = name.split(".x")[0]
        kind = "killed" if status in KILLED else status
        if kind == "survived" and name in EQUIVALENT:
            kind = "equivalent"
        by_module.setdefault(module, Counter())[kind] += 1
        by_module[module]["mutants"] += 1
    columns = ["mutants", "killed", "survived", "equivalent", "no tests", "not checked"]
    print(f"{'module':<20}" + "".join(f"{c:>12}" for c in columns) + f"{'score':>8}")
    total: Counter[str] = Counter()
    for module, counts in sorted(by_module.items()):
        total.update(counts)
        print(f"{module:<20}" + "".join(f"{counts[c]:>12}" for c in columns) + _score(counts))
    print(f"{'all':<20}" + "".join(f"{total[c]:>12}" for c in columns) + _score(total))
    for name, status in sorted(found.items()):
        if status not in KILLED and name not in EQUIVALENT:
            print(f"  {status}: {name}  (mutmut show {name})")
    stale = sorted(n for n in EQUIVALENT if found.get(n) != "survived")
    for name in stale:
        print(f"  listed as equivalent but {found.get(name, 'gone')}: {name}")
    judged = total["mutants"] - total["equivalent"]
    return total["killed"] / judged if judged else 1.0


def _score(counts: Counter[str]) -> str:
    judged = counts["mutants"] - counts["equivalent"]
    return f"{100 * counts['killed'] / judged:>7.1f}%" if judged else f"{'-':>8}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants at once")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's results")
    args = parser.parse_args()
    if not args.keep:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs), *TARGETS],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    score = report(results())
    print(f"score {100 * score:.1f}% in {time.monotonic() - started:.0f} s")
    sys.exit(0 if score >= 0.9 else 1)


if __name__ == "__main__":
    main()
