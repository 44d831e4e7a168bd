"""The layers of ARCHITECTURE.md hold: no package imports one above it ([tool.importlinter])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

# The console script import-linter installs beside this interpreter.
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(config), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_no_layer_imports_one_above_it() -> None:
    result = lint_imports(REPO / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """The check can fail: a contract that puts the app below the domain is broken at once."""
    config = tmp_path / "upside-down.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["booking_api", "domain"]\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "upside down"\ntype = "layers"\nlayers = ["domain", "booking_api"]\n'
    )
    result = lint_imports(config)
    assert result.returncode == 1
    assert "upside down BROKEN" in result.stdout
