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
# functions that decide without the database: the free-time check (with its notice and window
# policies, and the alternatives it offers), the package ledger's arithmetic and checks, and what
# turns a service into an offer.
TARGETS = [
    "domain.slots.*",
    "domain.spans.*",
    "domain.bookings.free_time.xǁFreeTimeǁ*",
    "domain.bookings.free_time.x_offer_of__mutmut_*",
    "domain.bookings.free_time.x_choose_duration__mutmut_*",
    "domain.packages.x_ledger_line__mutmut_*",
    "domain.packages.x_cost__mutmut_*",
    "domain.packages.x_spend__mutmut_*",
    "domain.packages.x_month_bounds__mutmut_*",
    "domain.packages.x_check_credit__mutmut_*",
    "domain.packages.x__check_grant__mutmut_*",
]

# Survivors that change nothing a caller can observe, each with why. A name goes stale when its
# function changes (mutmut numbers mutants in order): the run says so, and they are re-judged.
FROM_TIMESTAMP = "fromtimestamp(t) then astimezone(zone) is the same instant in any local zone"
EMPTY_SPAN = "adds or keeps only an empty span, which the next _merge drops"
ONLY_SLOWER = "the blocked-stretch jump is an optimisation: a shorter one re-checks and lands alike"
ZERO_STRETCH = "adds stretches of zero seats or zero length: no peak rises, _merge drops them"
SKIP_CHECK = "only skips a piece the loop would leave at once (s + duration > end, or s > end)"
EQUIVALENT: dict[str, str] = {
    "domain.bookings.free_time.xǁFreeTimeǁcheck__mutmut_56": (
        "a slot found in a 2 s window but not at `start` fails offered[0].start == start"
    ),
    "domain.packages.x_check_credit__mutmut_40": "721 minutes fails the 5-minute grid anyway",
    "domain.packages.x_month_bounds__mutmut_24": "the 1st + 32 or + 33 days is in the next month",
    "domain.spans.x_concurrency__mutmut_10": "previous is read only once count > 0, after a set",
    "domain.spans.x_concurrency__mutmut_11": "previous is read only once count > 0, after a set",
    "domain.spans.x_concurrency__mutmut_12": ZERO_STRETCH,
    "domain.spans.x_concurrency__mutmut_13": ZERO_STRETCH,
    "domain.spans.x_concurrency__mutmut_15": ZERO_STRETCH + " (ends sort before starts)",
    "domain.slots.x__free_slots__mutmut_35": FROM_TIMESTAMP,
    "domain.slots.x__free_slots__mutmut_37": FROM_TIMESTAMP,
    "domain.slots.x__free_slots__mutmut_44": FROM_TIMESTAMP,
    "domain.slots.x__free_slots__mutmut_46": FROM_TIMESTAMP,
    "domain.slots.x__free_slots__mutmut_48": "a second day after `latest` only reads more hours",
    "domain.slots.x__free_slots__mutmut_63": SKIP_CHECK,
    "domain.slots.x__free_slots__mutmut_64": SKIP_CHECK,
    "domain.slots.x__free_slots__mutmut_66": SKIP_CHECK,
    "domain.slots.x__free_slots__mutmut_88": ONLY_SLOWER,
    "domain.slots.x__free_slots__mutmut_97": ONLY_SLOWER,
    "domain.slots.x__free_slots__mutmut_99": ONLY_SLOWER,
    "domain.spans.x_instant__mutmut_11": "fold=0 is replace()'s default",
    "domain.spans.x_instant__mutmut_33": FROM_TIMESTAMP,
    "domain.spans.x_instant__mutmut_35": FROM_TIMESTAMP,
    "domain.spans.x_instant__mutmut_42": FROM_TIMESTAMP,
    "domain.spans.x_instant__mutmut_44": FROM_TIMESTAMP,
    "domain.spans.x_instant__mutmut_54": FROM_TIMESTAMP,
    "domain.spans.x_instant__mutmut_56": FROM_TIMESTAMP,
    "domain.spans.x_merge__mutmut_3": EMPTY_SPAN + " or merges (touching its neighbours)",
    "domain.spans.x_merge__mutmut_10": "extends the last span to the end it already has",
    "domain.spans.x_local_range__mutmut_11": "last=None is falsy like last=False",
    "domain.spans.x_subtract__mutmut_4": "a hole ending at the cursor leaves it where it is",
    "domain.spans.x_subtract__mutmut_5": "a hole starting at the end appends what the end would",
    "domain.spans.x_subtract__mutmut_7": EMPTY_SPAN,
    "domain.spans.x_subtract__mutmut_14": "once cursor == end every later hole is skipped",
    "domain.spans.x_subtract__mutmut_16": EMPTY_SPAN,
}

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
    print(f"{'module':<26}" + "".join(f"{c:>12}" for c in columns) + f"{'score':>8}")
    total: Counter[str] = Counter()
    for module, counts in sorted(by_module.items()):
        total.update(counts)
        print(f"{module:<26}" + "".join(f"{counts[c]:>12}" for c in columns) + _score(counts))
    print(f"{'all':<26}" + "".join(f"{total[c]:>12}" for c in columns) + _score(total))
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
    parser.add_argument("--examples", type=int, default=50, help="per property test")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's results")
    args = parser.parse_args()
    if not args.keep:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    started = time.monotonic()
    # Fewer examples per property test than pytest's 150: each survivor runs them all.
    env = {**os.environ, "HYPOTHESIS_EXAMPLES": str(args.examples)}
    subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs), *TARGETS],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    score = report(results())
    print(f"score {100 * score:.1f}% in {time.monotonic() - started:.0f} s")
    sys.exit(0 if score >= 0.9 else 1)


if __name__ == "__main__":
    main()
