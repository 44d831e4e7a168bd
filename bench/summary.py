"""One line per figure that `python -m bench` gathers into its table.

A benchmark prints `summary: bench | what | measured | floor | ratio` for each figure it wants in
the table (the floor measured in the same run; `-` where it has none); `python -m bench` runs
each benchmark as a process and reads those lines back from its output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass

PREFIX = "summary: "
HEADER = ("bench", "what", "measured", "floor", "ratio")


@dataclass(frozen=True)
class Row:
    bench: str
    what: str
    measured: str
    floor: str = "-"
    ratio: str = "-"


def emit(row: Row) -> None:
    print(PREFIX + " | ".join(astuple(row)), flush=True)


def parse(lines: Iterable[str]) -> list[Row]:
    rows = []
    for line in lines:
        if line.startswith(PREFIX):
            cells = [cell.strip() for cell in line.removeprefix(PREFIX).split("|")]
            if len(cells) == len(HEADER):
                rows.append(Row(*cells))
    return rows


def table(rows: Iterable[Row]) -> str:
    lines = [HEADER, *(astuple(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
