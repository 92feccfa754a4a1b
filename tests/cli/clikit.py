"""Running ``flowpin`` in a subprocess when the exit code matters (``test_run_cli.flowpin``
asserts success)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def flowpin_result(*args: str, db: str, cwd: Path = REPO) -> tuple[int, Any]:
    """Exit code and the printed JSON (``None`` when nothing parsable was printed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("FLOWPIN_ACTIONS", None)
    done = subprocess.run(
        [sys.executable, "-m", "flowpin.cli.main", *args, "--db", db],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError:
        return done.returncode, None
