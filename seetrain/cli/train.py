"""``seetrain train`` (config-driven training), ``seetrain sweep`` (hyper-parameter search), and
what uses a trained run: ``seetrain evaluate`` and ``seetrain predict`` (``seetrain export RUN
--format torchscript|onnx|safetensors`` lives with the run-data export in :mod:`.runs`)."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from typing import List


def cmd_train(args: argparse.Namespace, rest: List[str]) -> int:
    from ..train.commands import train_main

    return train_main(rest)


def cmd_sweep(args: argparse.Namespace, rest: List[str]) -> int:
    from ..train.commands import sweep_main

    return sweep_main(rest)


def _fail(prog: str, exc: Exception) -> int:
    print(f"seetrain {prog}: {exc}", file=sys.stderr)
    return 2


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..train.errors import TrainConfigError
    from ..train.evaluate import evaluate

    try:
        out = evaluate(args.run, args.overrides, logdir=args.logdir, checkpoint=args.checkpoint,
                       batch_size=args.batch_size, track=not args.no_track)
    except TrainConfigError as exc:
        return _fail("evaluate", exc)
    print(f"checkpoint: {out.checkpoint}")
    for k, v in out.metrics.items():
        print(f"{k}: {v:.4f}")
    print(f"samples: {out.samples}")
    if out.tracked_in:
        print(f"recorded in: {out.tracked_in}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..train.errors import TrainConfigError
    from ..train.predict import predict

    out = open(args.out, "w", newline="") if args.out else None
    try:
        writer = csv.writer(out) if out else None
        if writer:
            writer.writerow(["input", "prediction", "class_index", "score"])
        n = 0
        for p in predict(args.run, args.inputs, logdir=args.logdir, checkpoint=args.checkpoint,
                         batch_size=args.batch_size, num_workers=args.num_workers):
            n += 1
            if p.mask is not None and args.masks:  # a segmentation run: the mask as a PNG of class indices
                from ..train.predict import save_mask

                save_mask(p.mask, os.path.join(args.masks, os.path.splitext(os.path.basename(p.input))[0] + ".png"))
            if writer:
                writer.writerow([p.input, p.label, p.index, f"{p.score:.6f}"])
            else:
                print(f"{p.input}\t{p.label}\t{p.score:.4f}")
    except TrainConfigError as exc:
        return _fail("predict", exc)
    finally:
        if out:
            out.close()
    if out:
        print(f"{n} predictions written to {args.out}")
    if args.masks:
        print(f"masks written to {args.masks} (segmentation runs: one PNG of class indices per input)")
    return 0


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``train`` and ``sweep`` (their arguments go to the trainer unparsed), ``evaluate`` and ``predict``."""
    t = sub.add_parser("train", help="train from config: seetrain train model=resnet18 data=cifar10", add_help=False)
    t.set_defaults(func=cmd_train, passthrough=True)
    s = sub.add_parser("sweep", help="hyper-parameter search: seetrain sweep hparams_search=NAME", add_help=False)
    s.set_defaults(func=cmd_sweep, passthrough=True)
    e = sub.add_parser("evaluate", help="evaluate a trained run's model: seetrain evaluate RUN [data.root=...]")
    e.add_argument("run", help="run directory, id or name (a `seetrain train` run)")
    e.add_argument("overrides", nargs="*", help="data.* overrides (default: the run's own validation data)")
    p = sub.add_parser("predict", help="predict with a trained run's model: seetrain predict RUN IMAGES_OR_FOLDERS...")
    p.add_argument("run", help="run directory, id or name (a `seetrain train` run)")
    p.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--out", default=None, help="write a CSV (input, prediction, class_index, score) instead of printing")
    p.add_argument("--num-workers", type=int, default=0, help="processes decoding images")
    p.add_argument("--masks", default=None, metavar="DIR", help="segmentation runs: write each predicted mask to "
                   "DIR/<input name>.png (class indices, at the training image size)")
    for c in (e, p):
        c.add_argument("--logdir", default=None, help="where to look for RUN when it is an id or a name")
        c.add_argument("--checkpoint", default="best", help="best (default), last, or a .ckpt path")
        c.add_argument("--batch-size", type=int, default=64)
    e.set_defaults(batch_size=None)
    e.add_argument("--no-track", action="store_true", help="do not record the evaluation as a run")
    e.set_defaults(func=cmd_evaluate)
    p.set_defaults(func=cmd_predict)
