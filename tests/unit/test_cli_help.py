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


def _all_parsers(parser, path=("coe",)):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, (*path, name))


def test_every_commands_help_formats():
    """A stray % in a help text (argparse expands %-formats) breaks `--help` for that
    command; `coe bench autoscale --help` once did."""
    from coe.cli import build_parser

    seen = 0
    for path, parser in _all_parsers(build_parser()):
        text = parser.format_help()
        assert text.startswith("usage:"), " ".join(path)
        seen += 1
    assert seen > 10
