"""Every command README shows parses as written: dvc commands by DVC's own parser, make
targets in the Makefile, `python -m xlrm...` commands by their own parsers."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                cmds.extend(part.strip() for part in line.split("&&"))
    inline = re.findall(r"`((?:dvc|python -m xlrm\.\w+) [^`]+)`", text)
    inline = [re.sub(r"\bN\b", "2", c) for c in inline]  # `-j N`: a number of the reader's
    return cmds + [c for c in inline if "<" not in c and "..." not in c]


COMMANDS = readme_commands()


def test_readme_shows_commands():
    assert any(c.startswith("dvc exp show") for c in COMMANDS)
    assert "make repro" in COMMANDS and "make test" in COMMANDS


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if re.match(r"(\.venv/bin/)?dvc ", c)])
def test_dvc_commands_parse(cmd):
    from dvc.cli import parse_args

    argv = shlex.split(cmd)[1:]
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            parse_args(argv)
        except (SystemExit, Exception) as e:  # DvcParserError, or argparse's exit
            pytest.fail(f"README command does not parse: {cmd}\n{err.getvalue()[-600:]} {e}")


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.startswith("make ")])
def test_make_targets_exist(cmd):
    target = shlex.split(cmd)[1]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.M), cmd


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.startswith("python -m xlrm.")])
def test_xlrm_module_commands_parse(cmd, monkeypatch):
    """The module's own parser accepts the command as written (a bad flag or subcommand
    exits 2); the command itself is not run."""
    import argparse
    import importlib

    argv = shlex.split(cmd)
    module = importlib.import_module(argv[2])
    real = argparse.ArgumentParser.parse_args

    class Parsed(Exception):
        pass

    def parse_then_stop(self, args=None, namespace=None):
        real(self, args, namespace)
        raise Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    with pytest.raises(Parsed):
        module.main(argv[3:])
