"""The ``seetrain`` command. Each command group is one module here with a ``register(sub)``
function that adds its subparsers and sets ``func`` (and ``passthrough=True`` when the command
takes the remaining arguments unparsed, as ``apt train`` and ``train`` do with config overrides).
Command modules are imported only when the command line is parsed, never by ``import seetrain``."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

# One line per command group, in help order.
COMMAND_MODULES = (
    "runs",   # ls, show, export
    "curate", # tag, note, rename, archive, rm, restore
    "apt",    # apt train
    "train",  # train, sweep: the config-driven trainer
    "server", # server, server keys
    "sync",   # sync runs to a server
    "ui",     # ui: the dashboard over a LOGDIR
    "importers",  # import wandb|tensorboard|mlflow: runs from other trackers
    "query",  # query: read-only SQL over runs
    "mcp",    # mcp: an MCP server over runs for agents
    "artifact",  # artifact ls/get/alias/rm/gc: versioned artifacts
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seetrain", description="SeeTrain experiment tracking")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `seetrain ls | head`: the reader left; end quietly, as SIGPIPE would
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141


def _main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "passthrough", False):
        return int(args.func(args, rest) or 0)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return int(args.func(args) or 0)


