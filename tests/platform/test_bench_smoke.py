"""Every benchmark still runs: `python -m bench --smoke` at a tiny size, one process per
benchmark, its table printed (run with -s to see it). No timing is asserted: the figures of a
smoke run mean nothing, only that each benchmark ran and reported its rows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.__main__ import BENCHES

pytestmark = pytest.mark.embedded


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_each_benchmark_runs_at_a_tiny_size_and_reports_its_rows(name: str) -> None:
    command = [sys.executable, "-m", "bench", "--smoke", "--only", name]
    # On the embedded server, as a developer runs them: with DATABASE_URL set (CI's pass on the
    # system server) a benchmark's own settings are production's, which want its secrets.
    server = ("DATABASE_URL", "DATABASE_DIRECT_URL", "TEST_DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in server}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout.rsplit("load average", 1)[1].splitlines()[1:]
    rows = [line for line in table if line.startswith(name)]
    assert rows, done.stdout[-3000:]
