"""``seetrain train`` (config-driven training) and ``seetrain sweep`` (hyper-parameter search)."""

from __future__ import annotations

import argparse
from typing import List


def cmd_train(args: argparse.Namespace, rest: List[str]) -> int:
    from ..train.commands import train_main

    return train_main(rest)


def cmd_sweep(args: argparse.Namespace, rest: List[str]) -> int:
    from ..train.commands import sweep_main

    return sweep_main(rest)


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``train`` and ``sweep``; their arguments go to the trainer unparsed."""
    t = sub.add_parser("train", help="train from config: seetrain train model=resnet18 data=cifar10", add_help=False)
    t.set_defaults(func=cmd_train, passthrough=True)
    s = sub.add_parser("sweep", help="hyper-parameter search: seetrain sweep hparams_search=NAME", add_help=False)
    s.set_defaults(func=cmd_sweep, passthrough=True)
