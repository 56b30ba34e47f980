"""``reconciler completion bash|zsh|fish``: a completion script made from the
parser itself by ``shtab``, so it knows every command and option there is.

Static scripts: completing calls no Python. Path arguments complete file names.
"""

from __future__ import annotations

import argparse

import shtab

from reconciler.cli.parser import build_parser

#: Arguments that name files: they complete as file names.
_FILE_METAVARS = frozenset({"PATH", "PATH | PLANFILE", "PLANFILE", "FILE", "LOCATION"})


def completion_script(shell: str) -> str:
    parser = build_parser()
    _complete_files(parser)
    script: str = shtab.complete(parser, shell=shell)
    return script


def _complete_files(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if action.metavar in _FILE_METAVARS:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _complete_files(sub)
