"""`coe --help` works without importing torch or ray (no work at import time)."""

import subprocess
import sys


def test_help_lists_command_groups_without_heavy_imports():
    code = (
        "import sys\n"
        "from coe.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = [m for m in ('torch', 'ray') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
