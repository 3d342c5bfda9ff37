"""``seetrain apt train [config.yaml] [key=value ...]``: the APT language-model workload."""

from __future__ import annotations

import argparse
import sys
from typing import List

USAGE = """usage: seetrain apt <command> [arguments]

APT: the VFT/TVA language model, its config-driven trainer and plugins.

commands:
  train [config.yaml] [key=value ...]   train with configs/default.yaml merged with a YAML file and overrides
                                        (seetrain apt train --help: usage and the full default config)

examples:
  seetrain apt train trainer.max_steps=300
  seetrain apt train model=vft_small plugins.model-pruning.enabled=true plugins.model-pruning.pruning_ratio=0.5
"""


def cmd_apt(args: argparse.Namespace, rest: List[str]) -> int:
    if args.apt_command is None:
        if any(a in ("-h", "--help") for a in rest) or not rest:
            print(USAGE, file=sys.stdout if rest else sys.stderr)
            return 0 if rest else 2
        print(f"seetrain apt: unknown arguments {' '.join(rest)}\n\n{USAGE}", file=sys.stderr)
        return 2
    if args.apt_command != "train":
        print(f"seetrain apt: unknown command {args.apt_command!r}; the command is 'train'\n\n{USAGE}",
              file=sys.stderr)
        return 2
    from ..train.apt_command import main as apt_main

    return int(apt_main(rest) or 0)


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``apt``; everything after ``apt train`` goes to the APT trainer unparsed (``--help`` included)."""
    apt = sub.add_parser("apt", help="APT model workload (seetrain apt train ...)", add_help=False)
    apt.add_argument("apt_command", nargs="?", default=None, metavar="command")
    apt.set_defaults(func=cmd_apt, passthrough=True)
