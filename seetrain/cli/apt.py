"""``seetrain apt train [config.yaml] [key=value ...]``: the APT language-model workload."""

from __future__ import annotations

import argparse
from typing import List


def cmd_apt(args: argparse.Namespace, rest: List[str]) -> int:
    if args.apt_command != "train":
        raise SystemExit("usage: seetrain apt train [config.yaml] [key=value ...]")
    from ..apt.train import main as apt_main

    return int(apt_main(rest) or 0)


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``apt``; everything after ``apt train`` goes to the APT trainer unparsed."""
    apt = sub.add_parser("apt", help="APT model workload (seetrain apt train ...)", add_help=False)
    apt.add_argument("apt_command", choices=["train"])
    apt.set_defaults(func=cmd_apt, passthrough=True)
