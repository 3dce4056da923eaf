"""The README's code must run as written, and the CLI's info command must work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "README has no python block"
    namespace: dict = {}  # one session, as a reader would type the blocks in order
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - the README is ours


def test_cli_info_reports_isa_and_threads() -> None:
    import rnnkit

    out = subprocess.run([sys.executable, "-m", "rnnkit", "info"], capture_output=True,
                         text=True, check=True).stdout
    assert rnnkit.__version__ in out
    assert rnnkit.info()["isa"] in out
    assert "threads" in out


def test_cli_bad_arguments_exit_2_without_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "rnnkit", "demo", "--minutes", "-1"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--minutes" in proc.stderr
